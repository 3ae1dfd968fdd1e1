# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of module_utils/_db: option validation, due-ness of dynamic and static roles, batch summaries."""


import datetime

import pytest
from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.secops.rotation.plugins.module_utils._common import BatchRunner, RotationError
from ansible_collections.secops.rotation.plugins.module_utils._db import (
    ITEM_OPTIONS, ITEM_SPEC, SESSION_OPTIONS, DbCredentialRotator, argument_spec, db_argument_spec, db_target, decide_dynamic,
    decide_static, describe_sessions, label, lease_info, summary, validate_item, validate_revoke, wait_for_no_sessions)
from ansible_collections.secops.rotation.plugins.module_utils._errors import MissingLibraryError
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
    assert (p.target.host, p.target.port, p.target.dbname, p.target.sslmode, p.target.connect_timeout) == ('localhost', 5432, 'postgres', 'require', 5)
    assert p.target.require_auth == 'scram-sha-256'
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
    ({'mount': '/'}, RotationError, 'mount must not be empty'),
    ({'mount': 'database/../sys'}, RotationError, "mount 'database/../sys' must be the path of the database secrets engine"),
    ({'mount': 'db?x=1'}, RotationError, "mount 'db?x=1' must be the path"),
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


def test_the_spec_checks_types_and_choices():
    """What the argument spec checks (AnsibleModule, before the rotator runs) is not checked again by validate_item."""
    errors = ArgumentSpecValidator(argument_spec()).validate({'role': 'app', 'role_type': 'sticky'}).error_messages
    assert any('role_type must be one of: dynamic, static' in error for error in errors), errors
    errors = ArgumentSpecValidator(argument_spec()).validate({'roles': [{'role': 'a', 'role_type': 'sticky'}]}).error_messages
    assert any('role_type must be one of: dynamic, static' in error for error in errors), errors


def test_argument_spec_items_have_no_defaults_so_they_inherit():
    spec = db_argument_spec()
    sub = spec['roles']['options']
    assert set(sub) == set(ITEM_OPTIONS) == set(ITEM_SPEC)
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


def summarize(results, single, check_mode=False, what='roles'):
    """The task result as the rotator builds it: the batch runner of _common with the rotator's names and summary."""
    return BatchRunner('roles', what, single, label).result(results, summary(results, check_mode, what))


def test_summarize_single_item_is_mirrored_at_top_level():
    result = summarize([_res('database/creds/a', 'rotate', True, lease_id='l1', password='pw')], single=True)
    assert result['lease_id'] == 'l1' and result['msg'] == 'database/creds/a msg' and result['changed'] is True
    assert result['failed'] is False and len(result['results']) == 1 and result['reasons'] == {'missing': 1}


def test_summarize_batch_counts_and_reason():
    results = [_res('a', 'rotate', True), _res('b', 'none', False, reason='not_due'), _res('c', 'rotate', True)]
    result = summarize(results, single=False)
    assert result['msg'] == 'not due 1, rotated 2 (3 roles)' and result['reason'] == 'mixed' and result['changed'] is True
    assert result['reasons'] == {'missing': 2, 'not_due': 1}
    assert 'lease_id' not in result
    assert summarize(results, single=False, check_mode=True)['msg'] == 'not due 1, would rotate 2 (3 roles)'
    assert summarize([_res('a', 'none', False, reason='not_due')] * 2, single=False)['reason'] == 'not_due'
    assert summary([_res('x', 'keep', False, reason='absent'), _res('y', 'revoke', True)], what='leases') == (
        'already revoked 1, revoked 1 (2 leases)')


def test_summarize_batch_failure_names_failed_items():
    results = [_res('a', 'rotate', True), _res('b', 'rotate', False, failed=True)]
    result = summarize(results, single=False)
    assert result['failed'] is True and result['changed'] is True
    assert result['msg'] == '1 of 2 roles failed: b: b msg; rotated 1 (2 roles)'
    assert summary([_res('b', 'rotate', False, failed=True)]) == 'nothing done (1 roles)'


def test_items_are_named_by_their_path_or_lease():
    assert label({'role': 'app'}) == 'database/creds/app'
    assert label({'role': 's', 'role_type': 'static', 'mount': 'team/db'}) == 'team/db/static-creds/s'
    assert label(plan(role='app', mount='db2')) == 'db2/creds/app'
    assert label({'item': LEASE, 'lease_id': LEASE}) == LEASE


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
    assert vars(target) == vars(item) == dict(host='db3', port=7000, dbname='x', sslmode='disable', connect_timeout=2,
                                              require_auth='scram-sha-256')


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
    counts, waited = wait_for_no_sessions(counter, ['a', 'b'], 60, monotonic=clock, sleep=clock.sleep)
    assert counts == {'a': 0, 'b': 0}
    assert clock.sleeps == [0.5, 1.0, 2.0] and counter.calls == 4 and waited == 3.5


def test_no_wait_when_there_are_no_sessions():
    clock = Clock()
    counts, waited = wait_for_no_sessions(Counter(clock, {}), ['a'], 60, monotonic=clock, sleep=clock.sleep)
    assert (counts, waited, clock.sleeps) == ({'a': 0}, 0.0, [])


def test_wait_times_out_with_a_last_count_at_the_deadline():
    clock = Clock()
    counter = Counter(clock, {'a': 3, 'b': 1})
    counts, waited = wait_for_no_sessions(counter, ['a', 'b'], 20, monotonic=clock, sleep=clock.sleep)
    assert counts == {'a': 3, 'b': 1} and waited == 20.0
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 2.5]  # doubling from 0.5 s, capped at 5 s, never past the deadline
    assert counter.calls == len(clock.sleeps) + 1


def test_slow_counts_do_not_stretch_the_timeout():
    clock = Clock()
    counter = Counter(clock, {'a': 1}, cost=0.3)
    counts, waited = wait_for_no_sessions(counter, ['a'], 5, monotonic=clock, sleep=clock.sleep)
    assert counts == {'a': 1} and sum(clock.sleeps) + 0.3 * counter.calls == pytest.approx(5.3)
    assert waited == 5.3  # the deadline, plus the one count that ends there


@pytest.mark.parametrize('timeout, check_mode', [(0, False), (60, True), (0, True)])
def test_zero_timeout_and_check_mode_count_once_without_waiting(timeout, check_mode):
    clock = Clock()
    counter = Counter(clock, {'a': 2}, {'a': 0})
    counts, waited = wait_for_no_sessions(counter, ['a'], timeout, check_mode=check_mode, monotonic=clock, sleep=clock.sleep)
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


@pytest.mark.parametrize('params, reason', [
    ({'state': 'revoked', 'lease_id': LEASE, 'no_sessions_of': ['v-app-a']}, 'no_sessions_of'),
    ({'role': 'app'}, 'verify'),
])
def test_an_option_that_needs_psycopg2_fails_before_anything_is_contacted(monkeypatch, params, reason):
    """psycopg2 is needed only by verify and no_sessions_of: without it the task fails with Ansible's missing library
    message naming psycopg2-binary and the option, before Vault is contacted (so nothing was revoked or issued)."""
    from ansible_collections.secops.rotation.plugins.module_utils import _postgres
    monkeypatch.setattr(_postgres, 'PSYCOPG2_IMPORT_ERROR', 'Traceback ...')
    rotator = DbCredentialRotator(params, environ={})
    rotator._connect = lambda: pytest.fail('Vault was contacted')
    with pytest.raises(MissingLibraryError) as err:
        rotator.run()
    assert (err.value.library, err.value.reason, err.value.import_error) == ('psycopg2-binary', reason, 'Traceback ...')
    message = missing_required_lib(err.value.library, reason='for %s' % err.value.reason)  # what run_module reports
    assert '(psycopg2-binary)' in message and 'This is required for %s.' % reason in message

    class Reached(Exception):
        pass

    def reach():
        raise Reached()
    no_verify = DbCredentialRotator({'role': 'app', 'verify': False}, environ={})
    no_verify._connect = reach
    with pytest.raises(Reached):  # verify=false needs no psycopg2: the rotator goes on to Vault
        no_verify.run()


# ------------------------------------------------------------------------------------------ the rotator with a fake Vault
# Fakes for the pure logic of acting: what is sent, what is revoked, what a result holds. The real servers are
# exercised by tests/integration/test_vault_db_rotate.py.

import types  # noqa: E402  pylint: disable=wrong-import-position

import hvac.exceptions  # noqa: E402  pylint: disable=wrong-import-position
import requests  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.secops.rotation.plugins.module_utils import _postgres  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.secops.rotation.plugins.module_utils._common import run_module  # noqa: E402  pylint: disable=wrong-import-position


def _sent_once(client):
    """True while requests of ``client`` are not retried once they reached the server (inside _vault.send_once)."""
    retry = client.adapter.session.get_adapter('http://vault').max_retries
    return retry.read is False and retry.status == 0 and not retry.status_forcelist


class FakeVault:
    """An hvac-like client: dynamic roles issue leases, static roles rotate; ``on_generate`` may fail a GET creds after
    (``created=True``) or before the server created the lease; ``list_error`` fails LIST sys/leases/lookup."""

    def __init__(self, roles=('app',), static=()):
        self.roles, self.static = list(roles), dict((name, 1) for name in static)
        self.leases = {}
        self.calls = []
        self.failures = {}  # role -> (exception, created)
        self.list_error = None
        self.revoke_error = None
        self.appear_later = []  # leases another client creates while a failed request is looked into
        self.adapter = types.SimpleNamespace(session=requests.Session())
        self.session_adapter = self.adapter.session.get_adapter('http://vault')
        self.session_adapter.max_retries = self.session_adapter.max_retries.new(total=3, read=3, status=3,
                                                                                status_forcelist=(500, 502, 503, 504))
        self.secrets = types.SimpleNamespace(database=types.SimpleNamespace(
            read_role=self.read_role, read_static_role=self.read_role, generate_credentials=self.generate,
            get_static_credentials=self.static_creds, rotate_static_role_credentials=self.rotate_static))
        self.sys = types.SimpleNamespace(read_lease=self.read_lease, revoke_lease=self.revoke_lease, list_leases=self.list_leases,
                                         renew_lease=None)

    def _lease(self, mount, role):
        number = len([call for call in self.calls if call[0] == 'generate'])
        lease_id = '%s/creds/%s/L%d' % (mount, role, number)
        self.leases[lease_id] = {'username': 'v-%s-%d' % (role, number), 'password': 'pw-%s-%d' % (role, number)}
        return lease_id

    def read_role(self, name, mount_point='database'):
        if name not in self.roles and name not in self.static:
            raise hvac.exceptions.InvalidPath('role not found')
        return {'data': {'max_ttl': 86400}}

    def generate(self, name, mount_point='database'):
        self.calls.append(('generate', name, _sent_once(self)))
        error, created = self.failures.get(name, (None, False))
        lease_id = self._lease(mount_point, name) if error is None or created else None
        if error is not None:
            raise error
        creds = self.leases[lease_id]
        return {'lease_id': lease_id, 'lease_duration': 3600, 'renewable': True, 'data': dict(creds)}

    def static_creds(self, name, mount_point='database'):
        return {'data': {'username': 'static-%s' % name, 'password': 'static-pw-%s-%d' % (name, self.static[name]),
                         'last_vault_rotation': '2026-11-26T11:00:00Z', 'ttl': 3600}}

    def rotate_static(self, name, mount_point='database'):
        self.calls.append(('rotate', name, _sent_once(self)))
        self.static[name] += 1

    def read_lease(self, lease_id):
        if lease_id not in self.leases:
            raise hvac.exceptions.InvalidRequest('invalid lease')
        return {'data': {'id': lease_id, 'ttl': 3000, 'renewable': True, 'issue_time': '2026-11-26T11:00:00Z',
                         'expire_time': '2026-11-26T12:50:00Z'}}

    def revoke_lease(self, lease_id):
        self.calls.append(('revoke', lease_id, _sent_once(self)))
        if self.revoke_error is not None:
            raise self.revoke_error
        self.leases.pop(lease_id, None)

    def list_leases(self, prefix):
        self.calls.append(('list', prefix, _sent_once(self)))
        if self.list_error is not None:
            raise self.list_error
        for lease_id in self.appear_later:
            if len([c for c in self.calls if c[0] == 'list']) > 1:
                self.leases.setdefault(lease_id, {'username': 'other', 'password': 'other'})
        keys = [lease_id[len(prefix):] for lease_id in sorted(self.leases) if lease_id.startswith(prefix)]
        if not keys:
            raise hvac.exceptions.InvalidPath('no leases')
        return {'data': {'keys': keys}}


class FakePostgres:
    """The _postgres module as the rotator uses it: the probe answers, verify_login fails for ``bad`` users."""

    PostgresError = _postgres.PostgresError
    PgTarget = _postgres.PgTarget

    def __init__(self, bad_roles=(), answer=b'S'):
        self.bad_roles, self.answer, self.logins = bad_roles, answer, []

    @staticmethod
    def require_psycopg2(reason):
        return None

    def probe(self, target):
        return self.answer

    def verify_login(self, target, user, password, **kwargs):
        self.logins.append((user, target.sslmode))
        if any(user.startswith('v-%s-' % role) or user == 'static-%s' % role for role in self.bad_roles):
            raise _postgres.PostgresError('privilege check failed: user %s lacks SELECT on table t (on %s)' % (user, target))
        return dict(login_attempts=1, check_query='SELECT 1', privileges=[])


def fake_rotator(vault, params, postgres=None, check_mode=False, diff=False, warn=None, clock=None):
    rotator = DbCredentialRotator(dict(params), check_mode=check_mode, diff=diff, warn=warn, clock=clock, environ={},
                                  postgres=postgres or FakePostgres(), sleep=lambda seconds: None)

    def connect():
        rotator.client, rotator.opts = vault, types.SimpleNamespace(url='http://vault:8200', timeout=30)
    rotator._connect = connect
    return rotator


def _secrets_in(value):
    return [secret for secret in ('pw-', 'static-pw-') if secret in repr(value)]


def test_issuing_is_sent_once_and_a_success_needs_no_cleanup():
    vault = FakeVault()
    result = fake_rotator(vault, {'role': 'app'}).run()
    assert result['changed'] is True and result['password'] == 'pw-app-1' and not result['failed']
    generates = [call for call in vault.calls if call[0] == 'generate']
    assert generates == [('generate', 'app', True)], vault.calls  # sent at most once: no retry after it reached Vault
    assert not _sent_once(vault)  # reads are retried again afterwards


@pytest.mark.parametrize('error', [requests.exceptions.ReadTimeout('Read timed out. (read timeout=30)'),
                                   hvac.exceptions.InternalServerError('error creating user'),
                                   hvac.exceptions.UnexpectedError('504 Gateway Time-out')])
def test_issue_whose_answer_is_lost_after_the_server_created_the_lease_revokes_it(error):
    """A GET creds that times out (or gets a 5xx) after Vault created the user: the lease is found and revoked."""
    vault = FakeVault()
    vault.failures['app'] = (error, True)
    result = fake_rotator(vault, {'role': 'app'}).run()
    assert result['failed'] is True and result['changed'] is False, result
    created = 'database/creds/app/L1'
    assert 'the request created lease %s anyway (found among the leases of the role); the new lease %s was revoked' % (
        created, created) in result['msg'], result['msg']
    assert vault.leases == {} and result['revoked_lease_id'] == created
    assert [call[0] for call in vault.calls].count('generate') == 1
    assert _secrets_in(result) == []


def test_issue_that_failed_before_the_server_created_anything_says_so():
    vault = FakeVault()
    vault.failures['app'] = (requests.exceptions.ReadTimeout('Read timed out.'), False)
    result = fake_rotator(vault, {'role': 'app'}).run()
    assert result['failed'] is True and 'no new lease of database/creds/app appeared' in result['msg'], result['msg']
    assert 'revoked' not in result['msg'] and vault.leases == {}


def test_issue_uncertain_with_another_client_issuing_meanwhile_revokes_nothing_and_names_the_leases():
    vault = FakeVault()
    vault.failures['app'] = (hvac.exceptions.InternalServerError('boom'), True)
    vault.appear_later = ['database/creds/app/OTHER']
    result = fake_rotator(vault, {'role': 'app'}).run()
    assert result['failed'] is True
    assert ('2 new leases of database/creds/app appeared meanwhile (database/creds/app/L1, database/creds/app/OTHER): '
            'this request created at most one of them' in result['msg']), result['msg']
    assert set(vault.leases) == {'database/creds/app/L1', 'database/creds/app/OTHER'}  # another client's lease is not revoked


def test_issue_uncertain_when_the_token_may_not_list_leases_names_the_role_and_time():
    vault = FakeVault()
    vault.failures['app'] = (requests.exceptions.ReadTimeout('Read timed out.'), True)
    vault.list_error = hvac.exceptions.Forbidden('permission denied')
    result = fake_rotator(vault, {'role': 'app'}).run()
    assert result['failed'] is True
    assert 'the request may have created a database user and lease anyway' in result['msg'], result['msg']
    assert 'LIST sys/leases/lookup/database/creds/app/ (list and sudo)' in result['msg']
    assert list(vault.leases) == ['database/creds/app/L1']  # cannot be found without listing: named by role and time


def test_certain_failures_are_not_looked_into():
    vault = FakeVault()
    vault.failures['app'] = (hvac.exceptions.Forbidden('permission denied'), False)
    result = fake_rotator(vault, {'role': 'app'}).run()
    assert result['failed'] is True and 'permission denied while issuing credentials from database/creds/app' in result['msg']
    assert [call[0] for call in vault.calls if call[0] == 'list'] == ['list']  # the one listing before the request


# ------------------------------------------------------------------------------------------ a failed batch holds no password

def test_failed_batch_revokes_the_new_leases_of_the_other_roles_and_returns_no_password():
    """A failure result is printed in full: it carries no password, so the new credentials of the good items (whose
    passwords nobody would have) are revoked, and a static role's new password is in Vault (the message says so)."""
    vault = FakeVault(roles=('a', 'b', 'c'), static=('s',))
    params = {'roles': [{'role': 'a'}, {'role': 'b'}, {'role': 's', 'role_type': 'static', 'force': True}, {'role': 'c'}]}
    result = fake_rotator(vault, params, postgres=FakePostgres(bad_roles=('b',))).run()
    assert result['failed'] is True
    assert [r['failed'] for r in result['results']] == [False, True, False, False]
    assert _secrets_in(result) == [], result
    assert vault.leases == {}  # a's and c's new leases revoked, b's revoked by its failed verification
    a, dummy, static, c = result['results']
    assert a['changed'] is False and a['revoked_lease_id'] == 'database/creds/a/L1' and a['lease_id'] is None
    assert 'was revoked because the batch failed' in a['msg'] and c['revoked_lease_id'].startswith('database/creds/c/')
    assert static['changed'] is True and 'database/static-creds/s' in static['msg']
    assert result['msg'].startswith('1 of 4 roles failed: database/creds/b: verification of the new credentials failed')
    assert 'the new leases of database/creds/a, database/creds/c were revoked (a failed task returns no password)' in result['msg']
    assert 'static role s was rotated: read its new password from database/static-creds/s' in result['msg']


def test_failed_batch_result_printed_by_run_module_has_no_secret_even_for_items_not_due():
    vault = FakeVault(roles=('b',), static=('s',))
    params = {'roles': [{'role': 's', 'role_type': 'static'}, {'role': 'b'}]}  # s is not due: its current password is read

    class Module:
        no_log = False

        def warn(self, text):
            raise AssertionError(text)

        def exit_json(self, **kwargs):
            raise AssertionError('should fail')

        def fail_json(self, **kwargs):
            self.failed = kwargs
            raise SystemExit(1)
    module = Module()
    with pytest.raises(SystemExit):
        run_module(module, fake_rotator(vault, params, postgres=FakePostgres(bad_roles=('b',))).run, secret_keys=('password',))
    assert _secrets_in(module.failed) == [] and module.failed['results'][0]['username'] == 'static-s'


def test_the_clock_seam_dates_what_the_rotator_decides_and_returns():
    late = NOW + datetime.timedelta(hours=2)
    result = fake_rotator(FakeVault(), {'role': 'app'}, clock=lambda: late).run()
    assert result['expires_at'] == '2026-11-26T15:00:00Z'  # issued for 1h at the clock's 14:00
    static = {'role': 's', 'role_type': 'static', 'max_age': '90m'}  # the fake's last rotation: 11:00
    assert fake_rotator(FakeVault(static=('s',)), static, clock=lambda: NOW).run()['reason'] == 'not_due'
    assert fake_rotator(FakeVault(static=('s',)), static, clock=lambda: late).run()['reason'] == 'age'


def test_a_successful_batch_keeps_every_password():
    vault = FakeVault(roles=('a', 'c'))
    result = fake_rotator(vault, {'roles': [{'role': 'a'}, {'role': 'c'}]}).run()
    assert not result['failed'] and [r['password'] for r in result['results']] == ['pw-a-1', 'pw-c-2']
    assert len(vault.leases) == 2


# ------------------------------------------------------------------------------------------ TLS of the verification login

def test_sslmode_defaults_to_require_and_prefer_only_when_asked():
    assert validate_item({'role': 'app'}, environ={}).target.sslmode == 'require'
    assert validate_item({'role': 'app', 'db_sslmode': 'prefer'}, environ={}).target.sslmode == 'prefer'
    assert validate_item({'role': 'app'}, environ={'PGSSLMODE': 'prefer'}).target.sslmode == 'prefer'
    assert validate_revoke({'lease_id': LEASE, 'no_sessions_of': ['a']}, environ={}).target.sslmode == 'require'


@pytest.mark.parametrize('item, env, expected', [
    ({}, {}, 'scram-sha-256'),
    ({'db_require_auth': 'scram-sha-256,md5'}, {}, 'scram-sha-256,md5'),
    ({}, {'PGREQUIREAUTH': 'md5'}, 'md5'),
    ({'db_require_auth': '!password'}, {}, '!password'),
    ({'db_require_auth': 'any'}, {}, None),
])
def test_require_auth_defaults_to_scram(item, env, expected):
    assert validate_item(dict(item, role='app'), environ=env).target.require_auth == expected


@pytest.mark.parametrize('value, message', [
    ('kerberos', "db_require_auth: unknown authentication method 'kerberos'"),
    ('md5,!password', 'db_require_auth: methods must be all required or all refused (!)'),
    ('', None),
])
def test_require_auth_is_validated(value, message):
    if message is None:
        assert validate_item({'role': 'app', 'db_require_auth': value}, environ={}).target.require_auth == 'scram-sha-256'
        return
    with pytest.raises(RotationError) as err:
        validate_item({'role': 'app', 'db_require_auth': value}, environ={})
    assert message in str(err.value)


def test_an_explicit_require_auth_needs_libpq_16(monkeypatch):
    monkeypatch.setattr(_postgres, 'libpq_version', lambda: 150004)
    with pytest.raises(RotationError) as err:
        validate_item({'role': 'app', 'db_require_auth': 'md5'}, environ={})
    assert 'db_require_auth needs libpq 16 or later; psycopg2 here uses libpq 15.4' in str(err.value)
    assert validate_item({'role': 'app'}, environ={}).target.require_auth == 'scram-sha-256'  # the default: best effort


def test_a_server_without_tls_fails_before_anything_is_issued_unless_tls_is_optional():
    vault = FakeVault()
    with pytest.raises(RotationError) as err:
        fake_rotator(vault, {'role': 'app', 'db_host': 'db1'}, postgres=FakePostgres(answer=b'N')).run()
    assert str(err.value) == (
        'PostgreSQL at db1:5432 does not offer TLS (it answered N to the SSLRequest), but db_sslmode is require: the new '
        'password is only sent over TLS; enable ssl on the server, or set db_sslmode (or PGSSLMODE) to prefer or disable '
        'where the network is trusted - nothing was issued or rotated')
    assert vault.leases == {} and not [call for call in vault.calls if call[0] == 'generate']
    result = fake_rotator(vault, {'role': 'app', 'db_host': 'db1', 'db_sslmode': 'disable'}, postgres=FakePostgres(answer=b'N')).run()
    assert result['changed'] is True and result['verified'] is True


def test_a_libpq_older_than_16_is_warned_about(monkeypatch):
    monkeypatch.setattr(_postgres, 'libpq_version', lambda: 150004)
    warned = []
    result = fake_rotator(FakeVault(), {'role': 'app'}, warn=warned.append).run()
    assert result['changed'] is True and 'warnings' not in result
    assert warned == ['psycopg2 uses libpq 15.4, which cannot refuse to send the password in clear text (require_auth '
                      'needs libpq 16): a server impostor could receive the new password; install a newer '
                      'psycopg2-binary, or set db_sslmode: verify-full']
    rotator = fake_rotator(FakeVault(), {'role': 'app', 'db_sslmode': 'verify-full'})
    assert 'warnings' not in rotator.run() and rotator.warnings == []


# ------------------------------------------------------------------------------------------ odd input and odd server data

@pytest.mark.parametrize('data, message', [
    ({'id': LEASE, 'expire_time': 'soon', 'ttl': 60}, "expire_time 'soon' is not a time"),
    ({'id': LEASE, 'expire_time': '0001-01-01T00:00:00+05:00', 'ttl': 60}, "expire_time '0001-01-01T00:00:00+05:00' is not a time"),
    ({'id': LEASE, 'expire_time': '2026-11-26T13:00:00Z', 'issue_time': '9999-12-31T23:59:59-05:00'}, 'issue_time'),
    ({'id': LEASE, 'expire_time': '2026-11-26T13:00:00Z', 'ttl': 'a while'}, "ttl 'a while' is not a number of seconds"),
    ({'id': LEASE, 'ttl': 10 ** 30}, 'ttl'),
    ({'id': LEASE, 'expire_time': 12345}, 'expire_time 12345 is not a time'),
])
def test_odd_lease_lookups_fail_naming_the_field(data, message):
    with pytest.raises(RotationError) as err:
        lease_info(data, NOW, LEASE)
    assert str(err.value).startswith('Vault returned an unreadable lease %s: ' % LEASE) and message in str(err.value), str(err.value)


def test_far_away_times_never_overflow_the_decisions():
    far = dict(lease(600), issue_time=datetime.datetime(9999, 12, 30, tzinfo=datetime.timezone.utc))
    decision = decide_dynamic(plan(lease_id=LEASE, lease_threshold='15m', renew=True), far, NOW, max_ttl=36500 * 86400)
    assert decision.action == 'renew'
    early = dict(lease(600), issue_time=datetime.datetime(1, 1, 1, tzinfo=datetime.timezone.utc))
    assert decide_dynamic(plan(lease_id=LEASE, lease_threshold='15m', renew=True), early, NOW, max_ttl=60).action == 'rotate'
    assert decide_dynamic(plan(lease_id=LEASE, lease_threshold='15m', renew=True), lease(600), NOW, max_ttl='x').action == 'renew'


@pytest.mark.parametrize('last', ['yesterday', '0001-01-01T00:00:00+01:00', '9999-12-31T23:59:59-01:00', 17])
def test_odd_last_vault_rotation_fails_naming_the_field(last):
    with pytest.raises(RotationError) as err:
        decide_static(plan(role_type='static', max_age='1d'), {'last_vault_rotation': last}, NOW)
    assert 'last_vault_rotation %r is not a time' % (last,) in str(err.value)


def test_an_unreadable_issue_answer_revokes_the_new_lease():
    vault = FakeVault()
    original = vault.generate

    def odd(name, mount_point='database'):
        answer = original(name, mount_point)
        answer['lease_duration'] = 'forever'
        return answer
    vault.secrets.database.generate_credentials = odd
    result = fake_rotator(vault, {'role': 'app'}).run()
    assert result['failed'] is True and vault.leases == {}
    assert "Vault answered database/creds/app with lease_duration 'forever', not a number of seconds" in result['msg']
    assert 'the new lease database/creds/app/L1 was revoked' in result['msg'] and 'password' not in result


@pytest.mark.parametrize('params, message', [
    ({'role': 'app', 'db_connect_timeout': 10 ** 12}, 'db_connect_timeout must be at most 3600 seconds'),
    ({'state': 'revoked', 'lease_id': LEASE, 'no_sessions_of': ['a'], 'sessions_timeout': '2d'},
     'sessions_timeout must be at most 1d, got 2d'),
])
def test_options_that_would_overflow_are_refused_before_connecting(params, message):
    with pytest.raises(RotationError) as err:
        DbCredentialRotator(params, environ={}).run()
    assert message in str(err.value)


class SessionsLeft(FakePostgres):
    """The session check finds ``counts`` (no login; the old users still have sessions)."""

    def __init__(self, counts):
        super().__init__()
        outer = self

        class SessionCounter:
            def __init__(self, target, user, password):
                pass

            def __enter__(self):
                return self

            def __exit__(self, *exc_info):
                pass

            def count(self, users):
                return dict((user, counts.get(user, 0)) for user in users)
        outer.SessionCounter = SessionCounter


def test_a_batch_of_leases_in_use_revokes_none_and_names_them_once():
    vault = FakeVault(roles=('a', 'c'))
    leases = [vault.generate('a')['lease_id'], vault.generate('c')['lease_id'], 'database/creds/a/GONE']
    rotator = DbCredentialRotator({'state': 'revoked', 'lease_ids': leases, 'no_sessions_of': ['v-a-1'], 'sessions_timeout': 0},
                                  environ={}, postgres=SessionsLeft({'v-a-1': 2}), diff=True)
    rotator._connect = lambda: setattr(rotator, 'client', vault) or setattr(rotator, 'opts', types.SimpleNamespace(url='v', timeout=1))
    result = rotator.run()
    assert result['failed'] is True and result['changed'] is False and result['revoked'] == [] and len(vault.leases) == 2
    assert [res['reason'] for res in result['results']] == ['in_use', 'in_use', 'absent']
    assert result['reason'] == 'mixed' and result['reasons'] == {'in_use': 2, 'absent': 1}
    assert result['msg'] == ('not revoking %s, %s: user v-a-1 still has 2 session(s) in pg_stat_activity on localhost:5432/postgres '
                             'after waiting 0s (something still uses it); nothing was revoked; already revoked 1 (3 leases)'
                             % tuple(leases[:2]))
    assert [entry['after'] for entry in result['diff']] == [{'state': 'active', 'expires_at': '2026-11-26T12:50:00Z'}] * 2 + [
        {'state': 'absent'}]
    assert result['sessions'] == {'v-a-1': 2} and result['sessions_waited'] == 0.0


@pytest.mark.parametrize('check_mode, proof', [(True, ''), (False, ' after waiting 0.3s')])
def test_a_slow_count_is_no_wait_in_check_mode(check_mode, proof):
    """Check mode counts once without waiting: a count that took 0.3 s (a loaded server) is not reported as a wait."""
    vault = FakeVault(roles=('a',))
    lease_id = vault.generate('a')['lease_id']
    ticks = iter([100.0, 100.3, 100.3, 100.3])
    rotator = DbCredentialRotator({'state': 'revoked', 'lease_id': lease_id, 'no_sessions_of': ['v-a-1']}, check_mode=check_mode,
                                  environ={}, postgres=SessionsLeft({}), monotonic=lambda: next(ticks))
    rotator._connect = lambda: setattr(rotator, 'client', vault) or setattr(rotator, 'opts', types.SimpleNamespace(url='v', timeout=1))
    result = rotator.run()
    verb = 'would revoke' if check_mode else 'revoked'
    assert result['msg'] == '%s lease %s (no session of v-a-1%s)' % (verb, lease_id, proof)
    assert result['sessions_waited'] == 0.3


def test_an_item_built_without_the_spec_with_an_unknown_role_type_is_refused():
    # the module's spec refuses it; a script or test that builds items directly must not get a static-creds path
    with pytest.raises(RotationError, match="role_type must be one of dynamic, static, got 'Dynamic'"):
        plan(role_type='Dynamic')
