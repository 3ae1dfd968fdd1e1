# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Blue-green rotations (roles blue_green, db_credentials, iam_keys and their playbooks) against the lab.

Three demo app instances (examples/demo_app, real processes on loopback, each its own config dir and port)
stand in for three hosts of an inventory (``ansible_connection: local``). The playbooks are run with the real
``ansible-playbook`` by their FQCN while a bounded load hits the instances; every request is a query on the
lab's PostgreSQL through the instance's dual-credential provider.
"""


import calendar
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import hvac
import hvac.exceptions
import psycopg2
import pytest
import yaml

from lab import apps
from lab.collection import REPO
from lab.runner import ansible_env, run_module

PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
TEMPLATES = Path(REPO) / 'examples' / 'demo_app' / 'templates'
RATE = 60  # requests per second, in total over the three instances
GRACE = 3  # seconds: the short grace period of the final purge (the first purge uses 1h, which no slow machine outlives during the test)
CREATE_LOGIN = """CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"""
RECAP = re.compile(r'^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', re.M)


def _uid():
    return uuid.uuid4().hex[:8]


# --------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope='module')
def vault(lab):
    return hvac.Client(url=lab['VAULT_ADDR'], token=lab['VAULT_TOKEN'])


@pytest.fixture(scope='module')
def iam(lab):
    return boto3.session.Session(aws_access_key_id=lab['AWS_ACCESS_KEY_ID'], aws_secret_access_key=lab['AWS_SECRET_ACCESS_KEY'],
                                 region_name=lab['AWS_DEFAULT_REGION']).client('iam', endpoint_url=lab['AWS_ENDPOINT_URL'])


@pytest.fixture(scope='module')
def env(lab):
    """The controller's environment for the playbooks: Vault, PostgreSQL location (no admin login), AWS."""
    keys = ('VAULT_ADDR', 'VAULT_TOKEN', 'PGHOST', 'PGPORT', 'PGDATABASE', 'AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID',
            'AWS_SECRET_ACCESS_KEY', 'AWS_DEFAULT_REGION')
    values = {key: lab[key] for key in keys}
    values['PGSSLMODE'] = 'disable'  # the lab's PostgreSQL has no TLS (vault_db_rotate defaults to require)
    return values


@pytest.fixture
def db_role(lab, vault):
    """A Vault database role of its own (so its leases can be counted exactly), granting SELECT on demo_items."""
    apps.ensure_demo_table(lab)
    name = 'bg-%s' % _uid()
    vault.secrets.database.create_role(name=name, db_name=lab['LAB_DB_CONNECTION'], default_ttl=3600, max_ttl=86400,
                                       creation_statements=[CREATE_LOGIN, 'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";'])
    yield name
    vault.sys.revoke_prefix('database/creds/%s' % name)
    vault.secrets.database.delete_role(name)


@pytest.fixture
def iam_user(iam):
    name = 'bg-svc-%s' % _uid()
    iam.create_user(UserName=name)
    return name


class Fleet:
    """Three demo app instances and an inventory that names them app1..app3 (plus localhost)."""

    def __init__(self, lab, env, folder, count=3):
        self.lab, self.env, self.folder, self.count = lab, env, Path(folder), count
        self.dirs = [self.folder / ('app%d' % number) for number in range(1, count + 1)]
        self.instances = []
        self.outputs = []  # every ansible-playbook output of the test, for the leak check
        self.inventory = self.folder / 'inventory.yml'
        python = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}
        hosts = {'app%d' % (i + 1): dict(python, demo_app_dir=str(path)) for i, path in enumerate(self.dirs)}
        self.inventory.write_text(yaml.safe_dump({'all': {'hosts': {'localhost': python}, 'children': {'demo_apps': {
            'hosts': hosts,
            'vars': {
                'blue_green_reload_command': 'kill -HUP "$(cat {{ demo_app_dir }}/pid)"',
                'blue_green_health_url': "http://127.0.0.1:{{ lookup('ansible.builtin.file', demo_app_dir ~ '/port') }}/health",
                'blue_green_health_retries': 3,
            }}}}}), encoding='utf-8')

    def start(self, db_pair, aws_pair=None):
        for path in self.dirs:
            path.mkdir(parents=True, exist_ok=True)
            self.instances.append(apps.start_instance(path, apps.app_settings(self.lab), db_pair, aws_pair))
        return self.instances

    def stop(self):
        for path in self.dirs:
            apps.stop_instance(path)

    def urls(self, path='/'):
        return [instance.url + path for instance in self.instances]

    def health(self, index):
        return apps.get_json(self.instances[index].url + '/health')[1]

    def config(self, index, name='db.json'):
        return json.loads((self.dirs[index] / name).read_text(encoding='utf-8'))

    def play(self, playbook, extra_vars, verbosity=4, check=False, timeout=600, env=None, limit=None):
        """Run ``ansible-playbook secops.rotation.<playbook>`` (``-vvvv`` by default; the output is kept for
        :meth:`assert_no_secret`); returns (rc, output, recap {host: (ok, changed, failed)})."""
        target = playbook if playbook.endswith('.yml') else 'secops.rotation.%s' % playbook
        argv = [PLAYBOOK, '-i', str(self.inventory), target, '-e', json.dumps(extra_vars)]
        argv += ['-' + 'v' * verbosity] if verbosity else []
        argv += ['--check'] if check else []
        argv += ['--limit', limit] if limit else []
        proc = subprocess.run(argv, capture_output=True, text=True, env=ansible_env(dict(self.env, **(env or {}))),
                              cwd=str(self.folder), timeout=timeout, check=False)
        output = proc.stdout + proc.stderr
        self.outputs.append(output)
        recap = {host: (int(ok), int(changed), int(failed)) for host, ok, changed, dummy, failed in RECAP.findall(output)}
        return proc.returncode, output, recap

    def assert_no_secret(self, *secrets):
        """No secret appears in the output of any playbook run of this test (all at -vvvv)."""
        assert self.outputs
        for output in self.outputs:
            assert_no_secret(output, *secrets)


@pytest.fixture
def fleet(lab, env, tmp_path):
    made = Fleet(lab, env, tmp_path)
    yield made
    made.stop()


def db_vars(role, name, **extra):
    values = {'rotation_hosts': 'demo_apps', 'db_credentials_role': role, 'db_credentials_name': name,
              'db_credentials_sessions_timeout': '20s', 'blue_green_health_key': 'db_user',
              'db_credentials_db_sslmode': 'disable',  # the lab's PostgreSQL has no TLS (vault_db_rotate defaults to require)
              'blue_green_configs': [{'src': str(TEMPLATES / 'db.json.j2'), 'dest': '{{ demo_app_dir }}/db.json'}]}
    values.update(extra)
    return values


def iam_vars(user, name, **extra):
    values = {'rotation_hosts': 'demo_apps', 'iam_keys_user_name': user, 'iam_keys_name': name, 'iam_keys_verify_timeout': '20s',
              'blue_green_health_key': 'access_key_id',
              'blue_green_configs': [{'src': str(TEMPLATES / 'aws.json.j2'), 'dest': '{{ demo_app_dir }}/aws.json'}]}
    values.update(extra)
    return values


# --------------------------------------------------------------------------------------------- helpers

def issue(env, role):
    res = run_module('vault_db_rotate', {'role': role}, env=env)
    assert res['changed'] and res['username'] and res['password'], res.get('msg')
    return res


def adopt_db(env, name, creds):
    """The operator adopts the credential the hosts use today as the ledger's current (rotation_state init)."""
    res = run_module('rotation_state', {'action': 'init', 'name': name, 'kind': 'db', 'id': creds['lease_id'],
                                        'metadata': {'username': creds['username'], 'lease_id': creds['lease_id']},
                                        'secret': {'password': creds['password']}}, env=env)
    assert res['changed'], res.get('msg')


def start_on_a(env, fleet, db_role):
    """A new ledger entry whose current credential A (adopted) the fleet's instances use; returns (name, A)."""
    name = 'bg-%s/db' % _uid()
    cred_a = issue(env, db_role)
    adopt_db(env, name, cred_a)
    fleet.start({'username': cred_a['username'], 'password': cred_a['password']})
    return name, cred_a


def ledger(env, name):
    res = run_module('rotation_state', {'name': name}, env=env)
    assert not res.get('failed'), res.get('msg')
    return res['ledger'], res['version']


def leases(vault, role):
    try:
        prefix = 'database/creds/%s/' % role
        return set(prefix + key for key in vault.sys.list_leases(prefix)['data']['keys'])
    except hvac.exceptions.InvalidPath:
        return set()


def lease_alive(vault, lease_id):
    try:
        vault.sys.read_lease(lease_id)
        return True
    except hvac.exceptions.InvalidRequest:
        return False


def can_login(lab, user, password):
    try:
        psycopg2.connect(host=lab['PGHOST'], port=lab['PGPORT'], dbname=lab['PGDATABASE'], user=user, password=password,
                         connect_timeout=5).close()
        return True
    except psycopg2.OperationalError:
        return False


def assert_no_secret(output, *secrets):
    for secret in secrets:
        assert secret and secret not in output, 'a secret appears in the ansible-playbook output'


def load_counts(load, started):
    counts = load.stop()
    counts['rate'] = counts['sent'] / max(0.001, time.monotonic() - started)
    return counts


def keys_of(iam, user):
    return {key['AccessKeyId']: key['Status'] for key in iam.list_access_keys(UserName=user)['AccessKeyMetadata']}


# --------------------------------------------------------------------------------------------- database

def test_db_blue_green_under_load_drops_no_request_and_naive_rotation_does(lab, env, vault, fleet, db_role, capsys):
    """The acceptance test of zero downtime: 3 instances under >= 50 req/s through a complete DB rotation."""
    name, cred_a = start_on_a(env, fleet, db_role)
    before = leases(vault, db_role)

    started = time.monotonic()
    load = apps.run_load(fleet.urls(), RATE, duration_s=300, max_requests=RATE * 300)
    rc, output, recap = fleet.play('rotate_db_credentials', db_vars(db_role, name, db_credentials_force=True))
    blue_green = load_counts(load, started)
    assert rc == 0, output[-6000:]

    entry, dummy = ledger(env, name)
    cred_b = entry['current']
    assert cred_b['id'] != cred_a['lease_id'] and entry['previous'] is None and entry['pending'] is None
    assert leases(vault, db_role) - before == {cred_b['id']}, 'exactly one new lease (B)'
    for index in range(3):
        assert fleet.health(index)['db_user'] == cred_b['username']
        assert fleet.config(index) == {'primary': {'username': cred_b['username'], 'password': cred_b['password']}, 'secondary': None}
    assert not lease_alive(vault, cred_a['lease_id']), "A's lease must be revoked"
    assert not can_login(lab, cred_a['username'], cred_a['password']), 'A must not log in any more'
    assert can_login(lab, cred_b['username'], cred_b['password'])
    fleet.assert_no_secret(cred_a['password'], cred_b['password'])
    assert all(failed == 0 for dummy, dummy2, failed in recap.values()), recap

    # The same instances, the same load, a naive rotation: revoke the credential in use, then deploy a new one.
    naive_play = fleet.folder / 'naive.yml'
    naive_play.write_text(yaml.safe_dump([
        {'name': 'Naive rotation: revoke the old credential, then issue and deploy a new one', 'hosts': 'localhost',
         'gather_facts': False, 'tasks': [
             {'name': 'Revoke the credential in use', 'secops.rotation.vault_db_rotate': {'state': 'revoked', 'lease_ids': [cred_b['id']]}},
             {'name': 'Issue a new one', 'secops.rotation.vault_db_rotate': {'role': db_role}, 'register': 'naive', 'no_log': True}]},
        {'name': 'Deploy it', 'hosts': 'demo_apps', 'gather_facts': False, 'tasks': [
            {'name': 'Template db.json', 'no_log': True, 'ansible.builtin.copy': {
                'dest': '{{ demo_app_dir }}/db.json', 'mode': '0600',
                'content': "{{ {'primary': {'username': hostvars.localhost.naive.username, "
                           "'password': hostvars.localhost.naive.password}, 'secondary': none} | to_json }}"}},
            {'name': 'Reload', 'ansible.builtin.command': 'kill -HUP {{ lookup("ansible.builtin.file", demo_app_dir ~ "/pid") }}',
             'changed_when': True}]}]), encoding='utf-8')
    started = time.monotonic()
    load = apps.run_load(fleet.urls(), RATE, duration_s=300, max_requests=RATE * 300)
    proc = subprocess.run([PLAYBOOK, '-i', str(fleet.inventory), str(naive_play)], capture_output=True, text=True,
                          env=ansible_env(env), timeout=300, check=False)
    time.sleep(1)  # let the instances settle on the new credential
    naive = load_counts(load, started)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]

    with capsys.disabled():
        print('\nzero downtime: blue-green rotation %(sent)d requests (%(rate).0f/s), %(failed)d failed' % blue_green)
        print('zero downtime: naive revoke-then-replace %(sent)d requests (%(rate).0f/s), %(failed)d failed %(errors)s' % naive)
    assert blue_green['rate'] >= 50, blue_green
    assert blue_green['sent'] >= 200 and blue_green['failed'] == 0, blue_green
    assert naive['failed'] > 0, naive


def test_db_nothing_due_changes_nothing_and_check_mode_predicts(lab, env, vault, fleet, db_role):
    name, cred_a = start_on_a(env, fleet, db_role)
    files = [path.joinpath('db.json').stat().st_mtime_ns for path in fleet.dirs]
    dummy, version = ledger(env, name)
    before = leases(vault, db_role)

    rc, output, recap = fleet.play('rotate_db_credentials', db_vars(db_role, name, db_credentials_lease_threshold='10m'))
    assert rc == 0, output[-4000:]
    assert set(recap) >= {'app1', 'app2', 'app3'} and all(changed == 0 for dummy, changed, dummy2 in recap.values()), recap
    assert 'not due' in output
    assert ledger(env, name)[1] == version, 'no ledger write'
    assert leases(vault, db_role) == before, 'no new lease'
    # the adopted files already hold A as the only credential: converge leaves them alone
    assert [path.joinpath('db.json').stat().st_mtime_ns for path in fleet.dirs] == files

    rc, output, recap = fleet.play('rotate_db_credentials', db_vars(db_role, name, db_credentials_force=True), check=True)
    assert rc == 0, output[-4000:]
    assert 'would rotate database/creds/%s' % db_role in output and 'a real run would stage it' in output
    assert ledger(env, name)[1] == version and leases(vault, db_role) == before
    assert all(fleet.health(index)['db_user'] == cred_a['username'] for index in range(3))
    fleet.assert_no_secret(cred_a['password'])


def test_db_role_in_one_play_rotates_every_host(lab, env, vault, fleet, db_role):
    """The role used directly (blue_green_phase=all): the three phases in one play, all hosts swap in one batch."""
    name, cred_a = start_on_a(env, fleet, db_role)
    playbook = fleet.folder / 'one_play.yml'
    playbook.write_text(yaml.safe_dump([{'name': 'Rotate in one play', 'hosts': 'demo_apps', 'gather_facts': False,
                                         'roles': [{'role': 'secops.rotation.db_credentials'}]}]), encoding='utf-8')
    rc, output, recap = fleet.play(str(playbook), db_vars(db_role, name, db_credentials_force=True))
    assert rc == 0, output[-6000:]
    entry, dummy = ledger(env, name)
    assert entry['phase'] == 'idle' and entry['current']['id'] != cred_a['lease_id']
    assert all(fleet.health(index)['db_user'] == entry['current']['username'] for index in range(3))
    assert not lease_alive(vault, cred_a['lease_id'])
    fleet.assert_no_secret(cred_a['password'], entry['current']['password'])


def test_db_failed_health_check_restores_the_host_and_a_rerun_finishes_with_the_same_b(lab, env, vault, fleet, db_role):
    name, cred_a = start_on_a(env, fleet, db_role)
    before = leases(vault, db_role)
    fault = fleet.dirs[1] / 'fault-ignore-reload'
    fault.write_text('', encoding='utf-8')  # instance 2 ignores SIGHUP: it keeps using A

    rc, output, recap = fleet.play('rotate_db_credentials', db_vars(db_role, name, db_credentials_force=True))
    assert rc != 0
    entry, dummy = ledger(env, name)
    cred_b = entry['pending']
    assert entry['phase'] == 'staged' and entry['current']['id'] == cred_a['lease_id'], 'B stays pending, A current'
    assert "app2: swap of %s to %s failed" % (name, cred_b['username']) in output, output[-4000:]
    a_and_b = {'primary': {'username': cred_a['username'], 'password': cred_a['password']},
               'secondary': {'username': cred_b['username'], 'password': cred_b['password']}}
    assert fleet.health(0)['db_user'] == cred_b['username'], 'instance 1 was swapped'
    assert fleet.config(1) == a_and_b, 'instance 2 is back on its previous config (the overlap)'
    assert apps.get_json(fleet.instances[1].url + '/')[0] == 200, 'instance 2 serves'
    assert fleet.config(2) == a_and_b and fleet.health(2)['db_user'] == cred_a['username'], 'instance 3 was not swapped'
    assert lease_alive(vault, cred_a['lease_id']) and can_login(lab, cred_a['username'], cred_a['password']), 'A not decommissioned'
    assert not [path for folder in fleet.dirs for path in folder.iterdir() if path.name.startswith('db.json.')], 'no backup left'

    # Instance 3 as a run killed between its template and its reload leaves it: B's files, still using A.
    b_and_a = {'primary': a_and_b['secondary'], 'secondary': a_and_b['primary']}
    apps.write_config(fleet.dirs[2], db_pair=b_and_a)
    fault.unlink()
    # A run limited to instance 2 swaps it but cannot prove every host uses B: nothing is promoted.
    rc, output, recap = fleet.play('rotate_db_credentials', db_vars(db_role, name), limit='localhost,app2')
    assert rc == 0, output[-6000:]
    assert 'the play is limited' in output and ledger(env, name)[0]['phase'] == 'staged'
    assert fleet.health(1)['db_user'] == cred_b['username'] and fleet.health(2)['db_user'] == cred_a['username']

    rc, output, recap = fleet.play('rotate_db_credentials', db_vars(db_role, name))  # no force: it resumes the staged B
    assert rc == 0, output[-6000:]
    entry, dummy = ledger(env, name)
    assert entry['current']['id'] == cred_b['id'] and entry['phase'] == 'idle', 'finished with the same B'
    assert leases(vault, db_role) - before == {cred_b['id']}, 'no second lease was created'
    assert all(fleet.health(index)['db_user'] == cred_b['username'] for index in range(3))
    assert not lease_alive(vault, cred_a['lease_id'])
    fleet.assert_no_secret(cred_a['password'], cred_b['password'])


def test_db_failing_reload_restores_and_reloads_the_previous_config(lab, env, vault, fleet, db_role):
    """A reload command that fails (after it did signal the app): the rescue puts the old file back and reloads again."""
    name, cred_a = start_on_a(env, fleet, db_role)
    before = leases(vault, db_role)
    once = fleet.dirs[0] / 'fail-reload-once'
    once.write_text('', encoding='utf-8')
    reload_failing_once = ('kill -HUP "$(cat {{ demo_app_dir }}/pid)"; '
                           'if [ -e {{ demo_app_dir }}/fail-reload-once ]; then rm {{ demo_app_dir }}/fail-reload-once; exit 1; fi')
    rc, output, recap = fleet.play('rotate_db_credentials', db_vars(db_role, name, db_credentials_force=True,
                                                                    blue_green_reload_command=reload_failing_once))
    assert rc != 0 and not once.exists()
    entry, dummy = ledger(env, name)
    cred_b = entry['pending']
    assert entry['phase'] == 'staged'
    assert "app1: overlap of %s to %s failed" % (name, cred_a['username']) in output, output[-4000:]
    assert "previous config files were put back and it was reloaded" in output
    assert fleet.config(0) == {'primary': {'username': cred_a['username'], 'password': cred_a['password']}, 'secondary': None}
    health = fleet.health(0)
    assert health['generation'] == 2 and health['db_user'] == cred_a['username'], 'the restored file was loaded again'

    rc, output, recap = fleet.play('rotate_db_credentials', db_vars(db_role, name))
    assert rc == 0, output[-4000:]
    assert ledger(env, name)[0]['current']['id'] == cred_b['id'] and leases(vault, db_role) - before == {cred_b['id']}
    assert all(fleet.health(index)['db_user'] == cred_b['username'] for index in range(3))
    fleet.assert_no_secret(cred_a['password'], cred_b['password'])


def test_missing_template_fails_before_anything_is_created(lab, env, vault, fleet, db_role):
    name, cred_a = start_on_a(env, fleet, db_role)
    before, version = leases(vault, db_role), ledger(env, name)[1]
    configs = [{'src': str(fleet.folder / 'nope.json.j2'), 'dest': '{{ demo_app_dir }}/db.json'}]
    rc, output, recap = fleet.play('rotate_db_credentials', db_vars(db_role, name, db_credentials_force=True, blue_green_configs=configs))
    assert rc != 0 and 'template(s) not found on the controller: %s' % configs[0]['src'] in output, output[-4000:]
    assert leases(vault, db_role) == before and ledger(env, name)[1] == version


def test_db_killed_between_swap_and_decommission_then_rerun_completes(lab, env, vault, fleet, db_role):
    name, cred_a = start_on_a(env, fleet, db_role)
    before = leases(vault, db_role)

    argv = [PLAYBOOK, '-i', str(fleet.inventory), 'secops.rotation.rotate_db_credentials', '-vvvv', '-e',
            json.dumps(db_vars(db_role, name, db_credentials_force=True))]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ansible_env(env),
                            cwd=str(fleet.folder), start_new_session=True)
    killed, deadline, seen = False, time.monotonic() + 300, []
    try:
        for line in proc.stdout:
            seen.append(line)
            if 'Prove that nobody uses A any more' in line:  # promoted; the decommission is about to start
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
                break
            if time.monotonic() > deadline:
                break
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    fleet.outputs.append(''.join(seen))
    assert killed, ''.join(seen)[-4000:]
    entry, dummy = ledger(env, name)
    assert entry['phase'] == 'promoted' and entry['previous']['id'] == cred_a['lease_id']
    cred_b = entry['current']

    rc, output, recap = fleet.play('rotate_db_credentials', db_vars(db_role, name))
    assert rc == 0, output[-6000:]
    entry, dummy = ledger(env, name)
    assert entry['current']['id'] == cred_b['id'] and entry['previous'] is None and entry['phase'] == 'idle'
    assert leases(vault, db_role) - before == {cred_b['id']}, 'no extra credential'
    assert not lease_alive(vault, cred_a['lease_id']) and not can_login(lab, cred_a['username'], cred_a['password'])
    assert all(fleet.config(index)['secondary'] is None and fleet.health(index)['db_user'] == cred_b['username'] for index in range(3))
    fleet.assert_no_secret(cred_a['password'], cred_b['password'])


def test_db_decommission_waits_for_the_old_user_and_refuses_while_it_is_used(lab, env, vault, fleet, db_role):
    name, cred_a = start_on_a(env, fleet, db_role)
    # something outside the fleet still holds a session of A
    holdout = psycopg2.connect(host=lab['PGHOST'], port=lab['PGPORT'], dbname=lab['PGDATABASE'], user=cred_a['username'],
                               password=cred_a['password'], connect_timeout=5)
    try:
        rc, output, recap = fleet.play('rotate_db_credentials', db_vars(db_role, name, db_credentials_force=True,
                                                                        db_credentials_sessions_timeout='2s'))
    finally:
        holdout.close()
    assert rc != 0
    assert 'user %s still has 1 session(s) in pg_stat_activity' % cred_a['username'] in output, output[-4000:]
    entry, dummy = ledger(env, name)
    assert entry['phase'] == 'promoted', 'promoted, A kept as previous'
    assert lease_alive(vault, cred_a['lease_id']) and can_login(lab, cred_a['username'], cred_a['password']), 'A stays valid'

    rc, output, recap = fleet.play('rotate_db_credentials', db_vars(db_role, name))
    assert rc == 0, output[-4000:]
    assert not lease_alive(vault, cred_a['lease_id'])
    entry = ledger(env, name)[0]
    assert entry['previous'] is None
    fleet.assert_no_secret(cred_a['password'], entry['current']['password'])


def test_db_static_role_is_replaced_on_every_host(lab, env, vault, fleet):
    admin = psycopg2.connect(host=lab['PGHOST'], port=lab['PGPORT'], user=lab['PGUSER'], password=lab['PGPASSWORD'],
                             dbname=lab['PGDATABASE'], connect_timeout=5)
    admin.autocommit = True
    user, role = 'bg_static_%s' % _uid(), 'bgs-%s' % _uid()
    with admin.cursor() as cur:
        cur.execute("CREATE ROLE %s LOGIN PASSWORD 'initial-%s'" % (user, _uid()))
        cur.execute('GRANT SELECT ON demo_items TO %s' % user)
    vault.write('database/static-roles/%s' % role, db_name=lab['LAB_DB_CONNECTION'], username=user, rotation_period=86400)
    try:
        first = vault.secrets.database.get_static_credentials(role)['data']
        fleet.start({'username': user, 'password': first['password']})
        extra = {'db_credentials_role_type': 'static', 'db_credentials_max_age': '30d'}
        rc, output, recap = fleet.play('rotate_db_credentials', db_vars(role, 'unused', **extra))
        assert rc == 0, output[-4000:]
        assert all(changed == 0 for dummy, changed, dummy2 in recap.values()), recap

        rc, output, recap = fleet.play('rotate_db_credentials', db_vars(role, 'unused', db_credentials_force=True, **extra))
        assert rc == 0, output[-4000:]
        second = vault.secrets.database.get_static_credentials(role)['data']
        assert second['password'] != first['password']
        for index in range(3):
            assert fleet.config(index) == {'primary': {'username': user, 'password': second['password']}, 'secondary': None}
            assert apps.get_json(fleet.instances[index].url + '/')[0] == 200
        fleet.assert_no_secret(first['password'], second['password'])
    finally:
        vault.secrets.database.delete_static_role(role)
        with admin.cursor() as cur:
            cur.execute('DROP OWNED BY %s' % user)
            cur.execute('DROP ROLE IF EXISTS %s' % user)
        admin.close()


# --------------------------------------------------------------------------------------------- IAM

def test_iam_blue_green_under_load_then_purge_after_the_grace_period(lab, env, vault, fleet, iam, iam_user, capsys):
    apps.ensure_demo_table(lab)
    name = 'bg-%s/iam' % _uid()
    db = issue(env, 'lab-readonly')
    key_a = run_module('iam_key_rotate', {'user_name': iam_user}, env=env)
    assert key_a['access_key_id'] and key_a['secret_access_key'], key_a.get('msg')
    res = run_module('rotation_state', {'action': 'init', 'name': name, 'kind': 'iam', 'id': key_a['access_key_id'],
                                        'metadata': {'access_key_id': key_a['access_key_id']},
                                        'secret': {'secret_access_key': key_a['secret_access_key']}}, env=env)
    assert res['changed'], res.get('msg')
    fleet.start({'username': db['username'], 'password': db['password']},
                {'access_key_id': key_a['access_key_id'], 'secret_access_key': key_a['secret_access_key']})
    assert fleet.health(0)['access_key_id'] == key_a['access_key_id']

    # B is deployed and promoted, A stays valid (blue_green_decommission=false); the next run decommissions A.
    started = time.monotonic()
    load = apps.run_load(fleet.urls('/health'), 30, duration_s=300, max_requests=30 * 300)
    rc, output, recap = fleet.play('rotate_iam_keys', iam_vars(iam_user, name, iam_keys_force=True, blue_green_decommission=False))
    assert rc == 0, output[-6000:]
    entry, dummy = ledger(env, name)
    key_b = entry['current']
    assert entry['phase'] == 'promoted' and entry['previous']['id'] == key_a['access_key_id']
    assert keys_of(iam, iam_user) == {key_a['access_key_id']: 'Active', key_b['access_key_id']: 'Active'}, 'A stays valid'
    assert fleet.config(0, 'aws.json')['secondary']['access_key_id'] == key_a['access_key_id']
    # Instance 3 is re-imaged with A meanwhile. The next run (still blue_green_decommission=false) finds the rotation
    # promoted: it moves instance 3 to B first, then deactivates A, with the cutover after that move.
    a_only = {'access_key_id': key_a['access_key_id'], 'secret_access_key': key_a['secret_access_key']}
    apps.write_config(fleet.dirs[2], aws_pair=a_only)
    apps.reload_instance(fleet.dirs[2])
    apps.wait_health(fleet.instances[2].url, lambda status, body: body.get('access_key_id') == key_a['access_key_id'])
    rc, output, recap = fleet.play('rotate_iam_keys', iam_vars(iam_user, name, blue_green_decommission=False))
    counts = load_counts(load, started)
    assert rc == 0, output[-6000:]
    with capsys.disabled():
        print('\nIAM blue-green rotation: %(sent)d health checks (%(rate).0f/s), %(failed)d failed' % counts)
    assert counts['sent'] >= 100 and counts['failed'] == 0, counts

    entry, version = ledger(env, name)
    assert entry['current']['id'] == key_b['id'] and entry['previous'] is None and entry['phase'] == 'idle'
    for index in range(3):
        assert fleet.health(index)['access_key_id'] == key_b['access_key_id']
        assert fleet.config(index, 'aws.json')['secondary'] is None
    assert keys_of(iam, iam_user) == {key_a['access_key_id']: 'Inactive', key_b['access_key_id']: 'Active'}
    tags = {tag['Key']: tag['Value'] for tag in iam.list_user_tags(UserName=iam_user)['Tags']}
    deactivated = tags['secops-rotation:deactivated:%s' % key_a['access_key_id']]
    promoted = [record['at'] for record in entry['history'] if record['action'] == 'promote'][-1]
    assert deactivated >= promoted, 'A is deactivated only after the swap (the promotion)'

    # purge_iam_keys deletes A only after the grace period
    purge = {'rotation_iam_users': [iam_user], 'rotation_iam_grace_period': '1h'}
    rc, output, recap = fleet.play('purge_iam_keys', purge)
    assert rc == 0, output[-4000:]
    assert key_a['access_key_id'] in keys_of(iam, iam_user), 'still in its grace period'
    assert 'grace period of 1h ends at' in output

    # A second run: nothing is due (B is new), nothing changes
    rc, output, recap = fleet.play('rotate_iam_keys', iam_vars(iam_user, name))
    assert rc == 0 and all(changed == 0 for dummy, changed, dummy2 in recap.values()), recap
    assert keys_of(iam, iam_user) == {key_a['access_key_id']: 'Inactive', key_b['access_key_id']: 'Active'}
    assert ledger(env, name)[1] == version, 'no ledger write'
    time.sleep(max(0.0, calendar.timegm(time.strptime(deactivated, '%Y-%m-%dT%H:%M:%SZ')) + GRACE + 1 - time.time()))
    purge['rotation_iam_grace_period'] = '%ds' % GRACE
    rc, output, recap = fleet.play('purge_iam_keys', purge)
    assert rc == 0, output[-4000:]
    assert keys_of(iam, iam_user) == {key_b['access_key_id']: 'Active'}
    fleet.assert_no_secret(key_a['secret_access_key'], key_b['secret_access_key'], db['password'])


# --------------------------------------------------------------------------------------------- staging fails

LEDGER_READ_ONLY = """
path "secret/data/rotation/*" { capabilities = ["read"] }
path "secret/metadata/rotation/*" { capabilities = ["read", "list"] }
path "database/*" { capabilities = ["read", "update", "list"] }
path "sys/leases/*" { capabilities = ["read", "update", "list"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
"""


@pytest.fixture
def ledger_read_only_token(vault):
    """A token that may read the ledger and issue/revoke database credentials, but not write the ledger."""
    policy = 'bg-ro-%s' % _uid()
    vault.sys.create_or_update_policy(policy, LEDGER_READ_ONLY)
    yield vault.auth.token.create(policies=[policy], ttl='1h')['auth']['client_token']
    vault.sys.delete_policy(policy)


def test_staging_failure_destroys_the_new_secret(lab, env, vault, iam, fleet, db_role, iam_user, ledger_read_only_token):
    """When B cannot be staged (here: the token may not write the ledger), B is revoked/deleted and nothing is deployed."""
    name = 'bg-%s' % _uid()
    cred_a = issue(env, db_role)
    adopt_db(env, name + '/db', cred_a)
    key_a = run_module('iam_key_rotate', {'user_name': iam_user}, env=env)
    res = run_module('rotation_state', {'action': 'init', 'name': name + '/iam', 'kind': 'iam', 'id': key_a['access_key_id'],
                                        'metadata': {'access_key_id': key_a['access_key_id']},
                                        'secret': {'secret_access_key': key_a['secret_access_key']}}, env=env)
    assert res['changed'], res.get('msg')
    fleet.start({'username': cred_a['username'], 'password': cred_a['password']},
                {'access_key_id': key_a['access_key_id'], 'secret_access_key': key_a['secret_access_key']})
    before, db_version, iam_version = leases(vault, db_role), ledger(env, name + '/db')[1], ledger(env, name + '/iam')[1]
    files = [(path / 'db.json').read_bytes() + (path / 'aws.json').read_bytes() for path in fleet.dirs]
    restricted = {'VAULT_TOKEN': ledger_read_only_token}

    rc, output, recap = fleet.play('rotate_db_credentials', db_vars(db_role, name + '/db', db_credentials_force=True), env=restricted)
    assert rc != 0 and 'was discarded again, nothing else changed' in output, output[-4000:]
    assert 'permission denied' in output
    assert leases(vault, db_role) == before, "B's lease was revoked again"

    rc, output, recap = fleet.play('rotate_iam_keys', iam_vars(iam_user, name + '/iam', iam_keys_force=True), env=restricted)
    assert rc != 0 and 'was discarded again, nothing else changed' in output, output[-4000:]
    assert keys_of(iam, iam_user) == {key_a['access_key_id']: 'Active'}, 'B was deactivated and deleted again'

    assert ledger(env, name + '/db')[1] == db_version and ledger(env, name + '/iam')[1] == iam_version
    assert [(path / 'db.json').read_bytes() + (path / 'aws.json').read_bytes() for path in fleet.dirs] == files, 'nothing deployed'
    fleet.assert_no_secret(cred_a['password'], key_a['secret_access_key'])
