# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an IAM batch costs: iam_key_rotate on N users against the same API calls in one plain boto3 process.

    python bench/iam_batch.py --lab-env .lab/env --users 100 [--runs 3] [--repo DIR] [--count-sessions]

Against a running lab (``python -m lab up``; only its moto server is used). Each run creates two fresh sets of N moto
users with one access key each (not timed), then times, each as one new Python process started from here:

(a) module: ``python -m ansible_collections.secops.rotation.plugins.modules.iam_key_rotate ARGS.json``, the way
    ``lab.runner.run_module`` (and so tests/integration/test_iam_key_rotate.py) runs a module, with
    ``users: [N users], force: true, old_key: deleted|inactive`` (no ansible-playbook: its start-up would hide the
    per-user cost);
(b) plain: one boto3 session doing per user the calls the module makes - GetUser, ListAccessKeys, ListUserTags,
    GetAccessKeyLastUsed, CreateAccessKey, STS GetCallerIdentity signed by the new key - and then, as the module's
    second phase does, DeleteAccessKey (old_key=deleted) or TagUser + UpdateAccessKey (old_key=inactive) of the old key.

Prints both wall times (median over --runs; process start and imports included on both sides), their ratio
(issue 12 asks for at most 2 at 100 users), and with --count-sessions the number of botocore sessions one module
run creates (an extra, untimed run). The users are deleted afterwards. ``--repo`` picks the checkout whose module
code runs (default: the one this script is in), through a private collections dir, so the checkout is not touched.
"""

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import boto3

MODULE = 'ansible_collections.secops.rotation.plugins.modules.iam_key_rotate'

# The plain side: the same API calls in one process with one boto3 session. Prints its own in-process seconds.
PLAIN = r'''
import json, sys, time
import boto3
spec = json.load(open(sys.argv[1]))
start = time.monotonic()
session = boto3.session.Session(aws_access_key_id=spec['access_key'], aws_secret_access_key=spec['secret_key'],
                                region_name=spec['region'])
iam = session.client('iam', endpoint_url=spec['endpoint_url'])
done = []
for name in spec['users']:
    arn = iam.get_user(UserName=name)['User']['Arn']
    keys = iam.list_access_keys(UserName=name)['AccessKeyMetadata']
    for page in iam.get_paginator('list_user_tags').paginate(UserName=name):
        pass
    for key in keys:
        iam.get_access_key_last_used(AccessKeyId=key['AccessKeyId'])
    new = iam.create_access_key(UserName=name)['AccessKey']
    sts = session.client('sts', endpoint_url=spec['endpoint_url'], aws_access_key_id=new['AccessKeyId'],
                         aws_secret_access_key=new['SecretAccessKey'])
    assert sts.get_caller_identity()['Arn'] == arn
    done.append((name, keys[0]['AccessKeyId']))
for name, old in done:
    if spec['old_key'] == 'deleted':
        iam.delete_access_key(UserName=name, AccessKeyId=old)
    else:
        iam.tag_user(UserName=name, Tags=[{'Key': 'secops-rotation:deactivated:' + old, 'Value': '2026-01-01T00:00:00Z'}])
        iam.update_access_key(UserName=name, AccessKeyId=old, Status='Inactive')
print(json.dumps({'seconds': time.monotonic() - start}))
'''

# Runs the module like `python -m`, counting botocore sessions; the count goes to stderr when the module exits.
COUNTING = r'''
import atexit, runpy, sys
import botocore.session
created = [0]
init = botocore.session.Session.__init__
def counting(self, *args, **kwargs):
    created[0] += 1
    init(self, *args, **kwargs)
botocore.session.Session.__init__ = counting
atexit.register(lambda: sys.stderr.write('BOTOCORE_SESSIONS=%d\n' % created[0]))
runpy.run_module(MODULE, run_name='__main__', alter_sys=True)
'''.replace('MODULE', repr(MODULE))


def load_env(path):
    """The ``export NAME='value'`` lines of a lab env file."""
    env = {}
    with open(path, encoding='utf-8') as handle:
        for line in handle:
            words = shlex.split(line, comments=True)
            if len(words) == 2 and words[0] == 'export' and '=' in words[1]:
                name, value = words[1].split('=', 1)
                env[name] = value
    return env


def collections_root(repo, tmp):
    """A private ``ansible_collections/secops/rotation -> repo`` link, so the repo itself is not touched."""
    namespace = os.path.join(tmp, 'ansible_collections', 'secops')
    os.makedirs(namespace)
    os.symlink(os.path.realpath(repo), os.path.join(namespace, 'rotation'))
    return tmp


class Users:
    """Creates and removes the bench users in moto (neither is timed)."""

    def __init__(self, lab):
        self.lab = lab
        self.iam = boto3.session.Session(aws_access_key_id=lab['AWS_ACCESS_KEY_ID'], aws_secret_access_key=lab['AWS_SECRET_ACCESS_KEY'],
                                         region_name=lab.get('AWS_DEFAULT_REGION') or 'us-east-1').client(
                                             'iam', endpoint_url=lab['AWS_ENDPOINT_URL'])
        self.made = []

    def create(self, count):
        prefix = 'bench-%s' % uuid.uuid4().hex[:8]
        names = ['%s-%03d' % (prefix, i) for i in range(count)]
        for name in names:
            self.iam.create_user(UserName=name)
            self.iam.create_access_key(UserName=name)
        self.made.extend(names)
        return names

    def check(self, names, old_key):
        """Each user has exactly one Active key (plus its old Inactive one with old_key=inactive)."""
        for name in names:
            statuses = sorted(k['Status'] for k in self.iam.list_access_keys(UserName=name)['AccessKeyMetadata'])
            want = ['Active'] if old_key == 'deleted' else ['Active', 'Inactive']
            if statuses != want:
                raise SystemExit('user %s has keys %s after the run, expected %s' % (name, statuses, want))

    def remove(self):
        for name in self.made:
            for key in self.iam.list_access_keys(UserName=name)['AccessKeyMetadata']:
                self.iam.delete_access_key(UserName=name, AccessKeyId=key['AccessKeyId'])
            tags = [t['Key'] for t in self.iam.list_user_tags(UserName=name)['Tags']]
            if tags:
                self.iam.untag_user(UserName=name, TagKeys=tags)
            self.iam.delete_user(UserName=name)
        self.made = []


def child_env(lab, root):
    env = dict(os.environ)
    env.update(lab)
    env['PYTHONPATH'] = root
    env['ANSIBLE_COLLECTIONS_PATH'] = root
    env.setdefault('ANSIBLE_LOCAL_TEMP', tempfile.gettempdir())
    return env


def run_module(names, args, lab, root, tmp, count_sessions=False):
    """One module run on ``names``; ``(seconds, result, stderr)``."""
    payload = dict(args, users=[{'user_name': name} for name in names], _ansible_check_mode=False, _ansible_diff=False)
    args_file = os.path.join(tmp, 'args-%s.json' % uuid.uuid4().hex[:8])
    with open(args_file, 'w', encoding='utf-8') as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': payload}, handle)
    argv = [sys.executable, '-c', COUNTING, args_file] if count_sessions else [sys.executable, '-m', MODULE, args_file]
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, env=child_env(lab, root), cwd=tmp, check=False)
    seconds = time.monotonic() - start
    try:  # a module prints its result as one JSON line, last
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        result = None
    if not isinstance(result, dict) or result.get('failed') or result.get('msg') != 'rotated %d of %d users' % (len(names), len(names)):
        raise SystemExit('module run failed (rc %s): %s\n%s' % (proc.returncode, (result or {}).get('msg'), proc.stderr[-3000:]))
    return seconds, result, proc.stderr


def run_plain(names, args, lab, root, tmp):
    """The same API calls in one plain boto3 process; ``(wall seconds, in-process seconds)``."""
    spec_file = os.path.join(tmp, 'plain-%s.json' % uuid.uuid4().hex[:8])
    with open(spec_file, 'w', encoding='utf-8') as handle:
        json.dump(dict(users=names, endpoint_url=args['endpoint_url'], access_key=args['access_key'], secret_key=args['secret_key'],
                       region=lab.get('AWS_DEFAULT_REGION') or 'us-east-1', old_key=args['old_key']), handle)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, '-c', PLAIN, spec_file], capture_output=True, text=True, env=child_env(lab, root),
                          cwd=tmp, check=False)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit('plain boto3 run failed (rc %s):\n%s' % (proc.returncode, proc.stderr[-3000:]))
    return seconds, json.loads(proc.stdout.strip().splitlines()[-1])['seconds']


def main():
    here = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--lab-env', required=True, help='env file of a running lab (python -m lab up writes <dir>/env)')
    parser.add_argument('--users', type=int, default=100, help='users per batch (default 100)')
    parser.add_argument('--runs', type=int, default=1, help='runs of each side; the median is reported (default 1)')
    parser.add_argument('--old-key', choices=['deleted', 'inactive'], default='deleted', help='old_key of the rotation (default deleted)')
    parser.add_argument('--repo', default=here, help='checkout whose module code runs (default: %(default)s)')
    parser.add_argument('--count-sessions', action='store_true', help='also count the botocore sessions of one (untimed) module run')
    opts = parser.parse_args()
    lab = load_env(opts.lab_env)
    args = dict(force=True, old_key=opts.old_key, verify_timeout='60s', endpoint_url=lab['AWS_ENDPOINT_URL'],
                access_key=lab['AWS_ACCESS_KEY_ID'], secret_key=lab['AWS_SECRET_ACCESS_KEY'])
    users = Users(lab)
    module_times, plain_times, plain_inner = [], [], []
    sessions = None
    with tempfile.TemporaryDirectory(prefix='bench-iam-') as tmp:
        root = collections_root(opts.repo, tmp)
        try:
            for dummy in range(opts.runs):
                names = users.create(opts.users)
                seconds, dummy, dummy = run_module(names, args, lab, root, tmp)
                users.check(names, opts.old_key)
                module_times.append(seconds)
                names = users.create(opts.users)
                seconds, inner = run_plain(names, args, lab, root, tmp)
                users.check(names, opts.old_key)
                plain_times.append(seconds)
                plain_inner.append(inner)
                users.remove()
            if opts.count_sessions:
                names = users.create(opts.users)
                dummy, dummy, stderr = run_module(names, args, lab, root, tmp, count_sessions=True)
                sessions = [line.split('=', 1)[1] for line in stderr.splitlines() if line.startswith('BOTOCORE_SESSIONS=')]
        finally:
            users.remove()
    module_s, plain_s = statistics.median(module_times), statistics.median(plain_times)
    print('code:            %s' % os.path.realpath(opts.repo))
    print('users:           %d (old_key=%s, %d run%s, median)' % (opts.users, opts.old_key, opts.runs, '' if opts.runs == 1 else 's'))
    print('(a) module:      %.2f s  (%.1f ms/user)   runs: %s' % (module_s, 1000 * module_s / opts.users, ' '.join('%.2f' % t for t in module_times)))
    print('(b) plain boto3: %.2f s  (%.1f ms/user; API calls alone %.2f s)   runs: %s' % (
        plain_s, 1000 * plain_s / opts.users, statistics.median(plain_inner), ' '.join('%.2f' % t for t in plain_times)))
    print('ratio a/b:       %.2f' % (module_s / plain_s))
    if sessions is not None:
        print('botocore sessions in one module run: %s' % (sessions[-1] if sessions else 'not reported'))


if __name__ == '__main__':
    main()
