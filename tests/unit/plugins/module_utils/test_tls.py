# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/_tls (the logic of secops.rotation.served_certificate) against real TLS servers on loopback.

Each server is a thread with an ``ssl`` server socket presenting a certificate made here with ``cryptography``; it
records the SNI name of every handshake. Nothing is mocked but the pause between attempts.
"""


import datetime
import ipaddress
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.secops.rotation.plugins.module_utils import _tls
from ansible_collections.secops.rotation.plugins.module_utils._common import RotationError
from ansible_collections.secops.rotation.plugins.module_utils._pki import format_serial
from ansible_collections.secops.rotation.plugins.module_utils._tls import ServedCertificate, describe, parse_serial

NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
DAY = datetime.timedelta(days=1)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class CA:
    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = (x509.CertificateBuilder().subject_name(_name('tls unit CA')).issuer_name(_name('tls unit CA'))
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(NOW - DAY).not_valid_after(NOW + 365 * DAY)
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))

    def issue(self, cn, dns=(), ips=(), serial=None, days=30):
        key = ec.generate_private_key(ec.SECP256R1())
        names = [x509.DNSName(n) for n in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(self.cert.subject)
                   .public_key(key.public_key()).serial_number(serial or x509.random_serial_number())
                   .not_valid_before(NOW - DAY).not_valid_after(NOW + days * DAY))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(self.key, hashes.SHA256()), key


class Server:
    """A TLS server on 127.0.0.1 presenting ``cert``; ``sni`` lists the server names clients sent."""

    def __init__(self, tmp_path, cert, key):
        (tmp_path / 'srv.crt').write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        (tmp_path / 'srv.key').write_bytes(key_pem)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(tmp_path / 'srv.crt'), str(tmp_path / 'srv.key'))
        self.sni = []
        self.context.sni_callback = lambda sock, name, ctx: self.sni.append(name)
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped:
            try:
                conn, dummy = self.sock.accept()
            except OSError:
                return
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    def stop(self):
        self.stopped = True
        self.sock.close()


@pytest.fixture(scope='module')
def ca():
    return CA()


@pytest.fixture
def serve(tmp_path):
    servers = []

    def start(cert, key):
        servers.append(Server(tmp_path, cert, key))
        return servers[-1]
    yield start
    for server in servers:
        server.stop()


def closed_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def run(params, sleeps=None):
    sleeps = [] if sleeps is None else sleeps
    return ServedCertificate(params, sleep=sleeps.append).run()


# ---------------------------------------------------------------------------------------------- parsing
@pytest.mark.parametrize('text', ['1c:23:4d', '1C:23:4D', '001c234d', '1c234d', '0x1c234d', '1c-23-4d', ' 1c 23 4d ',
                                  0x1c234d])
def test_parse_serial_reads_the_usual_forms(text):
    assert parse_serial(text) == 0x1c234d


@pytest.mark.parametrize('text', ['', 'zz', '1c:2g', None, True, '0x'])
def test_parse_serial_refuses_what_is_no_serial(text):
    with pytest.raises(RotationError, match='certificate serial in hex'):
        parse_serial(text)


def test_describe_uses_the_serial_format_of_pki_cert_renew(ca):
    cert, dummy = ca.issue('app.example.test', dns=['App.example.test', 'b.example.test'], ips=['127.0.0.1'],
                           serial=0x0a1b2c)
    info = describe(cert.public_bytes(serialization.Encoding.DER), now=NOW)
    assert info['serial'] == format_serial(0x0a1b2c) == '0a:1b:2c'
    assert info['subject'] == 'CN=app.example.test' and info['issuer'] == 'CN=tls unit CA'
    assert info['common_name'] == 'app.example.test'
    assert info['dns_names'] == ['app.example.test', 'b.example.test'] and info['ip_sans'] == ['127.0.0.1']
    assert info['not_after'] == (NOW + 30 * DAY).isoformat().replace('+00:00', 'Z')
    assert info['days_remaining'] == 30.0
    assert len(info['fingerprint_sha256'].split(':')) == 32


@pytest.mark.parametrize('params, message', [
    ({'port': 443}, 'host is required'),
    ({'host': 'localhost', 'port': 0}, 'port must be'),
    ({'host': 'localhost', 'port': 'https'}, 'port must be'),
    ({'host': 'localhost', 'port': 443, 'timeout': 0}, 'timeout must be'),
    ({'host': 'localhost', 'port': 443, 'retries': -1}, 'must not be negative'),
    ({'host': 'localhost', 'port': 443, 'expected_serial': 'xyz'}, 'expected_serial must be'),
])
def test_invalid_input_fails_before_connecting(params, message):
    with pytest.raises(RotationError, match=message):
        ServedCertificate(params, fetch=pytest.fail).run()


# ------------------------------------------------------------------------------------------- handshakes
def test_reads_the_served_certificate_and_sends_the_server_name(ca, serve):
    cert, key = ca.issue('app.example.test', dns=['app.example.test'])
    server = serve(cert, key)
    result = run({'host': '127.0.0.1', 'port': server.port, 'server_name': 'app.example.test'})
    assert not result.get('failed') and result['changed'] is False
    assert result['reason'] == 'served' and result['serial'] == format_serial(cert.serial_number)
    assert result['attempts'] == 1 and result['verified'] is False and 'matched' not in result
    assert result['tls_version'].startswith('TLS')
    assert server.sni == ['app.example.test']
    assert 'serves serial %s' % result['serial'] in result['msg']


def test_no_sni_for_an_ip_address_without_server_name(ca, serve):
    cert, key = ca.issue('app.example.test')
    server = serve(cert, key)
    assert run({'host': '127.0.0.1', 'port': server.port})['reason'] == 'served'
    assert server.sni == [None]


@pytest.mark.parametrize('expected', ['plain', 'colons', 'upper'])
def test_expected_serial_in_any_form_matches_at_once(ca, serve, expected):
    cert, key = ca.issue('app.example.test')
    server = serve(cert, key)
    text = {'plain': '%x' % cert.serial_number, 'colons': format_serial(cert.serial_number),
            'upper': format_serial(cert.serial_number).upper()}[expected]
    sleeps = []
    result = run({'host': 'localhost', 'port': server.port, 'expected_serial': text}, sleeps)
    assert not result.get('failed') and result['reason'] == 'match' and result['matched'] is True
    assert result['expected_serial'] == format_serial(cert.serial_number) and sleeps == []


def test_a_wrong_serial_is_retried_then_fails_naming_both_serials(ca, serve):
    cert, key = ca.issue('app.example.test')
    server = serve(cert, key)
    sleeps = []
    result = run({'host': '127.0.0.1', 'port': server.port, 'expected_serial': 'ab:cd', 'retries': 3, 'delay': 0.25}, sleeps)
    assert result['failed'] and result['reason'] == 'mismatch' and result['matched'] is False
    assert result['attempts'] == 4 and sleeps == [0.25, 0.25, 0.25]
    assert result['serial'] == format_serial(cert.serial_number) and result['changed'] is False
    assert 'serves serial %s, not the expected serial ab:cd' % result['serial'] in result['msg']
    assert '4 attempts 0.25s apart' in result['msg']


def test_expected_serial_has_default_retries_and_a_plain_read_none(ca, serve):
    cert, key = ca.issue('app.example.test')
    server = serve(cert, key)
    sleeps = []
    assert run({'host': '127.0.0.1', 'port': server.port, 'expected_serial': '01'}, sleeps)['attempts'] == _tls.DEFAULT_RETRIES + 1
    assert len(sleeps) == _tls.DEFAULT_RETRIES
    sleeps = []
    assert run({'host': '127.0.0.1', 'port': closed_port()}, sleeps)['attempts'] == 1 and sleeps == []


def test_the_served_serial_changing_during_the_retries_matches(ca):
    old, dummy = ca.issue('app.example.test')
    new, dummy = ca.issue('app.example.test')
    served = [old, old, new]

    def fetch(host, port, **kwargs):
        return served.pop(0).public_bytes(serialization.Encoding.DER), 'TLSv1.3'
    sleeps = []
    result = ServedCertificate({'host': 'h', 'port': 1, 'expected_serial': format_serial(new.serial_number), 'retries': 5},
                               fetch=fetch, sleep=sleeps.append).run()
    assert result['reason'] == 'match' and result['attempts'] == 3 and len(sleeps) == 2


def test_a_closed_port_fails_clearly(ca):
    port = closed_port()
    result = run({'host': '127.0.0.1', 'port': port, 'expected_serial': '0a', 'retries': 1, 'delay': 0})
    assert result['failed'] and result['reason'] == 'unreachable' and result['serial'] is None and result['matched'] is False
    assert result['msg'].startswith('expected serial 0a, but cannot connect to 127.0.0.1:%d' % port)
    assert '2 attempts' in result['msg']


def test_an_unknown_host_fails_clearly():
    result = run({'host': 'no-such-host.invalid', 'port': 443})
    assert result['failed'] and result['reason'] == 'unreachable' and 'cannot resolve no-such-host.invalid' in result['msg']


def test_a_server_that_speaks_no_tls_fails_clearly(tmp_path):
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    sock.listen(1)

    def answer():
        conn, dummy = sock.accept()
        conn.recv(1024)
        conn.sendall(b'HTTP/1.0 400 Bad Request\r\n\r\n')
        conn.close()
    threading.Thread(target=answer, daemon=True).start()
    port = sock.getsockname()[1]
    try:
        result = run({'host': '127.0.0.1', 'port': port, 'timeout': 5})
    finally:
        sock.close()
    assert result['failed'] and result['reason'] == 'unreachable'
    assert 'TLS handshake with 127.0.0.1:%d failed' % port in result['msg'] or 'cannot connect to 127.0.0.1:%d' % port in result['msg']


def test_a_silent_server_times_out():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    sock.listen(1)
    port = sock.getsockname()[1]
    try:
        result = run({'host': '127.0.0.1', 'port': port, 'timeout': 0.3})
    finally:
        sock.close()
    assert result['failed'] and 'no TLS answer from 127.0.0.1:%d within 0.3s' % port in result['msg']


# ------------------------------------------------------------------------------------------ verification
def test_ca_cert_verifies_chain_and_name(ca, serve, tmp_path):
    cert, key = ca.issue('app.example.test', dns=['app.example.test'], ips=['127.0.0.1'])
    server = serve(cert, key)
    ca_file = tmp_path / 'ca.pem'
    ca_file.write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    ok = run({'host': '127.0.0.1', 'port': server.port, 'server_name': 'app.example.test', 'ca_cert': str(ca_file)})
    assert ok['reason'] == 'served' and ok['verified'] is True
    assert run({'host': '127.0.0.1', 'port': server.port, 'ca_cert': str(ca_file)})['verified'] is True  # IP SAN

    wrong_name = run({'host': '127.0.0.1', 'port': server.port, 'server_name': 'other.example.test', 'ca_cert': str(ca_file)})
    assert wrong_name['failed'] and wrong_name['reason'] == 'unverified' and wrong_name['verified'] is False
    assert 'does not verify against %s' % ca_file in wrong_name['msg']
    unchecked = run({'host': '127.0.0.1', 'port': server.port, 'server_name': 'other.example.test', 'ca_cert': str(ca_file),
                     'check_hostname': False})
    assert unchecked['verified'] is True

    other = CA()
    other_file = tmp_path / 'other.pem'
    other_file.write_bytes(other.cert.public_bytes(serialization.Encoding.PEM))
    untrusted = run({'host': '127.0.0.1', 'port': server.port, 'server_name': 'app.example.test', 'ca_cert': str(other_file)})
    assert untrusted['failed'] and untrusted['reason'] == 'unverified'

    missing = run({'host': '127.0.0.1', 'port': server.port, 'ca_cert': str(tmp_path / 'nope.pem')})
    assert missing['failed'] and 'cannot read ca_cert' in missing['msg']
