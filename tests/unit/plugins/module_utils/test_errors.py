# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The error base: one OperatorError every operator-facing error derives from, in a leaf module, and no backend
library imported by a module that does not use it."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.secops.rotation.plugins.module_utils import _aws, _duration, _errors, _files, _ledger, _postgres, _tls, _vault
from ansible_collections.secops.rotation.plugins.module_utils._common import RotationError, run_module
from tests.unit.fake_module import FakeModule

MODULE_UTILS = Path(_errors.__file__).resolve().parent
BACKENDS = {'_aws', '_vault', '_files', '_postgres', '_pki', '_iam', '_db', '_ledger', '_tls'}


@pytest.mark.parametrize('error_class', [
    _errors.RotationError, _errors.MissingLibraryError, _aws.AwsClientError, _vault.VaultClientError,
    _vault.VaultNotFoundError, _vault.KvConflictError, _files.FileWriteError, _duration.DurationError,
    _postgres.PostgresError, _ledger.ConcurrentRotationError, _tls.TlsProbeError, _tls.TlsVerifyError])
def test_every_operator_facing_error_is_an_operator_error(error_class):
    assert issubclass(error_class, _errors.OperatorError)


def test_duration_error_is_still_a_value_error():
    # callers catch ValueError around parse_duration; the new base must not break them
    assert issubclass(_duration.DurationError, ValueError)


def test_common_reexports_the_one_rotation_error():
    assert RotationError is _errors.RotationError


def _collection_imports(name):
    tree = ast.parse((MODULE_UTILS / (name + '.py')).read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module != '__future__':
            found.add(node.module.rsplit('.', 1)[-1])
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name.rsplit('.', 1)[-1] for alias in node.names)
    return found


def test_errors_is_a_leaf():
    imports = _collection_imports('_errors')
    assert not imports, imports


def test_common_imports_no_backend():
    assert not _collection_imports('_common') & BACKENDS


def test_missing_library_error_names_the_library_and_the_reason():
    exc = _errors.MissingLibraryError('psycopg2-binary', import_error='Traceback...', reason='verify')
    assert str(exc) == 'psycopg2-binary is required for verify'
    assert (exc.library, exc.reason, exc.import_error) == ('psycopg2-binary', 'verify', 'Traceback...')


@pytest.mark.parametrize('error', [
    _postgres.PostgresError('login as app failed'), _files.FileWriteError('/x', 'read-only'),
    _aws.AwsClientError('ListAccessKeys failed: AccessDenied')])
def test_run_module_turns_any_operator_error_into_a_clean_failure(error):
    def action():
        raise error

    with pytest.raises(SystemExit) as stop:
        run_module(FakeModule(), action)
    kind, result = stop.value.code
    assert kind == 'fail' and result == {'msg': str(error)}


def test_run_module_lets_a_bug_through():
    def action():
        raise KeyError('bug')

    with pytest.raises(KeyError):
        run_module(FakeModule(), action)


@pytest.mark.parametrize('module_name', ['vault_db_rotate', 'pki_cert_renew', 'rotation_state', 'served_certificate'])
def test_a_module_without_aws_does_not_import_boto3(module_name):
    collections_root = next(path for path in sys.path if path.endswith('collections'))
    code = ('import sys; import ansible_collections.secops.rotation.plugins.modules.%s; '
            'print(sorted(m for m in ("boto3", "botocore") if m in sys.modules))' % module_name)
    out = subprocess.run([sys.executable, '-c', code], check=True, capture_output=True, text=True,
                         env={'PYTHONPATH': collections_root, 'PATH': '/usr/bin:/bin'}).stdout.strip()
    assert out == '[]'


def test_the_aws_module_does_import_boto3():
    # the check above can fail: the same probe sees boto3 where it is used
    collections_root = next(path for path in sys.path if path.endswith('collections'))
    code = ('import sys; import ansible_collections.secops.rotation.plugins.modules.iam_key_rotate; '
            'print("boto3" in sys.modules)')
    out = subprocess.run([sys.executable, '-c', code], check=True, capture_output=True, text=True,
                         env={'PYTHONPATH': collections_root, 'PATH': '/usr/bin:/bin'}).stdout.strip()
    assert out == 'True'
