# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Batch expansion, spec merging, time helpers and the module runner of module_utils/_common."""


import contextlib
import datetime
import json
from unittest import mock

import pytest

from ansible_collections.secops.rotation.plugins.module_utils._common import (
    RotationError, backoff_delays, batch_argument_spec, expand_batch, merge_argument_specs, parse_iso, run_module, to_iso)
from ansible_collections.secops.rotation.plugins.module_utils._duration import DurationError

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19: the arguments come from basic._ANSIBLE_ARGS, warnings are process-global
    @contextlib.contextmanager
    def patch_module_args(args):
        from ansible.module_utils import basic
        from ansible.module_utils.common import warnings
        with mock.patch.object(basic, '_ANSIBLE_ARGS', json.dumps({'ANSIBLE_MODULE_ARGS': args}).encode('utf-8')), \
                mock.patch.object(warnings, '_global_warnings', []), mock.patch.object(warnings, '_global_deprecations', []):
            yield


def test_expand_batch_single_item_from_top_level():
    assert expand_batch({'role': 'app', 'mount': 'database', 'items': None}, 'items', ['role', 'mount']) == [
        {'role': 'app', 'mount': 'database'}]


def test_expand_batch_items_override_and_inherit():
    params = {'mount': 'database', 'force': False, 'items': [{'role': 'a'}, {'role': 'b', 'mount': 'db2', 'force': None}]}
    assert expand_batch(params, 'items', ['role', 'mount', 'force']) == [
        {'role': 'a', 'mount': 'database', 'force': False}, {'role': 'b', 'mount': 'db2', 'force': False}]


def test_merge_argument_specs_rejects_a_name_twice():
    assert merge_argument_specs({'a': {}}, {'b': {}}) == {'a': {}, 'b': {}}
    with pytest.raises(ValueError, match='option a is defined twice'):
        merge_argument_specs({'a': {}}, {'a': {}})


@pytest.mark.parametrize('text, expected', [
    ('2026-11-26T11:00:00Z', datetime.datetime(2026, 11, 26, 11, 0, 0, tzinfo=datetime.timezone.utc)),
    ('2026-11-26T12:00:00+01:00', datetime.datetime(2026, 11, 26, 11, 0, 0, tzinfo=datetime.timezone.utc)),
    ('2026-11-26T11:00:00.123456789Z', datetime.datetime(2026, 11, 26, 11, 0, 0, 123456, tzinfo=datetime.timezone.utc)),
    ('2026-11-26T11:00:00.5-02:00', datetime.datetime(2026, 11, 26, 13, 0, 0, 500000, tzinfo=datetime.timezone.utc)),
    ('2026-11-26 11:00:00', datetime.datetime(2026, 11, 26, 11, 0, 0, tzinfo=datetime.timezone.utc)),
])
def test_parse_iso(text, expected):
    assert parse_iso(text) == expected


def test_to_iso_round_trip():
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    assert to_iso(moment) == '2026-01-02T03:04:05Z'
    assert parse_iso(to_iso(moment)) == moment
    assert to_iso(None) is None


def test_to_iso_pads_early_years():
    early = datetime.datetime(1, 1, 1, tzinfo=datetime.timezone.utc)
    assert to_iso(early) == '0001-01-01T00:00:00Z'
    assert parse_iso(to_iso(early)) == early


class FakeModule:
    def __init__(self):
        self.exited = self.failed = None

    def exit_json(self, **kwargs):
        self.exited = kwargs
        raise SystemExit(0)

    def fail_json(self, **kwargs):
        self.failed = kwargs
        raise SystemExit(1)


@pytest.mark.parametrize('error', [RotationError('cannot rotate: role missing'), DurationError('ttl: invalid duration')])
def test_run_module_turns_known_errors_into_fail_json(error):
    module = FakeModule()

    def action():
        raise error
    with pytest.raises(SystemExit):
        run_module(module, action, changed=False)
    assert module.failed == {'msg': str(error), 'changed': False}


def test_run_module_reports_failed_results_and_exits_others():
    module = FakeModule()
    with pytest.raises(SystemExit):
        run_module(module, lambda: {'changed': True, 'failed': True, 'msg': '1 of 2 items failed', 'results': []})
    assert module.failed == {'changed': True, 'msg': '1 of 2 items failed', 'results': []}
    module = FakeModule()
    with pytest.raises(SystemExit):
        run_module(module, lambda: {'changed': False, 'reason': 'not_due'})
    assert module.exited == {'changed': False, 'reason': 'not_due'}


def test_run_module_lets_bugs_through():
    with pytest.raises(ZeroDivisionError):
        run_module(FakeModule(), lambda: 1 / 0)


def test_batch_argument_spec_items_inherit_without_defaults():
    spec = batch_argument_spec(dict(role=dict(type='str'), mount=dict(type='str', default='database'),
                                    privileges=dict(type='list', elements='dict',
                                                    options=dict(privilege=dict(type='str', default='SELECT')))),
                               'roles', required='role')
    assert spec['role'] == {'type': 'str'} and spec['mount'] == {'type': 'str', 'default': 'database'}
    items = spec['roles']['options']
    assert spec['roles']['type'] == 'list' and spec['roles']['elements'] == 'dict'
    assert items['role'] == {'type': 'str', 'required': True}
    assert items['mount'] == {'type': 'str'}  # an item without mount takes the task's (see expand_batch)
    # Defaults nested inside an option (one per privilege) are kept.
    assert items['privileges']['options']['privilege']['default'] == 'SELECT'


def test_backoff_delays_by_count_and_by_total():
    assert backoff_delays(0.25, 2.0, count=5) == [0.25, 0.5, 1.0, 2.0, 2.0]
    assert backoff_delays(0.5, 8.0, total=10) == [0.5, 1.0, 2.0, 4.0, 2.5]
    assert sum(backoff_delays(0.5, 8.0, total=600)) == 600 and max(backoff_delays(0.5, 8.0, total=600)) == 8.0
    assert backoff_delays(1, 1, count=0) == [] and backoff_delays(1, 1, total=0) == []
    with pytest.raises(ValueError):
        backoff_delays(1, 1)


# ------------------------------------------------------------------------------------------ failed results hold no secret

class WarnModule(FakeModule):
    def __init__(self, no_log=False):
        super(WarnModule, self).__init__()
        self.no_log = no_log
        self.warned = []

    def warn(self, text):
        self.warned.append(text)


def _walk_keys(value):
    """Every dict key anywhere in ``value``."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from _walk_keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _walk_keys(inner)


def _failed_batch():
    return {'changed': True, 'failed': True, 'msg': '1 of 3 items failed: b: denied', 'password': 'top-pw',
            'results': [{'item': 'a', 'failed': False, 'changed': True, 'username': 'ua', 'password': 'pw-a',
                         'ledger': {'current': {'id': 'A', 'password': 'pw-a'}}},
                        {'item': 'b', 'failed': True, 'changed': False, 'msg': 'denied'},
                        {'item': 'c', 'failed': False, 'changed': True, 'secret_access_key': 'sk-c',
                         'nested': [{'private_key': 'KEY'}]}]}


def test_run_module_strips_declared_and_known_secret_fields_from_a_failed_result():
    """A failed task prints its whole result (even without register): a failure result carries ids and reasons only."""
    module = WarnModule()
    with pytest.raises(SystemExit):
        run_module(module, _failed_batch, secret_keys=('ledger',))
    failed = module.failed
    assert failed['msg'] == '1 of 3 items failed: b: denied' and failed['changed'] is True
    keys = set(_walk_keys(failed))
    assert not keys & {'password', 'ledger', 'secret_access_key', 'private_key'}, keys
    assert [r['item'] for r in failed['results']] == ['a', 'b', 'c'] and failed['results'][0]['username'] == 'ua'
    for secret in ('top-pw', 'pw-a', 'sk-c', 'KEY'):
        assert secret not in repr(failed)
    assert 'secret_keys' not in failed


def test_run_module_keeps_the_secrets_of_a_successful_result():
    module = WarnModule()
    result = dict(_failed_batch(), failed=False)
    with pytest.raises(SystemExit):
        run_module(module, lambda: result, secret_keys=('ledger',))
    assert module.exited['password'] == 'top-pw' and module.exited['results'][0]['ledger']['current']['password'] == 'pw-a'


def test_run_module_does_not_pass_secret_keys_into_an_error_result():
    module = WarnModule()

    def action():
        raise RotationError('no')
    with pytest.raises(SystemExit):
        run_module(module, action, secret_keys=('password',), changed=False)
    assert module.failed == {'msg': 'no', 'changed': False}


def test_run_module_reports_warnings_with_module_warn_not_in_the_result():
    """ansible-core 2.19 deprecates ``warnings`` passed to exit_json/fail_json: run_module hands them to module.warn."""
    for failed in (False, True):
        module = WarnModule()
        result = {'changed': False, 'failed': failed, 'msg': 'm', 'warnings': ['top', 'shared'],
                  'results': [{'item': 'a', 'warnings': ['shared', 'item only']}, {'item': 'b'}]}
        with pytest.raises(SystemExit):
            run_module(module, lambda: result)
        out = module.failed if failed else module.exited
        assert 'warnings' not in set(_walk_keys(out)), out
        assert module.warned == ['top', 'shared', 'item only']


def test_run_module_with_a_real_ansible_module_prints_no_deprecation(capsys):
    """The real AnsibleModule of ansible-core: no 'Passing `warnings` to `exit_json`' deprecation in the output."""
    from ansible.module_utils.basic import AnsibleModule
    for failed in (False, True):
        with patch_module_args({}):
            module = AnsibleModule(argument_spec={})
            with pytest.raises(SystemExit):
                run_module(module, lambda: {'changed': False, 'failed': failed, 'msg': 'done', 'warnings': ['look at this'],
                                            'results': [{'item': 'a', 'warnings': ['look at this', 'and this']}]})
        output = json.loads(capsys.readouterr().out)
        assert 'deprecations' not in output, output['deprecations']
        assert [w if isinstance(w, str) else (w.get('event') or w).get('msg') for w in output['warnings']] == ['look at this', 'and this'], output
        assert all('warnings' not in entry for entry in output['results'])


@pytest.mark.parametrize('text', ['0001-01-01T00:00:00+01:00', '9999-12-31T23:59:59-01:00', 'soon', '', '2026-13-01'])
def test_parse_iso_of_what_is_no_time_or_outside_the_calendar_raises_value_error(text):
    """Never an OverflowError ('date value out of range'): callers turn a ValueError into a message naming the field."""
    with pytest.raises(ValueError) as err:
        parse_iso(text)
    assert not isinstance(err.value, OverflowError)
    assert repr(text) in str(err.value)
