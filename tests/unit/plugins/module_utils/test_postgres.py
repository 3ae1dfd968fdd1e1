# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of module_utils/_postgres: privilege specs, retry decisions, error shortening, targets."""


import pytest

from ansible_collections.secops.rotation.plugins.module_utils import _postgres
from ansible_collections.secops.rotation.plugins.module_utils._errors import MissingLibraryError
from ansible_collections.secops.rotation.plugins.module_utils._postgres import (
    PgTarget, PostgresError, login_delays, is_transient_login_error, normalize_privileges, scrub, short_error)


def test_normalize_privileges_defaults_and_uppercases():
    assert normalize_privileges([{'table': 'orders'}, {'table': ' public.t ', 'privilege': 'select, insert'},
                                 {'table': 'x', 'privilege': 'update with grant option'}]) == [
        ('orders', 'SELECT'), ('public.t', 'SELECT, INSERT'), ('x', 'UPDATE WITH GRANT OPTION')]
    assert normalize_privileges(None) == []


@pytest.mark.parametrize('entry, message', [
    ({'table': 't', 'privilege': 'FLY'}, "privileges[0].privilege: unknown table privilege 'FLY'"),
    ({'table': 't', 'privilege': 'SELECT, EXECUTE'}, "unknown table privilege 'EXECUTE'"),
    ({'privilege': 'SELECT'}, 'privileges[0].table is required'),
    ({'table': '  '}, 'privileges[0].table is required'),
    ({'table': 'orders\x00'}, 'privileges[0].table must not contain a NUL character'),
    ({'table': 't', 'privilege': 3}, 'privileges[0].privilege must be a string'),
    ({'table': 't', 'grant': 'x'}, 'unknown key(s) grant'),
    ('orders', 'privileges[0] must be a dict'),
])
def test_normalize_privileges_rejects(entry, message):
    with pytest.raises(PostgresError) as err:
        normalize_privileges([entry])
    assert message in str(err.value)


@pytest.mark.parametrize('message, transient', [
    ('password authentication failed for user "v-token-app-x"', True),
    ('role "v-token-app-x" does not exist', True),
    ('the database system is starting up', True),
    ('database "nodb" does not exist', False),
    ('Connection refused', False),
    ('no pg_hba.conf entry for host "1.2.3.4"', False),
    ('', False),
    (None, False),
])
def test_is_transient_login_error(message, transient):
    assert is_transient_login_error(message) is transient


def test_login_delays_are_bounded():
    assert login_delays(1) == []
    assert login_delays(5) == [0.25, 0.5, 1.0, 2.0]
    assert login_delays(7) == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert sum(login_delays(5)) < 4


def test_short_error_strips_libpq_prefixes_and_the_password():
    exc = Exception('connection to server at "127.0.0.1", port 5432 failed: FATAL:  password authentication failed for user "bob"\n')
    assert short_error(exc) == 'password authentication failed for user "bob"'
    assert short_error(Exception('ERROR:  relation "t" does not exist\nLINE 1: SELECT * FROM t\n')) == 'relation "t" does not exist'
    assert short_error(Exception('oops s3cret-pw here'), password='s3cret-pw') == 'oops ******** here'
    assert short_error(ValueError('')) == 'ValueError'


def test_scrub():
    assert scrub('no secret', 'pw') == 'no secret'
    assert scrub('pw and pw', 'pw') == '******** and ********'
    assert scrub('x', None) == 'x'
    assert scrub(None, 'pw') is None


def test_target_connect_kwargs_and_str():
    target = PgTarget('db.example.com', 6432, 'orders', 'require', 3)
    assert str(target) == 'db.example.com:6432/orders'
    kwargs = target.connect_kwargs('bob', 'pw')
    assert kwargs['host'] == 'db.example.com' and kwargs['port'] == 6432 and kwargs['dbname'] == 'orders'
    assert kwargs['sslmode'] == 'require' and kwargs['connect_timeout'] == 3
    assert kwargs['user'] == 'bob' and kwargs['password'] == 'pw'
    assert not target.is_socket and PgTarget('/var/run/postgresql').is_socket


def test_missing_psycopg2_message(monkeypatch):
    assert _postgres.missing_psycopg2_message() is None
    monkeypatch.setattr(_postgres, 'PSYCOPG2_IMPORT_ERROR', 'Traceback ...')
    message = _postgres.missing_psycopg2_message()
    assert 'psycopg2' in message and 'verify=false' in message and 'Traceback' not in message
    with pytest.raises(PostgresError, match='psycopg2 is required'):
        _postgres.connect(PgTarget('localhost'), 'bob', 'pw')


def test_require_psycopg2_raises_the_missing_library_error(monkeypatch):
    _postgres.require_psycopg2('verify')  # psycopg2 is installed here: nothing raised
    monkeypatch.setattr(_postgres, 'PSYCOPG2_IMPORT_ERROR', 'Traceback ...')
    with pytest.raises(MissingLibraryError) as err:
        _postgres.require_psycopg2('no_sessions_of')
    assert (err.value.library, err.value.reason, err.value.import_error) == ('psycopg2-binary', 'no_sessions_of', 'Traceback ...')
    assert str(err.value) == 'psycopg2-binary is required for no_sessions_of'


def test_user_label_names_libpqs_default_when_no_user_is_given():
    assert _postgres.user_label('bob') == 'bob'
    assert _postgres.user_label(None) == _postgres.user_label('') == '(the default user of libpq)'


def _one_shot_server(reply):
    """A loopback listener that reads the 8-byte SSLRequest and answers ``reply`` (None: closes)."""
    import socket
    import threading
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(1)

    def serve():
        conn, dummy = server.accept()
        received.append(conn.recv(8))
        if reply:
            conn.sendall(reply)
        conn.close()
        server.close()

    received = []
    thread = threading.Thread(target=serve)
    thread.start()
    return server.getsockname()[1], received, thread


@pytest.mark.parametrize('reply, ok, detail', [
    (b'N', True, None),
    (b'S', True, None),
    (b'HTTP/1.1 400 Bad Request\r\n', False, "it answered b'H'"),
    (None, False, 'it closed the connection'),
])
def test_probe_speaks_the_ssl_request(reply, ok, detail):
    port, received, thread = _one_shot_server(reply)
    target = PgTarget('127.0.0.1', port, connect_timeout=2)
    try:
        if ok:
            _postgres.probe(target)
        else:
            with pytest.raises(PostgresError) as err:
                _postgres.probe(target)
            assert '127.0.0.1:%d does not answer like a PostgreSQL server (%s)' % (port, detail) in str(err.value)
    finally:
        thread.join(5)
    assert received == [b'\x00\x00\x00\x08\x04\xd2\x16\x2f']


def _self_signed(tmp_path):
    """A throwaway certificate and key for a loopback TLS server."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, u'localhost')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1)).sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / 'cert.pem', tmp_path / 'key.pem'
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def test_probe_of_a_tls_server_ends_tls_cleanly(tmp_path):
    """A PostgreSQL server with ssl=on answers S and then logs 'could not accept SSL connection: EOF detected'
    if the client goes away without a handshake (an error line alerting may watch). The probe must complete
    the handshake and send close_notify (PostgreSQL 15 with ssl=on then logs nothing, checked by hand)."""
    import socket
    import ssl
    import threading
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(1)
    seen = []

    def serve():
        conn, dummy = server.accept()
        conn.settimeout(5)
        try:
            seen.append(conn.recv(8))
            conn.sendall(b'S')
            tls = context.wrap_socket(conn, server_side=True)
            seen.append(('handshake', tls.version()))
            seen.append(('read after handshake', tls.recv(1)))  # b'' only after a clean close_notify
            tls.unwrap().close()
        except (OSError, ValueError) as exc:
            seen.append(('error', repr(exc)))
            conn.close()
        finally:
            server.close()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        _postgres.probe(PgTarget('127.0.0.1', server.getsockname()[1], connect_timeout=3))
    finally:
        thread.join(5)
    assert seen[0] == b'\x00\x00\x00\x08\x04\xd2\x16\x2f'
    assert seen[1][0] == 'handshake', seen
    assert seen[2] == ('read after handshake', b''), seen


# ------------------------------------------------------------------------------------------ the verification login's TLS

class Impostor:
    """Something on a PostgreSQL port that is not the database: it refuses TLS (answers N to the SSLRequest) and asks
    for the password in clear text (AuthenticationCleartextPassword). Records every byte it receives."""

    def __init__(self):
        import socket
        import threading
        self.received = b''
        self.server = socket.socket()
        self.server.bind(('127.0.0.1', 0))
        self.server.listen(4)
        self.server.settimeout(10)
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def _read(self, conn, count):
        data = b''
        while len(data) < count:
            chunk = conn.recv(count - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        self.received += data
        return data

    def serve(self):
        import struct
        try:
            while True:
                conn, dummy = self.server.accept()
                conn.settimeout(10)
                try:
                    while True:
                        length, code = struct.unpack('!ii', self._read(conn, 8))
                        if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest
                            conn.sendall(b'N')
                            continue
                        self._read(conn, length - 8)  # the rest of the startup packet
                        conn.sendall(b'R' + struct.pack('!ii', 8, 3))  # AuthenticationCleartextPassword
                        kind = self._read(conn, 1)
                        size, = struct.unpack('!i', self._read(conn, 4))
                        self._read(conn, size - 4)
                        if kind == b'p':
                            conn.sendall(b'E' + struct.pack('!i', 4 + 31) + b'SFATAL\x00C28P01\x00Mthanks for that\x00\x00\x00')
                        break
                except (EOFError, OSError):
                    pass
                finally:
                    conn.close()
        except OSError:
            return

    def close(self):
        self.server.close()
        self.thread.join(5)


@pytest.fixture
def impostor():
    server = Impostor()
    yield server
    server.close()


def test_default_verification_login_sends_no_password_to_a_server_without_tls(impostor):
    """db_sslmode defaults to require: no password leaves the controller without TLS (prefer sent it to whoever
    answered the port)."""
    from ansible_collections.secops.rotation.plugins.module_utils._db import db_target
    target = db_target({'db_host': '127.0.0.1', 'db_port': impostor.port}, environ={})
    assert target.sslmode == 'require'
    with pytest.raises(PostgresError) as err:
        _postgres.verify_login(target, 'v-app-1', 'SECRET-new-password', attempts=1)
    assert 'server does not support SSL, but SSL was required' in str(err.value)
    assert 'enable ssl on the server, or set db_sslmode' in str(err.value)
    assert b'SECRET-new-password' not in impostor.received and b'v-app-1' not in impostor.received


@pytest.mark.skipif(_postgres.libpq_version() < 160000 if hasattr(_postgres, 'libpq_version') else False,
                    reason='require_auth needs libpq 16')
def test_prefer_when_asked_for_still_never_sends_the_password_in_clear_text(impostor):
    """With db_sslmode=prefer (the user asks for it) an impostor may get the connection without TLS, but
    require_auth=scram-sha-256 makes libpq refuse to answer its cleartext password request."""
    from ansible_collections.secops.rotation.plugins.module_utils._db import db_target
    target = db_target({'db_host': '127.0.0.1', 'db_port': impostor.port, 'db_sslmode': 'prefer'}, environ={})
    assert target.connect_kwargs('u', 'p')['require_auth'] == 'scram-sha-256'
    with pytest.raises(PostgresError) as err:
        _postgres.verify_login(target, 'v-app-1', 'SECRET-new-password', attempts=1)
    assert 'server requested a cleartext password' in str(err.value) and 'db_require_auth' in str(err.value)
    assert b'v-app-1' in impostor.received  # it got the startup packet ...
    assert b'SECRET-new-password' not in impostor.received  # ... never the password


def test_require_auth_only_with_a_libpq_that_knows_it(monkeypatch):
    target = PgTarget('db', 5432, 'orders', 'require', 3, require_auth='scram-sha-256')
    monkeypatch.setattr(_postgres, 'libpq_version', lambda: 170000)
    assert target.connect_kwargs('u', 'p')['require_auth'] == 'scram-sha-256'
    assert 'require_auth' not in PgTarget('db', require_auth=None).connect_kwargs('u', 'p')
    monkeypatch.setattr(_postgres, 'libpq_version', lambda: 150004)
    assert 'require_auth' not in target.connect_kwargs('u', 'p')  # libpq 15 would refuse the keyword
    assert _postgres.require_auth_supported() is False


def test_the_venvs_libpq_supports_require_auth():
    """psycopg2-binary here is built with libpq >= 16, so the password is never sent in clear text."""
    assert _postgres.libpq_version() >= 160000 and _postgres.require_auth_supported() is True
