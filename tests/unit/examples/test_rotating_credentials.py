# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dual-credential provider of examples/demo_app (pure logic) and the demo app's error classification."""


import importlib.util
import sys
import threading
from pathlib import Path

import psycopg2
import pytest
from botocore.exceptions import ClientError

DEMO_DIR = Path(__file__).resolve().parents[3] / 'examples' / 'demo_app'


def _load(name):
    """Import a module of examples/demo_app by path (demo_app.py imports its sibling rotating_credentials)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DEMO_DIR / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


RotatingCredentialProvider = _load('rotating_credentials').RotatingCredentialProvider

A = {'username': 'alice', 'password': 'pw-a'}
B = {'username': 'bob', 'password': 'pw-b'}
C = {'username': 'carol', 'password': 'pw-c'}


class AuthError(Exception):
    pass


class OtherError(Exception):
    pass


def is_auth(exc):
    return isinstance(exc, AuthError)


class FakeServer:
    """Accepts the credentials in ``valid``; records every attempt."""

    def __init__(self, *valid):
        self.valid = list(valid)
        self.attempts = []
        self.lock = threading.Lock()

    def __call__(self, credential):
        with self.lock:
            self.attempts.append(credential['username'])
        if credential not in self.valid:
            raise AuthError('password authentication failed for user "%s"' % credential['username'])
        return credential['username']


def test_primary_is_used_first():
    server = FakeServer(A, B)
    provider = RotatingCredentialProvider(A, B, is_auth_error=is_auth)
    assert provider.call(server) == 'alice'
    assert server.attempts == ['alice']
    assert provider.active == A


def test_auth_error_switches_to_secondary_and_remembers_it():
    server = FakeServer(B)
    switches = []
    provider = RotatingCredentialProvider(A, B, is_auth_error=is_auth, on_switch=lambda old, new: switches.append((old, new)))
    assert provider.call(server) == 'bob'
    assert provider.active == B
    assert provider.call(server) == 'bob'
    assert server.attempts == ['alice', 'bob', 'bob']  # the second call went straight to the secondary
    assert switches == [(A, B)]


def test_auth_error_on_the_active_secondary_goes_back_to_the_primary():
    server = FakeServer(B)
    provider = RotatingCredentialProvider(A, B, is_auth_error=is_auth)
    provider.call(server)
    server.valid = [A]
    assert provider.call(server) == 'alice'
    assert provider.active == A


def test_non_auth_error_propagates_and_does_not_switch():
    switches = []
    provider = RotatingCredentialProvider(A, B, is_auth_error=is_auth, on_switch=lambda old, new: switches.append(new))
    calls = []

    def broken(credential):
        calls.append(credential['username'])
        raise OtherError('permission denied for table demo_items')

    with pytest.raises(OtherError, match='permission denied'):
        provider.call(broken)
    assert calls == ['alice']
    assert provider.active == A
    assert switches == []


def test_without_secondary_the_auth_error_propagates():
    server = FakeServer(B)
    provider = RotatingCredentialProvider(A, None, is_auth_error=is_auth)
    with pytest.raises(AuthError, match='alice'):
        provider.call(server)
    assert server.attempts == ['alice']
    assert provider.active == A


def test_both_rejected_raises_the_secondary_error_and_keeps_the_primary():
    server = FakeServer()
    provider = RotatingCredentialProvider(A, B, is_auth_error=is_auth)
    with pytest.raises(AuthError, match='bob'):
        provider.call(server)
    assert server.attempts == ['alice', 'bob']
    assert provider.active == A


def test_reset_makes_the_new_primary_active_and_reports_the_switch():
    switches = []
    provider = RotatingCredentialProvider(A, B, is_auth_error=is_auth, on_switch=lambda old, new: switches.append((old, new)))
    provider.call(FakeServer(B))  # fell back to B
    provider.reset(C, B)
    assert provider.active == C
    assert provider.credentials() == (C, B)
    assert switches == [(A, B), (B, C)]
    server = FakeServer(B, C)
    assert provider.call(server) == 'carol'
    assert server.attempts == ['carol']


def test_reset_to_the_same_active_credential_reports_no_switch():
    switches = []
    provider = RotatingCredentialProvider(A, None, is_auth_error=is_auth, on_switch=lambda old, new: switches.append(new))
    provider.reset(dict(A), B)
    assert provider.active == A
    assert provider.secondary == B
    assert switches == []


def test_fallback_decided_on_an_old_pair_is_not_applied_after_a_reset():
    provider = RotatingCredentialProvider(A, B, is_auth_error=is_auth)

    def reset_during_call(credential):
        if credential == A:
            provider.reset(C, None)  # a reload arrives while the request runs
            raise AuthError('rejected')
        return credential['username']

    assert provider.call(reset_during_call) == 'bob'
    assert provider.active == C


def test_primary_is_required_and_is_auth_error_must_be_callable():
    with pytest.raises(ValueError):
        RotatingCredentialProvider(None, B, is_auth_error=is_auth)
    with pytest.raises(ValueError):
        RotatingCredentialProvider(A, B, is_auth_error=None)
    provider = RotatingCredentialProvider(A, B, is_auth_error=is_auth)
    with pytest.raises(ValueError):
        provider.reset(None, A)


def test_concurrent_calls_switch_once_and_all_succeed():
    server = FakeServer(B)
    switches = []
    provider = RotatingCredentialProvider(A, B, is_auth_error=is_auth, on_switch=lambda old, new: switches.append((old, new)))
    results, errors = [], []
    start = threading.Barrier(16)

    def worker():
        start.wait(5)
        for dummy in range(50):
            try:
                results.append(provider.call(server))
            except Exception as exc:  # pylint: disable=broad-except
                errors.append(exc)

    threads = [threading.Thread(target=worker) for dummy in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert results == ['bob'] * 800
    assert provider.active == B
    assert switches == [(A, B)]
    # Only calls that started before the switch tried alice (at most one per thread).
    assert server.attempts.count('alice') <= 16


def test_concurrent_resets_and_calls_keep_a_consistent_state():
    server = FakeServer(A, B, C)
    provider = RotatingCredentialProvider(A, B, is_auth_error=is_auth)
    errors = []
    stop = threading.Event()

    def caller():
        for dummy in range(300):
            if stop.is_set():
                return
            try:
                assert provider.call(server) in ('alice', 'bob', 'carol')
            except Exception as exc:  # pylint: disable=broad-except
                errors.append(exc)

    threads = [threading.Thread(target=caller) for dummy in range(8)]
    for thread in threads:
        thread.start()
    for number in range(200):
        provider.reset(*((C, A) if number % 2 else (B, C)))
    stop.set()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert provider.active == C and provider.credentials() == (C, A)  # the last reset (number 199)


# --------------------------------------------------------------------------- demo app helpers

demo_app = _load('demo_app')


def _pg_error(cls, message, pgcode=None):
    exc = cls(message)
    if pgcode:
        # psycopg2 error objects take pgcode from the server; emulate it for the classification.
        exc = type('FakePgError', (cls,), {'pgcode': pgcode})(message)
    return exc


@pytest.mark.parametrize('exc, expected', [
    (_pg_error(psycopg2.OperationalError, 'connection to server at "127.0.0.1", port 5432 failed: FATAL:  '
                                          'password authentication failed for user "v-token-x"'), True),
    (_pg_error(psycopg2.OperationalError, 'FATAL:  role "ghost" does not exist'), True),
    (_pg_error(psycopg2.OperationalError, 'other', pgcode='28P01'), True),
    (_pg_error(psycopg2.OperationalError, 'other', pgcode='28000'), True),
    (_pg_error(psycopg2.ProgrammingError, 'permission denied for table demo_items', pgcode='42501'), False),
    (_pg_error(psycopg2.OperationalError, 'server closed the connection unexpectedly'), False),
    (ValueError('password authentication failed'), False),
])
def test_db_auth_error_classification(exc, expected):
    assert demo_app.is_db_auth_error(exc) is expected


@pytest.mark.parametrize('code, expected', [
    ('InvalidClientTokenId', True), ('SignatureDoesNotMatch', True), ('UnrecognizedClientException', True),
    ('AccessDenied', False), ('Throttling', False),
])
def test_aws_auth_error_classification(code, expected):
    exc = ClientError({'Error': {'Code': code, 'Message': 'x'}}, 'GetCallerIdentity')
    assert demo_app.is_aws_auth_error(exc) is expected
    assert demo_app.is_aws_auth_error(ValueError(code)) is False


def test_redactor_hides_every_loaded_secret_in_texts_and_log_records():
    redact = demo_app.Redactor()
    redact.add((A, B), ({'access_key_id': 'AKIA1', 'secret_access_key': 'sk-very-secret'}, None))
    text = redact('failed for alice with pw-a, bob pw-b, key AKIA1 sk-very-secret')
    assert text == 'failed for alice with [redacted], bob [redacted], key AKIA1 [redacted]'
    record = demo_app.logging.LogRecord('demo_app', 20, __file__, 1, 'user %s password %s', ('alice', 'pw-a'), None)
    assert redact.filter(record) and record.getMessage() == 'user alice password [redacted]'


@pytest.mark.parametrize('content, message', [
    ('{not json', 'is not valid JSON'),
    ('[]', 'must hold a JSON object'),
    ('{"primary": null}', '"primary" must be an object'),
    ('{"primary": {"username": "u"}}', '"primary.password" must be a non-empty string'),
    ('{"primary": {"username": "u", "password": "p"}, "secondary": {"username": "v", "password": ""}}',
     '"secondary.password" must be a non-empty string'),
])
def test_invalid_credential_files_are_rejected_without_echoing_them(tmp_path, content, message):
    path = tmp_path / 'db.json'
    path.write_text(content.replace('"p"', '"hunter2"'), encoding='utf-8')
    with pytest.raises(demo_app.ConfigError, match=message) as error:
        demo_app.load_pair(path, demo_app.DB_FIELDS)
    assert 'hunter2' not in str(error.value)


def test_missing_secondary_is_none_and_missing_aws_file_is_no_aws(tmp_path):
    path = tmp_path / 'db.json'
    path.write_text('{"primary": {"username": "u", "password": "p", "extra": 1}}', encoding='utf-8')
    assert demo_app.load_pair(path, demo_app.DB_FIELDS) == ({'username': 'u', 'password': 'p'}, None)
    assert demo_app.load_optional_pair(tmp_path / 'aws.json', demo_app.AWS_FIELDS) is None
