# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one batch result shape (docs/results.md), the batch runner, spec defaults and the module base."""

import pytest

from ansible_collections.secops.rotation.plugins.module_utils import _module
from ansible_collections.secops.rotation.plugins.module_utils._common import (
    BatchRunner, RotationError, batch_result, common_reason, count_reasons, describe_failures, spec_defaults,
    with_defaults)
from ansible_collections.secops.rotation.plugins.module_utils._errors import MissingLibraryError, OperatorError
from tests.unit.fake_module import FakeModule


def _item(name, reason='rotated', changed=True, failed=False, msg=None, diff=None):
    res = dict(name=name, reason=reason, changed=changed, failed=failed, msg=msg or '%s: %s' % (name, reason))
    if diff is not None:
        res['diff'] = diff
    return res


def test_reasons_are_counted_and_the_common_one_named():
    results = [_item('a'), _item('b', 'not_due', changed=False), _item('c')]
    assert count_reasons(results) == {'rotated': 2, 'not_due': 1}
    assert common_reason(results) == 'mixed'
    assert common_reason(results[:1]) == 'rotated'
    assert common_reason([]) is None


def test_single_item_fields_are_at_the_top_and_its_diff_is_the_task_diff():
    diff = {'before': {'id': 'A'}, 'after': {'id': 'B'}}
    result = batch_result([_item('a', diff=diff)], single=True, summary='ignored', want_diff=True)
    assert result['name'] == 'a' and result['msg'] == 'a: rotated' and result['reason'] == 'rotated'
    assert result['reasons'] == {'rotated': 1} and result['changed'] is True and result['failed'] is False
    assert result['diff'] == diff
    assert 'diff' not in result['results'][0] and 'failed' in result['results'][0]


def test_batch_shape_without_failure():
    d1 = {'before': {'id': 'A'}, 'after': {'id': 'B'}}
    results = [_item('a', diff=d1), _item('b', 'not_due', changed=False)]
    result = batch_result(results, single=False, summary='rotated 1 of 2', want_diff=True, name=lambda r: r['name'])
    assert result['msg'] == 'rotated 1 of 2'
    assert result['reason'] == 'mixed' and result['reasons'] == {'rotated': 1, 'not_due': 1}
    assert result['diff'] == [dict(d1, before_header='a', after_header='a')]
    assert all('diff' not in res for res in result['results'])
    assert 'name' not in result  # item fields only for a single item


def test_no_diff_without_diff_mode():
    result = batch_result([_item('a', diff={'before': {}, 'after': {}})], single=False, summary='s')
    assert 'diff' not in result and 'diff' not in result['results'][0]


def test_batch_failure_message_names_failures_then_notes_then_summary():
    results = [_item('a'), _item('b', 'error', changed=False, failed=True, msg='Vault said no')]
    runner = BatchRunner('users', 'users', single=False, name=lambda r: r['name'])
    result = runner.result(results, 'rotated 1 of 2 users', notes=['rolled back a'])
    assert result['failed'] is True
    assert result['msg'] == '1 of 2 users failed: b: Vault said no; rolled back a; rotated 1 of 2 users'


def test_describe_failures_keeps_a_message_that_names_the_item():
    failed = [_item('a', 'error', failed=True, msg='a: broken'), _item('b', 'error', failed=True, msg='gone')]
    assert describe_failures(failed, 3, 'roles', lambda r: r['name']) == '2 of 3 roles failed: a: broken; b: gone'


def test_check_all_names_every_bad_item_and_changes_nothing():
    runner = BatchRunner('roles', 'roles', single=False, name=lambda thing: thing)

    def check(thing, index):
        if thing.startswith('bad'):
            raise RotationError('not a role')
        return thing.upper()

    assert runner.check_all(['a', 'b'], check) == ['A', 'B']
    with pytest.raises(RotationError) as err:
        runner.check_all(['a', 'bad1', 'bad2'], check)
    assert str(err.value) == 'roles[1] (bad1): not a role; roles[2] (bad2): not a role - nothing was changed'
    single = BatchRunner('roles', 'roles', single=True, name=lambda thing: thing)
    with pytest.raises(RotationError, match='^not a role$'):
        single.check_all(['bad'], check)


def test_act_each_fails_one_item_and_goes_on_but_lets_bugs_through():
    runner = BatchRunner('users', 'users', single=False, name=lambda r: r)

    def act(plan):
        if plan == 'b':
            raise OperatorError('b is locked')
        if plan == 'bug':
            raise KeyError('bug')
        return _item(plan)

    results = runner.act_each(['a', 'b', 'c'], act, lambda plan, exc: _item(plan, 'error', False, True, str(exc)))
    assert [(r['name'], r['failed']) for r in results] == [('a', False), ('b', True), ('c', False)]
    assert results[1]['msg'] == 'b is locked'
    with pytest.raises(KeyError):
        runner.act_each(['bug'], act, lambda plan, exc: None)


def test_spec_defaults_fill_only_unset_options():
    spec = {'max_age': {'type': 'raw', 'default': '90d'}, 'force': {'type': 'bool', 'default': False},
            'user_name': {'type': 'str'}}
    assert spec_defaults(spec) == {'max_age': '90d', 'force': False}
    assert with_defaults({'max_age': None, 'user_name': 'u'}, spec) == {'max_age': '90d', 'force': False, 'user_name': 'u'}
    assert with_defaults({'max_age': '1d'}, spec)['max_age'] == '1d'


class _Logic:
    def __init__(self, params, check_mode=False, diff=False, warn=None):
        if params.get('bad'):
            raise RotationError('bad is not an option here')
        self.params, self.check_mode, self.diff, self.warn = params, check_mode, diff, warn

    def run(self):
        if self.params.get('missing'):
            raise MissingLibraryError('psycopg2-binary', import_error='Traceback: no psycopg2', reason='verify')
        self.warn('careful')
        return dict(changed=False, seen=(self.check_mode, self.diff), password='s3cret' if self.params.get('fail') else None,
                    failed=bool(self.params.get('fail')), msg='done')


def _run(params, **kwargs):
    module = FakeModule(params, check_mode=True, diff=True)
    with pytest.raises(SystemExit) as stop:
        _module.RotationModule(_Logic, {}, **kwargs).run(module)
    return module, stop.value.code


def test_module_base_builds_the_logic_the_same_way_and_warns_through_the_module():
    module, (kind, result) = _run({})
    assert kind == 'exit' and result['seen'] == (True, True) and module.warnings == ['careful']


def test_module_base_reports_a_missing_library_before_running():
    module, (kind, result) = _run({}, requires=[('boto3', 'Traceback: No module named boto3')], fail_extra={'changed': False})
    assert kind == 'fail' and 'boto3' in result['msg'] and result['exception'] == 'Traceback: No module named boto3'
    assert result['changed'] is False and module.warnings == []  # the logic did not run


def test_module_base_reports_a_library_needed_by_an_option():
    dummy, (kind, result) = _run({'missing': True})
    assert kind == 'fail' and 'psycopg2-binary' in result['msg'] and 'verify' in result['msg']


def test_module_base_strips_secrets_from_a_failed_result():
    dummy, (kind, result) = _run({'fail': True})
    assert kind == 'fail' and 'password' not in result


def test_module_base_reports_a_constructor_refusing_its_input_cleanly():
    dummy, (kind, result) = _run({'bad': True}, fail_extra={'changed': False})
    assert kind == 'fail' and result == {'msg': 'bad is not an option here', 'changed': False}


def test_a_missing_library_is_never_one_items_error():
    runner = BatchRunner('users', 'users', single=False, name=lambda thing: thing)

    def missing(thing, *rest):
        raise MissingLibraryError('hvac')

    with pytest.raises(MissingLibraryError):
        runner.check_all(['a'], missing)
    with pytest.raises(MissingLibraryError):
        runner.act_each(['a'], missing, lambda plan, exc: {})
