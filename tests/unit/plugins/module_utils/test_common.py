# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Batch expansion, spec merging, time helpers and the module runner of module_utils/_common."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

import pytest

from ansible_collections.secops.rotation.plugins.module_utils._common import (
    RotationError, backoff_delays, batch_argument_spec, expand_batch, merge_argument_specs, parse_iso, run_module, to_iso)
from ansible_collections.secops.rotation.plugins.module_utils._duration import DurationError


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
