# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""secops.rotation.vault_db_rotate against the lab's real OpenBao (database engine) and PostgreSQL 18."""


import os
import socket
import threading
import time
import uuid

import hvac
import hvac.exceptions
import psycopg2
import pytest

from lab.faults import LosingProxy
from lab.runner import run_module, run_playbook
from ansible_collections.secops.rotation.plugins.module_utils import _postgres

MODULE = 'vault_db_rotate'
CREATE_LOGIN = """CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"""


def _uid():
    return uuid.uuid4().hex[:10]


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture(scope='module')
def vault(lab):
    return hvac.Client(url=lab['VAULT_ADDR'], token=lab['VAULT_TOKEN'])


@pytest.fixture(scope='module')
def env(lab):
    """What the module sees in its environment: Vault address/token and where PostgreSQL is (no PG admin creds).

    The lab's PostgreSQL has no TLS, so the tests ask for sslmode=disable (the module's default, require, refuses a
    server without TLS: see test_default_sslmode_refuses_a_database_without_tls_before_anything_is_issued)."""
    return dict({key: lab[key] for key in ('VAULT_ADDR', 'VAULT_TOKEN', 'PGHOST', 'PGPORT', 'PGDATABASE')}, PGSSLMODE='disable')


@pytest.fixture(scope='module')
def admin(lab):
    conn = psycopg2.connect(host=lab['PGHOST'], port=lab['PGPORT'], user=lab['PGUSER'], password=lab['PGPASSWORD'],
                            dbname=lab['PGDATABASE'], connect_timeout=5)
    conn.autocommit = True
    yield conn
    conn.close()


def _sql(admin, statement, args=None):
    with admin.cursor() as cur:
        cur.execute(statement, args)
        return cur.fetchall() if cur.description else None


def _login(lab, user, password, dbname=None):
    """True if user/password log in to the lab's PostgreSQL."""
    try:
        psycopg2.connect(host=lab['PGHOST'], port=lab['PGPORT'], dbname=dbname or lab['PGDATABASE'], user=user,
                         password=password, connect_timeout=5).close()
        return True
    except psycopg2.OperationalError as exc:
        assert 'password authentication failed' in str(exc) or 'does not exist' in str(exc), exc
        return False


def count_leases(vault, role, mount='database'):
    """Leases under <mount>/creds/<role>/ (LIST sys/leases/lookup/...; 404 when there are none)."""
    try:
        return len(vault.sys.list_leases('%s/creds/%s/' % (mount, role))['data']['keys'])
    except hvac.exceptions.InvalidPath:
        return 0


class Roles:
    """Creates uniquely named dynamic/static roles (and tables, PG users) and removes them and their leases."""

    def __init__(self, lab, vault, admin):
        self.lab, self.vault, self.admin = lab, vault, admin
        self.dynamic, self.static, self.users, self.tables = [], [], [], []

    def table(self):
        name = 't_%s' % _uid()
        _sql(self.admin, 'CREATE TABLE public.%s (id int)' % name)
        self.tables.append(name)
        return name

    def dynamic_role(self, grants=('GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";',), default_ttl=3600, max_ttl=86400):
        name = 'dbr-%s' % _uid()
        self.vault.secrets.database.create_role(name=name, db_name=self.lab['LAB_DB_CONNECTION'], creation_statements=[CREATE_LOGIN] + list(grants),
                                                default_ttl=default_ttl, max_ttl=max_ttl, mount_point='database')
        self.dynamic.append(name)
        return name

    def static_role(self):
        user = 'dbr_static_%s' % _uid()
        _sql(self.admin, "CREATE ROLE %s LOGIN PASSWORD 'initial-%s'" % (user, _uid()))
        self.users.append(user)
        name = 'dbrs-%s' % _uid()
        self.vault.write('database/static-roles/%s' % name, db_name=self.lab['LAB_DB_CONNECTION'], username=user, rotation_period=86400)
        self.static.append(name)
        return name, user

    def cleanup(self):
        for name in self.dynamic:
            self.vault.sys.revoke_prefix('database/creds/%s' % name)
            self.vault.secrets.database.delete_role(name, mount_point='database')
        for name in self.static:
            self.vault.secrets.database.delete_static_role(name, mount_point='database')
        for user in self.users:
            _sql(self.admin, 'DROP ROLE IF EXISTS %s' % user)
        for table in self.tables:
            _sql(self.admin, 'DROP TABLE IF EXISTS public.%s' % table)


@pytest.fixture
def roles(lab, vault, admin):
    made = Roles(lab, vault, admin)
    yield made
    made.cleanup()


def _assert_clean_failure(res, *fragments):
    assert res.get('failed') is True, res
    for fragment in fragments:
        assert fragment in res['msg'], (fragment, res['msg'])
    assert 'Traceback' not in res.stdout + res.stderr
    assert 'password' not in res or not res.get('password')


# --------------------------------------------------------------------------------------------- dynamic roles

def test_dynamic_issue_verifies_and_is_idempotent_until_due(lab, env, vault, roles):
    role = roles.dynamic_role()
    first = run_module(MODULE, {'role': role}, env=env)
    assert first['changed'] is True and first['reason'] == 'missing' and first['action'] == 'rotate', first
    assert first['verified'] is True and first['verification']['login_attempts'] >= 1
    assert first['lease_id'].startswith('database/creds/%s/' % role)
    assert first['lease_duration'] == 3600 and first['renewable'] is True
    assert first['expires_at'].endswith('Z')
    assert _login(lab, first['username'], first['password'])
    assert first['password'] not in first['msg']
    assert count_leases(vault, role) == 1

    # threshold not reached: nothing issued
    second = run_module(MODULE, {'role': role, 'lease_id': first['lease_id'], 'lease_threshold': '10m'}, env=env)
    assert second['changed'] is False and second['reason'] == 'not_due', second
    assert second['lease_id'] == first['lease_id'] and 'password' not in second
    assert 'not due' in second['msg']
    assert count_leases(vault, role) == 1

    # fraction not reached either
    third = run_module(MODULE, {'role': role, 'lease_id': first['lease_id'], 'lease_threshold_fraction': 0.5}, env=env)
    assert third['changed'] is False and third['reason'] == 'not_due', third
    assert count_leases(vault, role) == 1

    # threshold above the remaining TTL: rotates, the new login works, the old lease is left alone
    fourth = run_module(MODULE, {'role': role, 'lease_id': first['lease_id'], 'lease_threshold': '2h'}, env=env, diff=True)
    assert fourth['changed'] is True and fourth['reason'] == 'expiring', fourth
    assert fourth['lease_id'] != first['lease_id'] and fourth['previous_lease_id'] == first['lease_id']
    assert fourth['username'] != first['username']
    assert _login(lab, fourth['username'], fourth['password'])
    assert count_leases(vault, role) == 2
    item = 'database/creds/%s' % role
    assert fourth['diff']['before_header'] == fourth['diff']['after_header'] == item  # one role: its own diff
    assert fourth['diff']['before']['lease_id'] == first['lease_id']
    assert fourth['diff']['after'] == {'lease_id': fourth['lease_id'], 'expires_at': fourth['expires_at'],
                                       'username': fourth['username']}
    assert fourth['password'] not in str(fourth['diff'])


def test_dynamic_gone_lease_is_missing_and_force_rotates(env, vault, roles):
    role = roles.dynamic_role()
    creds = vault.secrets.database.generate_credentials(role, mount_point='database')
    vault.sys.revoke_lease(creds['lease_id'])
    res = run_module(MODULE, {'role': role, 'lease_id': creds['lease_id'], 'lease_threshold': '1m'}, env=env)
    assert res['changed'] is True and res['reason'] == 'missing' and 'expired, revoked or unknown' in res['msg'], res
    forced = run_module(MODULE, {'role': role, 'lease_id': res['lease_id'], 'lease_threshold': '1m', 'force': True}, env=env)
    assert forced['changed'] is True and forced['reason'] == 'forced', forced
    assert count_leases(vault, role) == 2


def test_renew_extends_the_lease_instead_of_rotating(env, vault, roles):
    role = roles.dynamic_role()
    first = run_module(MODULE, {'role': role}, env=env)
    res = run_module(MODULE, {'role': role, 'lease_id': first['lease_id'], 'lease_threshold': '2h', 'renew': True,
                              'renew_increment': '3h'}, env=env)
    assert res['changed'] is True and res['action'] == 'renew' and res['reason'] == 'expiring', res
    assert res['lease_id'] == first['lease_id'] and 'password' not in res
    assert count_leases(vault, role) == 1
    assert vault.sys.read_lease(first['lease_id'])['data']['ttl'] > 2 * 3600
    again = run_module(MODULE, {'role': role, 'lease_id': first['lease_id'], 'lease_threshold': '2h', 'renew': True}, env=env)
    assert again['changed'] is False and again['reason'] == 'not_due', again


def test_renew_past_max_ttl_rotates_instead(lab, env, vault, roles):
    role = roles.dynamic_role(default_ttl=3600, max_ttl=3600)
    first = run_module(MODULE, {'role': role}, env=env)
    check = run_module(MODULE, {'role': role, 'lease_id': first['lease_id'], 'lease_threshold': '2h', 'renew': True}, env=env, check=True)
    assert check['changed'] is True and check['action'] == 'rotate' and 'max_ttl' in check['msg'], check
    res = run_module(MODULE, {'role': role, 'lease_id': first['lease_id'], 'lease_threshold': '2h', 'renew': True}, env=env)
    assert res['changed'] is True and res['action'] == 'rotate' and res['lease_id'] != first['lease_id'], res
    assert _login(lab, res['username'], res['password'])
    assert count_leases(vault, role) == 2


def _pg_log_size(lab):
    return os.path.getsize(os.path.join(lab['LAB_DIR'], 'logs', 'postgres.log'))


def _pg_log_since(lab, offset):
    with open(os.path.join(lab['LAB_DIR'], 'logs', 'postgres.log'), 'rb') as handle:
        handle.seek(offset)
        return handle.read().decode('utf-8', 'replace')


def test_check_mode_predicts_and_creates_nothing(lab, env, vault, admin, roles):
    role = roles.dynamic_role()
    pg_roles = _sql(admin, 'SELECT count(*) FROM pg_roles')[0][0]
    log_offset = _pg_log_size(lab)
    res = run_module(MODULE, {'role': role}, env=env, check=True, diff=True)
    assert res['changed'] is True and res['msg'].startswith('would rotate database/creds/%s' % role), res
    assert 'password' not in res and 'username' not in res
    assert res['diff']['after']['lease_id'] == '(new lease)' and res['diff']['after_header'] == 'database/creds/%s' % role
    assert count_leases(vault, role) == 0
    # PostgreSQL: no user created, and the port probe left no error or authentication line in the server log
    assert _sql(admin, 'SELECT count(*) FROM pg_roles')[0][0] == pg_roles
    logged = _pg_log_since(lab, log_offset)
    assert not any(word in logged for word in ('FATAL', 'ERROR', 'could not', 'authentication', 'incomplete startup')), logged


def test_check_mode_of_static_role_and_renewal_changes_nothing(lab, env, vault, roles):
    static_role, user = roles.static_role()
    before = vault.secrets.database.get_static_credentials(static_role, mount_point='database')['data']
    res = run_module(MODULE, {'role': static_role, 'role_type': 'static', 'force': True}, env=env, check=True, diff=True)
    assert res['changed'] is True and res['msg'].startswith('would rotate database/static-creds/%s' % static_role), res
    assert 'password' not in res
    after = vault.secrets.database.get_static_credentials(static_role, mount_point='database')['data']
    assert after['last_vault_rotation'] == before['last_vault_rotation'] and after['password'] == before['password']
    assert _login(lab, user, before['password'])

    role = roles.dynamic_role()
    lease_id = vault.secrets.database.generate_credentials(role, mount_point='database')['lease_id']
    lease = vault.sys.read_lease(lease_id)['data']
    res = run_module(MODULE, {'role': role, 'lease_id': lease_id, 'lease_threshold': '2h', 'renew': True}, env=env, check=True)
    assert res['changed'] is True and res['action'] == 'renew' and res['msg'].startswith('would renew'), res
    again = vault.sys.read_lease(lease_id)['data']
    assert (again['expire_time'], again['last_renewal']) == (lease['expire_time'], lease['last_renewal'])
    assert count_leases(vault, role) == 1


def test_verification_failure_names_table_and_privilege_and_revokes(lab, env, vault, admin, roles):
    table = roles.table()
    role = roles.dynamic_role(grants=())  # logs in, but has no privilege on the table
    res = run_module(MODULE, {'role': role, 'privileges': [{'table': 'public.%s' % table, 'privilege': 'SELECT'}]}, env=env)
    _assert_clean_failure(res, 'lacks SELECT on table public.%s' % table, 'verification of the new credentials failed',
                          'was revoked')
    assert res['revoked_lease_id'].startswith('database/creds/%s/' % role)
    assert count_leases(vault, role) == 0
    # the database user of the revoked lease is gone too
    assert _sql(admin, 'SELECT count(*) FROM pg_roles WHERE rolname = %s', (res['username'],))[0][0] == 0


def test_privileges_and_check_query_pass(env, vault, roles):
    table = roles.table()
    role = roles.dynamic_role(grants=('GRANT SELECT, INSERT ON public.%s TO "{{name}}";' % table,))
    res = run_module(MODULE, {'role': role, 'check_query': 'SELECT count(*) FROM public.%s' % table,
                              'privileges': [{'table': table, 'privilege': 'select, insert'}, {'table': 'public.%s' % table}]}, env=env)
    assert res['changed'] is True and res['verified'] is True, res
    assert res['verification']['privileges'] == [{'table': table, 'privilege': 'SELECT, INSERT', 'granted': True},
                                                 {'table': 'public.%s' % table, 'privilege': 'SELECT', 'granted': True}]
    failing = run_module(MODULE, {'role': role, 'privileges': [{'table': table, 'privilege': 'DELETE'}]}, env=env)
    _assert_clean_failure(failing, 'lacks DELETE on table %s' % table)
    bad_query = run_module(MODULE, {'role': role, 'check_query': 'SELECT * FROM no_such_table_%s' % _uid()}, env=env)
    _assert_clean_failure(bad_query, 'check query failed', 'does not exist')
    assert count_leases(vault, role) == 1


def test_check_query_that_ends_its_session_fails_cleanly_and_revokes(env, vault, roles):
    role = roles.dynamic_role()
    res = run_module(MODULE, {'role': role, 'privileges': [{'table': 'pg_class'}],
                              'check_query': 'SELECT pg_terminate_backend(pg_backend_pid())'}, env=env)
    _assert_clean_failure(res, 'check query failed', 'was revoked')
    assert count_leases(vault, role) == 0


def test_login_is_retried_until_a_new_role_exists(lab, admin, roles):
    """verify_login retries authentication errors: a role created 0.7 s after the first attempt still passes."""
    user, password = 'dbr_late_%s' % _uid(), 'late-%s' % _uid()
    roles.users.append(user)
    target = _postgres.PgTarget(host=lab['PGHOST'], port=int(lab['PGPORT']), dbname=lab['PGDATABASE'], sslmode='disable')
    with pytest.raises(_postgres.PostgresError) as err:
        _postgres.verify_login(target, user, password, attempts=1)
    assert 'login as %s to PostgreSQL at %s failed: password authentication failed' % (user, target) in str(err.value)
    timer = threading.Timer(0.7, _sql, (admin, "CREATE ROLE %s LOGIN PASSWORD '%s'" % (user, password)))
    timer.start()
    try:
        report = _postgres.verify_login(target, user, password, attempts=5)
    finally:
        timer.join()
    assert report['login_attempts'] > 1, report


def test_explicit_db_options_without_env(lab, vault, roles):
    role = roles.dynamic_role()
    res = run_module(MODULE, {'role': role, 'url': lab['VAULT_ADDR'], 'token': lab['VAULT_TOKEN'], 'db_host': lab['PGHOST'],
                              'db_port': int(lab['PGPORT']), 'db_name': 'postgres', 'db_sslmode': 'disable', 'db_connect_timeout': 3},
                     env={'PGHOST': '', 'PGPORT': '', 'VAULT_ADDR': '', 'VAULT_TOKEN': ''})
    assert res['changed'] is True and res['verified'] is True, res


# --------------------------------------------------------------------------------------------- static roles

def test_static_rotation_changes_the_password(lab, env, roles):
    role, user = roles.static_role()
    before = run_module(MODULE, {'role': role, 'role_type': 'static', 'max_age': '1d'}, env=env)
    assert before['changed'] is False and before['reason'] == 'not_due', before
    assert before['username'] == user and _login(lab, user, before['password'])

    time.sleep(1.1)  # last_vault_rotation is reported to the second: make the new one strictly later
    res = run_module(MODULE, {'role': role, 'role_type': 'static', 'force': True}, env=env, diff=True)
    assert res['changed'] is True and res['reason'] == 'forced' and res['verified'] is True, res
    assert res['password'] != before['password'] and res['username'] == user
    assert not _login(lab, user, before['password'])
    assert _login(lab, user, res['password'])
    assert res['last_vault_rotation'].endswith('Z') and res['last_vault_rotation'] > before['last_vault_rotation']
    assert 0 < res['ttl'] <= 86400
    assert res['diff']['before']['last_vault_rotation'] == before['last_vault_rotation']
    assert res['diff']['before_header'] == 'database/static-creds/%s' % role
    assert res['password'] not in str(res['diff']) and res['password'] not in res['msg']

    time.sleep(2.1)  # utcnow() has whole seconds: leave room
    aged = run_module(MODULE, {'role': role, 'role_type': 'static', 'max_age': 1}, env=env)
    assert aged['changed'] is True and aged['reason'] == 'age' and 'older than max_age 1s' in aged['msg'], aged
    assert _login(lab, user, aged['password']) and not _login(lab, user, res['password'])


def test_static_verification_failure_names_the_check(env, roles):
    table = roles.table()
    role, dummy = roles.static_role()
    res = run_module(MODULE, {'role': role, 'role_type': 'static', 'force': True, 'privileges': [{'table': table, 'privilege': 'UPDATE'}]},
                     env=env)
    _assert_clean_failure(res, 'lacks UPDATE on table %s' % table, 'was rotated', 'static-creds/%s' % role)
    assert res['changed'] is True


# --------------------------------------------------------------------------------------------- revoke

def test_revoke_is_idempotent(env, vault, roles):
    role = roles.dynamic_role()
    leases = [vault.secrets.database.generate_credentials(role, mount_point='database')['lease_id'] for dummy in range(2)]
    check = run_module(MODULE, {'state': 'revoked', 'lease_ids': leases}, env=env, check=True)
    assert check['changed'] is True and check['revoked'] == leases and count_leases(vault, role) == 2, check
    res = run_module(MODULE, {'state': 'revoked', 'lease_ids': leases}, env=env, diff=True)
    assert res['changed'] is True and res['revoked'] == leases and [r['reason'] for r in res['results']] == ['requested'] * 2, res
    assert count_leases(vault, role) == 0
    assert [entry['after'] for entry in res['diff']] == [{'state': 'revoked'}] * 2  # a batch: one diff per lease, in order
    assert [entry['before_header'] for entry in res['diff']] == leases and res['reasons'] == {'requested': 2}
    again = run_module(MODULE, {'state': 'revoked', 'lease_id': leases[0]}, env=env)
    assert again['changed'] is False and again['reason'] == 'absent' and again['revoked'] == [], again


# --------------------------------------------------------------------------------------------- batch

def test_batch_of_20_check_mode_then_rotate(lab, env, vault, roles):
    names = [roles.dynamic_role() for dummy in range(20)]
    batch = [{'role': name} for name in names]
    started = time.monotonic()
    check = run_module(MODULE, {'roles': batch}, env=env, check=True, diff=True)
    check_time = time.monotonic() - started
    assert check['changed'] is True and len(check['results']) == 20, check
    assert check['msg'] == 'would rotate 20 (20 roles)'
    # the one result shape of docs/results.md: reasons counted, a list of diffs headed by the role, none in results
    assert check['reason'] == 'missing' and check['reasons'] == {'missing': 20}
    assert isinstance(check['diff'], list) and [entry['before_header'] for entry in check['diff']] == [
        'database/creds/%s' % name for name in names]
    assert all(entry['after']['lease_id'] == '(new lease)' for entry in check['diff'])
    assert not any('diff' in entry for entry in check['results']) and 'role' not in check
    assert sum(count_leases(vault, name) for name in names) == 0

    started = time.monotonic()
    res = run_module(MODULE, {'roles': batch, 'lease_threshold': '10m'}, env=env)
    took = time.monotonic() - started
    assert res['changed'] is True and not res.get('failed'), res.get('msg')
    assert [r['role'] for r in res['results']] == names
    assert all(r['verified'] and r['reason'] == 'missing' for r in res['results'])
    assert all(_login(lab, r['username'], r['password']) for r in res['results'])
    assert [count_leases(vault, name) for name in names] == [1] * 20
    print('batch of 20: check mode %.2fs, rotation %.2fs' % (check_time, took))

    rerun = run_module(MODULE, {'lease_threshold': '10m', 'roles': [{'role': r['role'], 'lease_id': r['lease_id']} for r in res['results']]},
                       env=env)
    assert rerun['changed'] is False and rerun['reason'] == 'not_due' and rerun['msg'] == 'not due 20 (20 roles)', rerun
    assert rerun['reasons'] == {'not_due': 20} and 'diff' not in rerun
    assert [count_leases(vault, name) for name in names] == [1] * 20


def test_batch_uses_one_vault_login(lab, vault, roles):
    names = [roles.dynamic_role() for dummy in range(3)]
    accessors = set(vault.list('auth/token/accessors')['data']['keys'])
    res = run_module(MODULE, {'roles': [{'role': name} for name in names], 'auth_method': 'approle',
                              'role_id': lab['LAB_APPROLE_ROLE_ID'], 'secret_id': lab['LAB_APPROLE_SECRET_ID']},
                     env={'VAULT_ADDR': lab['VAULT_ADDR'], 'VAULT_TOKEN': '', 'PGHOST': lab['PGHOST'], 'PGPORT': lab['PGPORT'],
                          'PGSSLMODE': 'disable'})
    assert res['changed'] is True and not res.get('failed'), res.get('msg')
    assert all(r['username'].startswith('v-approle-') for r in res['results'])
    assert len(set(vault.list('auth/token/accessors')['data']['keys']) - accessors) == 1


def test_batch_item_failure_revokes_every_new_lease_and_returns_no_password(lab, env, vault, roles):
    """A failed task returns no password (it prints its whole result): the failed item's lease is revoked by its
    failed verification, the other items' new leases too (nobody would have their password)."""
    table = roles.table()
    good = [roles.dynamic_role(), roles.dynamic_role()]
    bad = roles.dynamic_role(grants=())
    res = run_module(MODULE, {'roles': [{'role': good[0]}, {'role': bad, 'privileges': [{'table': table}]}, {'role': good[1]}]}, env=env)
    assert res['failed'] is True and res['msg'].startswith('1 of 3 roles failed: database/creds/%s: verification' % bad), res['msg']
    assert 'lacks SELECT on table %s' % table in res['msg']
    # docs/results.md: <failed items>; <notes (what was rolled back)>; <summary>
    assert res['msg'].endswith('; the new leases of database/creds/%s, database/creds/%s were revoked (a failed task returns '
                               'no password); revoked again 2 (3 roles)' % tuple(good)), res['msg']
    assert res['reason'] == 'missing' and res['reasons'] == {'missing': 3}
    assert [r['failed'] for r in res['results']] == [False, True, False]
    assert not any('password' in r for r in res['results']) and 'password' not in res
    for item in (res['results'][0], res['results'][2]):
        assert item['changed'] is False and item['lease_id'] is None and 'was revoked because the batch failed' in item['msg']
        assert item['revoked_lease_id'].startswith(item['item'] + '/')
        assert _sql_count_role(lab, item['username']) == 0  # Vault dropped the user
    assert count_leases(vault, bad) == 0
    assert [count_leases(vault, name) for name in good] == [0, 0]
    assert 'Traceback' not in res.stdout + res.stderr


def _sql_count_role(lab, user):
    conn = psycopg2.connect(host=lab['PGHOST'], port=lab['PGPORT'], user=lab['PGUSER'], password=lab['PGPASSWORD'],
                            dbname=lab['PGDATABASE'], connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute('SELECT count(*) FROM pg_roles WHERE rolname = %s', (user,))
            return cur.fetchone()[0]
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------- bad input

BAD_INPUT = [
    ('unknown role', {'role': 'no-such-role-{u}'}, 'dynamic role no-such-role-{u} not found at database/roles/no-such-role-{u}'),
    ('unknown static role', {'role': 'no-such-role-{u}', 'role_type': 'static'}, 'static role no-such-role-{u} not found'),
    ('wrong mount', {'role': '{role}', 'mount': 'nomount-{u}'}, 'no secrets engine is mounted at nomount-{u}/'),
    ('bad duration', {'role': '{role}', 'lease_id': '{lease}', 'lease_threshold': '5 minutes'}, "lease_threshold: invalid duration '5 minutes'"),
    ('negative threshold', {'role': '{role}', 'lease_id': '{lease}', 'lease_threshold': '-5m'}, 'lease_threshold: invalid duration'),
    ('fraction out of range', {'role': '{role}', 'lease_threshold_fraction': 1.5}, 'lease_threshold_fraction must be a number between 0 and 1'),
    ('conflicting thresholds', {'role': '{role}', 'lease_threshold': '5m', 'lease_threshold_fraction': 0.2}, 'mutually exclusive'),
    ('max_age on a dynamic role', {'role': '{role}', 'max_age': '30d'}, 'max_age applies to static roles only'),
    ('lease of another role', {'role': '{role}', 'lease_id': 'database/creds/other/abc'}, 'is not a lease of database/creds/{role}'),
    ('missing role', {'lease_threshold': '5m'}, 'role is required'),
    ('role and roles', {'role': '{role}', 'roles': [{'role': '{role}'}]}, 'mutually exclusive: role|roles'),
    ('unknown privilege', {'role': '{role}', 'privileges': [{'table': 't', 'privilege': 'FLY'}]}, "privileges[0].privilege: unknown table privilege 'FLY'"),
    ('privilege without table', {'role': '{role}', 'privileges': [{'privilege': 'SELECT'}]}, 'missing required arguments: table'),
    ('unreachable database', {'role': '{role}', 'db_host': '127.0.0.1', 'db_port': '{free_port}'},
     'cannot reach PostgreSQL at 127.0.0.1:{free_port}: Connection refused'),
    ('wrong database port', {'role': '{role}', 'db_port': '{vault_port}', 'db_connect_timeout': 1},
     '127.0.0.1:{vault_port} does not answer like a PostgreSQL server (no answer within 1s): check db_port'),
    ('port out of range', {'role': '{role}', 'db_port': 70000}, 'db_port must be between 1 and 65535'),
    ('wrong database name', {'role': '{role}', 'db_name': 'nodb_{u}'}, 'database "nodb_{u}" does not exist'),
    ('verify_attempts zero', {'role': '{role}', 'verify_attempts': 0}, 'verify_attempts must be between 1 and 20'),
    ('NUL in db_name', {'role': '{role}', 'db_name': 'orders\x00'}, 'db_name must not contain a NUL character'),
    ('renew on a static role', {'role': '{role}', 'role_type': 'static', 'renew': True}, 'renew applies to dynamic roles only'),
    ('revoked without leases', {'state': 'revoked'}, 'state=revoked needs lease_id or lease_ids'),
    ('lease_ids with present', {'role': '{role}', 'lease_ids': ['{lease}']}, 'lease_ids is for state=revoked'),
    ('bad batch item duration', {'roles': [{'role': '{role}'}, {'role': '{role}', 'lease_threshold': '1x'}]},
     "roles[1] (database/creds/{role}): lease_threshold: invalid duration '1x'"),
    ('bad vault token', {'role': '{role}', 'token': 'not-a-token-{u}'}, 'token was rejected'),
    ('no_sessions_of with present', {'role': '{role}', 'no_sessions_of': ['v-old-{u}']},
     'no_sessions_of is for state=revoked (checking pg_stat_activity before revoking leases)'),
    ('db_user with present', {'role': '{role}', 'db_user': 'someone', 'db_password': 'pw-{u}'}, 'db_user, db_password are for state=revoked'),
    ('bad sessions_timeout', {'state': 'revoked', 'lease_id': '{lease}', 'no_sessions_of': ['v-old-{u}'], 'sessions_timeout': '1 minute'},
     "sessions_timeout: invalid duration '1 minute'"),
    ('empty no_sessions_of', {'state': 'revoked', 'lease_id': '{lease}', 'no_sessions_of': []},
     'no_sessions_of must be a non-empty list of database user names'),
]


@pytest.fixture(scope='module')
def bad_input_role(lab, vault, admin):
    made = Roles(lab, vault, admin)
    role = made.dynamic_role()
    lease = vault.secrets.database.generate_credentials(role, mount_point='database')['lease_id']
    yield role, lease
    made.cleanup()


def _fill(value, subs):
    if isinstance(value, str):
        text = value.format(**subs)
        return int(text) if value in ('{free_port}', '{vault_port}') else text
    if isinstance(value, list):
        return [_fill(v, subs) for v in value]
    if isinstance(value, dict):
        return dict((k, _fill(v, subs)) for k, v in value.items())
    return value


@pytest.mark.parametrize('case, args, message', BAD_INPUT, ids=[case[0] for case in BAD_INPUT])
def test_bad_input_fails_clearly_and_changes_nothing(lab, env, vault, bad_input_role, case, args, message):
    role, lease = bad_input_role
    subs = dict(u=_uid(), role=role, lease=lease, free_port=_free_port(), vault_port=lab['VAULT_ADDR'].rsplit(':', 1)[1])
    before = count_leases(vault, role)
    args = _fill(args, subs)
    res = run_module(MODULE, args, env=env)
    _assert_clean_failure(res, _fill(message, subs) if '{' in message else message)
    assert res.get('changed') is not True
    assert count_leases(vault, role) == before == 1
    if args.get('role') not in (None, role):  # an unknown role or mount: nothing was issued there either
        assert count_leases(vault, args['role'], mount=args.get('mount', 'database')) == 0
    assert vault.sys.read_lease(lease)['data']['id'] == lease


# --------------------------------------------------------------------------------------------- ansible-playbook

def test_playbook_vvvv_never_prints_the_password(lab, env, vault, roles):
    role = roles.dynamic_role()
    static_role, user = roles.static_role()
    table = roles.table()
    plays = [{
        'name': 'Rotate database credentials', 'hosts': 'localhost', 'gather_facts': False,
        'module_defaults': {'group/secops.rotation.vault': {'url': lab['VAULT_ADDR'], 'token': lab['VAULT_TOKEN']}},
        'tasks': [
            {'name': 'Rotate', 'secops.rotation.vault_db_rotate': {'role': role, 'db_host': lab['PGHOST'], 'db_port': int(lab['PGPORT'])},
             'register': 'rotated', 'no_log': True},
            {'name': 'Show what is not secret', 'ansible.builtin.debug': {'msg': '{{ rotated.msg }} {{ rotated.lease_id }}'}},
            {'name': 'Rotate a static role whose verification fails, without no_log',
             'secops.rotation.vault_db_rotate': {'role': static_role, 'role_type': 'static', 'force': True,
                                                 'privileges': [{'table': table, 'privilege': 'INSERT'}],
                                                 'db_host': lab['PGHOST'], 'db_port': int(lab['PGPORT'])},
             'register': 'static_failed', 'ignore_errors': True},
            {'name': 'Check mode of the same role, without no_log',
             'secops.rotation.vault_db_rotate': {'role': role, 'lease_id': '{{ rotated.lease_id }}', 'lease_threshold': '2h'},
             'check_mode': True, 'diff': True, 'register': 'predicted'},
        ]}]
    run = run_playbook(plays, env={'PGHOST': lab['PGHOST'], 'PGPORT': lab['PGPORT'], 'PGSSLMODE': 'disable'}, verbosity=4,
                       register=['rotated', 'static_failed', 'predicted'])
    assert run.rc == 0, run.output[-3000:]
    rotated = run.results['rotated']
    assert rotated['changed'] is True and rotated['verified'] is True and len(rotated['password']) >= 16
    assert rotated['password'] not in run.output
    assert rotated['lease_id'] in run.output  # the debug task ran and printed what is not secret
    failed = run.results['static_failed']
    assert failed['failed'] is True and 'lacks INSERT on table %s' % table in failed['msg'], failed
    static_password = vault.secrets.database.get_static_credentials(static_role, mount_point='database')['data']['password']
    assert _login(lab, user, static_password)
    assert 'lacks INSERT on table %s' % table in run.output  # the failure was printed ...
    assert static_password not in run.output  # ... without the password
    assert run.results['predicted']['changed'] is True and 'would rotate' in run.results['predicted']['msg']
    assert 'Traceback' not in run.output
    assert count_leases(vault, role) == 1


@pytest.fixture
def known_password_role(lab, vault, roles):
    """A dynamic role on its own connection whose password policy makes every password the same known string,
    so a test can grep for the password of credentials the module created and revoked."""
    uid = _uid()
    policy, connection, password = 'dbr-policy-%s' % uid, 'dbr-conn-%s' % uid, 'Z' * 32
    vault.write('sys/policies/password/%s' % policy, policy='length = 32\nrule "charset" {\n  charset = "Z"\n  min-chars = 1\n}\n')
    url = vault.secrets.database.read_connection(lab['LAB_DB_CONNECTION'])['data']['connection_details']['connection_url']
    vault.secrets.database.configure(name=connection, plugin_name='postgresql-database-plugin', allowed_roles=['*'], connection_url=url,
                                     username=lab['PGUSER'], password=lab['PGPASSWORD'], password_policy=policy)
    role = 'dbr-%s' % uid
    vault.secrets.database.create_role(name=role, db_name=connection, creation_statements=[CREATE_LOGIN], default_ttl=3600, max_ttl=3600)
    roles.dynamic.append(role)  # leases revoked and role deleted by the roles fixture
    yield role, password
    vault.sys.revoke_prefix('database/creds/%s' % role)
    vault.secrets.database.delete_role(role)
    vault.secrets.database.delete_connection(connection)
    vault.delete('sys/policies/password/%s' % policy)


def test_failures_without_no_log_never_print_the_password(lab, vault, roles, known_password_role):
    role, password = known_password_role
    table = roles.table()
    plays = [{
        'name': 'Failing rotations, printed in full', 'hosts': 'localhost', 'gather_facts': False,
        'module_defaults': {'group/secops.rotation.vault': {'url': lab['VAULT_ADDR'], 'token': lab['VAULT_TOKEN']},
                            'secops.rotation.vault_db_rotate': {'db_sslmode': 'disable'}},
        'tasks': [
            {'name': 'Privilege check fails', 'register': 'privilege_failed', 'ignore_errors': True,
             'secops.rotation.vault_db_rotate': {'role': role, 'db_host': lab['PGHOST'], 'db_port': int(lab['PGPORT']),
                                                 'privileges': [{'table': table, 'privilege': 'SELECT'}]}},
            {'name': 'Login fails (no such database)', 'register': 'login_failed', 'ignore_errors': True,
             'secops.rotation.vault_db_rotate': {'role': role, 'db_host': lab['PGHOST'], 'db_port': int(lab['PGPORT']),
                                                 'db_name': 'nodb_%s' % _uid(), 'verify_attempts': 1}},
            {'name': 'Batch with one failing item', 'register': 'batch_failed', 'ignore_errors': True,
             'secops.rotation.vault_db_rotate': {'db_host': lab['PGHOST'], 'db_port': int(lab['PGPORT']),
                                                 'roles': [{'role': role, 'check_query': 'SELECT nonsense_%s()' % _uid()}]}},
        ]}]
    run = run_playbook(plays, verbosity=4, register=['privilege_failed', 'login_failed', 'batch_failed'])
    assert run.rc == 0, run.output[-3000:]
    assert 'lacks SELECT on table %s' % table in run.results['privilege_failed']['msg']
    assert 'does not exist' in run.results['login_failed']['msg']
    assert 'check query failed' in run.results['batch_failed']['msg']
    assert 'was revoked' in run.output and 'Traceback' not in run.output
    assert password not in run.output
    assert password not in str(run.results)
    assert count_leases(vault, role) == 0


# --------------------------------------------------------------------------------------------- sessions

def test_active_sessions_counts_pg_stat_activity(lab, env, roles):
    role = roles.dynamic_role()
    res = run_module(MODULE, {'role': role}, env=env)
    target = _postgres.PgTarget(host=lab['PGHOST'], port=int(lab['PGPORT']), dbname=lab['PGDATABASE'], sslmode='disable')
    assert _postgres.active_sessions(target, lab['PGUSER'], lab['PGPASSWORD'], [res['username']]) == {res['username']: 0}
    conn = psycopg2.connect(host=lab['PGHOST'], port=lab['PGPORT'], dbname=lab['PGDATABASE'], user=res['username'],
                            password=res['password'])
    try:
        assert _postgres.active_sessions(target, lab['PGUSER'], lab['PGPASSWORD'], [res['username'], 'nobody_here']) == {
            res['username']: 1, 'nobody_here': 0}
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------- revoke only when unused

@pytest.fixture
def pair(lab, vault):
    """Two credentials of the lab's role: A (the old one, to decommission) and B (the new one, whose login checks)."""
    issued = []
    for dummy in range(2):
        answer = vault.secrets.database.generate_credentials(lab['LAB_DB_ROLE'], mount_point=lab['LAB_DB_MOUNT'])
        issued.append(dict(lease_id=answer['lease_id'], user=answer['data']['username'], password=answer['data']['password']))
    yield issued
    for creds in issued:
        try:
            vault.sys.revoke_lease(creds['lease_id'])
        except hvac.exceptions.VaultError:
            pass


def _connect_as(lab, creds, dbname=None):
    return psycopg2.connect(host=lab['PGHOST'], port=lab['PGPORT'], dbname=dbname or lab['PGDATABASE'], user=creds['user'],
                            password=creds['password'], connect_timeout=5)


def _lease_active(vault, lease_id):
    try:
        return vault.sys.read_lease(lease_id)['data']['id'] == lease_id
    except hvac.exceptions.InvalidRequest as exc:
        assert 'invalid lease' in str(exc), exc
        return False


def _revoke_args(lab, a, b, **extra):
    args = {'state': 'revoked', 'lease_id': a['lease_id'], 'no_sessions_of': [a['user']], 'db_user': b['user'],
            'db_password': b['password'], 'db_host': lab['PGHOST'], 'db_port': int(lab['PGPORT'])}
    args.update(extra)
    return args


def _close_when_checking(lab, conn, checker, delay, datname=None, timeout=120):
    """Close ``conn`` ``delay`` seconds after a session of ``checker`` (the module's counting login; in ``datname`` if
    given) shows up in pg_stat_activity; returns the started thread."""
    def watch():
        watcher = psycopg2.connect(host=lab['PGHOST'], port=lab['PGPORT'], user=lab['PGUSER'], password=lab['PGPASSWORD'],
                                   dbname=lab['PGDATABASE'], connect_timeout=5)
        watcher.autocommit = True
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                found = _sql(watcher, 'SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND (%s IS NULL OR datname = %s)',
                             (checker, datname, datname))[0][0]
                if found:
                    time.sleep(delay)
                    break
                time.sleep(0.05)
        finally:
            watcher.close()
            conn.close()
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_revoke_refuses_while_the_old_user_has_a_session_then_waits_for_it(lab, env, vault, pair):
    a, b = pair
    conn = _connect_as(lab, a)
    try:
        started = time.monotonic()
        res = run_module(MODULE, _revoke_args(lab, a, b, sessions_timeout='2s'), env=env)
        took = time.monotonic() - started
        _assert_clean_failure(res, 'not revoking %s: user %s still has 1 session(s) in pg_stat_activity on %s:%s/%s after waiting 2s '
                              '(something still uses it); nothing was revoked' % (a['lease_id'], a['user'], lab['PGHOST'], lab['PGPORT'],
                                                                                  lab['PGDATABASE']))
        assert res['reason'] == 'in_use' and res['changed'] is False and res['revoked'] == [], res
        assert res['sessions'] == {a['user']: 1} and 1.9 <= res['sessions_waited'] < 10, res
        assert took >= 2
        assert b['password'] not in res.stdout + res.stderr
        assert _lease_active(vault, a['lease_id']) and _login(lab, a['user'], a['password'])
    finally:
        if not conn.closed:
            conn.close()

    # the session ends 1.5 s into the wait: the module notices, then revokes
    conn = _connect_as(lab, a)
    watcher = _close_when_checking(lab, conn, b['user'], 1.5)
    res = run_module(MODULE, _revoke_args(lab, a, b, sessions_timeout='20s'), env=env, diff=True)
    watcher.join(30)
    assert res.get('failed') is not True and res['changed'] is True and res['reason'] == 'requested', res
    assert res['revoked'] == [a['lease_id']] and res['sessions'] == {a['user']: 0}, res
    assert 1 < res['sessions_waited'] < 15, res
    assert res['msg'] == 'revoked lease %s (no session of %s after waiting %ss)' % (a['lease_id'], a['user'], res['sessions_waited'])
    assert res['diff']['after'] == {'state': 'revoked'} and res['diff']['after_header'] == a['lease_id']
    assert not _lease_active(vault, a['lease_id']) and not _login(lab, a['user'], a['password'])
    assert _lease_active(vault, b['lease_id']) and _login(lab, b['user'], b['password'])

    # A is gone now: nothing to revoke, so no login is needed (a wrong password does not matter)
    again = run_module(MODULE, _revoke_args(lab, a, b, db_password='wrong-%s' % _uid()), env=env)
    assert again.get('failed') is not True and again['changed'] is False and again['reason'] == 'absent', again
    assert 'sessions' not in again and 'sessions_waited' not in again


def test_revoke_with_a_wrong_db_password_fails_and_revokes_nothing(lab, env, vault, pair):
    a, b = pair
    wrong = 'wrong-%s' % _uid()
    res = run_module(MODULE, _revoke_args(lab, a, b, db_password=wrong), env=env)
    where = '%s:%s/%s' % (lab['PGHOST'], lab['PGPORT'], lab['PGDATABASE'])
    _assert_clean_failure(res, 'cannot check no_sessions_of in pg_stat_activity: login as %s to PostgreSQL at %s failed: '
                          'password authentication failed for user "%s"' % (b['user'], where, b['user']), 'nothing was revoked')
    assert wrong not in res.stdout + res.stderr and b['password'] not in res.stdout + res.stderr
    assert _lease_active(vault, a['lease_id']) and _login(lab, a['user'], a['password'])

    unreachable = run_module(MODULE, _revoke_args(lab, a, b, db_port=_free_port()), env=env)
    _assert_clean_failure(unreachable, 'cannot check no_sessions_of in pg_stat_activity: login as %s to PostgreSQL at %s:' % (
        b['user'], lab['PGHOST']), 'nothing was revoked')
    assert _lease_active(vault, a['lease_id'])


def test_revoke_check_mode_counts_once_and_predicts(lab, env, vault, pair):
    a, b = pair
    conn = _connect_as(lab, a)
    try:
        started = time.monotonic()
        res = run_module(MODULE, _revoke_args(lab, a, b, sessions_timeout='30s'), env=env, check=True, diff=True)
        assert time.monotonic() - started < 20  # no wait
        _assert_clean_failure(res, 'would not revoke %s: user %s has 1 session(s) in pg_stat_activity on %s:%s/%s; the real run '
                              'waits up to 30s for them to end, then fails without revoking' % (
                                  a['lease_id'], a['user'], lab['PGHOST'], lab['PGPORT'], lab['PGDATABASE']))
        assert res['reason'] == 'in_use' and res['changed'] is False and res['revoked'] == [], res
        assert res['sessions'] == {a['user']: 1} and res['sessions_waited'] < 1, res
        assert _lease_active(vault, a['lease_id']) and _login(lab, a['user'], a['password'])
    finally:
        conn.close()
    res = run_module(MODULE, _revoke_args(lab, a, b), env=env, check=True)
    assert res.get('failed') is not True and res['changed'] is True, res
    assert res['msg'] == 'would revoke lease %s (no session of %s)' % (a['lease_id'], a['user'])
    assert res['revoked'] == [a['lease_id']] and res['sessions'] == {a['user']: 0}
    assert _lease_active(vault, a['lease_id']) and _login(lab, a['user'], a['password'])


def test_revoke_playbook_vvvv_never_prints_the_checking_password(lab, vault, pair):
    a, b = pair
    base = {'state': 'revoked', 'lease_id': a['lease_id'], 'no_sessions_of': [a['user']], 'db_user': b['user'],
            'db_password': b['password'], 'db_host': lab['PGHOST'], 'db_port': int(lab['PGPORT']), 'db_sslmode': 'disable'}
    plays = [{
        'name': 'Decommission A with B checking, printed in full', 'hosts': 'localhost', 'gather_facts': False,
        'module_defaults': {'group/secops.rotation.vault': {'url': lab['VAULT_ADDR'], 'token': lab['VAULT_TOKEN']}},
        'tasks': [
            {'name': 'Predict (A still connected)', 'secops.rotation.vault_db_rotate': dict(base, sessions_timeout='30s'),
             'check_mode': True, 'register': 'predicted', 'ignore_errors': True},
            {'name': 'Refuse (A still connected)', 'secops.rotation.vault_db_rotate': dict(base, sessions_timeout=0),
             'register': 'refused', 'ignore_errors': True},
            # the test closes A's session when it sees this task's login (to template1: pg_stat_activity spans all databases)
            {'name': 'Revoke once A is gone', 'secops.rotation.vault_db_rotate': dict(base, sessions_timeout='60s', db_name='template1'),
             'register': 'revoked'},
        ]}]
    conn = _connect_as(lab, a)
    watcher = _close_when_checking(lab, conn, b['user'], 1.0, datname='template1')
    try:
        run = run_playbook(plays, verbosity=4, register=['predicted', 'refused', 'revoked'])
    finally:
        watcher.join(30)
        if not conn.closed:
            conn.close()
    assert run.rc == 0, run.output[-3000:]
    assert run.results['predicted']['failed'] is True and run.results['predicted']['reason'] == 'in_use'
    assert run.results['refused']['failed'] is True and 'still has 1 session(s)' in run.results['refused']['msg']
    revoked = run.results['revoked']
    assert revoked['changed'] is True and revoked['revoked'] == [a['lease_id']] and revoked['sessions'] == {a['user']: 0}, revoked
    assert 'not revoking %s: user %s still has 1 session(s)' % (a['lease_id'], a['user']) in run.output  # the failure was printed
    assert b['user'] in run.output  # the invocation (db_user) was printed at -vvvv ...
    assert b['password'] not in run.output  # ... without db_password
    assert b['password'] not in str(run.results)
    assert 'Traceback' not in run.output
    assert not _lease_active(vault, a['lease_id']) and _lease_active(vault, b['lease_id'])


# --------------------------------------------------------------------------------------------- TLS of the check login

def test_default_sslmode_refuses_a_database_without_tls_before_anything_is_issued(lab, env, vault, roles):
    """db_sslmode defaults to require (prefer sent the new password to whatever answered): the lab's PostgreSQL
    offers no TLS, so the task fails before issuing, in check mode too."""
    role = roles.dynamic_role()
    no_tls = dict(env, PGSSLMODE='')
    where = '%s:%s' % (lab['PGHOST'], lab['PGPORT'])
    for check in (True, False):
        res = run_module(MODULE, {'role': role}, env=no_tls, check=check)
        _assert_clean_failure(res, 'PostgreSQL at %s does not offer TLS (it answered N to the SSLRequest), but db_sslmode is '
                              'require: the new password is only sent over TLS; enable ssl on the server, or set db_sslmode '
                              '(or PGSSLMODE) to prefer or disable where the network is trusted - nothing was issued or rotated'
                              % where)
        assert res.get('changed') is not True
    assert count_leases(vault, role) == 0

    # prefer only where the task asks for it; the login then still only accepts SCRAM (the lab's method)
    asked = run_module(MODULE, {'role': role, 'db_sslmode': 'prefer'}, env=no_tls)
    assert asked['changed'] is True and asked['verified'] is True, asked.get('msg')
    # a require_auth the server does not use fails the login, and the new lease is revoked
    md5 = run_module(MODULE, {'role': role, 'db_require_auth': 'md5'}, env=env)
    _assert_clean_failure(md5, 'authentication method requirement "md5" failed', 'db_require_auth is md5', 'was revoked')
    assert count_leases(vault, role) == 1


def test_default_sslmode_for_the_session_check_revokes_nothing_without_tls(lab, env, vault, pair):
    a, b = pair
    res = run_module(MODULE, _revoke_args(lab, a, b), env=dict(env, PGSSLMODE=''))
    _assert_clean_failure(res, 'cannot check no_sessions_of in pg_stat_activity: login as %s' % b['user'],
                          'server does not support SSL, but SSL was required (db_sslmode is require', 'nothing was revoked')
    assert b['password'] not in res.stdout + res.stderr
    assert _lease_active(vault, a['lease_id'])


# --------------------------------------------------------------------------------------------- credentials issued once

@pytest.fixture
def losing_proxy(lab):
    made = []

    def make(**kwargs):
        made.append(LosingProxy(lab['VAULT_ADDR'], **kwargs))
        return made[-1]
    yield make
    for proxy in made:
        proxy.close()


@pytest.mark.parametrize('mode', ['504', 'hang'])
def test_issuing_whose_answer_is_lost_creates_one_user_and_revokes_it(lab, env, vault, roles, losing_proxy, mode):
    """GET <mount>/creds/<role> is sent once (the Vault client retried it: four users, three orphans), and the lease
    Vault created although the answer was lost is found among the role's leases and revoked."""
    role = roles.dynamic_role()
    creds = 'GET /v1/database/creds/%s' % role
    proxy = losing_proxy(lose={creds}, mode=mode, hang=4)
    res = run_module(MODULE, {'role': role, 'url': proxy.url, 'timeout': 2, 'retries': 3}, env=env)
    _assert_clean_failure(res, 'database/creds/%s: ' % role, 'the request created lease database/creds/%s/' % role,
                          'anyway (found among the leases of the role); the new lease', 'was revoked')
    if mode == '504':
        assert 'unexpected answer from Vault (or a proxy in front of it) while issuing credentials' in res['msg']
    else:
        assert 'did not answer within 2s while issuing credentials' in res['msg']
    assert proxy.count(creds) == 1, proxy.seen
    assert count_leases(vault, role) == 0
    assert res['revoked_lease_id'].startswith('database/creds/%s/' % role) and res['changed'] is False


def _token_for(vault, role, leases_listing):
    policy = 'dbr-once-%s' % _uid()
    hcl = ('path "database/creds/%s" { capabilities = ["read"] }\n'
           'path "database/roles/%s" { capabilities = ["read"] }\n'
           'path "sys/leases/revoke" { capabilities = ["update"] }\n' % (role, role))
    if leases_listing:  # what docs/db_credentials.md tells to grant for the clean-up
        hcl += 'path "sys/leases/lookup/database/creds/%s/*" { capabilities = ["list", "sudo"] }\n' % role
    vault.sys.create_or_update_policy(policy, hcl)
    return policy, vault.auth.token.create(policies=[policy], ttl='10m')['auth']['client_token']


@pytest.mark.parametrize('leases_listing', [True, False])
def test_lost_answer_with_the_documented_policy_and_without_listing(lab, env, vault, roles, losing_proxy, leases_listing):
    role = roles.dynamic_role()
    creds = 'GET /v1/database/creds/%s' % role
    proxy = losing_proxy(lose={creds})
    policy, token = _token_for(vault, role, leases_listing)
    try:
        res = run_module(MODULE, {'role': role, 'url': proxy.url}, env=dict(env, VAULT_TOKEN=token))
    finally:
        vault.auth.token.revoke(token)
        vault.sys.delete_policy(policy)
    assert proxy.count(creds) == 1, proxy.seen
    if leases_listing:
        _assert_clean_failure(res, 'the request created lease database/creds/%s/' % role, 'was revoked')
        assert count_leases(vault, role) == 0
    else:
        _assert_clean_failure(res, 'the request may have created a database user and lease anyway, and this token cannot see '
                              'the leases of the role (LIST sys/leases/lookup/database/creds/%s/ (list and sudo)): look for a '
                              'lease of database/creds/%s issued at ' % (role, role))
        assert count_leases(vault, role) == 1  # named, not found: the fixture revokes it


# --------------------------------------------------------------------------------------------- a failed batch shows no password

def test_failed_batch_printed_in_full_shows_no_password_and_revokes_the_good_items(lab, vault, roles, known_password_role):
    """A failing task prints its whole result, registered or not: the good item's new password must not be in it,
    and its lease (whose password nobody has then) is revoked."""
    good, password = known_password_role
    bad = roles.dynamic_role(grants=())
    table = roles.table()
    plays = [{
        'name': 'A batch with one failing item, without no_log', 'hosts': 'localhost', 'gather_facts': False,
        'module_defaults': {'group/secops.rotation.vault': {'url': lab['VAULT_ADDR'], 'token': lab['VAULT_TOKEN']}},
        'tasks': [{'name': 'Rotate two roles', 'register': 'batch', 'ignore_errors': True,
                   'secops.rotation.vault_db_rotate': {'db_host': lab['PGHOST'], 'db_port': int(lab['PGPORT']), 'db_sslmode': 'disable',
                                                       'roles': [{'role': good}, {'role': bad, 'privileges': [{'table': table}]}]}}]}]
    run = run_playbook(plays, verbosity=4, register=['batch'])
    assert run.rc == 0, run.output[-3000:]
    assert password not in run.output and password not in str(run.results)  # the good item's password
    batch = run.results['batch']
    assert batch['failed'] is True and batch['msg'].startswith('1 of 2 roles failed: database/creds/%s: verification' % bad)
    assert 'the new leases of database/creds/%s were revoked (a failed task returns no password)' % good in batch['msg']
    assert batch['results'][0]['failed'] is False and batch['results'][0]['revoked_lease_id'].startswith('database/creds/%s/' % good)
    assert 'was revoked because the batch failed' in batch['results'][0]['msg']
    assert 'lacks SELECT on table %s' % table in run.output  # the failure was printed ...
    assert password not in run.output and password not in str(run.results)  # ... without the good item's password
    assert 'Traceback' not in run.output
    assert count_leases(vault, good) == 0 and count_leases(vault, bad) == 0
