# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vault_db_rotate returns the one result shape of docs/results.md: one role or lease vs a batch, all done vs one
failed, with and without --diff, through the module base (RotationModule -> run_module) with the fakes of test_db."""

import hvac.exceptions
import pytest

from ansible_collections.secops.rotation.plugins.module_utils._db import DbCredentialRotator
from ansible_collections.secops.rotation.plugins.module_utils._module import RotationModule
# the fakes of the module's unit tests (tests/ is importable: tests/conftest.py puts the checkout on sys.path)
from tests.unit.fake_module import FakeModule
from tests.unit.plugins.module_utils.test_db import FakePostgres, FakeVault, fake_rotator


def run(params, vault, postgres=None, check_mode=False, diff=False):
    """Run the module as main() does, with the fake Vault and PostgreSQL; returns (failed, result)."""
    def logic(params, check_mode=False, diff=False, warn=None):
        assert isinstance(fake_rotator(vault, params), DbCredentialRotator)
        return fake_rotator(vault, params, postgres=postgres, check_mode=check_mode, diff=diff, warn=warn)
    module = FakeModule(params, check_mode=check_mode, diff=diff)
    with pytest.raises(SystemExit):
        RotationModule(logic, {}, secret_keys=('password',)).run(module)
    return module.failed, module.result


def _lease_ids(vault, *roles):
    return [vault.generate(role)['lease_id'] for role in roles]


# name, params (vault -> params), fake setup, single, failed, reasons, summary (batch)
CASES = {
    'one role': (lambda vault: {'role': 'a'}, None, True, False, {'missing': 1}, None),
    'one role, failed': (lambda vault: {'role': 'b'}, None, True, True, {'missing': 1}, None),
    'batch': (lambda vault: {'roles': [{'role': 'a'}, {'role': 's', 'role_type': 'static'}, {'role': 'c'}]}, None, False, False,
              {'missing': 2, 'not_due': 1}, 'not due 1, rotated 2 (3 roles)'),
    'batch, one failed': (lambda vault: {'roles': [{'role': 'a'}, {'role': 'b'}, {'role': 's', 'role_type': 'static'}]}, None,
                          False, True, {'missing': 2, 'not_due': 1}, 'not due 1, revoked again 1 (3 roles)'),
    'one lease': (lambda vault: {'state': 'revoked', 'lease_id': _lease_ids(vault, 'a')[0]}, None, True, False,
                  {'requested': 1}, None),
    'one lease, failed': (lambda vault: {'state': 'revoked', 'lease_id': _lease_ids(vault, 'a')[0]}, 'revoke_error', True, True,
                          {'error': 1}, None),
    'batch of leases': (lambda vault: {'state': 'revoked', 'lease_ids': _lease_ids(vault, 'a', 'c') + ['database/creds/a/GONE']},
                        None, False, False, {'requested': 2, 'absent': 1}, 'already revoked 1, revoked 2 (3 leases)'),
    'batch of leases, one failed': (lambda vault: {'state': 'revoked', 'lease_ids': _lease_ids(vault, 'a') + ['database/creds/a/GONE']},
                                    'revoke_error', False, True, {'error': 1, 'absent': 1}, 'already revoked 1 (2 leases)'),
}


@pytest.mark.parametrize('diff', [False, True], ids=['no diff', 'diff'])
@pytest.mark.parametrize('case', list(CASES))
def test_the_result_has_the_one_shape(case, diff):
    make_params, setup, single, failed, reasons, summary = CASES[case]
    vault = FakeVault(roles=('a', 'b', 'c'), static=('s',))
    params = make_params(vault)
    if setup == 'revoke_error':
        vault.revoke_error = hvac.exceptions.Forbidden('permission denied')
    is_failed, result = run(params, vault, postgres=FakePostgres(bad_roles=('b',)), diff=diff)
    results = result['results']
    names = [res['item'] for res in results]

    assert is_failed is failed and result.get('failed', False) is False  # run_module pops failed=True for fail_json
    assert len(results) == (1 if single else len(params.get('roles') or params.get('lease_ids')))
    assert all(set(res) >= {'changed', 'failed', 'reason', 'msg'} for res in results)
    assert [res['failed'] for res in results].count(True) == (1 if failed else 0)
    assert result['changed'] is any(res['changed'] for res in results)
    assert result['reasons'] == reasons and sum(result['reasons'].values()) == len(results)
    assert result['reason'] == (list(reasons)[0] if len(reasons) == 1 else 'mixed')
    assert all('diff' not in res for res in results)

    if single:
        assert result['msg'] == results[0]['msg']
        assert result['item'] == names[0] and result['action'] == results[0]['action']  # the item's fields at the top
    else:
        assert 'item' not in result and 'lease_id' not in result and 'role' not in result
        if failed:
            failed_names = [res['item'] for res in results if res['failed']]
            assert result['msg'].startswith('1 of %d %s failed: %s: ' % (len(results), summary.split(' ')[-1][:-1], failed_names[0]))
            assert result['msg'].endswith('; ' + summary)
        else:
            assert result['msg'] == summary

    if not diff or (single and failed):  # a failed item has no diff
        assert 'diff' not in result
    elif single:
        assert set(result['diff']) == {'before', 'after', 'before_header', 'after_header'}, result['diff']
        assert result['diff']['before_header'] == result['diff']['after_header'] == names[0]
    else:
        assert isinstance(result['diff'], list)
        headed = [entry['before_header'] for entry in result['diff']]
        assert headed == [name for name in names if name in headed]  # in item order, headed by the item
        assert all(set(entry) == {'before', 'after', 'before_header', 'after_header'} for entry in result['diff'])
        assert len(headed) == len([res for res in results if not res['failed']])  # a failed item has no diff

    if failed:
        assert 'pw-' not in repr(result)  # a failed result holds no password (new, current or static)
    elif 'roles' in params or 'role' in params:
        assert all(res.get('password', '').startswith(('pw-', 'static-pw-')) for res in results)


def test_a_failed_batch_says_what_was_rolled_back_between_the_failures_and_the_summary():
    vault = FakeVault(roles=('a', 'b'), static=('s',))
    params = {'roles': [{'role': 'a'}, {'role': 'b'}, {'role': 's', 'role_type': 'static', 'force': True}]}
    is_failed, result = run(params, vault, postgres=FakePostgres(bad_roles=('b',)), diff=True)
    assert is_failed is True and result['reason'] == 'mixed' and result['reasons'] == {'missing': 2, 'forced': 1}
    failure, notes = result['msg'].split('; the new leases of ')
    assert failure.startswith('1 of 3 roles failed: database/creds/b: verification of the new credentials failed: ')
    assert failure.endswith('; the new lease database/creds/b/L2 was revoked')
    assert notes == ('database/creds/a were revoked (a failed task returns no password); static role s was rotated: read '
                     'its new password from database/static-creds/s; revoked again 1, rotated 1 (3 roles)')
    a_diff = result['diff'][0]
    assert a_diff['before_header'] == 'database/creds/a' and a_diff['after'] == a_diff['before']  # revoked again
    assert 'pw-' not in repr(result)


def test_check_mode_predicts_the_same_shape():
    vault = FakeVault(roles=('a', 'c'))
    is_failed, result = run({'roles': [{'role': 'a'}, {'role': 'c'}]}, vault, check_mode=True, diff=True)
    assert is_failed is False and result['msg'] == 'would rotate 2 (2 roles)' and result['reasons'] == {'missing': 2}
    assert [entry['after']['lease_id'] for entry in result['diff']] == ['(new lease)', '(new lease)']
    assert vault.leases == {}
