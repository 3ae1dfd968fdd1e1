# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared AWS session factory against the lab's moto IAM/STS server."""


import socket
import uuid

import pytest

from ansible_collections.secops.rotation.plugins.module_utils._aws import AwsClientError, AwsConnection, aws_errors, error_code


@pytest.fixture
def conn(lab):
    return AwsConnection({'endpoint_url': lab['AWS_ENDPOINT_URL'], 'access_key': lab['AWS_ACCESS_KEY_ID'],
                          'secret_key': lab['AWS_SECRET_ACCESS_KEY']})


def test_get_caller_identity_through_the_factory(conn):
    identity = conn.client('sts').get_caller_identity()
    assert identity['Account'].isdigit() and identity['Arn'].startswith('arn:aws:')


def test_environment_fallback_reaches_moto(lab, monkeypatch):
    for name in ('AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_DEFAULT_REGION'):
        monkeypatch.setenv(name, lab[name])
    monkeypatch.delenv('AWS_PROFILE', raising=False)
    users = AwsConnection({}).client('iam').list_users()
    assert 'Users' in users


def test_new_access_key_verifies_with_sts(conn):
    iam = conn.client('iam')
    name = 'factory-%s' % uuid.uuid4().hex[:8]
    arn = iam.create_user(UserName=name)['User']['Arn']
    key = iam.create_access_key(UserName=name)['AccessKey']
    sts = conn.client_for_keys('sts', key['AccessKeyId'], key['SecretAccessKey'])
    assert sts.get_caller_identity()['Arn'] == arn


def test_client_error_is_described(conn):
    with pytest.raises(AwsClientError) as err:
        with aws_errors('reading IAM user nobody-here'):
            conn.client('iam').get_user(UserName='nobody-here')
    assert str(err.value).startswith('reading IAM user nobody-here failed: NoSuchEntity')


def test_error_code_helper(conn):
    try:
        conn.client('iam').get_user(UserName='nobody-here-either')
    except Exception as exc:  # pylint: disable=broad-except
        assert error_code(exc) == 'NoSuchEntity'
    else:
        pytest.fail('get_user of a missing user did not fail')


def test_unreachable_endpoint_is_described(lab):
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        dead = 'http://127.0.0.1:%d' % sock.getsockname()[1]
    conn = AwsConnection({'endpoint_url': dead, 'access_key': 'testing', 'secret_key': 'testing', 'max_attempts': 1,
                          'aws_timeout': 2})
    with pytest.raises(AwsClientError) as err:
        with aws_errors('calling STS GetCallerIdentity'):
            conn.client('sts').get_caller_identity()
    assert 'cannot reach AWS endpoint' in str(err.value) and dead in str(err.value)
