# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dual-credential demo app (examples/demo_app) against the lab's real PostgreSQL, OpenBao and moto.

Instances run as real processes started with ``demo_app.py --daemon`` (lab.apps), get their database logins
from the Vault database role ``lab-readonly`` and are reloaded with SIGHUP, as the roles do it.
"""


import contextlib
import http.server
import re
import threading
import time
import uuid
from pathlib import Path

import boto3
import hvac
import hvac.exceptions
import psycopg2
import pytest

from lab import apps

RATE = 30  # requests per second under load
POOL_SIZE = 4  # idle sessions an instance keeps at most (MAX_IDLE_CONNECTIONS of examples/demo_app/demo_app.py)


def _uid():
    return uuid.uuid4().hex[:10]


def wait_until(check, timeout=5.0, interval=0.05):
    """Poll ``check()`` until it returns something true or ``timeout`` ends; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


@pytest.fixture(scope='module')
def vault(lab):
    return hvac.Client(url=lab['VAULT_ADDR'], token=lab['VAULT_TOKEN'])


@pytest.fixture(scope='module')
def admin(lab):
    conn = psycopg2.connect(host=lab['PGHOST'], port=lab['PGPORT'], user=lab['PGUSER'], password=lab['PGPASSWORD'],
                            dbname=lab['PGDATABASE'], connect_timeout=10)
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture(scope='module')
def demo_table(lab):
    assert apps.ensure_demo_table(lab) >= 3
    return apps.DEMO_TABLE


@pytest.fixture
def db_creds(lab, vault, demo_table):
    """``make()`` -> ``(credential, lease_id)`` from the Vault role lab-readonly; every lease is revoked at the end."""
    leases = []

    def make():
        issued = vault.secrets.database.generate_credentials(lab['LAB_DB_ROLE'], mount_point=lab['LAB_DB_MOUNT'])
        leases.append(issued['lease_id'])
        return {'username': issued['data']['username'], 'password': issued['data']['password']}, issued['lease_id']

    yield make
    for lease in leases:
        with contextlib.suppress(hvac.exceptions.VaultError):
            vault.sys.revoke_lease(lease)


@pytest.fixture
def start(lab, tmp_path, db_creds):  # pylint: disable=unused-argument
    """``start(name, db_pair, aws_pair=None, **settings)`` -> a running instance; all are stopped at the end.

    Depends on ``db_creds`` so that the instances stop before the leases they use are revoked.
    """
    started = []

    def _start(name, db_pair, aws_pair=None, **settings):
        instance = apps.start_instance(tmp_path / name, apps.app_settings(lab, **settings), db_pair, aws_pair)
        started.append(instance)
        return instance

    yield _start
    for instance in started:
        apps.stop_instance(instance.dir)
    for instance in started:
        assert apps.instance_pid(instance.dir) is None


def sessions(admin, user):
    """Number of sessions of ``user`` in pg_stat_activity."""
    with admin.cursor() as cur:
        cur.execute('SELECT count(*) FROM pg_stat_activity WHERE usename = %s', (user,))
        return cur.fetchone()[0]


def get(instance, path='/'):
    return apps.get_json(instance.url + path)


def log_of(instance):
    return (Path(instance.dir) / 'app.log').read_text(encoding='utf-8')


def wait_log(instance, text, timeout=5.0):
    assert wait_until(lambda: text in log_of(instance), timeout), f'{text!r} not in the log of {instance.dir}:\n{log_of(instance)}'


def assert_no_secret(text, *credentials):
    for credential in credentials:
        for field in ('password', 'secret_access_key'):
            if credential.get(field):
                assert credential[field] not in text


def reload_with(instance, db_pair=None, aws_pair=None, generation=None, user=None):
    """Template the new pair(s), SIGHUP, and (given ``generation``) wait until /health is 200 with it (and ``user``)."""
    apps.write_config(instance.dir, db_pair=db_pair, aws_pair=aws_pair)
    apps.reload_instance(instance.dir)
    if generation is None:
        return None

    def done(status, body):
        return status == 200 and body['generation'] == generation and (user is None or body['db_user'] == user)
    return apps.wait_health(instance.url, done)


# --------------------------------------------------------------------------- database


def test_serves_with_the_primary_and_health_reports_it(start, db_creds, admin):
    cred_a = db_creds()[0]
    instance = start('one', (cred_a, None))
    config_dir = Path(instance.dir)
    assert config_dir.joinpath('port').read_text(encoding='utf-8').strip() == str(instance.port)
    assert config_dir.joinpath('pid').read_text(encoding='utf-8').strip() == str(instance.pid)

    status, body = get(instance, '/')
    assert status == 200 and body['ok'] is True
    assert body['db_user'] == cred_a['username']
    assert isinstance(body['result'], int) and body['result'] >= 3
    assert get(instance, '/query')[1]['db_user'] == cred_a['username']
    assert get(instance, '/nothing-here')[0] == 404

    status, health = get(instance, '/health')
    assert status == 200
    assert health == {'status': 'ok', 'db_user': cred_a['username'], 'access_key_id': None, 'aws_arn': None,
                      'generation': 0, 'pid': instance.pid}
    with admin.cursor() as cur:  # the pool keeps a session of the active user, named after the app
        cur.execute('SELECT application_name FROM pg_stat_activity WHERE usename = %s', (cred_a['username'],))
        assert {row[0] for row in cur.fetchall()} == {'demo_app'}

    assert apps.stop_instance(instance.dir) == instance.pid
    assert not config_dir.joinpath('pid').exists()
    assert apps.instance_pid(instance.dir) is None
    assert wait_until(lambda: sessions(admin, cred_a['username']) == 0)
    log = log_of(instance)
    assert 'started: pid %d' % instance.pid in log and 'stopped' in log
    assert_no_secret(log, cred_a)


def test_blue_green_swap_under_load_drops_no_request_and_closes_the_old_sessions(start, db_creds, admin):
    cred_a = db_creds()[0]
    cred_b = db_creds()[0]
    hosts = [start('host%d' % number, (cred_a, None)) for number in (1, 2)]
    for instance in hosts:
        assert get(instance)[1]['db_user'] == cred_a['username']
    assert sessions(admin, cred_a['username']) >= 2  # without the close-on-switch below, these would stay

    load = apps.run_load([instance.url + '/' for instance in hosts], RATE, 10, 10 * RATE)
    try:
        time.sleep(1)
        for instance in hosts:  # overlap: A first, B second
            reload_with(instance, (cred_a, cred_b), generation=1, user=cred_a['username'])
        time.sleep(1)
        for instance in hosts:  # swap: B first, A second
            reload_with(instance, (cred_b, cred_a), generation=2, user=cred_b['username'])
        time.sleep(1)
    finally:
        counts = load.stop()
    assert counts['failed'] == 0, counts
    assert counts['sent'] >= 2 * RATE and counts['ok'] == counts['sent'], counts

    # Nobody uses A any more once the in-flight requests ended: the rotation can prove it before revoking A.
    assert wait_until(lambda: sessions(admin, cred_a['username']) == 0, 5.0), 'A still has sessions after the swap'
    assert sessions(admin, cred_b['username']) >= 1
    for instance in hosts:
        status, health = get(instance, '/health')
        assert status == 200 and health['db_user'] == cred_b['username'] and health['generation'] == 2
        assert_no_secret(repr(health), cred_a, cred_b)
        log = log_of(instance)
        assert 'database credential switched: user %s -> user %s' % (cred_a['username'], cred_b['username']) in log
        assert 'reloaded, generation 2' in log
        assert_no_secret(log, cred_a, cred_b)


@pytest.mark.parametrize('how', ['wrong-password', 'revoked', 'revoked-while-serving'])
def test_falls_back_to_the_secondary_when_the_primary_is_rejected(start, db_creds, vault, how):
    cred_a, lease_a = db_creds()
    cred_b = db_creds()[0]
    primary = dict(cred_a, password=cred_a['password'] + '-wrong') if how == 'wrong-password' else cred_a
    if how == 'revoked':
        vault.sys.revoke_lease(lease_a)
    instance = start('fallback', (primary, cred_b))
    if how == 'revoked-while-serving':
        assert get(instance)[1]['db_user'] == cred_a['username']
        vault.sys.revoke_lease(lease_a)
        # The cached sessions of A outlive its role (queries: "permission denied"); each one fails one request and
        # is dropped, then a new login as A is rejected and B takes over.
        answers = [get(instance) for dummy in range(POOL_SIZE + 2)]
        assert [answer[0] for answer in answers][-2:] == [200, 200], answers
        assert all(status == 200 or 'permission denied' in body['error'] for status, body in answers), answers

    status, body = get(instance, '/')
    assert status == 200 and body['db_user'] == cred_b['username'], body
    status, health = get(instance, '/health')
    assert status == 200 and health['db_user'] == cred_b['username']
    wait_log(instance, 'database credential switched: user %s -> user %s' % (cred_a['username'], cred_b['username']))

    # A reload makes the primary active again; it is rejected again and the secondary serves again.
    reload_with(instance, (primary, cred_b), generation=1, user=cred_b['username'])
    assert get(instance, '/')[1]['db_user'] == cred_b['username']
    assert_no_secret(log_of(instance) + repr(health), cred_a, cred_b, primary)


def test_a_cached_session_closed_by_the_server_is_replaced_without_failing_a_request(start, db_creds, admin):
    cred_a = db_creds()[0]
    instance = start('terminated', (cred_a, None))
    assert get(instance)[0] == 200
    with admin.cursor() as cur:
        cur.execute('SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = %s', (cred_a['username'],))
        assert cur.fetchone()[0] >= 1
    assert wait_until(lambda: sessions(admin, cred_a['username']) == 0)
    status, body = get(instance)
    assert status == 200 and body['db_user'] == cred_a['username'], body
    wait_log(instance, 'dropped a broken cached connection of user %s' % cred_a['username'])


def test_fault_ignore_reload_keeps_the_old_user(start, db_creds):
    cred_a = db_creds()[0]
    cred_b = db_creds()[0]
    instance = start('stubborn', (cred_a, None))
    fault = Path(instance.dir) / 'fault-ignore-reload'
    fault.touch()
    reload_with(instance, (cred_b, cred_a))
    wait_log(instance, 'reload ignored (fault injection')
    status, health = get(instance, '/health')
    assert status == 200 and health['db_user'] == cred_a['username'] and health['generation'] == 0
    assert get(instance)[1]['db_user'] == cred_a['username']

    fault.unlink()
    reload_with(instance, generation=1, user=cred_b['username'])
    assert_no_secret(log_of(instance), cred_a, cred_b)


@pytest.mark.parametrize('content', [
    '{"primary": {"username": "x", "password": "SECRET"',  # truncated JSON
    '{"primary": {"username": "x"}, "secondary": {"username": "y", "password": "SECRET"}}',  # no primary password
], ids=['invalid-json', 'missing-password'])
def test_invalid_db_json_on_reload_keeps_the_old_config_and_serves(start, db_creds, content):
    cred_a = db_creds()[0]
    instance = start('invalid', (cred_a, None))
    secret = 'not-to-be-logged-' + _uid()
    load = apps.run_load([instance.url + '/'], RATE, 3, 3 * RATE)
    try:
        time.sleep(0.5)
        (Path(instance.dir) / 'db.json').write_text(content.replace('SECRET', secret), encoding='utf-8')
        apps.reload_instance(instance.dir)
        wait_log(instance, 'reload failed, keeping the old config')
    finally:
        counts = load.wait()
    assert counts['failed'] == 0 and counts['ok'] == counts['sent'] >= RATE, counts
    status, health = get(instance, '/health')
    assert status == 200 and health['db_user'] == cred_a['username'] and health['generation'] == 0
    log = log_of(instance)
    assert secret not in log
    assert_no_secret(log, cred_a)


def test_revoking_the_only_credential_makes_requests_fail(start, db_creds, vault):
    """The naive rotation (revoke, then replace) on an app with one credential: requests fail."""
    cred_a, lease_a = db_creds()
    instance = start('naive', (cred_a, None))
    assert get(instance)[0] == 200
    load = apps.run_load([instance.url + '/'], RATE, 3, 3 * RATE)
    try:
        time.sleep(0.5)
        vault.sys.revoke_lease(lease_a)
    finally:
        counts = load.wait()
    assert counts['failed'] > 0, counts
    assert any('permission denied' in text or 'password authentication failed' in text for text in counts['errors']), counts
    status, health = get(instance, '/health')
    assert status == 503 and health['status'] == 'error' and health['db_user'] is None
    assert health['error'].startswith('database: ')
    assert_no_secret(repr(health) + repr(counts) + log_of(instance), cred_a)


# --------------------------------------------------------------------------- AWS


@pytest.fixture
def iam_user(lab):
    """``(iam client, user name, arn)`` of a fresh IAM user in moto; the user and its keys are deleted at the end."""
    iam = boto3.client('iam', endpoint_url=lab['AWS_ENDPOINT_URL'], region_name=lab.get('AWS_DEFAULT_REGION') or 'us-east-1',
                       aws_access_key_id=lab['AWS_ACCESS_KEY_ID'], aws_secret_access_key=lab['AWS_SECRET_ACCESS_KEY'])
    name = 'demo-app-' + _uid()
    arn = iam.create_user(UserName=name)['User']['Arn']
    yield iam, name, arn
    for key in iam.list_access_keys(UserName=name)['AccessKeyMetadata']:
        iam.delete_access_key(UserName=name, AccessKeyId=key['AccessKeyId'])
    iam.delete_user(UserName=name)


def _key(iam, name):
    key = iam.create_access_key(UserName=name)['AccessKey']
    return {'access_key_id': key['AccessKeyId'], 'secret_access_key': key['SecretAccessKey']}


def test_health_reports_the_access_key_and_arn_in_use(start, db_creds, iam_user):
    iam, name, arn = iam_user
    cred_a = db_creds()[0]
    key_1 = _key(iam, name)
    instance = start('aws', (cred_a, None), aws_pair=(key_1, None))
    status, health = get(instance, '/health')
    assert status == 200, health
    assert health['access_key_id'] == key_1['access_key_id'] and health['aws_arn'] == arn
    assert health['db_user'] == cred_a['username']

    key_2 = _key(iam, name)  # blue-green for the access key: new key first, old one second
    reload_with(instance, aws_pair=(key_2, key_1), generation=1)
    status, health = get(instance, '/health')
    assert status == 200 and health['access_key_id'] == key_2['access_key_id'] and health['aws_arn'] == arn
    assert_no_secret(repr(health) + log_of(instance), cred_a, key_1, key_2)


class _FakeSts(http.server.BaseHTTPRequestHandler):
    """STS GetCallerIdentity on loopback that rejects the keys in ``server.rejected`` (moto checks no key)."""

    def do_POST(self):  # noqa: N802  pylint: disable=invalid-name
        self.rfile.read(int(self.headers.get('Content-Length') or 0))
        match = re.search(r'Credential=([^/]+)/', self.headers.get('Authorization', ''))
        key_id = match.group(1) if match else ''
        if key_id in self.server.rejected:
            status, body = 403, ('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
                                 '<Code>InvalidClientTokenId</Code><Message>The security token included in the request is '
                                 'invalid.</Message></Error><RequestId>r1</RequestId></ErrorResponse>')
        else:
            status, body = 200, ('<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                                 '<GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/%s</Arn><UserId>AIDA1</UserId>'
                                 '<Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r2'
                                 '</RequestId></ResponseMetadata></GetCallerIdentityResponse>' % key_id)
        data = body.encode('utf-8')
        self.send_response(status)
        self.send_header('Content-Type', 'text/xml')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass


@pytest.fixture
def fake_sts():
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _FakeSts)
    server.rejected = set()
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.1}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_aws_falls_back_to_the_secondary_key_on_an_auth_error(start, db_creds, fake_sts):
    cred_a = db_creds()[0]
    bad = {'access_key_id': 'AKIABADKEY' + _uid().upper(), 'secret_access_key': 'bad-secret-' + _uid()}
    good = {'access_key_id': 'AKIAGOODKEY' + _uid().upper(), 'secret_access_key': 'good-secret-' + _uid()}
    fake_sts.rejected.add(bad['access_key_id'])
    instance = start('aws-fallback', (cred_a, None), aws_pair=(bad, good),
                     aws_endpoint_url='http://127.0.0.1:%d' % fake_sts.server_address[1])
    status, health = get(instance, '/health')
    assert status == 200, health
    assert health['access_key_id'] == good['access_key_id']
    assert health['aws_arn'] == 'arn:aws:iam::123456789012:user/' + good['access_key_id']
    wait_log(instance, 'AWS credential switched: access key %s -> access key %s' % (bad['access_key_id'], good['access_key_id']))

    reload_with(instance, aws_pair=(bad, None))  # only a rejected key: unhealthy, and it says why
    status, health = apps.wait_health(instance.url, lambda status, body: body.get('generation') == 1 and status == 503)
    assert health['status'] == 'error' and 'InvalidClientTokenId' in health['error']
    assert health['access_key_id'] == bad['access_key_id'] and health['db_user'] == cred_a['username']
    assert_no_secret(repr(health) + log_of(instance), cred_a, bad, good)
