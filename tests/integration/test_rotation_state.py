# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""secops.rotation.rotation_state against the lab's OpenBao: the ledger in KV v2, its transitions, the
check-and-set lock under two racing writers, bad input, check/diff mode and -vvvv leak checks."""


import concurrent.futures
import multiprocessing
import uuid

import hvac
import pytest

from ansible_collections.secops.rotation.plugins.module_utils._ledger import IN_PROGRESS, Ledger, check_entry
from ansible_collections.secops.rotation.plugins.module_utils._vault import get_vault_connection
from lab.runner import run_module, run_playbook

MODULE = 'rotation_state'


def _uid():
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope='module')
def prefix():
    """A ledger folder of its own, so parallel runs and other tests never see these entries."""
    return 'rotation-it-%s' % _uid()


@pytest.fixture(scope='module')
def vault(lab):
    return hvac.Client(url=lab['VAULT_ADDR'], token=lab['VAULT_TOKEN'])


@pytest.fixture(scope='module')
def env(lab):
    return {'VAULT_ADDR': lab['VAULT_ADDR'], 'VAULT_TOKEN': lab['VAULT_TOKEN']}


@pytest.fixture
def call(env, prefix):
    def run(args, check=False, diff=False):
        return run_module(MODULE, dict({'prefix': prefix}, **args), check=check, diff=diff, env=env)
    return run


def _stored(vault, prefix, name):
    """(data, version) of an entry straight from KV, bypassing the module; (None, 0) when missing."""
    try:
        response = vault.secrets.kv.v2.read_secret_version(path='%s/%s' % (prefix, name), raise_on_deleted_version=True)
    except hvac.exceptions.InvalidPath:
        return None, 0
    return response['data']['data'], response['data']['metadata']['version']


def _ok(result):
    assert not result.get('failed'), result.get('msg')
    assert 'Traceback' not in result.stdout + result.stderr
    return result


def _fails(result, message):
    assert result.get('failed') is True, result
    assert message in result['msg'], result['msg']
    assert 'Traceback' not in result.stdout + result.stderr
    return result


def test_stage_again_returns_the_same_pending(call, vault, prefix):
    name, pw_b, pw_c = 'resume-' + _uid(), 'pw-B-' + _uid(), 'pw-C-' + _uid()
    first = _ok(call({'action': 'stage', 'name': name, 'kind': 'db', 'id': 'lease-B', 'secret': {'password': pw_b},
                      'metadata': {'username': 'v-app-b', 'lease_id': 'database/creds/app/B'}}))
    assert first['changed'] is True and first['reason'] == 'staged' and first['resumed'] is False and first['version'] == 1
    data, version = _stored(vault, prefix, name)
    assert version == 1 and data['phase'] == 'staged' and data['pending']['password'] == pw_b
    assert data['pending']['username'] == 'v-app-b' and data['current'] is None

    # A re-run that created another secret (C) gets B back, unchanged.
    again = _ok(call({'action': 'stage', 'name': name, 'id': 'lease-C', 'secret': {'password': pw_c}}))
    assert again['changed'] is False and again['resumed'] is True and again['reason'] == 'resumed'
    assert again['ledger']['pending']['id'] == 'lease-B' and again['ledger']['pending']['password'] == pw_b
    assert again['entry']['pending'] == {'id': 'lease-B', 'created_at': data['pending']['created_at'], 'username': 'v-app-b',
                                         'lease_id': 'database/creds/app/B'}
    assert again['ledger']['rotation_id'] == first['entry']['rotation_id']
    assert 'lease-C was not recorded' in again.stdout and pw_c not in again.stdout + again.stderr
    # The same re-run without a new secret resumes too.
    bare = _ok(call({'action': 'stage', 'name': name, 'id': 'lease-B', 'secret': {'password': pw_b}}))
    assert bare['resumed'] is True and bare['ledger']['pending']['id'] == 'lease-B'
    assert _stored(vault, prefix, name) == (data, 1)


def test_transitions_and_their_idempotence(call, vault, prefix):
    name = 'cycle-' + _uid()
    pw = dict((key, 'pw-%s-%s' % (key, _uid())) for key in 'ABC')
    _ok(call({'action': 'init', 'name': name, 'kind': 'db', 'id': 'A', 'secret': {'password': pw['A']},
              'metadata': {'username': 'user-a'}}))
    again = _ok(call({'action': 'init', 'name': name, 'kind': 'db', 'id': 'A', 'secret': {'password': pw['A']}}))
    assert again['changed'] is False and again['reason'] == 'already_adopted'
    _ok(call({'action': 'stage', 'name': name, 'id': 'B', 'secret': {'password': pw['B']}, 'metadata': {'username': 'user-b'}}))

    # Check mode predicts and writes nothing; diff shows ids and phase only.
    before = _stored(vault, prefix, name)
    predicted = _ok(call({'action': 'promote', 'name': name}, check=True, diff=True))
    assert predicted['changed'] is True and predicted['msg'].startswith('would promote B')
    assert predicted['version'] == before[1] + 1
    assert predicted['diff']['before']['phase'] == 'staged' and predicted['diff']['after']['phase'] == 'promoted'
    assert predicted['diff']['after']['current']['id'] == 'B' and predicted['diff']['after']['previous']['id'] == 'A'
    assert not any(secret in predicted.stdout for secret in pw.values())
    assert 'ledger' not in predicted
    assert _stored(vault, prefix, name) == before

    promoted = _ok(call({'action': 'promote', 'name': name, 'id': 'B'}, diff=True))
    assert promoted['changed'] is True and promoted['reason'] == 'promoted'
    data, version = _stored(vault, prefix, name)
    assert data['phase'] == 'promoted' and data['current']['id'] == 'B' and data['previous']['id'] == 'A'
    assert data['current']['password'] == pw['B'] and data['previous']['password'] == pw['A'] and data['pending'] is None
    assert data['previous']['retired_at'] and not any(secret in promoted.stdout for secret in pw.values())
    assert check_entry(data) == []

    for args in ({'action': 'promote', 'name': name}, {'action': 'promote', 'name': name, 'id': 'B'}):
        repeat = _ok(call(args))
        assert repeat['changed'] is False and repeat['reason'] == 'already_promoted'
    assert _stored(vault, prefix, name)[1] == version

    retired = _ok(call({'action': 'retire', 'name': name, 'id': 'A'}))
    assert retired['changed'] is True and retired['retired']['id'] == 'A' and 'password' not in retired['retired']
    assert _ok(call({'action': 'retire', 'name': name}))['changed'] is False
    data, version = _stored(vault, prefix, name)
    assert data['previous'] is None and data['phase'] == 'idle' and data['history'][-1]['action'] == 'retire'

    _ok(call({'action': 'stage', 'name': name, 'id': 'C', 'secret': {'password': pw['C']}}))
    aborted = _ok(call({'action': 'abort', 'name': name}))
    assert aborted['changed'] is True and aborted['aborted']['id'] == 'C' and 'password' not in aborted['aborted']
    assert _ok(call({'action': 'abort', 'name': name}))['changed'] is False
    data, version = _stored(vault, prefix, name)
    assert data['pending'] is None and data['current']['id'] == 'B' and data['phase'] == 'idle'
    assert [h['action'] for h in data['history']] == ['init', 'stage', 'promote', 'retire', 'stage', 'abort']
    assert [h['version'] for h in data['history']] == [1, 2, 3, 4, 5, 6] and version == 6

    read = _ok(call({'action': 'read', 'name': name}))
    assert read['changed'] is False and read['ledger']['current']['password'] == pw['B']
    assert read['entry']['current'] == {'id': 'B', 'created_at': data['current']['created_at'], 'username': 'user-b'}
    missing = _ok(call({'action': 'read', 'name': 'nobody-' + _uid()}))
    assert missing['exists'] is False and missing['reason'] == 'missing' and missing['ledger'] is None


def test_illegal_transitions_fail_clearly_and_change_nothing(call, vault, prefix):
    name = 'illegal-' + _uid()
    _ok(call({'action': 'init', 'name': name, 'kind': 'iam', 'id': 'AKIA1', 'secret': {'secret_access_key': 'sk-' + _uid()}}))
    before = _stored(vault, prefix, name)
    _fails(call({'action': 'promote', 'name': name}), 'has nothing staged to promote (phase idle, current AKIA1)')
    _fails(call({'action': 'retire', 'name': name, 'id': 'AKIA1'}), 'AKIA1 is the current secret, it cannot be retired')
    _fails(call({'action': 'stage', 'name': name, 'id': 'AKIA1', 'secret': {'secret_access_key': 'x'}}),
           'id AKIA1 is already the current secret')
    _fails(call({'action': 'stage', 'name': name, 'kind': 'db', 'id': 'AKIA2', 'secret': {'secret_access_key': 'x'}}),
           'is a ledger entry of kind iam, not db')
    _fails(call({'action': 'init', 'name': name, 'id': 'AKIA9', 'secret': {'secret_access_key': 'x'}}),
           'already has current id AKIA1: init only adopts')
    _fails(call({'action': 'promote', 'name': 'ghost-' + _uid()}), 'has no ledger entry: nothing to promote')
    assert _stored(vault, prefix, name) == before

    _ok(call({'action': 'stage', 'name': name, 'id': 'AKIA2', 'secret': {'secret_access_key': 'sk2'}}))
    _fails(call({'action': 'promote', 'name': name, 'id': 'AKIA3'}), 'pending is AKIA2, not AKIA3; nothing was promoted')
    _ok(call({'action': 'promote', 'name': name}))
    _fails(call({'action': 'stage', 'name': name, 'id': 'AKIA3', 'secret': {'secret_access_key': 'sk3'}}),
           'previous AKIA1 is not retired yet (phase promoted)')
    allowed = _ok(call({'action': 'stage', 'name': name, 'id': 'AKIA3', 'secret': {'secret_access_key': 'sk3'},
                        'allow_unretired': True}))
    assert allowed['changed'] is True and allowed['entry']['phase'] == 'staged'


@pytest.fixture(scope='module')
def kv1_mount(vault):
    mount = 'kv1-%s' % _uid()
    vault.sys.enable_secrets_engine('kv', path=mount, options={'version': '1'})
    yield mount
    vault.sys.disable_secrets_engine(mount)


BAD_INPUTS = [
    ({'action': 'explode', 'name': 'x'}, 'value of action must be one of'),
    ({'action': 'stage'}, 'name is required for action=stage'),
    ({'action': 'stage', 'name': '../etc/passwd', 'id': 'B', 'secret': {'password': '@SECRET@'}}, "invalid name '../etc/passwd'"),
    ({'action': 'stage', 'name': '@NAME@', 'secret': {'password': '@SECRET@'}}, ': id is required'),
    ({'action': 'stage', 'name': '@NAME@', 'id': 'B'}, ': secret is required'),
    ({'action': 'stage', 'name': '@NAME@', 'id': 'B', 'secret': {'username': 'user-@NAME@', 'password': '@SECRET@'}},
     'secret.username is a metadata key'),
    ({'action': 'stage', 'name': '@NAME@', 'id': 'B', 'secret': {'password': '@SECRET@'}, 'metadata': {'colour': 'red'}},
     "unknown metadata key 'colour'"),
    ({'action': 'init', 'name': '@NAME@', 'id': 'B', 'secret': {'password': '@SECRET@'}, 'metadata': {'created_at': 'last week'}},
     "metadata.created_at: invalid time 'last week'"),
    ({'action': 'init', 'name': '@NAME@', 'id': 'B', 'secret': {'password': '@SECRET@'},
      'metadata': {'created_at': '0001-01-01T00:00:00-01:00'}}, 'between the years 1970 and 9998'),  # was a traceback
    ({'action': 'stage', 'name': '@NAME@', 'id': 'B', 'secret': {'password': '@SECRET@', 'user2': None}},
     'secret.user2 has no value (null)'),
    ({'action': 'stage', 'name': '@NAME@', 'id': 'B', 'secret': {'password': '@SECRET@'}, 'prefix': ''}, "invalid prefix ''"),
    ({'action': 'promote', 'name': '@NAME@', 'secret': {'password': '@SECRET@'}}, 'secret is only used with action=stage or action=init'),
    ({'action': 'report', 'policy': {'ldap': '1d'}}, "policy: unknown kind 'ldap'"),
    ({'action': 'report', 'stuck_after': '3 days'}, "stuck_after: invalid duration '3 days'"),
    ({'action': 'read', 'name': '@NAME@', 'history_limit': 0}, 'history_limit must be between 1 and 1000'),
    ({'action': 'stage', 'name': '@NAME@', 'items': [{'name': 'a'}]}, 'parameters are mutually exclusive: name|items'),
    ({'action': 'stage', 'items': [{'name': '@NAME@', 'id': 'B', 'secret': {'password': '@SECRET@'}}, {'name': '@NAME@-2'}]},
     '@NAME@-2: id is required'),
    ({'action': 'stage', 'name': '@NAME@', 'id': 'B', 'secret': {'password': '@SECRET@'}, 'kv_mount': 'nomount-@NAME@'},
     'kv_mount nomount-@NAME@ does not exist'),
    ({'action': 'stage', 'name': '@NAME@', 'id': 'B', 'secret': {'password': '@SECRET@'}, 'kv_mount': '@KV1@'},
     'is a kv mount of version 1, but the ledger needs a KV version 2 mount'),
    ({'action': 'read', 'name': '@NAME@', 'url': 'ftp://vault'}, "invalid Vault url 'ftp://vault'"),
]


@pytest.mark.parametrize('args, message', BAD_INPUTS, ids=[str(i) for i in range(len(BAD_INPUTS))])
def test_bad_input_fails_clearly_and_changes_nothing(call, vault, prefix, kv1_mount, args, message):
    name, secret = 'bad-' + _uid(), 'S3cr3t-' + _uid()

    def fill(value):
        if isinstance(value, str):
            return value.replace('@NAME@', name).replace('@SECRET@', secret).replace('@KV1@', kv1_mount)
        if isinstance(value, dict):
            return dict((k, fill(v)) for k, v in value.items())
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value
    result = call(fill(args))
    _fails(result, fill(message))
    assert secret not in result.stdout + result.stderr
    assert _stored(vault, prefix, name) == (None, 0)
    with pytest.raises(hvac.exceptions.InvalidPath):  # nothing was written into the KV v1 mount either
        vault.secrets.kv.v1.list_secrets(path='', mount_point=kv1_mount)


def test_a_write_that_loses_the_check_and_set_changes_nothing(lab, vault, prefix):
    """Deterministic: another writer lands between our read and our write."""
    name = 'cas-' + _uid()
    client, opts = get_vault_connection({'url': lab['VAULT_ADDR'], 'token': lab['VAULT_TOKEN']}, {})
    base = {'prefix': prefix, 'name': name, 'kind': 'generic'}
    Ledger(dict(base, action='init', id='A', secret={'token': 'tok-a'}), client=client, opts=opts).run()
    intruder = {'kind': 'generic', 'current': None, 'pending': None, 'previous': None, 'phase': 'idle', 'history': []}

    def other_writer():
        vault.secrets.kv.v2.create_or_update_secret(path='%s/%s' % (prefix, name), secret=intruder)
    result = Ledger(dict(base, action='stage', id='B', secret={'token': 'tok-b'}), client=client, opts=opts,
                    before_write=other_writer).run()
    assert result['failed'] is True and result['reason'] == 'in_progress'
    assert IN_PROGRESS in result['msg'] and 'read at version 1' in result['msg'] and 'nothing was changed' in result['msg']
    assert 'tok-b' not in result['msg']
    assert _stored(vault, prefix, name) == (intruder, 2)


def _racer(who, url, token, prefix, name, rounds, start, race, results):
    """One of two writers: each round both read the same version, meet at the barrier, then write."""
    client, opts = get_vault_connection({'url': url, 'token': token}, {})
    for number in range(rounds):
        start.wait(timeout=30)
        action = 'stage' if number % 2 == 0 else 'promote'
        params = {'prefix': prefix, 'name': name, 'action': action, 'allow_unretired': True}
        if action == 'stage':
            params.update(id='%s-%d' % (who, number), secret={'token': 'tok-%s-%d' % (who, number)})
        try:
            result = Ledger(params, client=client, opts=opts, before_write=lambda: race.wait(timeout=30)).run()
            results.put((number, who, action, bool(result['failed']), result['changed'], result['reason'], result['msg'],
                         result.get('version')))
        except Exception as exc:  # pylint: disable=broad-except  # reported to the test, which fails on it
            results.put((number, who, action, True, False, 'crash', repr(exc), None))


def test_two_concurrent_writers_exactly_one_wins_each_race(lab, vault, prefix):
    name, rounds = 'race-' + _uid(), 100  # 50 stage races and 50 promote races
    path = '%s/%s' % (prefix, name)
    client, opts = get_vault_connection({'url': lab['VAULT_ADDR'], 'token': lab['VAULT_TOKEN']}, {})
    Ledger({'prefix': prefix, 'name': name, 'action': 'init', 'kind': 'generic', 'id': 'seed', 'secret': {'token': 'tok-seed'}},
           client=client, opts=opts).run()
    vault.secrets.kv.v2.update_metadata(path=path, max_versions=rounds + 10)  # keep every version for the audit below

    ctx = multiprocessing.get_context('fork')
    start, race, results = ctx.Barrier(2), ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=_racer, args=(who, lab['VAULT_ADDR'], lab['VAULT_TOKEN'], prefix, name, rounds, start,
                                                race, results)) for who in ('p1', 'p2')]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for dummy in range(2 * rounds)]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0

    winners = {}
    for number in range(rounds):
        pair = [o for o in outcomes if o[0] == number]
        assert len(pair) == 2, pair
        won = [o for o in pair if not o[3]]
        lost = [o for o in pair if o[3]]
        assert len(won) == 1 and len(lost) == 1, pair
        assert won[0][4] is True and won[0][7] == number + 2, won  # changed, and wrote version seed(1) + round + 1
        assert lost[0][5] == 'in_progress' and IN_PROGRESS in lost[0][6] and 'nothing was changed' in lost[0][6], lost
        winners[number] = won[0][1]

    # The ledger was never corrupted: every version is a consistent entry, written by that round's winner, in order.
    metadata = vault.secrets.kv.v2.read_secret_metadata(path=path)['data']
    assert metadata['current_version'] == rounds + 1
    assert sorted(int(v) for v in metadata['versions']) == list(range(1, rounds + 2))
    created = [metadata['versions'][str(v)]['created_time'] for v in range(1, rounds + 2)]
    assert created == sorted(created)
    for number in range(rounds):
        version = number + 2
        data = vault.secrets.kv.v2.read_secret_version(path=path, version=version, raise_on_deleted_version=True)['data']['data']
        assert check_entry(data) == [], (version, check_entry(data))
        assert data['history'][-1]['version'] == version
        versions = [h['version'] for h in data['history']]
        assert versions == sorted(versions)
        expected_id = '%s-%d' % (winners[number], number) if number % 2 == 0 else '%s-%d' % (winners[number - 1], number - 1)
        if number % 2 == 0:
            assert data['phase'] == 'staged' and data['pending']['id'] == expected_id
            assert data['pending']['token'] == 'tok-' + expected_id
        else:
            assert data['pending'] is None and data['current']['id'] == expected_id
            assert data['current']['token'] == 'tok-' + expected_id


def test_module_runs_racing_without_a_barrier_keep_the_ledger_consistent(call, vault, prefix):
    """The real module in two processes at once: one stages; the other loses the race or resumes its pending."""
    for round_number in range(3):
        name = 'modrace-%d-%s' % (round_number, _uid())
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(call, {'action': 'stage', 'name': name, 'id': who, 'secret': {'token': 'tok-' + who}})
                       for who in ('m1', 'm2')]
            results = [f.result() for f in futures]
        staged = [r for r in results if r.get('reason') == 'staged']
        others = [r for r in results if r.get('reason') != 'staged']
        assert len(staged) == 1, [r.get('msg') for r in results]
        assert others[0]['reason'] in ('resumed', 'in_progress'), others[0].get('msg')
        if others[0]['reason'] == 'in_progress':
            assert IN_PROGRESS in others[0]['msg']
        data, version = _stored(vault, prefix, name)
        assert version == 1 and check_entry(data) == []
        assert data['pending']['id'] == staged[0]['entry']['pending']['id']
        assert data['pending']['token'] == 'tok-' + data['pending']['id']


def test_batch_items(call, vault, prefix):
    names = ['batch-a-' + _uid(), 'batch-b-' + _uid()]
    result = _ok(call({'action': 'stage', 'kind': 'generic', 'items': [
        {'name': names[0], 'id': 'k1', 'secret': {'token': 'tok-batch-a'}},
        {'name': names[1], 'id': 'k1', 'secret': {'token': 'tok-batch-b'}, 'kind': 'iam'}]}, diff=True))
    assert result['changed'] is True and result['msg'] == 'changed 2 of 2 ledger entries'
    assert [r['name'] for r in result['results']] == names and all(r['reason'] == 'staged' for r in result['results'])
    # docs/results.md: the common reason and the counts; a batch's diff is a list in item order, headed by the entry
    assert result['reason'] == 'staged' and result['reasons'] == {'staged': 2}
    assert isinstance(result['diff'], list) and [d['after']['pending']['id'] for d in result['diff']] == ['k1', 'k1']
    assert [d['after_header'] for d in result['diff']] == ['secret/%s/%s' % (prefix, name) for name in names]
    assert not any('diff' in r for r in result['results']) and 'tok-batch' not in str(result['diff'])
    assert _stored(vault, prefix, names[1])[0]['kind'] == 'iam'
    # One item fails (nothing staged for the new name), the other is promoted; the task fails naming the item.
    ghost = 'batch-ghost-' + _uid()
    mixed = call({'action': 'promote', 'items': [{'name': names[0]}, {'name': ghost}]})
    _fails(mixed, '1 of 2 ledger entries failed: %s: %s has no ledger entry' % (ghost, ghost))
    assert mixed['msg'].endswith('; changed 1 of 2 ledger entries'), mixed['msg']
    assert mixed['reason'] == 'mixed' and mixed['reasons'] == {'promoted': 1, 'error': 1}
    assert mixed['results'][0]['reason'] == 'promoted' and mixed['results'][1]['failed'] is True
    assert _stored(vault, prefix, names[0])[0]['current']['id'] == 'k1'


def test_read_every_entry_under_the_prefix_has_no_secrets(env, vault):
    own_prefix = 'rotation-it-readall-%s' % _uid()
    secrets = []
    for n in range(3):
        secrets.append('tok-readall-%d-%s' % (n, _uid()))
        _ok(run_module(MODULE, {'prefix': own_prefix, 'action': 'init', 'name': 'team/e%d' % n, 'id': 'id%d' % n,
                                'secret': {'token': secrets[-1]}}, env=env))
    result = _ok(run_module(MODULE, {'prefix': own_prefix, 'action': 'read'}, env=env))
    assert [e['name'] for e in result['entries']] == ['team/e0', 'team/e1', 'team/e2']
    assert [e['current']['id'] for e in result['entries']] == ['id0', 'id1', 'id2']
    assert not any(s in result.stdout for s in secrets)


def test_vvvv_output_never_shows_a_secret(lab, prefix):
    name, pw_a, pw_b, pw_c = 'leak-' + _uid(), 'PwA-' + _uid(), 'PwB-' + _uid(), 'PwC-' + _uid()
    conn = {'url': lab['VAULT_ADDR'], 'token': lab['VAULT_TOKEN']}
    common = dict(conn, prefix=prefix, name=name)
    tasks = [
        {'name': 'Adopt A', 'secops.rotation.rotation_state': dict(common, action='init', kind='db', id='A',
                                                                   secret={'password': pw_a}, metadata={'username': 'ua'})},
        {'name': 'Stage B', 'no_log': True, 'register': 'staged',
         'secops.rotation.rotation_state': dict(common, action='stage', id='B', secret={'password': pw_b})},
        {'name': 'Read back after stage (the documented way to get B)', 'no_log': True, 'register': 'after_stage',
         'secops.rotation.rotation_state': dict(common, action='read')},
        {'name': 'Stage again with C (resumes B)', 'no_log': True, 'register': 'resumed',
         'secops.rotation.rotation_state': dict(common, action='stage', id='C', secret={'password': pw_c})},
        {'name': 'Promote B', 'register': 'promoted', 'secops.rotation.rotation_state': dict(common, action='promote', id='B')},
        {'name': 'Read', 'no_log': True, 'register': 'read', 'secops.rotation.rotation_state': dict(common, action='read')},
        {'name': 'Retire A', 'register': 'retired', 'secops.rotation.rotation_state': dict(common, action='retire')},
        {'name': 'Report', 'register': 'report',
         'secops.rotation.rotation_state': dict(conn, prefix=prefix, action='report', names=[name])},
        {'name': 'A failing promote', 'ignore_errors': True, 'register': 'failing',
         'secops.rotation.rotation_state': dict(common, action='promote', id='Z')},
    ]
    play = [{'name': 'Ledger', 'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}]
    run = run_playbook(play, verbosity=4, diff=True,
                       register=['staged', 'after_stage', 'resumed', 'promoted', 'read', 'retired', 'report', 'failing'])
    assert run.rc == 0, run.output[-3000:]
    for secret in (pw_a, pw_b, pw_c):
        assert secret not in run.output
    assert 'Traceback' not in run.output
    res = run.results
    # Ansible masks returned values equal to the no_log secret input: a fresh stage's pending password is the
    # placeholder (docs: read the entry back), while the read after it has B itself, and A next to it.
    assert res['staged']['ledger']['pending']['password'] == 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
    assert res['staged']['entry']['pending']['id'] == 'B' and res['staged']['ledger']['current']['password'] == pw_a
    assert res['after_stage']['ledger']['pending']['password'] == pw_b
    assert res['after_stage']['ledger']['current']['password'] == pw_a
    assert res['resumed']['resumed'] is True and res['resumed']['ledger']['pending']['password'] == pw_b
    assert res['read']['ledger']['current']['password'] == pw_b and res['read']['ledger']['previous']['password'] == pw_a
    assert res['promoted']['changed'] is True and res['retired']['changed'] is True
    assert res['report']['report']['entries'][0]['current_id'] == 'B'
    assert res['failing']['failed'] is True and 'nothing staged to promote and current is B, not Z' in res['failing']['msg']
    # diff mode printed the ids, so the absence of secrets above is meaningful
    assert '"id": "B"' in run.output or "'id': 'B'" in run.output or 'id: B' in run.output


def test_a_token_without_write_permission_fails_clearly(call, vault, prefix, lab):
    name, policy = 'perm-' + _uid(), 'ledger-readonly-' + _uid()
    _ok(call({'action': 'init', 'name': name, 'kind': 'db', 'id': 'A', 'secret': {'password': 'pw-perm-a'}}))
    vault.sys.create_or_update_policy(policy, 'path "secret/data/%s/*" { capabilities = ["read"] }\n'
                                              'path "secret/metadata/%s/*" { capabilities = ["read", "list"] }\n' % (prefix, prefix))
    token = vault.auth.token.create(policies=[policy], ttl='5m')['auth']['client_token']
    try:
        before = _stored(vault, prefix, name)
        result = run_module(MODULE, {'prefix': prefix, 'action': 'stage', 'name': name, 'id': 'B', 'secret': {'password': 'pw-perm-b'}},
                            env={'VAULT_ADDR': lab['VAULT_ADDR'], 'VAULT_TOKEN': token})
        _fails(result, 'permission denied while writing ledger entry secret/%s/%s' % (prefix, name))
        assert 'pw-perm-b' not in result.stdout + result.stderr and token not in result['msg']
        assert _stored(vault, prefix, name) == before
        read = _ok(run_module(MODULE, {'prefix': prefix, 'name': name}, env={'VAULT_ADDR': lab['VAULT_ADDR'], 'VAULT_TOKEN': token}))
        assert read['entry']['current']['id'] == 'A'
    finally:
        vault.auth.token.revoke(token)
        vault.sys.delete_policy(policy)


# --------------------------------------------------------------------------------------------- failures print no secret

def test_failed_batch_printed_in_full_shows_no_secret(lab, vault, prefix):
    """A failing task prints its whole result, registered or not: the other items' ledger (with the secrets of the
    entries) must not be in it."""
    names, pw_a, pw_b = ['fb-a-' + _uid(), 'fb-b-' + _uid()], 'PwA-' + _uid(), 'PwB-' + _uid()
    conn = {'url': lab['VAULT_ADDR'], 'token': lab['VAULT_TOKEN'], 'prefix': prefix}
    # The secrets are play vars (ansible-core 2.19 shows the playbook lines around a failing task: no literal secret there).
    tasks = [
        {'name': 'Adopt A (secret given: no_log)', 'no_log': True,
         'secops.rotation.rotation_state': dict(conn, action='init', kind='db', name=names[0], id='A', secret={'password': '{{ pw_a }}'})},
        {'name': 'Another entry, of kind db', 'no_log': True,
         'secops.rotation.rotation_state': dict(conn, action='init', kind='db', name=names[1], id='X', secret={'password': '{{ pw_b }}'})},
        {'name': 'Something in between', 'ansible.builtin.debug': {'msg': 'next: a failing batch'}},
        {'name': 'Stage B for the first entry and a bad time for the second, printed in full', 'register': 'batch',
         'ignore_errors': True, 'secops.rotation.rotation_state': dict(conn, action='stage', kind='db', items=[
             {'name': names[0], 'id': 'B', 'secret': {'password': '{{ pw_b }}'}},
             {'name': names[1], 'id': 'B', 'secret': {'password': '{{ pw_b }}'}, 'metadata': {'created_at': 'never'}}])},
        {'name': 'A valid batch whose second item fails after the first one was staged', 'register': 'staged_then_failed',
         'ignore_errors': True, 'secops.rotation.rotation_state': dict(conn, action='stage', kind='db', items=[
             {'name': names[0], 'id': 'B', 'secret': {'password': '{{ pw_b }}'}},
             {'name': names[1], 'id': 'B', 'kind': 'iam', 'secret': {'password': '{{ pw_b }}'}}])},
        {'name': 'Stage again with another id, printed in full (resumes B, warns)', 'register': 'resumed', 'ignore_errors': True,
         'secops.rotation.rotation_state': dict(conn, action='stage', items=[{'name': names[0], 'id': 'C', 'secret': {'password': 'pw-c-long'}},
                                                                             {'name': names[1], 'id': 'X', 'secret': {'password': 'pw-x-long'}}])},
    ]
    run = run_playbook([{'name': 'Ledger', 'hosts': 'localhost', 'gather_facts': False, 'vars': {'pw_a': pw_a, 'pw_b': pw_b},
                         'tasks': tasks}], verbosity=4, register=['batch', 'staged_then_failed', 'resumed'])
    assert run.rc == 0, run.output[-3000:]
    assert pw_a not in run.output and pw_a not in str(run.results)  # A's password is in the first entry's ledger
    batch = run.results['batch']
    assert batch['failed'] is True and "metadata.created_at: invalid time 'never'" in batch['msg'], batch['msg']
    failed = run.results['staged_then_failed']
    assert failed['failed'] is True and failed['results'][0]['reason'] == 'staged' and 'ledger' not in failed['results'][0]
    assert failed['msg'].startswith('1 of 2 ledger entries failed: %s: ' % names[1]), failed['msg']
    assert '%s is a ledger entry of kind db, not iam' % names[1] in failed['results'][1]['msg']
    stored = _stored(vault, prefix, names[0])[0]
    assert stored['current']['password'] == pw_a and stored['pending']['password'] == pw_b  # nothing was lost: it is in KV
    resumed = run.results['resumed']
    assert resumed['failed'] is True and not any('ledger' in item for item in resumed['results'])
    assert resumed['results'][0]['resumed'] is True and 'id X is already the current secret' in resumed['results'][1]['msg']
    assert 'the given id C was not recorded' in run.output
    assert 'Passing `warnings`' not in run.output and 'Traceback' not in run.output


def test_a_second_init_of_a_metadata_only_certificate_changes_nothing(call, vault, prefix):
    """Was an AttributeError ('NoneType' object has no attribute 'items')."""
    name = 'pki-meta-' + _uid()
    args = {'action': 'init', 'name': name, 'kind': 'pki', 'id': '4e:98', 'metadata': {'serial': '4e:98', 'not_after': '2027-01-01T00:00:00Z'}}
    first = _ok(call(args))
    assert first['changed'] is True and first['reason'] == 'adopted'
    again = _ok(call(args))
    assert again['changed'] is False and again['reason'] == 'already_adopted'
    assert _stored(vault, prefix, name)[1] == 1


def test_entries_edited_by_hand_are_read_and_reported_without_a_traceback(env, vault):
    own_prefix = 'rotation-it-odd-%s' % _uid()
    _ok(run_module(MODULE, {'prefix': own_prefix, 'action': 'init', 'name': 'fine', 'id': 'L1', 'secret': {'token': 't1'}}, env=env))
    vault.secrets.kv.v2.create_or_update_secret(path='%s/odd' % own_prefix, secret={
        'kind': 'db', 'phase': 'idle', 'history': 5, 'pending': None, 'previous': None,
        'current': {'id': 'L0', 'created_at': '0001-01-01T00:00:00+01:00', 'expires_at': '9999-12-31T23:59:59-01:00'}})
    read = _ok(run_module(MODULE, {'prefix': own_prefix, 'action': 'read'}, env=env))
    odd = [e for e in read['entries'] if e['name'] == 'odd'][0]
    assert odd['current']['id'] == 'L0' and odd['history'] == []
    assert 'history is not a list' in odd['problems'] and 'current.created_at is not a time' in odd['problems']
    report = _ok(run_module(MODULE, {'prefix': own_prefix, 'action': 'report'}, env=env))
    assert report['report']['summary']['invalid'] == 1
    for action in ('promote', 'init'):
        failed = run_module(MODULE, {'prefix': own_prefix, 'action': action, 'name': 'odd', 'id': 'L9', 'secret': {'token': 't9'}}
                            if action == 'init' else {'prefix': own_prefix, 'action': action, 'name': 'odd'}, env=env)
        _fails(failed, 'odd is not a valid ledger entry (')
