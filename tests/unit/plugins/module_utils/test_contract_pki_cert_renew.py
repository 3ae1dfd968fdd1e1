# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module contract of pki_cert_renew and served_certificate (issue 12): the module's main() (docs + spec +
RotationModule) with the fakes of test_pki/test_tls, and the one result shape of docs/results.md - single vs batch,
all ok vs one failed, diff on vs off."""

import datetime
import functools

import pytest
from cryptography.hazmat.primitives import serialization

from ansible_collections.secops.rotation.plugins.module_utils import _module
from ansible_collections.secops.rotation.plugins.module_utils._common import RotationError
from ansible_collections.secops.rotation.plugins.module_utils._pki import (
    CONTENT_KEYS, ITEM_KEYS, ITEM_SPEC, FILE_OPTIONS, PkiCertRenewer, argument_spec)
from ansible_collections.secops.rotation.plugins.module_utils._tls import ServedCertificate
from ansible_collections.secops.rotation.plugins.modules import pki_cert_renew, served_certificate

from tests.unit.fake_module import FakeModule
from test_pki import CA, NOW, FakeClient, cert_pem, key_pem  # noqa: F401  pylint: disable=import-error

SECRETS = ('private_key', 'certificate', 'ca_chain')


@pytest.fixture(scope='module')
def ca():
    return CA('contract CA')


@pytest.fixture
def vault(ca):
    client = FakeClient(ca)
    real = client.secrets.pki.generate_certificate

    def generate(name, common_name, extra_params, mount_point):
        if common_name.startswith('bad.'):
            raise RotationError('Vault rejected the request while issuing: common name not allowed')
        return real(name, common_name, extra_params, mount_point)
    client.secrets.pki.generate_certificate = generate

    def connect(params):
        return client, None
    return connect


def run_pki(monkeypatch, vault, params, diff=False, check_mode=False):
    """pki_cert_renew.main() as Ansible runs it, with the fake Vault and the test clock."""
    module = FakeModule(params, check_mode=check_mode, diff=diff)
    monkeypatch.setattr(_module.RotationModule, 'build', lambda self: module)
    monkeypatch.setattr(pki_cert_renew, 'PkiCertRenewer', functools.partial(PkiCertRenewer, connect=vault, clock=lambda: NOW))
    with pytest.raises(SystemExit) as stop:
        pki_cert_renew.main()
    return stop.value.code


def item(tmp_path, name):
    short = name.split('.')[0]
    return dict(common_name=name, cert_path=str(tmp_path / (short + '.crt')), key_path=str(tmp_path / (short + '.key')))


def pki_params(tmp_path, names, batch):
    params = dict(role='web', return_content=True)
    if batch:
        params['certificates'] = [item(tmp_path, name) for name in names]
    else:
        params.update(item(tmp_path, names[0]))
    return params


def secrets_in(value):
    if isinstance(value, dict):
        return [key for key in value if key in SECRETS] + [k for inner in value.values() for k in secrets_in(inner)]
    if isinstance(value, list):
        return [k for inner in value for k in secrets_in(inner)]
    return []


# --------------------------------------------------------------------------------------------- the spec
def test_the_spec_is_the_one_source_of_item_keys_and_defaults():
    spec = argument_spec()
    assert ITEM_KEYS == tuple(ITEM_SPEC) and set(spec['certificates']['options']) == set(ITEM_KEYS)
    assert all('default' not in option for option in spec['certificates']['options'].values())
    assert dict(FILE_OPTIONS)['key_mode'] == spec['key_mode']['default'] == '0600'
    assert (spec['kv_mount']['default'], spec['prefix']['default'], spec['renew_before']['default']) == (
        'secret', 'rotation', '30d')
    assert 'url' in spec and 'token' in spec  # the Vault connection options


def test_defaults_are_read_from_the_spec_not_written_again(tmp_path):
    renewer = PkiCertRenewer(dict(common_name='a.test', role='web', cert_path=str(tmp_path / 'a.crt'),
                                  key_path=str(tmp_path / 'a.key')), clock=lambda: NOW)
    assert (renewer.params['kv_mount'], renewer.params['prefix'], renewer.params['state']) == ('secret', 'rotation', 'present')
    assert renewer.now == NOW


# --------------------------------------------------------------------------------- the result shape
@pytest.mark.parametrize('diff', [False, True], ids=['no-diff', 'diff'])
@pytest.mark.parametrize('failing', [False, True], ids=['ok', 'one-failed'])
@pytest.mark.parametrize('batch', [False, True], ids=['single', 'batch'])
def test_pki_cert_renew_returns_the_one_result_shape(monkeypatch, tmp_path, vault, batch, failing, diff):
    names = ['a.example.test', 'b.example.test'] if batch else ['a.example.test']
    if failing:
        names[-1] = 'bad.example.test'
    kind, result = run_pki(monkeypatch, vault, pki_params(tmp_path, names, batch), diff=diff)

    assert kind == ('fail' if failing else 'exit')
    assert result.get('failed', False) is False  # a failure is fail_json's, without the key
    reasons = ['missing'] * len(names)
    if failing:
        reasons[-1] = 'error'
    assert [res['reason'] for res in result['results']] == reasons
    assert [res['failed'] for res in result['results']] == [name.startswith('bad.') for name in names]
    assert result['reasons'] == dict((reason, reasons.count(reason)) for reason in set(reasons))
    assert result['reason'] == (reasons[0] if len(set(reasons)) == 1 else 'mixed')
    assert result['changed'] is (not (failing and not batch))
    assert all('diff' not in res for res in result['results'])

    if batch:
        assert 'common_name' not in result and 'serial' not in result  # item fields only in results
        if failing:
            assert result['msg'].startswith('1 of 2 certificates failed: bad.example.test: Vault rejected the request')
            assert ('; return_content: nothing is returned because the task failed; the renewed files are in place; '
                    'renewed 1 of 2 certificates (missing: 1)') in result['msg']
        else:
            assert result['msg'] == 'renewed 2 of 2 certificates (missing: 2)'
    else:
        assert result['common_name'] == names[0] and result['msg'] == result['results'][0]['msg']
        assert result['cert_path'] == str(tmp_path / (names[0].split('.', maxsplit=1)[0] + '.crt'))
        if not failing:
            assert result['serial'] and result['msg'].startswith('issued a.example.test: missing')

    if failing:
        assert secrets_in(result) == []
    else:
        assert set(SECRETS) <= set(result['results'][0])

    changed = [res for res in result['results'] if res['changed']]
    if not diff or not changed:
        assert 'diff' not in result
    elif batch:
        assert isinstance(result['diff'], list) and len(result['diff']) == len(changed)
        for entry, res in zip(result['diff'], changed):
            assert entry['before'] == {'state': 'absent'} and entry['after']['serial'] == res['serial']
            assert res['common_name'] in entry['before_header'] and entry['after_header'] == entry['before_header']
    else:
        assert isinstance(result['diff'], dict) and result['diff']['after']['serial'] == result['serial']
        assert 'PRIVATE KEY' not in repr(result['diff'])


def test_pki_cert_renew_invalid_input_fails_with_reason_error(monkeypatch, tmp_path, vault):
    certificates = [item(tmp_path, 'a.example.test'), dict(common_name='x.test')]
    kind, result = run_pki(monkeypatch, vault, dict(role='web', certificates=certificates))
    assert kind == 'fail' and result['reason'] == 'error' and result['changed'] is False
    assert result['msg'].startswith('invalid input, nothing was changed: certificates[1] (x.test): key_path is required')
    assert 'certificates[1] (x.test): cert_path is required' in result['msg']
    assert not (tmp_path / 'a.crt').exists()


def test_pki_cert_renew_warns_through_the_module(monkeypatch, tmp_path, vault, ca):
    old, key = ca.issue('a.example.test', not_before=NOW, not_after=NOW + datetime.timedelta(days=90))
    (tmp_path / 'a.crt').write_bytes(cert_pem(old))
    (tmp_path / 'a.key').write_bytes(key_pem(key))
    module = FakeModule(dict(role='web', force=True, renew_before='95d', **item(tmp_path, 'a.example.test')))
    monkeypatch.setattr(_module.RotationModule, 'build', lambda self: module)
    monkeypatch.setattr(pki_cert_renew, 'PkiCertRenewer', functools.partial(PkiCertRenewer, connect=vault, clock=lambda: NOW))
    with pytest.raises(SystemExit) as stop:
        pki_cert_renew.main()
    kind, result = stop.value.code
    assert kind == 'exit' and result['reason'] == 'forced' and 'warnings' not in result
    assert any('less than renew_before' in text for text in module.warnings)


def test_content_keys_are_the_module_secret_keys():
    assert set(CONTENT_KEYS) == set(SECRETS)


# ------------------------------------------------------------------------------------ served_certificate
def run_served(monkeypatch, params, fetch):
    module = FakeModule(params)
    monkeypatch.setattr(_module.RotationModule, 'build', lambda self: module)
    monkeypatch.setattr(served_certificate, 'ServedCertificate',
                        functools.partial(ServedCertificate, fetch=fetch, sleep=lambda s: None, clock=lambda: NOW))
    with pytest.raises(SystemExit) as stop:
        served_certificate.main()
    return stop.value.code


@pytest.mark.parametrize('case', ['served', 'match', 'mismatch', 'unreachable', 'invalid'])
def test_served_certificate_result_has_reason_msg_changed(monkeypatch, ca, case):
    cert, dummy = ca.issue('app.example.test', not_before=NOW, not_after=NOW + datetime.timedelta(days=30))
    der = cert.public_bytes(serialization.Encoding.DER)
    serial = '%x' % cert.serial_number

    def fetch(host, port, **kwargs):
        if case == 'unreachable':
            from ansible_collections.secops.rotation.plugins.module_utils._tls import TlsProbeError
            raise TlsProbeError('cannot connect to %s:%s: refused' % (host, port))
        return der, 'TLSv1.3'
    params = dict(host='h', port=0 if case == 'invalid' else 443, retries=1)
    if case in ('match', 'mismatch', 'unreachable'):
        params['expected_serial'] = serial if case == 'match' else 'ab:cd'
    kind, result = run_served(monkeypatch, params, fetch)
    assert kind == ('exit' if case in ('served', 'match') else 'fail')
    assert result['changed'] is False and result['msg']
    assert result['reason'] == {'invalid': 'error'}.get(case, case)
    if case in ('served', 'match'):
        assert result['days_remaining'] == 30.0  # counted from the clock seam
