# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared Vault client factory against the lab's real OpenBao servers (HTTP and TLS)."""


import os
import socket
import subprocess
import sys
import time

import hvac
import pytest
import requests

from lab.faults import LosingProxy
from ansible_collections.secops.rotation.plugins.module_utils._vault import (
    KvConflictError, KvV2, VaultClientError, get_vault_client, get_vault_connection, vault_errors)


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _policies(client):
    return client.auth.token.lookup_self()['data']['policies']


def _fails(params, environ=None):
    with pytest.raises(VaultClientError) as err:
        get_vault_client(params, environ if environ is not None else {})
    text = str(err.value)
    assert 'Traceback' not in text
    return text


def test_token_login(lab):
    client = get_vault_client({'url': lab['VAULT_ADDR'], 'token': lab['VAULT_TOKEN']}, {})
    assert 'root' in _policies(client)
    client.secrets.kv.v2.create_or_update_secret(path='foundation/token', secret={'k': 'v'})
    assert client.secrets.kv.v2.read_secret_version(path='foundation/token', raise_on_deleted_version=True)['data']['data'] == {'k': 'v'}


def test_approle_login(lab):
    client = get_vault_client({'url': lab['VAULT_ADDR'], 'auth_method': 'approle', 'role_id': lab['LAB_APPROLE_ROLE_ID'],
                               'secret_id': lab['LAB_APPROLE_SECRET_ID']}, {})
    assert client.token and client.token != lab['VAULT_TOKEN']
    assert lab['LAB_POLICY'] in _policies(client)


def test_userpass_login(lab):
    client = get_vault_client({'url': lab['VAULT_ADDR'], 'auth_method': 'userpass', 'username': lab['LAB_USERPASS_USERNAME'],
                               'password': lab['LAB_USERPASS_PASSWORD']}, {})
    assert lab['LAB_POLICY'] in _policies(client)


def test_approle_bad_secret_id_fails_clearly(lab):
    text = _fails({'url': lab['VAULT_ADDR'], 'auth_method': 'approle', 'role_id': lab['LAB_APPROLE_ROLE_ID'],
                   'secret_id': 'not-the-secret-id'})
    assert 'approle' in text and 'rejected the request' in text
    assert 'not-the-secret-id' not in text


def test_userpass_bad_password_fails_without_echoing_it(lab):
    text = _fails({'url': lab['VAULT_ADDR'], 'auth_method': 'userpass', 'username': lab['LAB_USERPASS_USERNAME'],
                   'password': 'wrong-password-123'})
    assert 'userpass' in text
    assert 'wrong-password-123' not in text


def test_bad_token_fails_clearly(lab):
    text = _fails({'url': lab['VAULT_ADDR'], 'token': 's.this-token-does-not-exist'})
    assert 'token was rejected' in text and 'invalid, expired or revoked' in text
    assert 's.this-token-does-not-exist' not in text


def test_unreachable_url_fails_clearly_and_fast():
    url = 'http://127.0.0.1:%d' % _free_port()
    started = time.monotonic()
    text = _fails({'url': url, 'token': 'x', 'retries': 1})
    assert 'cannot reach Vault at %s' % url in text
    assert 'Connection refused' in text
    assert time.monotonic() - started < 10


def test_missing_mount_names_the_path(lab):
    client = get_vault_client({'url': lab['VAULT_ADDR'], 'token': lab['VAULT_TOKEN']}, {})
    with pytest.raises(VaultClientError) as err:
        with vault_errors('reading nomount/creds/app'):
            client.secrets.database.generate_credentials(name='app', mount_point='nomount')
    assert 'path not found' in str(err.value)
    assert 'nomount/creds/app' in str(err.value)


def test_permission_denied_names_the_path(lab):
    client = get_vault_client({'url': lab['VAULT_ADDR'], 'auth_method': 'userpass', 'username': lab['LAB_USERPASS_USERNAME'],
                               'password': lab['LAB_USERPASS_PASSWORD']}, {})
    with pytest.raises(VaultClientError) as err:
        with vault_errors('reading sys/policies/acl/root'):
            client.sys.read_acl_policy('root')
    assert 'permission denied' in str(err.value)
    assert 'sys/policies/acl/root' in str(err.value)


def test_tls_server_with_right_ca(lab):
    client = get_vault_client({'url': lab['LAB_VAULT_TLS_ADDR'], 'token': lab['VAULT_TOKEN'], 'ca_cert': lab['VAULT_CACERT']}, {})
    assert client.sys.read_health_status(method='GET')['initialized'] is True


def test_tls_server_with_wrong_ca_fails_on_verification(lab):
    # The lab's PKI root CA did not sign the TLS server's certificate.
    text = _fails({'url': lab['LAB_VAULT_TLS_ADDR'], 'token': lab['VAULT_TOKEN'], 'ca_cert': lab['LAB_PKI_CA'], 'retries': 0})
    assert 'TLS certificate verification failed' in text
    assert 'ca_cert' in text


def test_tls_server_without_ca_fails_on_verification(lab):
    text = _fails({'url': lab['LAB_VAULT_TLS_ADDR'], 'token': lab['VAULT_TOKEN'], 'retries': 0})
    assert 'certificate verification failed' in text


def test_tls_server_validate_certs_false(lab):
    client = get_vault_client({'url': lab['LAB_VAULT_TLS_ADDR'], 'token': lab['VAULT_TOKEN'], 'validate_certs': False}, {})
    assert 'root' in _policies(client)


def test_vault_env_fallbacks(lab):
    client, opts = get_vault_connection({}, {'VAULT_ADDR': lab['LAB_VAULT_TLS_ADDR'], 'VAULT_TOKEN': lab['VAULT_TOKEN'],
                                             'VAULT_CACERT': lab['VAULT_CACERT']})
    assert opts.url == lab['LAB_VAULT_TLS_ADDR'] and opts.verify == lab['VAULT_CACERT']
    assert 'root' in _policies(client)


def test_bao_env_fallbacks(lab):
    client, opts = get_vault_connection({}, {'BAO_ADDR': lab['LAB_VAULT_TLS_ADDR'], 'BAO_TOKEN': lab['VAULT_TOKEN'],
                                             'BAO_CACERT': lab['VAULT_CACERT']})
    assert opts.url == lab['LAB_VAULT_TLS_ADDR']
    assert 'root' in _policies(client)


def test_vault_env_wins_over_bao_env(lab):
    dead = 'http://127.0.0.1:%d' % _free_port()
    # VAULT_ADDR is consulted first: pointing it at a dead port must fail even though BAO_ADDR works.
    text = _fails({'retries': 0}, {'VAULT_ADDR': dead, 'BAO_ADDR': lab['VAULT_ADDR'], 'VAULT_TOKEN': lab['VAULT_TOKEN']})
    assert dead in text
    client = get_vault_client({}, {'VAULT_ADDR': lab['VAULT_ADDR'], 'BAO_ADDR': dead, 'BAO_TOKEN': lab['VAULT_TOKEN']})
    assert 'root' in _policies(client)


def test_process_environment_is_the_default(lab, monkeypatch):
    for name in ('BAO_ADDR', 'BAO_TOKEN', 'VAULT_NAMESPACE', 'VAULT_CACERT'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('VAULT_ADDR', lab['VAULT_ADDR'])
    monkeypatch.setenv('VAULT_TOKEN', lab['VAULT_TOKEN'])
    assert 'root' in _policies(get_vault_client({}))


@pytest.fixture
def sealed_vault(tmp_path):
    """A throwaway OpenBao dev server that is then sealed (the lab's own servers stay unsealed)."""
    bao = os.path.join(os.path.dirname(sys.executable), 'bao')
    port = _free_port()
    url = 'http://127.0.0.1:%d' % port
    env = dict(os.environ, HOME=str(tmp_path), BAO_DISABLE_MLOCK='true', VAULT_DISABLE_MLOCK='true')
    with open(tmp_path / 'bao.log', 'wb') as log:
        proc = subprocess.Popen([bao, 'server', '-dev', '-dev-root-token-id=root', '-dev-listen-address=127.0.0.1:%d' % port],
                                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(url + '/v1/sys/health', timeout=1).status_code == 200:
                    break
            except requests.exceptions.ConnectionError:
                pass
            assert time.monotonic() < deadline, (tmp_path / 'bao.log').read_text()[-2000:]
            time.sleep(0.2)
        hvac.Client(url=url, token='root').sys.seal()
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_sealed_server_fails_clearly(sealed_vault):
    text = _fails({'url': sealed_vault, 'token': 'root', 'retries': 0})
    assert 'sealed or unavailable' in text


def test_kv_v2_helper_check_and_set(lab):
    client, opts = get_vault_connection({'url': lab['VAULT_ADDR'], 'token': lab['VAULT_TOKEN']}, {})
    kv = KvV2(client, opts, 'secret', option='kv_mount', purpose='the test')
    kv.check_mount()
    path = 'foundation/cas-%d' % _free_port()
    assert kv.read(path) == (None, 0) and kv.current_version(path) == 0
    assert kv.write(path, {'v': 1}, cas=0) == 1
    with pytest.raises(KvConflictError, match='changed after it was read at version 0'):
        kv.write(path, {'v': 'lost'}, cas=0)
    assert kv.read(path) == ({'v': 1}, 1) and kv.current_version(path) == 1
    assert path.split('/')[1] in kv.list('foundation')


def test_kv_v2_helper_names_wrong_mounts(lab):
    client, opts = get_vault_connection({'url': lab['VAULT_ADDR'], 'token': lab['VAULT_TOKEN']}, {})
    with pytest.raises(VaultClientError, match='kv_mount nomount-x does not exist'):
        KvV2(client, opts, 'nomount-x').read('a')
    mount = 'kv1-%d' % _free_port()
    client.sys.enable_secrets_engine('kv', path=mount, options={'version': '1'})
    with pytest.raises(VaultClientError, match='kv_mount %s is a kv mount of version 1, but the test needs a KV version 2 mount' % mount):
        KvV2(client, opts, mount, purpose='the test').check_mount()


# --------------------------------------------------------------------------------------------- requests that create secrets

CREATE_LOGIN = """CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"""


@pytest.fixture
def db_role(lab):
    admin = hvac.Client(url=lab['VAULT_ADDR'], token=lab['VAULT_TOKEN'])
    name = 'vc-once-%d' % _free_port()
    admin.secrets.database.create_role(name=name, db_name=lab['LAB_DB_CONNECTION'], creation_statements=[CREATE_LOGIN],
                                       default_ttl=600, max_ttl=600)
    yield name
    admin.sys.revoke_prefix('database/creds/%s' % name)
    admin.secrets.database.delete_role(name)


def _leases(lab, role):
    admin = hvac.Client(url=lab['VAULT_ADDR'], token=lab['VAULT_TOKEN'])
    try:
        return admin.sys.list_leases('database/creds/%s/' % role)['data']['keys']
    except hvac.exceptions.InvalidPath:
        return []


def test_send_once_never_repeats_a_request_that_reached_vault(lab, db_role):
    """GET <mount>/creds/<role> creates a database user. Outside send_once the session retries a GET answered 504
    (retries=3: four users, one answer, three orphans); inside, it is sent once and the failure says it may have
    been carried out. Reads outside the block are retried as before."""
    from ansible_collections.secops.rotation.plugins.module_utils._vault import send_once
    creds = 'GET /v1/database/creds/%s' % db_role
    proxy = LosingProxy(lab['VAULT_ADDR'], lose={creds})
    try:
        client, opts = get_vault_connection({'url': proxy.url, 'token': lab['VAULT_TOKEN'], 'retries': 3}, {})
        with pytest.raises(VaultClientError):
            with vault_errors('issuing credentials from database/creds/%s' % db_role, opts):
                client.secrets.database.generate_credentials(db_role)
        assert proxy.count(creds) == 4 and len(_leases(lab, db_role)) == 4  # what retries do to a GET that creates

        hvac.Client(url=lab['VAULT_ADDR'], token=lab['VAULT_TOKEN']).sys.revoke_prefix('database/creds/%s' % db_role)
        with pytest.raises(VaultClientError) as err:
            with send_once(client):
                with vault_errors('issuing credentials from database/creds/%s' % db_role, opts):
                    client.secrets.database.generate_credentials(db_role)
        assert proxy.count(creds) == 5 and len(_leases(lab, db_role)) == 1, proxy.seen
        assert err.value.uncertain is True and err.value.answered is True
        assert 'unexpected answer from Vault (or a proxy in front of it) while issuing credentials' in str(err.value)
        assert '504 Gateway Time-out' in str(err.value) and '<' not in str(err.value)

        with pytest.raises(VaultClientError):  # the session's retries are back after the block
            with vault_errors('issuing again', opts):
                client.secrets.database.generate_credentials(db_role)
        assert proxy.count(creds) == 9
    finally:
        proxy.close()


def test_send_once_after_a_read_timeout_is_uncertain(lab, db_role):
    from ansible_collections.secops.rotation.plugins.module_utils._vault import send_once
    creds = 'GET /v1/database/creds/%s' % db_role
    proxy = LosingProxy(lab['VAULT_ADDR'], lose={creds}, mode='hang', hang=4)
    try:
        client, opts = get_vault_connection({'url': proxy.url, 'token': lab['VAULT_TOKEN'], 'retries': 3, 'timeout': 2}, {})
        with pytest.raises(VaultClientError) as err:
            with send_once(client):
                with vault_errors('issuing credentials', opts):
                    client.secrets.database.generate_credentials(db_role)
        assert 'did not answer within 2s while issuing credentials' in str(err.value)
        assert err.value.uncertain is True and err.value.answered is False
        assert proxy.count(creds) == 1 and len(_leases(lab, db_role)) == 1
    finally:
        proxy.close()


def test_refused_connections_are_certain_failures():
    from ansible_collections.secops.rotation.plugins.module_utils._vault import request_outcome
    url = 'http://127.0.0.1:%d' % _free_port()
    with pytest.raises(requests.exceptions.ConnectionError) as err:
        requests.get(url, timeout=2)
    assert request_outcome(err.value) == (False, False)
