# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rotation_state returns the one result shape of docs/results.md: single item vs ``items`` x all fine vs one failed x
diff mode on/off, through the module base (RotationModule -> run_module) with an in-memory ledger store."""

import copy
import datetime

import pytest

from ansible_collections.secops.rotation.plugins.module_utils._ledger import (
    ITEM_KEYS, ITEM_SPEC, Ledger, argument_spec, finish_write, make_slot)
from ansible_collections.secops.rotation.plugins.module_utils._module import RotationModule
from ansible_collections.secops.rotation.plugins.modules import rotation_state
from tests.unit.fake_module import FakeModule

NOW = datetime.datetime(2026, 11, 26, 12, 0, 0, tzinfo=datetime.timezone.utc)
SECRET = 'pw-very-secret-b'


class MemoryStore:
    """LedgerStore in memory: entries with KV versions, check-and-set writes."""

    def __init__(self, entries):
        self.entries = dict((name, (copy.deepcopy(data), 1)) for name, data in entries.items())

    def check_mount(self):
        pass

    def full_path(self, name):
        return 'secret/rotation/%s' % name

    def read(self, name):
        data, version = self.entries.get(name, (None, 0))
        return copy.deepcopy(data), version

    def write(self, name, data, cas):
        assert self.read(name)[1] == cas
        self.entries[name] = (copy.deepcopy(data), cas + 1)
        return cas + 1


def _db_entry(current_id):
    data = {'kind': 'db', 'current': make_slot(current_id, {'password': 'pw-old-a'}, None, NOW, 'x'), 'pending': None,
            'previous': None, 'phase': 'idle', 'rotation_id': None,
            'history': [{'action': 'init', 'rotation_id': None, 'from_id': None, 'to_id': current_id, 'at': 'x'}]}
    return finish_write(data, 0, 20, NOW)


def _all_options(params):
    """Every option of the spec, unset ones None, as AnsibleModule hands them over."""
    return dict(dict.fromkeys(argument_spec()), **params)


def run(params, diff):
    store = MemoryStore({'app-b': _db_entry('A')})
    module = FakeModule(_all_options(dict(params, action='stage')), diff=diff)

    def logic(params, **kwargs):
        return Ledger(params, clock=lambda: NOW, store=store, **kwargs)

    with pytest.raises(SystemExit):
        RotationModule(logic, argument_spec(), secret_keys=('ledger',), fail_extra={'changed': False}).run(module)
    return dict(module.result, failed=module.failed)


ITEM_OK = {'name': 'app-a', 'id': 'B', 'secret': {'password': SECRET}}
ITEM_BAD = {'name': 'app-b', 'id': 'B', 'kind': 'iam', 'secret': {'password': SECRET}}  # app-b is of kind db


@pytest.mark.parametrize('diff', [False, True], ids=['no-diff', 'diff'])
@pytest.mark.parametrize('fails', [False, True], ids=['ok', 'one-failed'])
@pytest.mark.parametrize('single', [True, False], ids=['single', 'batch'])
def test_result_shape(single, fails, diff):
    items = [ITEM_BAD] if (single and fails) else [ITEM_OK] if single else [ITEM_OK, ITEM_BAD if fails else dict(
        ITEM_BAD, kind='db')]
    params = dict(items[0]) if single else {'items': items}
    result = run(params, diff)

    assert result['failed'] is fails
    assert [r['name'] for r in result['results']] == [item['name'] for item in items]
    assert all(set(r) >= {'changed', 'failed', 'reason', 'msg'} for r in result['results'])
    assert not any('diff' in r for r in result['results'])
    reasons = [r['reason'] for r in result['results']]
    assert result['reasons'] == dict((reason, reasons.count(reason)) for reason in reasons)
    assert result['reason'] == (reasons[0] if len(set(reasons)) == 1 else 'mixed')
    assert result['changed'] is any(r['changed'] for r in result['results'])

    if single:
        assert result['name'] == items[0]['name'] and result['msg'] == result['results'][0]['msg']
        assert ('path' in result) and ('entry' in result) is (not fails)
    else:
        assert not set(ITEM_KEYS) & set(result) and 'entry' not in result and 'path' not in result
        summary = 'changed %d of %d ledger entries' % (sum(r['changed'] for r in result['results']), len(items))
        if fails:
            assert result['msg'] == '1 of 2 ledger entries failed: app-b: app-b is a ledger entry of kind db, not iam; ' + summary
            assert reasons == ['staged', 'error'] and result['reason'] == 'mixed'
        else:
            assert result['msg'] == summary and result['reason'] == 'staged' and result['reasons'] == {'staged': 2}

    if fails:  # a failed result never carries a secret, not even the other items' ledger
        assert 'ledger' not in result and not any('ledger' in r for r in result['results'])
        assert SECRET not in repr(result) and 'pw-old-a' not in repr(result)
    else:
        assert ('ledger' in result) is single and all('ledger' in r for r in result['results'])

    if not diff:
        assert 'diff' not in result
    elif single and fails:
        assert 'diff' not in result  # nothing was planned for the failed item
    elif single:
        assert set(result['diff']) == {'before', 'after', 'before_header', 'after_header'}
        assert result['diff']['after']['pending']['id'] == 'B' and result['diff']['after_header'] == 'secret/rotation/app-a'
    else:
        done = [r for r in result['results'] if not r['failed']]
        assert isinstance(result['diff'], list) and len(result['diff']) == len(done)
        assert [d['before_header'] for d in result['diff']] == ['secret/rotation/%s' % r['name'] for r in done]
        assert SECRET not in repr(result['diff'])


def test_the_spec_is_the_one_source():
    spec = argument_spec()
    assert tuple(spec['items']['options']) == ITEM_KEYS == tuple(ITEM_SPEC)
    assert spec['items']['options']['name']['required'] is True
    assert (spec['action']['default'], spec['kv_mount']['default'], spec['prefix']['default'], spec['history_limit']['default'],
            spec['history_entries']['default'], spec['stuck_after']['default'], spec['timeout']['default']) == (
        'read', 'secret', 'rotation', 20, 5, '1d', 30)
    ledger = Ledger({'name': 'x'})
    ledger._task_options()
    assert (ledger.action, ledger.kv_mount, ledger.prefix, ledger.history_limit, ledger.history_entries, ledger.stuck_after) == (
        'read', 'secret', 'rotation', 20, 5, 86400)


def test_the_module_file_is_documentation_and_one_call():
    names = [name for name in vars(rotation_state) if not name.startswith('__')]
    assert sorted(names) == ['DOCUMENTATION', 'EXAMPLES', 'Ledger', 'RETURN', 'RotationModule', 'argument_spec', 'main']


def test_warnings_go_to_module_warn_and_not_into_the_result():
    store = MemoryStore({'app-b': _db_entry('A')})
    store.entries['app-b'][0].update(pending=make_slot('P', {'password': 'x'}, None, NOW, 'x'), phase='staged')
    module = FakeModule(_all_options({'action': 'stage', 'name': 'app-b', 'id': 'C', 'secret': {'password': SECRET}}))
    with pytest.raises(SystemExit):
        RotationModule(lambda params, **kw: Ledger(params, store=store, **kw), argument_spec()).run(module)
    result = dict(module.result, failed=module.failed)
    assert result['reason'] == 'resumed' and 'warnings' not in result and not any('warnings' in r for r in result['results'])
    assert len(module.warnings) == 1 and 'the given id C was not recorded' in module.warnings[0]
