# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``make demo``: bring the lab up, run one full rotation of each kind (database credential, IAM access key,
TLS certificate) through the collection's modules and ledger with ``ansible-playbook``, print a short summary,
and tear the lab down.

Passwords, secret keys and private keys are never printed: every task that handles them has ``no_log``,
and the summary is built from ids, serials and reasons only.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import boto3

from .collection import REPO
from .core import LabError
from .runner import ansible_env

PLAYBOOK = os.path.join(REPO, 'examples', 'demo', 'rotate_all.yml')


def run_demo(env, workdir):
    """Run the demo playbook against a running lab described by ``env``; return the summary dict."""
    run = str(int(time.time()))
    user = 'demo-svc-%s' % run
    boto3.session.Session(aws_access_key_id=env['AWS_ACCESS_KEY_ID'], aws_secret_access_key=env['AWS_SECRET_ACCESS_KEY'],
                          region_name=env['AWS_DEFAULT_REGION']).client(
        'iam', endpoint_url=env['AWS_ENDPOINT_URL']).create_user(UserName=user)
    inventory = os.path.join(workdir, 'inventory.ini')
    with open(inventory, 'w', encoding='utf-8') as handle:
        handle.write('localhost ansible_connection=local\n')
    argv = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', inventory, PLAYBOOK,
            '-e', json.dumps({'demo_dir': workdir, 'demo_user': user, 'demo_run': run})]
    proc = subprocess.run(argv, env=ansible_env(env), cwd=REPO, check=False)
    if proc.returncode != 0:
        raise LabError('the demo playbook failed (exit %d); see its output above' % proc.returncode)
    with open(os.path.join(workdir, 'summary.json'), encoding='utf-8') as handle:
        return json.load(handle)


def main(lab):
    """Entry point of ``python -m lab demo`` for a :class:`Lab`; returns the exit code."""
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix='secops-demo-')
    try:
        env = lab.up()
        print('lab up in %.1fs: OpenBao %s, PostgreSQL %s:%s, moto %s' % (
            time.monotonic() - started, env['VAULT_ADDR'], env['PGHOST'], env['PGPORT'], env['AWS_ENDPOINT_URL']), flush=True)
        summary = run_demo(env, workdir)
    except Exception as exc:  # pylint: disable=broad-except
        print('demo failed: %s' % exc, file=sys.stderr)
        return 1
    finally:
        lab.down()
        shutil.rmtree(workdir, ignore_errors=True)
    print('\nsecops.rotation demo summary (%.0fs, lab stopped, nothing left running)' % (time.monotonic() - started))
    for kind in ('db', 'iam', 'pki'):
        print('  %s' % {'db': 'database credential', 'iam': 'IAM access key', 'pki': 'TLS certificate'}[kind])
        for line in summary[kind]:
            print('    - %s' % line)
    print('  ledger: %s' % summary['ledger'])
    return 0
