# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of module_utils/_db: option validation, due-ness of dynamic and static roles, batch summaries."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

import pytest

from ansible_collections.secops.rotation.plugins.module_utils._common import RotationError
from ansible_collections.secops.rotation.plugins.module_utils._db import (
    ITEM_OPTIONS, SESSION_OPTIONS, DbCredentialRotator, db_argument_spec, db_target, decide_dynamic, decide_static,
    describe_sessions, lease_info, merge_diffs, summarize, validate_item, validate_revoke, wait_for_no_sessions)
from ansible_collections.secops.rotation.plugins.module_utils._duration import DurationError
from ansible_collections.secops.rotation.plugins.module_utils._postgres import PostgresError

NOW = datetime.datetime(2026, 11, 26, 12, 0, 0, tzinfo=datetime.timezone.utc)
LEASE = 'database/creds/app/AbC123'


def plan(**item):
    item.setdefault('role', 'app')
    return validate_item(item, 0, environ={})


def lease(ttl, duration=3600, renewable=True, issued_ago=None):
    issued = NOW - datetime.timedelta(seconds=issued_ago if issued_ago is not None else duration - ttl)
    return dict(id=LEASE, ttl=ttl, duration=duration, renewable=renewable, issue_time=issued,
                expire_time=NOW + datetime.timedelta(seconds=ttl))


# ------------------------------------------------------------------------------------------ validation

def test_defaults_and_env_fallbacks():
    p = validate_item({'role': 'app'}, environ={})
    assert (p.role_type, p.mount, p.verify, p.check_query, p.attempts, p.force, p.renew) == ('dynamic', 'database', True, 'SELECT 1', 5, False, False)
    assert (p.target.host, p.target.port, p.target.dbname, p.target.sslmode, p.target.connect_timeout) == ('localhost', 5432, 'postgres', 'prefer', 5)
    p = validate_item({'role': 'app'}, environ={'PGHOST': 'db1', 'PGPORT': '6432', 'PGDATABASE': 'orders', 'PGSSLMODE': 'require'})
    assert (p.target.host, p.target.port, p.target.dbname, p.target.sslmode) == ('db1', 6432, 'orders', 'require')
    p = validate_item({'role': 'app', 'db_host': 'db2', 'db_port': 5433, 'db_name': 'x'}, environ={'PGHOST': 'db1', 'PGPORT': '6432'})
    assert (p.target.host, p.target.port, p.target.dbname) == ('db2', 5433, 'x')


def test_durations_are_parsed():
    p = plan(lease_id=LEASE, lease_threshold='15m', renew=True, renew_increment='2h')
    assert (p.threshold, p.increment) == (900, 7200)
    assert plan(role_type='static', max_age='30d').max_age == 30 * 86400
    assert plan(lease_threshold=600).threshold == 600


@pytest.mark.parametrize('item, error, message', [
    ({'role': None}, RotationError, 'role is required'),
    ({'role': 'a/b'}, RotationError, 'without "/"'),
    ({'role_type': 'sticky'}, RotationError, 'role_type must be one of dynamic, static'),
    ({'mount': '/'}, RotationError, 'mount must not be empty'),
    ({'lease_threshold': '5 minutes'}, DurationError, "lease_threshold: invalid duration '5 minutes'"),
    ({'lease_threshold': '-5m'}, DurationError, 'lease_threshold: invalid duration'),
    ({'lease_threshold': 0}, DurationError, 'must be greater than zero'),
    ({'lease_threshold_fraction': 1.0}, RotationError, 'between 0 and 1'),
    ({'lease_threshold_fraction': 0}, RotationError, 'between 0 and 1'),
    ({'lease_threshold_fraction': True}, RotationError, 'between 0 and 1'),
    ({'lease_threshold': '5m', 'lease_threshold_fraction': 0.5}, RotationError, 'mutually exclusive'),
    ({'max_age': '1d'}, RotationError, 'max_age applies to static roles only'),
    ({'max_age': 'soon', 'role_type': 'static'}, DurationError, 'max_age: invalid duration'),
    ({'renew_increment': '1h'}, RotationError, 'renew_increment needs renew=true'),
    ({'lease_id': 'database/creds/other/x'}, RotationError, 'is not a lease of database/creds/app'),
    ({'lease_id': 'database/creds/app/'}, RotationError, 'is not a lease of database/creds/app'),
    ({'role_type': 'static', 'lease_id': LEASE}, RotationError, 'lease_id applies to dynamic roles only'),
    ({'role_type': 'static', 'lease_threshold': '1h'}, RotationError, 'lease_threshold applies to dynamic roles only'),
    ({'role_type': 'static', 'renew': True}, RotationError, 'renew applies to dynamic roles only'),
    ({'check_query': '  '}, RotationError, 'check_query must not be empty'),
    ({'privileges': [{'table': 't', 'privilege': 'FLY'}]}, PostgresError, 'unknown table privilege'),
    ({'privileges': [{'table': 't'}], 'verify': False}, RotationError, 'need verify=true'),
    ({'db_port': 0}, RotationError, 'db_port must be between 1 and 65535'),
    ({'db_port': 'abc'}, RotationError, 'db_port must be a port number'),
    ({'db_sslmode': 'maybe'}, RotationError, 'db_sslmode must be one of'),
    ({'db_connect_timeout': 0}, RotationError, 'db_connect_timeout must be a positive number'),
    ({'verify_attempts': 0}, RotationError, 'verify_attempts must be between 1 and 20'),
    ({'verify_attempts': 21}, RotationError, 'verify_attempts must be between 1 and 20'),
    ({'db_name': 'orders\x00'}, RotationError, 'db_name must not contain a NUL character'),
    ({'db_host': 'db\x00.example.com'}, RotationError, 'db_host must not contain a NUL character'),
    ({'check_query': 'SELECT 1\x00'}, RotationError, 'check_query must not contain a NUL character'),
])
def test_validate_item_rejects(item, error, message):
    item = dict({'role': 'app'}, **item)
    with pytest.raises(error) as err:
        validate_item(item, environ={})
    assert message in str(err.value)


def test_argument_spec_items_have_no_defaults_so_they_inherit():
    spec = db_argument_spec()
    sub = spec['roles']['options']
    assert set(sub) == set(ITEM_OPTIONS)
    assert sub['role']['required'] is True
    assert all('default' not in option for name, option in sub.items())
    assert spec['mount']['default'] == 'database' and spec['verify']['default'] is True
    assert 'default' not in spec['db_host'] and 'default' not in spec['db_port']


# ------------------------------------------------------------------------------------------ dynamic due-ness

def test_dynamic_without_lease_or_gone_lease_is_missing():
    assert decide_dynamic(plan(), None, NOW).reason == 'missing'
    decision = decide_dynamic(plan(lease_id=LEASE, lease_threshold='5m'), None, NOW)
    assert (decision.action, decision.reason) == ('rotate', 'missing') and 'expired, revoked or unknown' in decision.why
    assert decide_dynamic(plan(lease_id=LEASE, lease_threshold='5m'), lease(0), NOW).reason == 'missing'


def test_dynamic_threshold():
    p = plan(lease_id=LEASE, lease_threshold='15m')
    not_due = decide_dynamic(p, lease(3000), NOW)
    assert (not_due.action, not_due.reason) == ('none', 'not_due')
    assert not_due.why == 'lease expires in 50m, not below the threshold of 15m'
    due = decide_dynamic(p, lease(600), NOW)
    assert (due.action, due.reason) == ('rotate', 'expiring')
    assert due.why == 'lease expires in 10m, below the threshold of 15m'
    assert decide_dynamic(p, lease(900), NOW).action == 'none'  # exactly at the threshold: not below it


def test_dynamic_fraction_uses_the_lease_duration():
    p = plan(lease_id=LEASE, lease_threshold_fraction=0.25)
    assert decide_dynamic(p, lease(1000, duration=3600), NOW).action == 'none'
    due = decide_dynamic(p, lease(800, duration=3600), NOW)
    assert due.action == 'rotate' and 'below 25% of its 1h duration (15m)' in due.why


def test_dynamic_without_threshold_is_due_only_when_gone():
    decision = decide_dynamic(plan(lease_id=LEASE), lease(5), NOW)
    assert decision.action == 'none' and 'only a missing or expired lease' in decision.why


def test_force_wins():
    assert decide_dynamic(plan(lease_id=LEASE, lease_threshold='1m', force=True), lease(3000), NOW).reason == 'forced'
    assert decide_static(plan(role_type='static', force=True), {'last_vault_rotation': '2026-11-26T11:59:00Z'}, NOW).reason == 'forced'


def test_renew_when_renewable_and_max_ttl_leaves_room():
    p = plan(lease_id=LEASE, lease_threshold='15m', renew=True)
    decision = decide_dynamic(p, lease(600, issued_ago=3000), NOW, max_ttl=86400)
    assert (decision.action, decision.reason, decision.need) == ('renew', 'expiring', 900)
    # max_ttl unknown: try the renewal (the rotator falls back to rotating if it does not extend the lease)
    assert decide_dynamic(p, lease(600), NOW, max_ttl=None).action == 'renew'


def test_renew_falls_back_to_rotate():
    p = plan(lease_id=LEASE, lease_threshold='15m', renew=True)
    capped = decide_dynamic(p, lease(600, issued_ago=3000), NOW, max_ttl=3600)
    assert capped.action == 'rotate' and 'cannot extend it past the role max_ttl of 1h' in capped.why
    fixed = decide_dynamic(p, lease(600, renewable=False), NOW, max_ttl=86400)
    assert fixed.action == 'rotate' and 'not renewable' in fixed.why


def test_lease_info_from_lookup():
    info = lease_info({'id': LEASE, 'issue_time': '2026-11-26T11:00:00.123456789Z', 'expire_time': '2026-11-26T13:00:00Z',
                       'last_renewal': '2026-11-26T11:30:00Z', 'renewable': True, 'ttl': 3600}, NOW)
    assert info['ttl'] == 3600 and info['renewable'] is True
    assert info['duration'] == 90 * 60  # since the last renewal
    info = lease_info({'id': LEASE, 'expire_time': '2026-11-26T12:10:00Z', 'issue_time': '2026-11-26T11:10:00Z'}, NOW)
    assert info['ttl'] == 600 and info['duration'] == 3600 and info['renewable'] is False


# ------------------------------------------------------------------------------------------ static due-ness

def test_static_max_age():
    p = plan(role_type='static', max_age='1d')
    young = decide_static(p, {'last_vault_rotation': '2026-11-26T00:00:00.5Z'}, NOW)
    assert (young.action, young.reason) == ('none', 'not_due') and 'younger than max_age 1d' in young.why
    old = decide_static(p, {'last_vault_rotation': '2026-11-24T12:00:00Z'}, NOW)
    assert (old.action, old.reason) == ('rotate', 'age') and old.why == 'last rotation 2d ago, older than max_age 1d'
    assert decide_static(p, {}, NOW).reason == 'missing'
    assert decide_static(plan(role_type='static'), {'last_vault_rotation': '2020-01-01T00:00:00Z'}, NOW).action == 'none'


# ------------------------------------------------------------------------------------------ results

def _res(item, action, changed, failed=False, reason='missing', **extra):
    return dict(item=item, action=action, changed=changed, failed=failed, reason=reason, msg='%s msg' % item, **extra)


def test_summarize_single_item_is_mirrored_at_top_level():
    result = summarize([_res('database/creds/a', 'rotate', True, lease_id='l1', password='pw')], single=True)
    assert result['lease_id'] == 'l1' and result['msg'] == 'database/creds/a msg' and result['changed'] is True
    assert result['failed'] is False and len(result['results']) == 1


def test_summarize_batch_counts_and_reason():
    results = [_res('a', 'rotate', True), _res('b', 'none', False, reason='not_due'), _res('c', 'rotate', True)]
    result = summarize(results, single=False)
    assert result['msg'] == 'not due 1, rotated 2 (3 roles)' and result['reason'] == 'mixed' and result['changed'] is True
    assert 'lease_id' not in result
    assert summarize(results, single=False, check_mode=True)['msg'] == 'not due 1, would rotate 2 (3 roles)'
    assert summarize([_res('a', 'none', False, reason='not_due')] * 2, single=False)['reason'] == 'not_due'


def test_summarize_batch_failure_names_failed_items():
    results = [_res('a', 'rotate', True), _res('b', 'rotate', False, failed=True)]
    result = summarize(results, single=False)
    assert result['failed'] is True and result['changed'] is True
    assert result['msg'] == '1 of 2 roles failed: b: b msg'


def test_merge_diffs_keys_by_item_and_removes_them():
    results = [dict(item='a', diff=dict(before={'lease_id': None}, after={'lease_id': 'x'})), dict(item='b')]
    assert merge_diffs(results) == dict(before={'a': {'lease_id': None}}, after={'a': {'lease_id': 'x'}})
    assert 'diff' not in results[0]


# ------------------------------------------------------------------------------------------ input checked before Vault

@pytest.mark.parametrize('params, message', [
    ({'role': 'app', 'lease_ids': [LEASE]}, 'lease_ids is for state=revoked'),
    ({}, 'role is required with state=present'),
    ({'role': 'app', 'roles': [{'role': 'b'}]}, 'role and roles are mutually exclusive'),
    ({'roles': [{'role': 'a'}, {'role': 'b', 'lease_threshold': 'x'}, {'role': 'c', 'max_age': '1d'}]},
     ["roles[1] (database/creds/b): lease_threshold: invalid duration 'x'", '; roles[2] (database/creds/c): max_age applies',
      'nothing was changed']),
    ({'state': 'revoked'}, 'state=revoked needs lease_id or lease_ids'),
    ({'state': 'revoked', 'lease_ids': ['ok/1', '']}, "lease_ids[1]: '' is not a lease id"),
    ({'state': 'revoked', 'roles': [{'role': 'a'}]}, 'roles is for state=present'),
])
def test_rotator_rejects_bad_input_before_connecting(params, message):
    rotator = DbCredentialRotator(params, environ={})  # no VAULT_ADDR: reaching Vault would fail differently
    with pytest.raises(RotationError) as err:
        rotator.run()
    for fragment in message if isinstance(message, list) else [message]:
        assert fragment in str(err.value)


@pytest.mark.parametrize('params, message', [
    ({'role': 'app', 'no_sessions_of': ['v-app-a']}, 'no_sessions_of is for state=revoked (checking pg_stat_activity before revoking leases)'),
    ({'role': 'app', 'sessions_timeout': '10s'}, 'sessions_timeout is for state=revoked'),
    ({'role': 'app', 'db_user': 'b'}, 'db_user is for state=revoked'),
    ({'role': 'app', 'db_user': 'b', 'db_password': 'pw-b'}, 'db_user, db_password are for state=revoked'),
    ({'role': 'app', 'no_sessions_of': []}, 'no_sessions_of is for state=revoked'),
    ({'state': 'revoked', 'lease_id': LEASE, 'no_sessions_of': []}, 'no_sessions_of must be a non-empty list of database user names'),
    ({'state': 'revoked', 'lease_id': LEASE, 'no_sessions_of': ['a', ' ']}, "no_sessions_of[1] must be a database user name, got ' '"),
    ({'state': 'revoked', 'lease_id': LEASE, 'no_sessions_of': ['a\x00']}, 'no_sessions_of[0] must not contain a NUL character'),
    ({'state': 'revoked', 'lease_id': LEASE, 'sessions_timeout': '1 minute'}, "sessions_timeout: invalid duration '1 minute'"),
    ({'state': 'revoked', 'lease_id': LEASE, 'sessions_timeout': '-5s'}, "sessions_timeout: invalid duration '-5s'"),
    ({'state': 'revoked', 'lease_id': LEASE, 'sessions_timeout': 1.5}, 'sessions_timeout: invalid duration 1.5 (a float)'),
    ({'state': 'revoked', 'lease_id': LEASE, 'no_sessions_of': ['a'], 'db_port': 70000}, 'db_port must be between 1 and 65535, got 70000'),
    ({'state': 'revoked', 'lease_id': LEASE, 'no_sessions_of': ['a'], 'db_sslmode': 'maybe'}, 'db_sslmode must be one of'),
    ({'state': 'revoked', 'lease_id': LEASE, 'no_sessions_of': ['a'], 'db_user': 'b\x00'}, 'db_user must not contain a NUL character'),
    ({'state': 'revoked', 'lease_id': LEASE, 'no_sessions_of': ['a'], 'db_password': 'secret\x00pw'},
     'db_password must not contain a NUL character'),
])
def test_session_check_options_are_rejected_before_connecting(params, message):
    rotator = DbCredentialRotator(params, environ={})
    with pytest.raises((RotationError, DurationError)) as err:
        rotator.run()
    assert message in str(err.value)
    assert 'secret' not in str(err.value)


def test_session_options_are_top_level_only():
    spec = db_argument_spec()
    assert set(SESSION_OPTIONS) <= set(spec) and not set(SESSION_OPTIONS) & set(spec['roles']['options'])
    assert spec['db_password']['no_log'] is True
    assert spec['no_sessions_of'] == dict(type='list', elements='str')
    assert 'default' not in spec['sessions_timeout']  # unset is told apart from set, so state=present can reject it


def test_validate_revoke_defaults_and_env():
    plan = validate_revoke({'state': 'revoked', 'lease_ids': [LEASE, LEASE, 'database/creds/app/x']}, environ={})
    assert (plan.lease_ids, plan.single, plan.users, plan.timeout, plan.target) == ([LEASE, 'database/creds/app/x'], False, [], 60, None)
    env = {'PGUSER': 'envuser', 'PGPASSWORD': 'envpw', 'PGHOST': 'db1', 'PGPORT': '6432'}
    plan = validate_revoke({'lease_id': LEASE, 'no_sessions_of': ['v-a', ' v-a ', 'v-c'], 'sessions_timeout': 0}, environ=env)
    assert (plan.single, plan.users, plan.timeout, plan.db_user, plan.db_password) == (True, ['v-a', 'v-c'], 0, 'envuser', 'envpw')
    assert str(plan.target) == 'db1:6432/postgres' and plan.target.connect_timeout == 5
    plan = validate_revoke({'lease_id': LEASE, 'no_sessions_of': ['v-a'], 'sessions_timeout': '2m', 'db_user': 'b', 'db_password': 'pw',
                            'db_host': 'db2', 'db_port': 5433, 'db_name': 'orders', 'db_sslmode': 'require'}, environ=env)
    assert (plan.timeout, plan.db_user, plan.db_password, str(plan.target), plan.target.sslmode) == (120, 'b', 'pw', 'db2:5433/orders', 'require')
    plan = validate_revoke({'lease_id': LEASE, 'no_sessions_of': ['v-a']}, environ={})
    assert (plan.db_user, plan.db_password, str(plan.target)) == (None, None, 'localhost:5432/postgres')  # libpq's own fallbacks


def test_db_target_is_the_one_validate_item_uses():
    options = {'db_host': 'db3', 'db_port': '7000', 'db_name': 'x', 'db_sslmode': 'disable', 'db_connect_timeout': 2}
    target = db_target(options, environ={})
    item = validate_item(dict(options, role='app'), environ={}).target
    assert vars(target) == vars(item) == dict(host='db3', port=7000, dbname='x', sslmode='disable', connect_timeout=2)


class Clock:
    """A fake monotonic clock; ``sleep`` advances it and records the pauses."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class Counter:
    """Fake session counter: returns the given counts in turn (the last one forever); each count takes ``cost`` s."""

    def __init__(self, clock, *counts, cost=0.0):
        self.clock, self.counts, self.cost, self.calls = clock, list(counts), cost, 0

    def __call__(self, users):
        self.clock.now += self.cost
        value = self.counts[min(self.calls, len(self.counts) - 1)]
        self.calls += 1
        return dict((user, value.get(user, 0)) for user in users)


def test_wait_ends_as_soon_as_the_sessions_are_gone():
    clock = Clock()
    counter = Counter(clock, {'a': 2}, {'a': 2}, {'a': 1}, {'a': 0, 'b': 0})
    counts, waited = wait_for_no_sessions(counter, ['a', 'b'], 60, clock=clock, sleep=clock.sleep)
    assert counts == {'a': 0, 'b': 0}
    assert clock.sleeps == [0.5, 1.0, 2.0] and counter.calls == 4 and waited == 3.5


def test_no_wait_when_there_are_no_sessions():
    clock = Clock()
    counts, waited = wait_for_no_sessions(Counter(clock, {}), ['a'], 60, clock=clock, sleep=clock.sleep)
    assert (counts, waited, clock.sleeps) == ({'a': 0}, 0.0, [])


def test_wait_times_out_with_a_last_count_at_the_deadline():
    clock = Clock()
    counter = Counter(clock, {'a': 3, 'b': 1})
    counts, waited = wait_for_no_sessions(counter, ['a', 'b'], 20, clock=clock, sleep=clock.sleep)
    assert counts == {'a': 3, 'b': 1} and waited == 20.0
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 2.5]  # doubling from 0.5 s, capped at 5 s, never past the deadline
    assert counter.calls == len(clock.sleeps) + 1


def test_slow_counts_do_not_stretch_the_timeout():
    clock = Clock()
    counter = Counter(clock, {'a': 1}, cost=0.3)
    counts, waited = wait_for_no_sessions(counter, ['a'], 5, clock=clock, sleep=clock.sleep)
    assert counts == {'a': 1} and sum(clock.sleeps) + 0.3 * counter.calls == pytest.approx(5.3)
    assert waited == 5.3  # the deadline, plus the one count that ends there


@pytest.mark.parametrize('timeout, check_mode', [(0, False), (60, True), (0, True)])
def test_zero_timeout_and_check_mode_count_once_without_waiting(timeout, check_mode):
    clock = Clock()
    counter = Counter(clock, {'a': 2}, {'a': 0})
    counts, waited = wait_for_no_sessions(counter, ['a'], timeout, check_mode=check_mode, clock=clock, sleep=clock.sleep)
    assert (counts, waited, clock.sleeps, counter.calls) == ({'a': 2}, 0.0, [], 1)


def test_in_use_messages_name_user_count_server_and_wait():
    plan = validate_revoke({'lease_id': LEASE, 'no_sessions_of': ['v-app-a', 'v-app-c'], 'db_host': '127.0.0.1'}, environ={})
    counts = {'v-app-a': 2, 'v-app-c': 0}
    assert describe_sessions(counts) == 'user v-app-a has 2 session(s)'
    assert describe_sessions({'a': 1, 'b': 3}, still=True) == 'user a still has 1 session(s) and user b still has 3 session(s)'
    real = DbCredentialRotator({}, environ={})._in_use_message([LEASE], plan, counts)
    assert real == ('not revoking database/creds/app/AbC123: user v-app-a still has 2 session(s) in pg_stat_activity on '
                    '127.0.0.1:5432/postgres after waiting 1m (something still uses it); nothing was revoked')
    check = DbCredentialRotator({}, check_mode=True, environ={})._in_use_message([LEASE], plan, counts)
    assert check == ('would not revoke database/creds/app/AbC123: user v-app-a has 2 session(s) in pg_stat_activity on '
                     '127.0.0.1:5432/postgres; the real run waits up to 1m for them to end, then fails without revoking')


def test_session_check_without_psycopg2_fails_before_connecting(monkeypatch):
    from ansible_collections.secops.rotation.plugins.module_utils import _postgres
    monkeypatch.setattr(_postgres, 'PSYCOPG2_IMPORT_ERROR', 'Traceback ...')
    with pytest.raises(RotationError) as err:
        DbCredentialRotator({'state': 'revoked', 'lease_id': LEASE, 'no_sessions_of': ['v-app-a']}, environ={}).run()
    assert str(err.value) == ('the Python library psycopg2 is required on the host that runs this module to count the sessions of '
                              'no_sessions_of: pip install psycopg2-binary - nothing was revoked')
