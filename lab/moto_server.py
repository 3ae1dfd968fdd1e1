# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's IAM/STS API: ``moto_server`` from ``moto[server]`` on 127.0.0.1 (it accepts any access key)."""

from .net import http_ok
from .process import venv_bin


def command(port):
    """argv of the server on 127.0.0.1:``port``."""
    return [venv_bin('moto_server'), '-H', '127.0.0.1', '-p', str(port)]


def env_entries(port):
    """The env entries that point boto3 at the server (``AWS_ENDPOINT_URL``, test keys, region)."""
    return {'AWS_ENDPOINT_URL': f'http://127.0.0.1:{port}', 'AWS_ACCESS_KEY_ID': 'testing',
            'AWS_SECRET_ACCESS_KEY': 'testing', 'AWS_DEFAULT_REGION': 'us-east-1'}


def ready(url):
    """True if the server at ``url`` answers."""
    return http_ok(f'{url}/moto-api/')


def probe(env):
    """True if the server of a lab env answers."""
    return ready(env.get('AWS_ENDPOINT_URL'))
