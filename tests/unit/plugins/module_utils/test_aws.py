# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/_aws: the one place for clients whose calls are sent at most once."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

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
