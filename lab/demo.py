# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``make demo``: bring the lab up, show the three kinds of secret being issued and verified through the
collection's shared connection code, print a short summary, and tear the lab down.

Passwords, secret keys and private keys are never printed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys
import tempfile
import time

import psycopg2
from cryptography import x509

from lab.collection import add_collection_to_path
from lab.core import LabError


def _collection_imports():
    """Import the collection's module_utils the way Ansible does (via the .build/collections link)."""
    add_collection_to_path()
    # pylint: disable=import-outside-toplevel
    from ansible_collections.secops.rotation.plugins.module_utils import _aws, _files, _vault
    return _vault, _aws, _files


def _step(rows, what, detail):
    rows.append((what, detail))
    print('  %-28s %s' % (what, detail))


def run_demo(env, rows):
    """The demo proper, against a running lab described by ``env``."""
    _vault, _aws, _files = _collection_imports()
    print('secops.rotation demo: shared Vault/OpenBao, AWS and file code against the lab of real servers')

    client = _vault.get_vault_client({'url': env['VAULT_ADDR'], 'auth_method': 'approle', 'role_id': env['LAB_APPROLE_ROLE_ID'],
                                      'secret_id': env['LAB_APPROLE_SECRET_ID']}, {})
    policies = client.auth.token.lookup_self()['data']['policies']
    _step(rows, 'vault approle login', 'ok, policies %s' % ','.join(policies))
    tls = _vault.get_vault_client({'url': env['LAB_VAULT_TLS_ADDR'], 'token': env['VAULT_TOKEN'], 'ca_cert': env['VAULT_CACERT']}, {})
    _step(rows, 'vault over TLS (CA pinned)', 'ok, sealed=%s' % tls.sys.read_health_status(method='GET')['sealed'])

    with _vault.vault_errors('reading %s/creds/%s' % (env['LAB_DB_MOUNT'], env['LAB_DB_ROLE'])):
        creds = client.secrets.database.generate_credentials(env['LAB_DB_ROLE'], mount_point=env['LAB_DB_MOUNT'])
    user = creds['data']['username']
    with psycopg2.connect(host=env['PGHOST'], port=int(env['PGPORT']), dbname=env['PGDATABASE'], user=user,
                          password=creds['data']['password'], connect_timeout=5) as conn:
        with conn.cursor() as cur:
            cur.execute('SELECT current_user')
            who = cur.fetchone()[0]
    conn.close()
    client.sys.revoke_lease(creds['lease_id'])
    _step(rows, 'db credential (dynamic)', 'issued %s, logged in as %s, lease %ss, revoked' % (user, who, creds['lease_duration']))

    with _vault.vault_errors('issuing from %s/issue/%s' % (env['LAB_PKI_MOUNT'], env['LAB_PKI_ROLE'])):
        issued = client.secrets.pki.generate_certificate(name=env['LAB_PKI_ROLE'], common_name='demo.example.test',
                                                         extra_params={'ttl': '72h', 'alt_names': 'www.demo.example.test'},
                                                         mount_point=env['LAB_PKI_MOUNT'])['data']
    workdir = tempfile.mkdtemp(prefix='secops-demo-')
    key_path = os.path.join(workdir, 'demo.key')
    _files.atomic_write(key_path, issued['private_key'], mode=0o600)
    _files.atomic_write(os.path.join(workdir, 'demo.crt'), issued['certificate'], mode=0o644)
    again = _files.atomic_write(key_path, issued['private_key'], mode=0o600)
    cert = x509.load_pem_x509_certificate(issued['certificate'].encode())
    _step(rows, 'tls certificate (pki)', 'serial %s, not after %s, key mode %o, rewrite changed=%s' % (
        issued['serial_number'], cert.not_valid_after_utc.strftime('%Y-%m-%d %H:%M'), os.stat(key_path).st_mode & 0o777, again.changed))

    aws = _aws.AwsConnection({'endpoint_url': env['AWS_ENDPOINT_URL'], 'access_key': env['AWS_ACCESS_KEY_ID'],
                              'secret_key': env['AWS_SECRET_ACCESS_KEY']})
    iam = aws.client('iam')
    name = 'demo-svc-%d' % int(time.time())
    with _aws.aws_errors('creating IAM user %s and an access key' % name):
        arn = iam.create_user(UserName=name)['User']['Arn']
        key = iam.create_access_key(UserName=name)['AccessKey']
        seen = aws.client_for_keys('sts', key['AccessKeyId'], key['SecretAccessKey']).get_caller_identity()['Arn']
    _step(rows, 'iam access key', 'created %s for %s, STS says %s' % (key['AccessKeyId'], name, 'same user' if seen == arn else seen))

    try:
        _vault.get_vault_client({'url': 'http://127.0.0.1:9', 'token': 'x', 'retries': 0}, {})
    except _vault.VaultClientError as exc:
        _step(rows, 'clear errors', str(exc))


def main(lab):
    """Entry point of ``python -m lab demo`` for a :class:`Lab`; returns the exit code."""
    rows = []
    started = time.monotonic()
    try:
        env = lab.up()
        print('lab up in %.1fs (env file %s)' % (time.monotonic() - started, lab.env_file))
        run_demo(env, rows)
    except (LabError, Exception) as exc:  # pylint: disable=broad-except
        print('demo failed: %s' % exc, file=sys.stderr)
        return 1
    finally:
        lab.down()
        print('lab down; nothing left running')
    print('summary: %d checks passed in %.1fs' % (len(rows), time.monotonic() - started))
    return 0
