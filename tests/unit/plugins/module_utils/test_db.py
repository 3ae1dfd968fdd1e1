# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of module_utils/_db: option validation, due-ness of dynamic and static roles, batch summaries."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

import pytest

from ansible_collections.secops.rotation.plugins.module_utils._common import RotationError
from ansible_collections.secops.rotation.plugins.module_utils._db import (
    ITEM_OPTIONS, DbCredentialRotator, db_argument_spec, decide_dynamic, decide_static, lease_info, merge_diffs, summarize,
    validate_item)
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
