# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/_aws: the one place for clients whose calls are sent at most once."""


import botocore.exceptions
import pytest

from ansible_collections.secops.rotation.plugins.module_utils import _aws


@pytest.fixture
def conn(monkeypatch, tmp_path):
    monkeypatch.setenv('AWS_CONFIG_FILE', str(tmp_path / 'none'))
    monkeypatch.setenv('AWS_SHARED_CREDENTIALS_FILE', str(tmp_path / 'none'))
    return _aws.AwsConnection({'access_key': 'a', 'secret_key': 's', 'max_attempts': 7, 'aws_timeout': 9,
                               'endpoint_url': 'http://127.0.0.1:1'})


def test_client_once_sends_each_call_once_with_the_same_session_and_timeouts(conn):
    once = conn.client_once('iam')
    assert once._client_config.retries['total_max_attempts'] == 1
    assert once._client_config.read_timeout == 9 and once._client_config.connect_timeout == 9
    assert once.meta.endpoint_url == 'http://127.0.0.1:1'
    assert conn.client_once('iam') is once  # cached like the other clients
    normal = conn.client('iam')
    assert normal is not once and normal._client_config.retries['total_max_attempts'] == 7


def test_client_once_really_makes_one_attempt(conn):
    attempts = []
    once = conn.client_once('iam')
    once.meta.events.register('before-send.iam.CreateAccessKey', lambda request, **kwargs: attempts.append(1))
    with pytest.raises(botocore.exceptions.EndpointConnectionError):
        once.create_access_key(UserName='svc-a')
    assert len(attempts) == 1


@pytest.mark.parametrize('exc, refused', [
    (botocore.exceptions.ClientError({'Error': {'Code': 'AccessDenied'}, 'ResponseMetadata': {'HTTPStatusCode': 403}}, 'X'), True),
    (botocore.exceptions.ClientError({'Error': {'Code': 'LimitExceeded'}, 'ResponseMetadata': {'HTTPStatusCode': 409}}, 'X'), True),
    (botocore.exceptions.ClientError({'Error': {'Code': 'ServiceFailure'}, 'ResponseMetadata': {'HTTPStatusCode': 500}}, 'X'), False),
    (botocore.exceptions.ClientError({'Error': {'Code': 'ServiceUnavailable'}}, 'X'), False),
    (botocore.exceptions.ReadTimeoutError(endpoint_url='http://x'), False),
    (botocore.exceptions.ConnectionClosedError(endpoint_url='http://x'), False),
    (ValueError('bug'), False),
])
def test_refused_tells_a_definite_refusal_from_an_uncertain_failure(exc, refused):
    assert _aws.refused(exc) is refused


class Sent(Exception):
    """Raised from before-send: the request was signed and is not sent anywhere."""


def signed_headers(client):
    """Call GetCallerIdentity and return the headers it would have been sent with."""
    seen = {}

    def capture(request, **kwargs):
        seen.update(request.headers)
        raise Sent()
    client.meta.events.register('before-send', capture, unique_id='signed_headers')
    try:
        with pytest.raises(Sent):
            client.get_caller_identity()
    finally:
        client.meta.events.unregister('before-send', unique_id='signed_headers')
    return dict((key, value.decode() if isinstance(value, bytes) else value) for key, value in seen.items())


@pytest.mark.parametrize('options, task_key, task_token', [
    ({'access_key': 'AKIATASK', 'secret_key': 's'}, 'AKIATASK', None),
    ({'access_key': 'AKIATASK', 'secret_key': 's', 'session_token': 'TASKTOKEN'}, 'AKIATASK', 'TASKTOKEN'),
    ({'profile': 'task'}, 'AKIAPROFILE', 'PROFILETOKEN'),
    ({}, 'AKIAENVIRON', 'ENVTOKEN'),
], ids=['keys', 'keys-and-token', 'profile', 'environment'])
def test_client_for_keys_signs_with_the_given_keys_only(monkeypatch, tmp_path, options, task_key, task_token):
    """Explicit keys win over the session's credentials: no fallback to its keys, token, profile or the environment."""
    credentials = tmp_path / 'credentials'
    credentials.write_text('[task]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = p\naws_session_token = PROFILETOKEN\n')
    monkeypatch.setenv('AWS_CONFIG_FILE', str(tmp_path / 'none'))
    monkeypatch.setenv('AWS_SHARED_CREDENTIALS_FILE', str(credentials))
    monkeypatch.setenv('AWS_ACCESS_KEY_ID', 'AKIAENVIRON')
    monkeypatch.setenv('AWS_SECRET_ACCESS_KEY', 'e')
    monkeypatch.setenv('AWS_SESSION_TOKEN', 'ENVTOKEN')
    conn = _aws.AwsConnection(dict(options, endpoint_url='http://127.0.0.1:1'))
    task = signed_headers(conn.client('sts'))
    assert 'Credential=%s/' % task_key in task['Authorization'] and task.get('X-Amz-Security-Token') == task_token
    headers = signed_headers(conn.client_for_keys('sts', 'AKIANEWKEY', 'new-secret', single_attempt=True))
    assert 'Credential=AKIANEWKEY/' in headers['Authorization']
    assert 'X-Amz-Security-Token' not in headers
    # the task's own clients still sign with the task's credentials afterwards
    again = signed_headers(conn.client('sts'))
    assert 'Credential=%s/' % task_key in again['Authorization'] and again.get('X-Amz-Security-Token') == task_token


def test_client_for_keys_has_the_connections_endpoint_region_and_retries(conn):
    client = conn.client_for_keys('sts', 'AKIANEWKEY', 'new-secret')
    assert client.meta.endpoint_url == 'http://127.0.0.1:1' and client.meta.region_name == conn.region == 'us-east-1'
    assert client._client_config.retries['total_max_attempts'] == 7
    assert client._client_config.read_timeout == 9 and client._client_config.user_agent_extra == _aws.USER_AGENT
    once = conn.client_for_keys('sts', 'AKIANEWKEY', 'new-secret', endpoint_url='http://127.0.0.1:2', timeout=3, single_attempt=True)
    assert once.meta.endpoint_url == 'http://127.0.0.1:2'
    assert once._client_config.retries['total_max_attempts'] == 1
    assert once._client_config.read_timeout == 3 and once._client_config.connect_timeout == 3
    with pytest.raises(ValueError):  # botocore refuses it; _iam turns it into a clear error
        conn.client_for_keys('sts', 'AKIANEWKEY', 'new-secret', endpoint_url='http://sts_1.example')


def test_client_for_keys_builds_no_session(conn, monkeypatch):
    """A client per new key comes from the task's one session (a new session would load the service models again)."""
    import boto3.session
    import botocore.session
    created = []
    for cls in (boto3.session.Session, botocore.session.Session):
        monkeypatch.setattr(cls, '__init__', lambda self, *a, _init=cls.__init__, **kw: created.append(1) or _init(self, *a, **kw))
    for index in range(20):
        conn.client_for_keys('sts', 'AKIANEWKEY%04d' % index, 'new-secret', single_attempt=True)
    assert created == []


def test_client_for_keys_takes_the_settings_of_the_tasks_profile(monkeypatch, tmp_path):
    """Like the task's other clients (it took those of the default profile while it had a session of its own)."""
    config = tmp_path / 'config'
    config.write_text('[default]\nendpoint_url = http://127.0.0.1:8\n\n[profile task]\nendpoint_url = http://127.0.0.1:9\n'
                      'aws_access_key_id = AKIAPROFILE\naws_secret_access_key = p\n')
    monkeypatch.setenv('AWS_CONFIG_FILE', str(config))
    monkeypatch.setenv('AWS_SHARED_CREDENTIALS_FILE', str(tmp_path / 'none'))
    monkeypatch.delenv('AWS_PROFILE', raising=False)
    monkeypatch.delenv('AWS_ENDPOINT_URL', raising=False)
    monkeypatch.delenv('AWS_ENDPOINT_URL_STS', raising=False)
    conn = _aws.AwsConnection({'profile': 'task'})
    assert conn.client('sts').meta.endpoint_url == 'http://127.0.0.1:9'
    client = conn.client_for_keys('sts', 'AKIANEWKEY', 'new-secret', single_attempt=True)
    assert client.meta.endpoint_url == 'http://127.0.0.1:9'
    assert 'Credential=AKIANEWKEY/' in signed_headers(client)['Authorization']


def test_the_doc_fragment_documents_the_specs_options_and_defaults():
    """AWS_SPEC is the one source of the defaults; the doc fragment must say the same (ansible-doc shows it)."""
    import yaml
    from ansible_collections.secops.rotation.plugins.doc_fragments.aws import ModuleDocFragment
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options']
    assert set(documented) == set(_aws.AWS_SPEC)
    for name, option in _aws.AWS_SPEC.items():
        assert documented[name].get('default') == option.get('default'), name
        assert documented[name]['type'] == option['type'] and documented[name].get('aliases', []) == option.get('aliases', []), name


def test_unset_options_take_the_specs_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv('AWS_CONFIG_FILE', str(tmp_path / 'none'))
    conn = _aws.AwsConnection({'access_key': 'a', 'secret_key': 's', 'max_attempts': None})
    assert (conn.params['max_attempts'], conn.params['retry_mode'], conn.params['aws_timeout']) == (5, 'standard', 30)
    assert conn.config.retries == {'total_max_attempts': 5, 'mode': 'standard'} and conn.config.read_timeout == 30
