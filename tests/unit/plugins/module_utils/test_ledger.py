# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ledger's pure logic: slots, transitions, consistency checks, history bound, report and Markdown."""


import copy
import datetime

import pytest

from ansible_collections.secops.rotation.plugins.module_utils._common import RotationError
from ansible_collections.secops.rotation.plugins.module_utils._duration import DurationError
from ansible_collections.secops.rotation.plugins.module_utils._ledger import (
    DEFAULT_POLICY, Ledger, Request, check_entry, compute_report, finish_write, make_slot, normalize_policy, plan,
    public_slot, public_view, report_markdown, secret_fields)

NOW = datetime.datetime(2026, 11, 26, 12, 0, 0, tzinfo=datetime.timezone.utc)
DAY = 86400


def later(seconds):
    return NOW + datetime.timedelta(seconds=seconds)


def req(action, name='app', **kwargs):
    if 'id' in kwargs:
        kwargs['secret_id'] = kwargs.pop('id')
    return Request(action, name, **kwargs).validate()


def apply(data, request, now=NOW, version=None, limit=20, warn=None):
    """Plan and 'write' like the store would: returns (new data or the old one, reason, msg, extra, version)."""
    version = version if version is not None else (0 if data is None else data['history'][-1]['version'])
    new, reason, msg, extra = plan(data, request, now, warn)
    if new is None:
        return data, reason, msg, extra, version
    finish_write(new, version, limit, now)
    assert check_entry(new) == [], check_entry(new)
    return new, reason, msg, extra, version + 1


def apply1(*args, **kwargs):
    return apply(*args, **kwargs)[0]


def apply2(*args, **kwargs):
    return apply(*args, **kwargs)[:2]


def staged_entry():
    data = apply1(None, req('init', kind='db', id='A', secret={'password': 'pw-a'}, metadata={'username': 'ua'}))
    data = apply1(data, req('stage', id='B', secret={'password': 'pw-b'}, metadata={'username': 'ub'}), now=later(60))
    return data


# ------------------------------------------------------------------------------------------------- slots

def test_make_slot_splits_metadata_and_secret():
    slot = make_slot('lease-1', {'password': 'pw'}, {'username': 'u', 'not_after': '2026-12-01T00:00:00+01:00'}, NOW, 'app')
    assert slot == {'id': 'lease-1', 'created_at': '2026-11-26T12:00:00Z', 'username': 'u', 'not_after': '2026-11-30T23:00:00Z',
                    'password': 'pw'}
    assert public_slot(slot) == {'id': 'lease-1', 'created_at': '2026-11-26T12:00:00Z', 'username': 'u',
                                 'not_after': '2026-11-30T23:00:00Z'}
    assert secret_fields(slot) == ['password']


def test_times_without_an_offset_are_utc_and_offsets_are_normalized():
    slot = make_slot('B', {'password': 'p'}, {'created_at': '2026-11-20T10:00:00', 'not_after': '2026-12-01',
                                              'not_before': '2026-11-20T10:00:00.123456789-05:00'}, NOW, 'app')
    assert slot['created_at'] == '2026-11-20T10:00:00Z' and slot['not_after'] == '2026-12-01T00:00:00Z'
    assert slot['not_before'] == '2026-11-20T15:00:00Z'


def test_unknown_keys_in_a_slot_are_secret_by_default():
    slot = {'id': 'x', 'created_at': '2026-11-26T12:00:00Z', 'private_key': 'KEY', 'certificate': 'CERT', 'token': 'T'}
    assert public_slot(slot) == {'id': 'x', 'created_at': '2026-11-26T12:00:00Z'}
    assert secret_fields(slot) == ['certificate', 'private_key', 'token']


@pytest.mark.parametrize('secret_id, secret, metadata, message', [
    (None, {'password': 'p'}, None, 'id is required'),
    ('x' * 513, {'password': 'p'}, None, 'longer than 512'),
    ('B', None, None, 'secret is required'),
    ('B', {}, None, 'secret is required'),
    ('B', {'username': 'u', 'password': 'p'}, None, 'secret.username is a metadata key'),
    ('B', {'id': 'B'}, None, 'secret.id is a metadata key'),
    ('B', {'password': 'p'}, {'colour': 'red'}, "unknown metadata key 'colour'"),
    ('B', {'password': 'p'}, {'id': 'C'}, 'metadata.id is set by the ledger'),
    ('B', {'password': 'p'}, {'created_at': 'yesterday'}, "metadata.created_at: invalid time 'yesterday'"),
    ('B', {'password': 'p'}, {'created_at': '2027-01-01T00:00:00Z'}, 'is in the future'),
    ('B', {'password': 'p'}, {'serial': ['a']}, 'metadata.serial must be a string or a number'),
    ('B', {'password': None}, None, r'secret.password has no value \(null\)'),
    # Years that do not survive the round trip through ISO text ('1-01-01T...') or the report's date arithmetic.
    ('B', {'password': 'p'}, {'created_at': '0001-01-01T00:00:00-01:00'}, 'between the years 1970 and 9998'),
    ('B', {'password': 'p'}, {'not_after': '0100-02-01T00:00:00Z'}, 'between the years 1970 and 9998'),
    ('B', {'password': 'p'}, {'not_after': '9999-12-31T23:59:59-01:00'}, 'between the years 1970 and 9998'),
])
def test_make_slot_rejects_bad_input(secret_id, secret, metadata, message):
    with pytest.raises(RotationError, match=message) as err:
        make_slot(secret_id, secret, metadata, NOW, 'app')
    assert 'p' != str(err.value)  # the message is not the secret
    if secret:
        for value in secret.values():
            if value not in ('B', 'u'):
                assert "'%s'" % value not in str(err.value)


# ------------------------------------------------------------------------------------------------- transitions

def test_full_rotation_cycle():
    data = staged_entry()
    assert data['phase'] == 'staged' and data['current']['id'] == 'A' and data['pending']['id'] == 'B'
    assert data['pending']['password'] == 'pw-b'
    rotation_id = data['rotation_id']
    data, reason, msg, extra, version = apply(data, req('promote', id='B'), now=later(120))
    assert reason == 'promoted' and msg == 'promoted B to current of app (previous A)'
    assert data['phase'] == 'promoted'
    assert data['current']['id'] == 'B' and data['previous']['id'] == 'A' and data['pending'] is None
    assert data['previous']['retired_at'] == '2026-11-26T12:02:00Z'
    assert data['previous']['password'] == 'pw-a'
    data, reason, msg, extra, version = apply(data, req('retire', id='A'), now=later(180))
    assert reason == 'retired' and data['previous'] is None and data['phase'] == 'idle'
    assert extra['retired']['id'] == 'A' and 'password' not in extra['retired']
    assert [(h['action'], h['from_id'], h['to_id'], h['version']) for h in data['history']] == [
        ('init', None, 'A', 1), ('stage', 'A', 'B', 2), ('promote', 'A', 'B', 3), ('retire', 'A', None, 4)]
    assert data['history'][1]['rotation_id'] == rotation_id == data['history'][2]['rotation_id']
    assert data['updated_at'] == '2026-11-26T12:03:00Z'


def test_stage_again_resumes_the_same_pending():
    data = staged_entry()
    warnings = []
    new, reason, msg, extra = plan(data, req('stage', id='C', secret={'password': 'pw-c'}), later(300), warnings.append)
    assert new is None and reason == 'resumed' and extra['resumed'] is True
    assert 'the given id C was not recorded' in warnings[0]
    assert 'pw-c' not in warnings[0] and 'pw-c' not in msg


def test_stage_of_a_new_name_creates_the_entry_with_no_current():
    data, reason, msg, extra, version = apply(None, req('stage', kind='pki', id='serial-1', secret={'private_key': 'K'}))
    assert reason == 'staged' and version == 1 and data['kind'] == 'pki' and data['current'] is None
    data, reason = apply2(data, req('promote'))
    assert reason == 'promoted' and data['current']['id'] == 'serial-1' and data['previous'] is None and data['phase'] == 'idle'
    # Repeating the promote is not a change, also without an id (the last write promoted current).
    assert plan(data, req('promote'), NOW)[:2] == (None, 'already_promoted')


def test_promote_is_idempotent():
    data = apply1(staged_entry(), req('promote'))
    assert plan(data, req('promote'), NOW)[:2] == (None, 'already_promoted')
    assert plan(data, req('promote', id='B'), NOW)[:2] == (None, 'already_promoted')
    assert plan(data, req('promote', rotation_id=data['rotation_id']), NOW)[:2] == (None, 'already_promoted')


def test_retire_and_abort_are_idempotent():
    data = apply1(staged_entry(), req('abort'))
    assert data['pending'] is None and data['phase'] == 'idle' and data['current']['id'] == 'A'
    assert plan(data, req('abort'), NOW)[:2] == (None, 'nothing_pending')
    assert plan(data, req('retire'), NOW)[:2] == (None, 'nothing_to_retire')
    assert plan(data, req('retire', id='Z'), NOW)[:2] == (None, 'nothing_to_retire')


def test_abort_returns_the_metadata_to_revoke():
    data, reason, msg, extra, version = apply(staged_entry(), req('abort', id='B'))
    assert reason == 'aborted' and extra['aborted'] == {'id': 'B', 'created_at': '2026-11-26T12:01:00Z', 'username': 'ub'}
    assert data['history'][-1]['action'] == 'abort' and data['history'][-1]['from_id'] == 'B'


@pytest.mark.parametrize('setup, request_, message', [
    ('missing', req('promote'), 'app has no ledger entry: nothing to promote'),
    ('missing', req('retire'), 'app has no ledger entry: nothing to retire'),
    ('missing', req('abort'), 'app has no ledger entry: nothing to abort'),
    ('idle', req('promote'), r'app has nothing staged to promote \(phase idle, current A\)'),
    ('idle', req('promote', id='Q'), 'app has nothing staged to promote and current is A, not Q'),
    ('staged', req('promote', id='Q'), 'app: pending is B, not Q; nothing was promoted'),
    ('staged', req('promote', rotation_id='other'), 'the staged rotation is .*, not other; nothing was promoted'),
    ('staged', req('abort', id='Q'), 'app: pending is B, not Q; nothing was aborted'),
    ('promoted', req('stage', id='C', secret={'password': 'p'}), 'previous A is not retired yet'),
    ('promoted', req('retire', id='Q'), 'app: previous is A, not Q; nothing was retired'),
    ('idle', req('retire', id='A'), 'A is the current secret, it cannot be retired'),
    ('idle', req('stage', id='A', secret={'password': 'p'}), 'id A is already the current secret'),
    ('idle', req('init', id='Z', secret={'password': 'p'}), 'app already has current id A: init only adopts'),
    ('idle', req('init', id='A', secret={'password': 'other'}), 'already has current id A with other secret values'),
    ('staged', req('init', id='Z', secret={'password': 'p'}, force=True), 'abort it before forcing init'),
    ('idle', req('read', kind='iam'), 'app is a ledger entry of kind db, not iam'),
])
def test_illegal_transitions_fail_clearly(setup, request_, message):
    data = {'missing': None, 'idle': None, 'staged': None, 'promoted': None}[setup]
    if setup != 'missing':
        data = apply1(None, req('init', kind='db', id='A', secret={'password': 'pw-a'}))
        if setup in ('staged', 'promoted'):
            data = apply1(data, req('stage', id='B', secret={'password': 'pw-b'}))
        if setup == 'promoted':
            data = apply1(data, req('promote'))
    before = copy.deepcopy(data)
    with pytest.raises(RotationError, match=message) as err:
        plan(data, request_, NOW)
    assert 'pw-a' not in str(err.value) and 'pw-b' not in str(err.value)
    assert data == before


def test_allow_unretired_drops_the_old_previous_with_a_warning():
    data = apply1(staged_entry(), req('promote'))
    data, reason = apply2(data, req('stage', id='C', secret={'password': 'pw-c'}, allow_unretired=True))
    assert reason == 'staged' and data['phase'] == 'staged' and data['previous']['id'] == 'A'
    warnings = []
    data, reason, msg, extra, version = apply(data, req('promote'), warn=warnings.append)
    assert data['current']['id'] == 'C' and data['previous']['id'] == 'B'
    assert 'previous A was dropped' in warnings[0]
    assert [h['action'] for h in data['history']][-2:] == ['retire', 'promote']


def test_an_aborted_first_stage_leaves_an_entry_that_init_or_stage_can_fill():
    data = apply1(apply1(None, req('stage', kind='db', id='B', secret={'password': 'pw-b'})), req('abort'))
    assert data['current'] is None and data['pending'] is None and data['phase'] == 'idle' and check_entry(data) == []
    with pytest.raises(RotationError, match=r'nothing staged to promote \(phase idle, current none\)'):
        plan(data, req('promote'), NOW)
    adopted, reason = apply2(data, req('init', id='A', secret={'password': 'pw-a'}))
    assert reason == 'adopted' and adopted['current']['id'] == 'A' and adopted['kind'] == 'db'
    restaged, reason = apply2(data, req('stage', id='C', secret={'password': 'pw-c'}))
    assert reason == 'staged' and restaged['pending']['id'] == 'C'


def test_init_is_idempotent_and_force_overwrites():
    data, reason = apply2(None, req('init', kind='iam', id='AKIA1', secret={'secret_access_key': 's1'},
                                    metadata={'created_at': '2026-09-01T00:00:00Z'}))
    assert reason == 'adopted' and data['current']['created_at'] == '2026-09-01T00:00:00Z' and data['phase'] == 'idle'
    assert plan(data, req('init', id='AKIA1', secret={'secret_access_key': 's1'}), NOW)[:2] == (None, 'already_adopted')
    data, reason = apply2(data, req('init', id='AKIA2', secret={'secret_access_key': 's2'}, force=True))
    assert reason == 'forced' and data['current']['id'] == 'AKIA2'


def test_history_is_bounded_and_versions_increase():
    data = apply1(None, req('init', kind='db', id='v0', secret={'password': 'p'}), limit=5)
    for n in range(1, 8):
        data = apply1(data, req('stage', id='v%d' % n, secret={'password': 'p%d' % n}), limit=5)
        data = apply1(data, req('promote'), limit=5)
        data = apply1(data, req('retire'), limit=5)
    assert len(data['history']) == 5
    versions = [h['version'] for h in data['history']]
    assert versions == list(range(18, 23))
    assert check_entry(data) == []


@pytest.mark.parametrize('mutate, problem', [
    (lambda d: d.update(kind='ldap'), "kind 'ldap' is not one of"),
    (lambda d: d.update(phase='done'), "phase 'done' is not one of"),
    (lambda d: d.update(phase='idle'), 'phase idle does not match the slots (expected staged)'),
    (lambda d: d['pending'].pop('id'), 'pending has no id'),
    (lambda d: d['pending'].update(id='A'), 'the same id is in two slots'),
    (lambda d: d.update(history={}), 'history is not a list'),
    (lambda d: d['history'].append(dict(d['history'][0])), 'history versions are not increasing'),
    (lambda d: d['current'].update(created_at='soon'), 'current.created_at is not a time'),
])
def test_check_entry_finds_inconsistencies(mutate, problem):
    data = staged_entry()
    assert check_entry(data) == []
    mutate(data)
    assert any(problem in p for p in check_entry(data)), check_entry(data)
    with pytest.raises(RotationError, match='is not a valid ledger entry'):
        plan(data, req('promote'), NOW)


def test_public_view_has_no_secret_fields():
    data = staged_entry()
    view = public_view(data, 'app', 'secret/rotation/app', 2)
    text = repr(view)
    assert 'pw-a' not in text and 'pw-b' not in text and 'password' not in text
    assert view['current']['username'] == 'ua' and view['pending']['id'] == 'B' and view['version'] == 2


# ------------------------------------------------------------------------------------------------- report

def test_normalize_policy():
    assert normalize_policy(None) == DEFAULT_POLICY
    policy = normalize_policy({'db': '12h', 'pki': {'renew_before': '10d', 'max_age': '60d'}})
    assert policy['db'] == {'max_age': 43200} and policy['pki'] == {'renew_before': 864000, 'max_age': 5184000}
    assert policy['iam'] == {'max_age': 90 * DAY}


@pytest.mark.parametrize('policy, error, message', [
    ({'ldap': '1d'}, RotationError, "policy: unknown kind 'ldap'"),
    ({'db': {'maxage': '1d'}}, RotationError, 'policy.db: unknown key maxage'),
    ({'db': {}}, RotationError, 'policy.db: give max_age and/or renew_before'),
    ({'db': '1 day'}, DurationError, "policy.db.max_age: invalid duration '1 day'"),
    ('90d', RotationError, 'policy must be a dict'),
])
def test_normalize_policy_rejects_bad_input(policy, error, message):
    with pytest.raises(error, match=message):
        normalize_policy(policy)


def _entry(kind, current_id, created, **extra):
    data = apply1(None, req('init', kind=kind, id=current_id, secret={'password': 'SECRET-%s' % current_id},
                            metadata=dict(created_at=created, **extra)))
    return data


def _kv_versions(data):
    return dict((str(h['version']), {'created_time': h['at'], 'deletion_time': '', 'destroyed': False}) for h in data['history'])


def test_report_ages_due_dates_and_flags():
    db = _entry('db', 'lease-1', '2026-11-24T12:00:00Z')              # 2 days old, max_age 1d: overdue
    iam = _entry('iam', 'AKIA1', '2026-10-27T12:00:00Z')              # 30 days old, max_age 90d: due in 60d
    pki = _entry('pki', 'serial-1', '2026-11-01T12:00:00Z', not_after='2026-12-06T12:00:00Z')  # due 30d before: overdue by 20d
    stuck = apply1(_entry('generic', 'tok-1', '2026-11-20T12:00:00Z'), req(
        'stage', id='tok-2', secret={'token': 'SECRET-tok-2'}, metadata={'created_at': '2026-11-24T00:00:00Z'}), now=NOW)
    raw = [(name, 'secret/rotation/' + name, data, data['history'][-1]['version'], _kv_versions(data))
           for name, data in (('db-app', db), ('iam-svc', iam), ('pki-web', pki), ('api', stuck))]
    report = compute_report(raw, normalize_policy(None), 86400, 5, NOW, 'secret', 'rotation')
    by_name = dict((e['name'], e) for e in report['entries'])
    assert by_name['db-app']['age'] == 2 * DAY and by_name['db-app']['age_human'] == '2d'
    assert by_name['db-app']['next_due'] == '2026-11-25T12:00:00Z' and by_name['db-app']['overdue'] is True
    assert by_name['db-app']['due_in'] == -DAY and by_name['db-app']['due_in_human'] == '-1d'
    assert by_name['iam-svc']['age'] == 30 * DAY and by_name['iam-svc']['overdue'] is False
    assert by_name['iam-svc']['next_due'] == '2027-01-25T12:00:00Z' and by_name['iam-svc']['due_in'] == 60 * DAY
    assert by_name['pki-web']['expires_at'] == '2026-12-06T12:00:00Z'
    assert by_name['pki-web']['next_due'] == '2026-11-06T12:00:00Z' and by_name['pki-web']['overdue'] is True
    assert by_name['api']['stuck'] is True and by_name['api']['pending_id'] == 'tok-2'
    assert by_name['api']['pending_age'] == 2 * DAY + 12 * 3600 and by_name['api']['flags'] == ['stuck']
    assert by_name['iam-svc']['flags'] == [] and by_name['db-app']['flags'] == ['overdue']
    assert report['summary']['overdue'] == 2 and report['summary']['stuck'] == 1 and report['summary']['total'] == 4
    assert report['summary']['by_kind'] == {'db': 1, 'iam': 1, 'pki': 1, 'generic': 1}
    assert report['summary']['overdue_names'] == ['db-app', 'pki-web'] and report['summary']['stuck_names'] == ['api']
    assert by_name['api']['history'][0]['action'] == 'stage' and by_name['api']['history'][0]['version'] == 2
    assert 'SECRET' not in repr(report)
    markdown = report_markdown(report)
    assert 'SECRET' not in markdown
    assert '| db-app | db | idle | lease-1 | 2026-11-24T12:00:00Z | 2d | 2026-11-25T12:00:00Z (-1d) |' in markdown
    assert '| api | generic | staged | tok-1 |' in markdown and 'tok-2 (2d12h)' in markdown
    assert '4 entries: 2 overdue, 1 stuck, 1 with pending, 0 with previous, 0 invalid.' in markdown


def test_report_flags_invalid_entries_and_unrecorded_writes():
    good = _entry('db', 'lease-1', '2026-11-26T11:00:00Z')
    versions = _kv_versions(good)
    versions['2'] = {'created_time': '2026-11-26T11:30:00Z', 'deletion_time': '', 'destroyed': False}
    raw = [('bad', 'secret/rotation/bad', {'hello': 'world|x'}, 1, {'1': {'created_time': '2026-11-26T11:00:00Z'}}),
           ('edited', 'secret/rotation/edited', good, 2, versions),
           ('deleted', 'secret/rotation/deleted', None, 3, {})]
    report = compute_report(raw, normalize_policy(None), 86400, 5, NOW)
    by_name = dict((e['name'], e) for e in report['entries'])
    assert 'invalid' in by_name['bad']['flags'] and by_name['bad']['problems']
    assert by_name['edited']['flags'] == ['unrecorded_write']
    assert by_name['edited']['history'][0] == {
        'version': 2, 'created_time': '2026-11-26T11:30:00Z', 'deleted': False, 'destroyed': False, 'action': None,
        'rotation_id': None, 'from_id': None, 'to_id': None, 'at': None}
    assert by_name['deleted']['problems'] == ['the latest version is deleted']
    assert report['summary']['invalid'] == 2


def _report_one(data, now, policy=None, stuck_after=DAY):
    report = compute_report([('e', 'p', data, 1, {})], normalize_policy(policy), stuck_after, 5, now)
    return report['entries'][0]


def test_report_overdue_and_stuck_at_the_boundaries():
    data = _entry('db', 'lease-1', '2026-11-25T12:00:00Z')  # max_age 1d: due at exactly NOW
    assert data['current']['created_at'] == '2026-11-25T12:00:00Z'
    due_now = _report_one(data, NOW)
    assert due_now['next_due'] == '2026-11-26T12:00:00Z' and due_now['due_in'] == 0 and due_now['due_in_human'] == '0s'
    assert due_now['overdue'] is True and due_now['flags'] == ['overdue']
    one_before = _report_one(data, later(-1))
    assert one_before['due_in'] == 1 and one_before['overdue'] is False and one_before['flags'] == []
    one_after = _report_one(data, later(1))
    assert one_after['due_in'] == -1 and one_after['due_in_human'] == '-1s' and one_after['overdue'] is True

    staged = apply1(data, req('stage', id='lease-2', secret={'password': 'p2'}, metadata={'created_at': '2026-11-25T12:00:00Z'}))
    exactly = _report_one(staged, NOW, policy={'db': '30d'})
    assert exactly['pending_age'] == DAY and exactly['stuck'] is False  # stuck means older than stuck_after
    assert _report_one(staged, later(1), policy={'db': '30d'})['stuck'] is True


def test_report_renew_before_and_max_age_take_the_earlier_date():
    data = _entry('pki', 'serial-1', '2026-11-01T12:00:00Z', not_after='2026-12-26T12:00:00Z')
    only_expiry = _report_one(data, NOW)  # default pki: renew_before 30d -> 2026-11-26T12:00:00Z, due now
    assert only_expiry['next_due'] == '2026-11-26T12:00:00Z' and only_expiry['overdue'] is True
    both = _report_one(data, NOW, policy={'pki': {'max_age': '20d', 'renew_before': '1d'}})
    assert both['next_due'] == '2026-11-21T12:00:00Z' and both['due_in'] == -5 * DAY
    no_expiry = _report_one(_entry('pki', 'serial-2', '2026-11-01T12:00:00Z'), NOW)
    assert no_expiry['next_due'] is None and no_expiry['overdue'] is False and no_expiry['flags'] == ['no_due_date']


def test_report_reads_hand_edited_times_without_offset_or_with_fractions_as_utc():
    data = _entry('db', 'lease-1', '2026-11-25T12:00:00Z')
    data['current']['created_at'] = '2026-11-25T13:00:00.999999'  # written by hand: no offset, fractions
    entry = _report_one(data, NOW)
    assert entry['age'] == 23 * 3600 and entry['next_due'] == '2026-11-26T13:00:00Z' and entry['due_in'] == 3600
    assert entry['overdue'] is False and entry['problems'] == []
    data['current']['created_at'] = '2026-11-25T14:00:00+02:00'
    assert _report_one(data, NOW)['age'] == DAY  # 12:00Z


@pytest.mark.parametrize('mutate, policy, flag', [
    (lambda d: d.update(kind=['db']), None, 'invalid'),
    (lambda d: d['history'].append({'version': [9], 'action': 'x'}), None, 'invalid'),
    (lambda d: d['current'].update(created_at='0001-01-01T00:00:00Z', not_after='0001-01-02T00:00:00Z'), None, 'invalid'),
    (lambda d: d['current'].update(created_at=12345, not_after=True), None, 'invalid'),
    (lambda d: d.update(history='abc', current='lease-1'), None, 'invalid'),
    (lambda d: d['current'].update(created_at='9998-12-31T00:00:00Z'), {'pki': {'max_age': '36500d'}}, 'no_due_date'),
])
def test_report_survives_odd_hand_edited_entries(mutate, policy, flag):
    data = _entry('pki', 'serial-1', '2026-11-01T12:00:00Z', not_after='2026-12-26T12:00:00Z')
    mutate(data)
    report = compute_report([('odd', 'p', data, 2, _kv_versions(_entry('db', 'x', '2026-11-01T12:00:00Z')))],
                            normalize_policy(policy), DAY, 5, NOW)
    assert flag in report['entries'][0]['flags']
    assert 'SECRET' not in report_markdown(report)


def test_markdown_escapes_table_cells():
    data = _entry('generic', 'id|with|pipes', '2026-11-26T11:00:00Z', description='x')
    report = compute_report([('n', 'p', data, 1, _kv_versions(data))], normalize_policy(None), 86400, 5, NOW)
    assert 'id\\|with\\|pipes' in report_markdown(report)


# ------------------------------------------------------------------------------------------------- task options

BASE = {'kv_mount': 'secret', 'prefix': 'rotation', 'history_limit': 20, 'history_entries': 5, 'stuck_after': '1d'}


@pytest.mark.parametrize('params, message', [
    ({'action': 'stage'}, 'name is required for action=stage'),
    ({'action': 'stage', 'name': '../etc', 'id': 'B', 'secret': {'p': 'x'}}, "invalid name '../etc'"),
    ({'action': 'stage', 'name': 'a//b', 'id': 'B', 'secret': {'p': 'x'}}, "invalid name 'a//b'"),
    ({'action': 'stage', 'name': 'app', 'secret': {'p': 'x'}}, 'app: id is required'),
    ({'action': 'promote', 'name': 'app', 'secret': {'p': 'x'}}, 'secret is only used with action=stage or action=init'),
    ({'action': 'promote', 'name': 'app', 'kind': 'ldap'}, "invalid kind 'ldap'"),
    ({'action': 'read', 'kv_mount': '/'}, "invalid kv_mount '/'"),
    ({'action': 'read', 'prefix': 'a b'}, "invalid prefix 'a b'"),
    ({'action': 'read', 'prefix': ''}, "invalid prefix ''"),
    ({'action': 'stage', 'items': []}, 'items is empty'),
    ({'action': 'read', 'name': 'app', 'history_limit': 0}, 'history_limit must be between 1 and 1000'),
    ({'action': 'report', 'history_entries': -1}, 'history_entries must be between 0 and 100'),
    ({'action': 'report', 'stuck_after': 'soon'}, "stuck_after: invalid duration 'soon'"),
    ({'action': 'stage', 'items': [{'name': 'a', 'id': 'B', 'secret': {'p': 'x'}}, {'name': 'a', 'id': 'C', 'secret': {'p': 'y'}}]},
     'items name the same entry twice: a'),
    ({'action': 'stage', 'items': [{'name': 'a', 'id': 'B', 'secret': {'p': 'x'}}, {'name': 'b', 'secret': {'p': 'y'}}]},
     'b: id is required'),
    ({'action': 'read', 'name': 'app', 'names': ['x']}, 'names is only used with action=report'),
])
def test_task_options_are_validated_before_connecting(params, message):
    ledger = Ledger(dict(BASE, **params), clock=lambda: NOW)
    ledger._connect = None  # a connection attempt would raise TypeError, not the RotationError expected
    with pytest.raises((RotationError, DurationError), match=message):
        ledger.run()


def test_pki_slot_may_hold_metadata_only():
    slot = make_slot('4e:98', None, {'serial': '4e:98', 'not_after': '2026-12-01T00:00:00Z'}, NOW, 'web', kind='pki')
    assert slot['id'] == '4e:98' and slot['serial'] == '4e:98' and 'password' not in slot
    for kind in (None, 'db', 'iam', 'generic'):
        with pytest.raises(RotationError, match='secret is required'):
            make_slot('B', None, None, NOW, 'app', kind=kind)
    with pytest.raises(RotationError, match='secret is required'):
        make_slot('B', 'not-a-dict', None, NOW, 'web', kind='pki')


# ------------------------------------------------------------------------------------------------- odd entries read back

def test_a_second_init_of_a_metadata_only_pki_slot_is_idempotent():
    """A pki slot may hold metadata only; the second init of the same certificate was an AttributeError."""
    request = req('init', kind='pki', id='4e:98', metadata={'serial': '4e:98', 'not_after': '2026-12-01T00:00:00Z'})
    data, reason = apply2(None, request)
    assert reason == 'adopted' and secret_fields(data['current']) == []
    assert plan(data, req('init', kind='pki', id='4e:98', metadata={'serial': '4e:98'}), NOW)[:2] == (None, 'already_adopted')
    with pytest.raises(RotationError, match='already has current id 4e:98 with other secret values'):
        plan(data, req('init', kind='pki', id='4e:98', secret={'private_key': 'KEY'}), NOW)
    with_key = apply1(None, req('init', kind='pki', id='4e:99', secret={'private_key': 'KEY'}))
    with pytest.raises(RotationError, match='already has current id 4e:99 with other secret values'):
        plan(with_key, req('init', kind='pki', id='4e:99'), NOW)


ODD = [
    lambda d: d.update(history=5),
    lambda d: d.update(history=[5, 'x']),
    lambda d: d.update(history=[{'version': 1, 'to_id': ['x']}]),
    lambda d: d.update(current=['A']),
    lambda d: d.update(current={'id': ['A']}),
    lambda d: d.update(pending={'id': 'B', 'created_at': '0001-01-01T00:00:00+01:00'}, phase='staged'),
    lambda d: d['current'].update(created_at='9999-12-31T23:59:59-01:00', not_after='0001-01-01T00:00:00+05:00'),
    lambda d: d['current'].update(created_at='9998-12-31T00:00:00Z', not_after='9998-12-31T00:00:00Z'),
    lambda d: d['current'].update(created_at='1970-01-01T00:00:00Z', expires_at='1970-01-01T00:00:00Z'),
    lambda d: d['current'].update(not_after={'a': 1}, expires_at=[1]),
    lambda d: d.update(kind={'db': 1}, phase=['idle']),
    lambda d: d.update(rotation_id={'x': 1}, updated_at=5),
    lambda d: d.clear(),
]


@pytest.mark.parametrize('mutate', ODD, ids=[str(n) for n in range(len(ODD))])
def test_odd_entries_read_back_never_raise_anything_but_a_clear_error(mutate):
    """Entries edited by hand (or by another tool) end in a message naming the entry, never in a traceback."""
    data = _entry('pki', 'serial-1', '2026-11-01T12:00:00Z', not_after='2026-12-26T12:00:00Z')
    mutate(data)
    for request in (req('read'), req('init', id='X', secret={'k': 'v'}), req('init', kind='pki', id='serial-1'),
                    req('stage', id='S', secret={'k': 'v'}), req('promote'), req('retire'), req('abort')):
        try:
            plan(copy.deepcopy(data), request, NOW)
        except RotationError as exc:
            assert 'app' in str(exc)
    public_view(data, 'app', 'secret/rotation/app', 3)
    for policy in (None, {'pki': {'max_age': '36500d', 'renew_before': '36500d'}}):
        report = compute_report([('app', 'p', data, 3, {'1': {'created_time': '0001-01-01T00:00:00+01:00'}, 'x': {}})],
                                normalize_policy(policy), DAY, 5, NOW)
        report_markdown(report)


class FakeStore:
    """The ledger's KV store, holding entries as they are (valid or not)."""

    def __init__(self, entries):
        self.entries = entries

    def names(self):
        return sorted(self.entries)

    def read(self, name):
        return self.entries[name], 3

    def full_path(self, name):
        return 'secret/rotation/%s' % name

    def versions(self, name):
        return {'3': {'created_time': '2026-11-26T11:00:00Z'}}


def test_reading_every_entry_survives_odd_entries():
    odd = _entry('db', 'L1', '2026-11-25T12:00:00Z')
    odd['history'] = 5
    ledger = Ledger(dict(BASE, action='read'), clock=lambda: NOW)
    ledger._connect = lambda: setattr(ledger, 'store', FakeStore({'odd': odd, 'list': ['x'], 'fine': _entry('db', 'L2', '2026-11-25T12:00:00Z')}))
    result = ledger.run()
    assert [e['name'] for e in result['entries']] == ['fine', 'list', 'odd']
    assert result['entries'][2]['history'] == [] and result['entries'][2]['current']['id'] == 'L1'
    assert result['entries'][1]['problems'] == ['not a dict']
    report = Ledger(dict(BASE, action='report'), clock=lambda: NOW)
    report._connect = lambda: setattr(report, 'store', FakeStore({'odd': odd, 'list': ['x']}))
    assert report.run()['report']['summary']['invalid'] == 2
