# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of module_utils/_vault: requests sent once, the outcome of failed requests, option bounds."""


import types

import hvac.exceptions
import pytest
import requests
import requests.exceptions

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.secops.rotation.plugins.module_utils import _vault
from ansible_collections.secops.rotation.plugins.module_utils._common import run_module, spec_defaults
from ansible_collections.secops.rotation.plugins.module_utils._errors import MissingLibraryError
from ansible_collections.secops.rotation.plugins.module_utils._vault import (
    VaultClientError, VaultConnectionOptions, get_vault_connection, request_outcome, send_once, vault_argument_spec,
    vault_errors)

URL = 'http://127.0.0.1:8200'


def _client():
    session = _vault._session(VaultConnectionOptions({'url': URL, 'token': 't'}, {}))
    return types.SimpleNamespace(adapter=types.SimpleNamespace(session=session))


def test_send_once_turns_off_retries_after_a_request_reached_vault_and_restores_them():
    client = _client()
    adapter = client.adapter.session.get_adapter(URL)
    usual = adapter.max_retries
    assert usual.is_retry('GET', 504) and usual.read == 3
    with send_once(client):
        once = client.adapter.session.get_adapter(URL).max_retries
        assert once.read is False and once.status == 0 and not once.is_retry('GET', 504) and not once.is_retry('GET', 503, True)
        assert once.connect == usual.connect == 3  # nothing sent yet: still retried
    assert client.adapter.session.get_adapter(URL).max_retries is usual
    with pytest.raises(ZeroDivisionError):
        with send_once(client):
            1 / 0
    assert client.adapter.session.get_adapter(URL).max_retries is usual
    with send_once(types.SimpleNamespace()):  # a client without a requests session: nothing to change
        pass


@pytest.mark.parametrize('exc, outcome', [
    (requests.exceptions.ReadTimeout('Read timed out.'), (True, False)),
    (requests.exceptions.ConnectionError('Connection aborted. RemoteDisconnected'), (True, False)),
    (requests.exceptions.ConnectionError('Failed to establish a new connection: [Errno 111] Connection refused'), (False, False)),
    (requests.exceptions.ConnectTimeout('connect timed out'), (False, False)),
    (requests.exceptions.SSLError('certificate verify failed: self signed'), (False, False)),
    (hvac.exceptions.InternalServerError('boom'), (True, True)),
    (hvac.exceptions.BadGateway('bad gateway'), (True, True)),
    (hvac.exceptions.VaultDown('sealed'), (True, True)),
    (hvac.exceptions.UnexpectedError('504'), (True, True)),
    (hvac.exceptions.Forbidden('permission denied'), (False, False)),
    (hvac.exceptions.InvalidRequest('bad'), (False, False)),
    (hvac.exceptions.RateLimitExceeded('slow down'), (False, False)),
    (ValueError('x'), (False, False)),
])
def test_request_outcome(exc, outcome):
    assert request_outcome(exc) == outcome


def test_vault_errors_tell_whether_the_request_may_have_been_carried_out():
    with pytest.raises(VaultClientError) as err:
        with vault_errors('issuing credentials from database/creds/app', types.SimpleNamespace(url=URL, timeout=30)):
            raise requests.exceptions.ReadTimeout('Read timed out.')
    assert (err.value.uncertain, err.value.answered) == (True, False)
    assert str(err.value) == 'Vault at %s did not answer within 30s while issuing credentials from database/creds/app' % URL
    with pytest.raises(VaultClientError) as err:
        with vault_errors('issuing credentials from database/creds/app'):
            raise hvac.exceptions.UnexpectedError('<html><body><h1>504 Gateway Time-out</h1>\nThe server did not respond</body></html>')
    assert str(err.value) == ('unexpected answer from Vault (or a proxy in front of it) while issuing credentials from '
                              'database/creds/app: 504 Gateway Time-out The server did not respond')
    assert (err.value.uncertain, err.value.answered) == (True, True)
    assert VaultClientError('plain').uncertain is False


@pytest.mark.parametrize('params, words', [
    ({'timeout': 10 ** 12}, 'timeout must be at most 3600 seconds, got 1000000000000'),
    ({'retries': 1000}, 'retries must be at most 10, got 1000'),
])
def test_connection_options_that_would_overflow_are_refused(params, words):
    with pytest.raises(VaultClientError) as err:
        VaultConnectionOptions(dict({'url': URL, 'token': 't'}, **params), {})
    assert words in str(err.value)


def test_unset_connection_options_take_the_spec_defaults():
    defaults = spec_defaults(vault_argument_spec())
    opts = VaultConnectionOptions({'url': URL, 'token': 't', 'timeout': None, 'retries': None}, {})
    assert (opts.timeout, opts.retries, opts.auth_method, opts.validate_certs) == (
        defaults['timeout'], defaults['retries'], defaults['auth_method'], defaults['validate_certs']) == (30, 3, 'token', True)


class _Module:
    no_log = False

    def __init__(self):
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)

    def fail_json(self, **kwargs):
        raise SystemExit(kwargs)

    def exit_json(self, **kwargs):
        raise SystemExit(dict(kwargs, exited=True))


def test_a_missing_hvac_is_reported_with_missing_required_lib(monkeypatch):
    monkeypatch.setattr(_vault, 'HVAC_IMPORT_ERROR', 'Traceback...\nModuleNotFoundError: No module named hvac')
    with pytest.raises(MissingLibraryError) as err:
        get_vault_connection({'url': URL, 'token': 't'}, {})
    assert err.value.library == 'hvac' and 'No module named hvac' in err.value.import_error
    with pytest.raises(SystemExit) as stop:
        run_module(_Module(), lambda: get_vault_connection({'url': URL, 'token': 't'}, {}), changed=False)
    result = stop.value.code
    assert result['msg'] == missing_required_lib('hvac') and result['changed'] is False
    assert 'No module named hvac' in result['exception']
