# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""iam_key_rotate returns the one result shape of docs/results.md: single vs batch x ok vs one failed x diff on/off.

The module runs as Ansible runs it (RotationModule: the logic class built from the module's params, warnings to
module.warn, run_module's exit_json/fail_json) against the in-memory IAM and KV fakes of test_iam.py.
"""

import json

import pytest
from ansible.module_utils.basic import missing_required_lib

from ansible_collections.secops.rotation.plugins.module_utils import _iam
from ansible_collections.secops.rotation.plugins.module_utils._module import RotationModule
from ansible_collections.secops.rotation.plugins.modules import iam_key_rotate
# the fakes of the module's unit tests (tests/ is importable: tests/conftest.py puts the checkout on sys.path)
from tests.unit.fake_module import FakeModule
from tests.unit.plugins.module_utils import test_iam as fakes


ITEM_FIELDS = ('user_name', 'access_key_id', 'old_access_key_id', 'keys', 'user_arn')


@pytest.fixture
def task(monkeypatch):
    """``task(iam, kv=None, check_mode=False, diff=False, **params)`` -> the FakeModule after the module ran."""
    def run(iam, kv=None, check_mode=False, diff=False, **params):
        monkeypatch.setattr(_iam, 'AwsConnection', lambda p: fakes.FakeAwsIam(iam))
        if kv is not None:
            monkeypatch.setattr(_iam.IamKeyRotator, '_kv', lambda self, item: kv)
            params.setdefault('url', 'http://vault.example:8200')
            params.setdefault('token', 't')
        options = dict(force=True, verify_timeout='2s')
        options.update(params)
        module = FakeModule(options, check_mode, diff)
        with pytest.raises(SystemExit):
            RotationModule(_iam.IamKeyRotator, _iam.argument_spec(), requires=[('boto3', None)],
                           mutually_exclusive=_iam.MUTUALLY_EXCLUSIVE, required_one_of=_iam.REQUIRED_ONE_OF).run(module)
        return module
    return run


def assert_shape(result, results_count, diff):
    """What docs/results.md promises for every result."""
    assert isinstance(result['changed'], bool) and isinstance(result['msg'], str) and result['msg']
    assert len(result['results']) == results_count
    assert result['reasons'] == dict((r, [e['reason'] for e in result['results']].count(r)) for r in set(e['reason'] for e in result['results']))
    reasons = set(e['reason'] for e in result['results'])
    assert result['reason'] == (reasons.pop() if len(reasons) == 1 else 'mixed')
    assert all('diff' not in entry for entry in result['results'])
    assert all(set(entry) >= {'changed', 'failed', 'reason', 'msg', 'user_name'} for entry in result['results'])
    assert 'warnings' not in result
    if not diff:
        assert 'diff' not in result


def test_the_module_file_is_documentation_and_one_call():
    # the spec and its defaults live in _iam; the module imports them
    assert iam_key_rotate.argument_spec is _iam.argument_spec
    assert not [name for name in vars(iam_key_rotate) if callable(vars(iam_key_rotate)[name]) and name not in (
        'main', 'argument_spec', 'IamKeyRotator', 'RotationModule')]


@pytest.mark.parametrize('diff', [False, True])
def test_single_user_ok(task, diff):
    iam = fakes.FakeIam()
    (old,) = iam.add_user('svc-a')
    module = task(iam, diff=diff, user_name='svc-a')
    result = module.result
    assert module.outcome == 'exit' and result['failed'] is False
    assert_shape(result, 1, diff)
    entry = result['results'][0]
    assert result['reason'] == 'forced' and result['reasons'] == {'forced': 1} and result['changed'] is True
    assert result['msg'] == entry['msg'] and result['msg'].startswith('rotated the access key of svc-a (forced)')
    for field in ITEM_FIELDS + ('secret_access_key',):  # the item's fields are at the top too
        assert result[field] == entry[field]
    assert result['old_access_key_id'] == old
    if diff:
        assert isinstance(result['diff'], dict) and result['diff']['before_header'] == 'IAM user svc-a'
        assert [k['access_key_id'] for k in result['diff']['after']['keys']] == [old, result['access_key_id']]
        assert result['secret_access_key'] not in json.dumps(result['diff'])


@pytest.mark.parametrize('diff', [False, True])
def test_single_user_failed(task, diff):
    iam = fakes.FakeIam()
    iam.add_user('svc-a', keys=2)  # two Active keys: no room
    before = iam.state('svc-a')
    module = task(iam, diff=diff, user_name='svc-a')
    result = module.result
    assert module.outcome == 'fail' and 'failed' not in result  # fail_json sets it
    assert_shape(result, 1, diff)
    assert result['msg'] == result['results'][0]['msg'] and result['msg'].startswith('cannot make room for a new access key')
    assert result['results'][0]['failed'] is True and result['user_name'] == 'svc-a'
    assert 'diff' not in result  # nothing changed
    fakes.no_secret_in(result, iam)
    assert iam.state('svc-a') == before


@pytest.mark.parametrize('diff', [False, True])
@pytest.mark.parametrize('check_mode', [False, True])
def test_batch_ok(task, diff, check_mode):
    iam = fakes.FakeIam()
    iam.add_user('svc-a')
    iam.add_user('svc-b')
    module = task(iam, check_mode=check_mode, diff=diff, users=[{'user_name': 'svc-a'}, {'user_name': 'svc-b'}])
    result = module.result
    assert module.outcome == 'exit' and result['failed'] is False
    assert_shape(result, 2, diff)
    assert result['msg'] == ('would have rotated 2 of 2 users' if check_mode else 'rotated 2 of 2 users')
    assert result['reason'] == 'forced' and result['reasons'] == {'forced': 2}
    assert not [field for field in ITEM_FIELDS + ('secret_access_key',) if field in result]  # only in results
    assert [e['user_name'] for e in result['results']] == ['svc-a', 'svc-b']
    assert all(('secret_access_key' in e) is not check_mode for e in result['results'])
    if diff:
        assert isinstance(result['diff'], list) and len(result['diff']) == 2
        assert [(d['before_header'], d['after_header']) for d in result['diff']] == [('IAM user svc-a',) * 2, ('IAM user svc-b',) * 2]
        assert all(set(d) == {'before', 'after', 'before_header', 'after_header'} for d in result['diff'])


@pytest.mark.parametrize('diff', [False, True])
def test_batch_with_one_failed_user(task, diff):
    """svc-a's key is stored in Vault (kept), svc-b cannot make room, svc-c is rolled back (its secret would be lost)."""
    iam, kv = fakes.FakeIam(), fakes.FakeKv()
    iam.add_user('svc-a')
    iam.add_user('svc-b', keys=2)
    iam.add_user('svc-c')
    before_c = iam.state('svc-c')
    module = task(iam, kv, diff=diff, users=[{'user_name': 'svc-a', 'store_path': 'aws/svc-a'}, {'user_name': 'svc-b'},
                                             {'user_name': 'svc-c'}])
    result = module.result
    assert module.outcome == 'fail'
    assert_shape(result, 3, diff)
    first, second, third = result['results']
    assert (first['failed'], second['failed'], third['failed']) == (False, True, True)
    assert result['reason'] == 'mixed' and result['reasons'] == {'forced': 2, 'rolled_back': 1}
    # <which users failed and why>; <notes>; <summary>
    assert result['msg'].startswith('1 of 3 users failed: svc-b: cannot make room')
    assert result['msg'].endswith('; rolled back svc-c (a failed task returns no secret, so their new keys were deleted again)'
                                  '; rotated 1 of 3 users')
    assert 'user_name' not in result and 'access_key_id' not in result
    fakes.no_secret_in(result, iam)
    assert iam.state('svc-c') == before_c and kv.versions[-1]['access_key_id'] == first['access_key_id']
    if diff:  # only the user that changed: svc-a (stored, kept)
        assert [d['before_header'] for d in result['diff']] == ['IAM user svc-a']


def test_warnings_go_to_module_warn(task):
    iam = fakes.FakeIam()
    active, inactive = iam.add_user('svc-a', keys=2)
    iam.users['svc-a']['keys'][1]['Status'] = 'Inactive'
    iam.users['svc-a']['tags'][_iam.tag_key(inactive)] = 'soon'
    module = task(iam, user_name='svc-a', state='purged', force=False)
    assert module.outcome == 'exit' and 'warnings' not in module.result
    assert [w for w in module.warnings if inactive in w and 'it is ignored' in w]


def test_a_missing_hvac_is_reported_with_missing_required_lib_only_with_store_path(task, monkeypatch):
    monkeypatch.setattr(_iam, 'HVAC_IMPORT_ERROR', 'Traceback: No module named hvac')
    iam = fakes.FakeIam()
    iam.add_user('svc-a')
    module = task(iam, user_name='svc-a', store_path='aws/{user_name}', url='http://vault.example:8200', token='t')
    assert module.outcome == 'fail' and module.result['msg'] == missing_required_lib('hvac', reason='for store_path')
    assert iam.state('svc-a')[0][0][1] == 'Active' and len(iam.state('svc-a')[0]) == 1  # nothing happened
    assert task(iam, user_name='svc-a').outcome == 'exit'  # without store_path hvac is not needed
