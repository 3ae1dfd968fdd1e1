# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of the Vault and AWS connection code: fallbacks, validation, error wording, docs vs spec."""


import hvac.exceptions
import pytest
import requests.exceptions
import yaml

from ansible_collections.secops.rotation.plugins.doc_fragments import aws as aws_doc
from ansible_collections.secops.rotation.plugins.doc_fragments import vault as vault_doc
from ansible_collections.secops.rotation.plugins.module_utils._aws import AwsClientError, AwsConnection, aws_argument_spec
from ansible_collections.secops.rotation.plugins.module_utils._vault import (
    VaultClientError, VaultConnectionOptions, describe_vault_error, vault_argument_spec, vault_errors)

URL = 'http://127.0.0.1:8200'


@pytest.mark.parametrize('spec_fn, fragment', [(vault_argument_spec, vault_doc), (aws_argument_spec, aws_doc)])
def test_doc_fragment_matches_argument_spec(spec_fn, fragment):
    documented = yaml.safe_load(fragment.ModuleDocFragment.DOCUMENTATION)['options']
    spec = spec_fn()
    assert sorted(documented) == sorted(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert doc['type'] == option['type'], name
        assert doc.get('default') == option.get('default'), name
        assert doc.get('aliases', []) == option.get('aliases', []), name
        assert doc.get('choices') == option.get('choices'), name


def test_explicit_params_beat_environment():
    opts = VaultConnectionOptions({'url': URL, 'token': 'param'}, {'VAULT_ADDR': 'http://env:1', 'VAULT_TOKEN': 'env'})
    assert (opts.url, opts.token) == (URL, 'param')


def test_vault_env_beats_bao_env():
    environ = {'VAULT_ADDR': 'http://vault:8200', 'BAO_ADDR': 'http://bao:8200', 'VAULT_TOKEN': 'v', 'BAO_TOKEN': 'b',
               'VAULT_NAMESPACE': 'team', 'BAO_CACERT': '/nonexistent'}
    opts = VaultConnectionOptions({'validate_certs': False}, environ)
    assert (opts.url, opts.token, opts.namespace, opts.ca_cert) == ('http://vault:8200', 'v', 'team', '/nonexistent')


def test_bao_env_used_when_vault_env_missing():
    opts = VaultConnectionOptions({}, {'BAO_ADDR': 'http://bao:8200/', 'BAO_TOKEN': 'b'})
    assert (opts.url, opts.token) == ('http://bao:8200', 'b')


def test_verify_follows_ca_cert_and_validate_certs(tmp_path):
    ca = tmp_path / 'ca.pem'
    ca.write_text('x')
    assert VaultConnectionOptions({'url': URL, 'token': 't'}, {}).verify is True
    assert VaultConnectionOptions({'url': URL, 'token': 't', 'ca_cert': str(ca)}, {}).verify == str(ca)
    assert VaultConnectionOptions({'url': URL, 'token': 't', 'ca_cert': str(ca), 'validate_certs': False}, {}).verify is False


@pytest.mark.parametrize('params, environ, words', [
    ({'token': 't'}, {}, ['no Vault address', 'VAULT_ADDR']),
    ({'url': 'vault:8200', 'token': 't'}, {}, ['invalid Vault url', 'http://']),
    ({'url': URL}, {}, ['needs a token', 'VAULT_TOKEN']),
    ({'url': URL, 'auth_method': 'approle'}, {}, ['approle needs role_id']),
    ({'url': URL, 'auth_method': 'userpass', 'username': 'u'}, {}, ['userpass needs password']),
    ({'url': URL, 'auth_method': 'userpass'}, {}, ['userpass needs username and password']),
    ({'url': URL, 'auth_method': 'kerberos', 'token': 't'}, {}, ['unknown auth_method', 'kerberos']),
    ({'url': URL, 'token': 't', 'timeout': 0}, {}, ['timeout must be a positive']),
    ({'url': URL, 'token': 't', 'retries': -1}, {}, ['retries must be 0 or more']),
    ({'url': URL, 'token': 't', 'ca_cert': '/nonexistent/ca.pem'}, {}, ['ca_cert /nonexistent/ca.pem does not exist']),
])
def test_bad_options_fail_clearly(params, environ, words):
    with pytest.raises(VaultClientError) as err:
        VaultConnectionOptions(params, environ)
    for word in words:
        assert word in str(err.value)


def test_secret_values_never_in_validation_errors():
    with pytest.raises(VaultClientError) as err:
        VaultConnectionOptions({'url': URL, 'auth_method': 'userpass', 'password': 'hunter2-secret'}, {})
    assert 'hunter2-secret' not in str(err.value)


@pytest.mark.parametrize('exc, words', [
    (hvac.exceptions.VaultDown('Vault is sealed', url=URL + '/v1/sys/health'), ['sealed or unavailable', '503']),
    (hvac.exceptions.Forbidden(errors=['permission denied'], url=URL + '/v1/secret/data/x'), ['permission denied', 'secret/data/x']),
    (hvac.exceptions.InvalidPath(errors=['no handler for route'], url=URL + '/v1/nomount/x'), ['path not found', 'nomount/x', 'mount point']),
    (hvac.exceptions.InvalidRequest(errors=['missing role_id']), ['rejected the request', 'missing role_id']),
    (hvac.exceptions.VaultNotInitialized(), ['not initialized']),
    (hvac.exceptions.RateLimitExceeded(), ['rate limit']),
    (requests.exceptions.ConnectTimeout('timed out'), ['did not answer within 5s']),
])
def test_vault_errors_are_described(exc, words):
    text = describe_vault_error(exc, 'reading something', url=URL, timeout=5)
    for word in words:
        assert word in text
    assert 'Traceback' not in text


def test_vault_errors_context_manager_maps_and_passes_other_errors():
    with pytest.raises(VaultClientError, match='path not found while reading x'):
        with vault_errors('reading x'):
            raise hvac.exceptions.InvalidPath(url=URL + '/v1/x')
    with pytest.raises(KeyError):
        with vault_errors('reading x'):
            raise KeyError('not a Vault error')


@pytest.mark.parametrize('params, words', [
    ({'access_key': 'AKIA'}, ['access_key and secret_key must be given together']),
    ({'secret_key': 'wJalrSECRETONLY'}, ['access_key and secret_key must be given together']),
    ({'session_token': 't'}, ['session_token needs access_key']),
    ({'profile': 'p', 'access_key': 'a', 'secret_key': 'wJalrSECRET'}, ['mutually exclusive']),
    ({'max_attempts': 0}, ['max_attempts must be 1 or more']),
    ({'aws_timeout': 0}, ['aws_timeout must be 1 second or more']),
    ({'endpoint_url': 'localhost:5000'}, ['invalid endpoint_url']),
    ({'endpoint_url': 'http://[bad'}, ['invalid endpoint_url', 'valid host']),
    ({'profile': 'no-such-profile-secops'}, ['profile no-such-profile-secops not found']),
])
def test_bad_aws_options_fail_clearly(params, words, monkeypatch, tmp_path):
    monkeypatch.setenv('AWS_CONFIG_FILE', str(tmp_path / 'config'))
    monkeypatch.setenv('AWS_SHARED_CREDENTIALS_FILE', str(tmp_path / 'credentials'))
    with pytest.raises(AwsClientError) as err:
        AwsConnection(params)
    for word in words:
        assert word in str(err.value)
    assert params.get('secret_key', '@@') not in str(err.value)


def test_aws_retry_configuration_is_botocore_config():
    conn = AwsConnection({'access_key': 'a', 'secret_key': 's', 'max_attempts': 7, 'retry_mode': 'adaptive', 'region': 'eu-west-1'})
    client = conn.client('iam')
    assert client.meta.config.retries['total_max_attempts'] == 7
    assert client.meta.config.retries['mode'] == 'adaptive'
    assert conn.client('iam') is client  # one client per service and endpoint
    assert conn.client('sts').meta.region_name == 'eu-west-1'


def test_aws_region_defaults_for_global_services(monkeypatch, tmp_path):
    for name in ('AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('AWS_CONFIG_FILE', str(tmp_path / 'config'))
    assert AwsConnection({'access_key': 'a', 'secret_key': 's'}).region == 'us-east-1'
