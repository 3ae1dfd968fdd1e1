# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The renewal logic of module_utils/_pki with certificates made here with cryptography (no Vault, no Ansible).

The renewer is driven with a stand-in for the Vault PKI engine that signs with a CA generated in the test; the
real engine is exercised by tests/integration/test_pki_cert_renew.py.
"""


import base64
import datetime
import fcntl
import ipaddress
import os
import pathlib
import re
import select
import shutil
import signal
import stat
import tempfile
import time

import hvac.exceptions
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.secops.rotation.plugins.module_utils import _files, _pki
from ansible_collections.secops.rotation.plugins.module_utils._common import RotationError
from ansible_collections.secops.rotation.plugins.module_utils._files import FileWriteError
from ansible_collections.secops.rotation.plugins.module_utils._pki import (
    CertSpec, Deployed, PkiCertRenewer, RevokeSpec, cert_names, decide, decide_vault, format_serial, name_drift,
    normalize_serial, validate_items)

NOW = datetime.datetime(2026, 11, 26, 12, 0, 0, tzinfo=datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


# ------------------------------------------------------------------------------------------- cert factory
def new_key():
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


class CA:
    """A self-signed CA that issues leaf certificates like Vault does (CN repeated in the DNS SANs)."""

    def __init__(self, name='unit test CA'):
        self.key = new_key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number()).not_valid_before(NOW - 400 * DAY)
                     .not_valid_after(NOW + 3650 * DAY)
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))

    def issue(self, common_name, alt_names=(), ip_sans=(), uri_sans=(), not_before=None, not_after=None, key=None,
              cn_in_sans=True):
        key = key or new_key()
        names = [x509.DNSName(n) for n in ([common_name] if cn_in_sans else []) + list(alt_names)]
        names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ip_sans]
        names += [x509.UniformResourceIdentifier(u) for u in uri_sans]
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
                   .issuer_name(self.cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(not_before or NOW - DAY).not_valid_after(not_after or NOW + 89 * DAY))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(self.key, hashes.SHA256()), key


@pytest.fixture(scope='module')
def ca():
    return CA()


def spec_for(tmp_path, **item):
    base = dict(common_name='app.example.test', role='web', cert_path=str(tmp_path / 'app.crt'),
                key_path=str(tmp_path / 'app.key'))
    base.update(item)
    return CertSpec(base)


def deploy(tmp_path, cert, key):
    (tmp_path / 'app.crt').write_bytes(cert_pem(cert))
    (tmp_path / 'app.key').write_bytes(key_pem(key))
    os.chmod(str(tmp_path / 'app.key'), 0o600)
    os.chmod(str(tmp_path / 'app.crt'), 0o644)


# ------------------------------------------------------------------------------------------------ helpers
@pytest.mark.parametrize('number, text', [(0x1c234d, '1c:23:4d'), (0x1, '01'), (0xabc, '0a:bc'), (0x10ff, '10:ff')])
def test_format_serial_like_vault(number, text):
    assert format_serial(number) == text


def test_cert_names_reads_cn_and_all_san_types(ca):
    cert, dummy = ca.issue('App.Example.test', alt_names=['B.example.test'], ip_sans=['10.0.0.1', '::1'],
                           uri_sans=['spiffe://t/app'])
    assert cert_names(cert) == {'common_name': 'App.Example.test', 'alt_names': ['app.example.test', 'b.example.test'],
                                'ip_sans': ['10.0.0.1', '::1'], 'uri_sans': ['spiffe://t/app']}


def test_name_drift_ignores_the_cn_vault_adds_to_the_sans(ca, tmp_path):
    spec = spec_for(tmp_path, alt_names=['b.example.test'])
    with_cn, dummy = ca.issue('app.example.test', alt_names=['b.example.test'])
    without_cn, dummy = ca.issue('app.example.test', alt_names=['b.example.test'], cn_in_sans=False)
    assert name_drift(spec, with_cn) == [] and name_drift(spec, without_cn) == []


def test_name_drift_ignores_the_idna_form_of_a_non_ascii_cn(ca, tmp_path):
    # Vault puts xn--n-nga1b.example.test in the SANs for the common name ünï.example.test: not a drift (else every
    # run would renew)
    cert, dummy = ca.issue('ünï.example.test', alt_names=['xn--n-nga1b.example.test'], cn_in_sans=False)
    assert name_drift(spec_for(tmp_path, common_name='ünï.example.test'), cert) == []
    assert name_drift(spec_for(tmp_path, common_name='other.example.test'), cert) == [
        'common_name ünï.example.test -> other.example.test', 'alt_names -xn--n-nga1b.example.test']


def test_name_drift_lists_every_difference(ca, tmp_path):
    spec = spec_for(tmp_path, common_name='new.example.test', alt_names=['c.example.test'], ip_sans=['10.0.0.2'],
                    uri_sans=['spiffe://t/new'])
    cert, dummy = ca.issue('app.example.test', alt_names=['b.example.test'], ip_sans=['10.0.0.1'])
    assert name_drift(spec, cert) == [
        'common_name app.example.test -> new.example.test',
        'alt_names +c.example.test', 'alt_names -app.example.test,-b.example.test',
        'ip_sans +10.0.0.2', 'ip_sans -10.0.0.1', 'uri_sans +spiffe://t/new']


def test_ip_sans_are_compared_normalized(ca, tmp_path):
    cert, dummy = ca.issue('app.example.test', ip_sans=['2001:db8::1'])
    assert name_drift(spec_for(tmp_path, ip_sans=['2001:0db8:0:0::1']), cert) == []


# ---------------------------------------------------------------------------------------------- decisions
def decided(tmp_path, ca_issuer=None, **item):
    spec = spec_for(tmp_path, **item)
    return decide(spec, Deployed(spec), NOW, ca_issuer)


def test_missing_files(tmp_path):
    assert decided(tmp_path)[0] == 'missing'
    (tmp_path / 'app.crt').write_text('x')
    reason, detail = decided(tmp_path)
    assert reason == 'missing' and 'key_path %s does not exist' % (tmp_path / 'app.key') in detail


def test_missing_chain_or_bundle_renews(ca, tmp_path):
    cert, key = ca.issue('app.example.test')
    deploy(tmp_path, cert, key)
    assert decided(tmp_path)[0] == 'not_due'
    reason, detail = decided(tmp_path, chain_path=str(tmp_path / 'chain.pem'))
    assert reason == 'missing' and 'chain_path' in detail


def test_invalid_cert_and_encrypted_key(ca, tmp_path):
    cert, key = ca.issue('app.example.test')
    deploy(tmp_path, cert, key)
    (tmp_path / 'app.crt').write_text('not a certificate\n')
    assert decided(tmp_path) == ('invalid', 'cert_path %s holds no PEM certificate' % (tmp_path / 'app.crt'))
    deploy(tmp_path, cert, key)
    (tmp_path / 'app.key').write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.BestAvailableEncryption(b'pass')))
    reason, detail = decided(tmp_path)
    assert reason == 'invalid' and 'no readable unencrypted PEM private key' in detail


def _corrupt_rsa_private_part(key, field):
    """The PEM of ``key`` with one bit flipped in the middle of one private number; the modulus stays intact."""
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    value = getattr(key.private_numbers(), field)
    encoded = value.to_bytes((value.bit_length() + 7) // 8, 'big')
    where = der.index(encoded) + len(encoded) // 2
    broken = der[:where] + bytes([der[where] ^ 0x10]) + der[where + 1:]
    body = base64.encodebytes(broken).decode().replace('\n', '')
    return ('-----BEGIN RSA PRIVATE KEY-----\n%s\n-----END RSA PRIVATE KEY-----\n'
            % '\n'.join(body[i:i + 64] for i in range(0, len(body), 64))).encode()


@pytest.mark.parametrize('field', ['d', 'p', 'q', 'dmp1', 'dmq1', 'iqmp'])
def test_rsa_key_with_a_corrupted_private_part_is_invalid(ca, tmp_path, field):
    # the fast load of keys on disk skips cryptography's RSA check: the arithmetic check must still catch this
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert, dummy = ca.issue('app.example.test', key=key)
    deploy(tmp_path, cert, key)
    assert decided(tmp_path)[0] == 'not_due'
    (tmp_path / 'app.key').write_bytes(_corrupt_rsa_private_part(key, field))
    reason, detail = decided(tmp_path)
    assert reason == 'invalid' and 'no readable unencrypted PEM private key' in detail


def _der_tlv(data, start):
    """(content start, end) of the DER element at ``start``."""
    length, at = data[start + 1], start + 2
    if length & 0x80:
        count = length & 0x7f
        length, at = int.from_bytes(data[at:at + count], 'big'), at + count
    return at, at + length


def _der_children(data, start, end):
    children = []
    while start < end:
        children.append(data[start:_der_tlv(data, start)[1]])
        start = _der_tlv(data, start)[1]
    return children


def _der(tag, content):
    if len(content) < 128:
        return bytes([tag, len(content)]) + content
    size = len(content).to_bytes((len(content).bit_length() + 7) // 8, 'big')
    return bytes([tag, 0x80 | len(size)]) + size + content


def test_certificate_with_a_duplicate_extension_is_invalid_not_a_traceback(ca, tmp_path):
    # cryptography parses extensions lazily and raises DuplicateExtension (not a ValueError) on the first access
    cert, key = ca.issue('app.example.test')
    der = cert.public_bytes(serialization.Encoding.DER)
    outer = _der_children(der, *_der_tlv(der, 0))
    tbs = _der_children(outer[0], *_der_tlv(outer[0], 0))
    extensions = tbs[-1][_der_tlv(tbs[-1], 0)[0]:]  # the SEQUENCE inside the [3] wrapper
    items = _der_children(extensions, *_der_tlv(extensions, 0))
    tbs[-1] = _der(0xa3, _der(0x30, b''.join(items + items)))
    broken = _der(0x30, _der(0x30, b''.join(tbs)) + b''.join(outer[1:]))
    deploy(tmp_path, cert, key)
    (tmp_path / 'app.crt').write_bytes(b'-----BEGIN CERTIFICATE-----\n' + base64.encodebytes(broken) + b'-----END CERTIFICATE-----\n')
    with pytest.raises(x509.DuplicateExtension):
        x509.load_pem_x509_certificate((tmp_path / 'app.crt').read_bytes()).extensions  # pylint: disable=expression-not-assigned
    assert decided(tmp_path) == ('invalid', 'cert_path %s holds no PEM certificate' % (tmp_path / 'app.crt'))


def test_key_mismatch(ca, tmp_path):
    cert, dummy = ca.issue('app.example.test')
    deploy(tmp_path, cert, new_key())
    assert decided(tmp_path)[0] == 'key_mismatch'


def test_bundle_that_does_not_match_the_request_is_drift(ca, tmp_path):
    cert, key = ca.issue('app.example.test')
    deploy(tmp_path, cert, key)
    bundle = tmp_path / 'full.pem'
    with_key = cert_pem(cert) + cert_pem(ca.cert) + key_pem(key)
    bundle.write_bytes(with_key)
    assert decided(tmp_path, bundle_path=str(bundle), bundle_include_key=True)[0] == 'not_due'
    # bundle_include_key turned off: the bundle would get cert_mode (0644) with the key inside; it must be rebuilt
    assert decided(tmp_path, bundle_path=str(bundle)) == (
        'drift', 'bundle_path %s holds a private key but bundle_include_key=false' % bundle)
    bundle.write_bytes(cert_pem(cert) + cert_pem(ca.cert))
    assert decided(tmp_path, bundle_path=str(bundle))[0] == 'not_due'
    assert decided(tmp_path, bundle_path=str(bundle), bundle_include_key=True) == (
        'drift', 'bundle_path %s lacks the private key of key_path (bundle_include_key=true)' % bundle)
    bundle.write_bytes(cert_pem(cert) + cert_pem(ca.cert) + key_pem(new_key()))
    assert decided(tmp_path, bundle_path=str(bundle), bundle_include_key=True)[0] == 'drift'
    other, dummy = ca.issue('app.example.test')
    bundle.write_bytes(cert_pem(other) + cert_pem(ca.cert))
    assert decided(tmp_path, bundle_path=str(bundle)) == (
        'drift', 'bundle_path %s does not start with the certificate of cert_path' % bundle)


def test_key_in_another_format_than_private_key_format_is_drift(ca, tmp_path):
    cert, key = ca.issue('app.example.test')
    deploy(tmp_path, cert, key)  # EC PRIVATE KEY
    assert decided(tmp_path)[0] == 'not_due'
    assert decided(tmp_path, private_key_format='pkcs8') == (
        'drift', 'key_path %s is not in PKCS#8 format (private_key_format=pkcs8)' % (tmp_path / 'app.key'))
    (tmp_path / 'app.key').write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    assert decided(tmp_path, private_key_format='pkcs8')[0] == 'not_due'
    assert decided(tmp_path)[0] == 'drift'
    ed_key = ed25519.Ed25519PrivateKey.generate()  # no traditional PEM format: PKCS#8 is what pem gives
    ed_cert, dummy = ca.issue('app.example.test', key=ed_key)
    (tmp_path / 'app.crt').write_bytes(cert_pem(ed_cert))
    (tmp_path / 'app.key').write_bytes(ed_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                            serialization.NoEncryption()))
    assert decided(tmp_path)[0] == 'not_due'


def test_chain_that_did_not_issue_the_certificate_is_invalid(ca, tmp_path):
    cert, key = ca.issue('app.example.test')
    deploy(tmp_path, cert, key)
    chain = tmp_path / 'chain.pem'
    chain.write_bytes(cert_pem(ca.cert))
    assert decided(tmp_path, chain_path=str(chain))[0] == 'not_due'
    for content in (b'', cert_pem(CA('another CA').cert), b'garbage\n'):
        chain.write_bytes(content)
        assert decided(tmp_path, chain_path=str(chain)) == (
            'invalid', 'chain_path %s does not start with the CA certificate that issued the certificate' % chain)


def test_drift_wins_over_expiry(ca, tmp_path):
    cert, key = ca.issue('app.example.test', not_after=NOW + DAY)
    deploy(tmp_path, cert, key)
    assert decided(tmp_path, alt_names=['b.example.test']) == ('drift', 'alt_names +b.example.test')


def test_issuer_changed_only_when_checked(ca, tmp_path):
    cert, key = ca.issue('app.example.test')
    deploy(tmp_path, cert, key)
    other = CA('another CA')
    assert decided(tmp_path, ca.cert)[0] == 'not_due'
    reason, detail = decided(tmp_path, other.cert)
    assert reason == 'issuer_changed' and 'CN=another CA' in detail
    assert decided(tmp_path, None)[0] == 'not_due'


@pytest.mark.parametrize('not_after, renew_before, reason, detail', [
    (NOW + 10 * DAY, '30d', 'expiring', '10d left, renew_before 30d'),
    (NOW - 2 * DAY, '0', 'expiring', 'expired 2d ago'),
    (NOW + 31 * DAY, '30d', 'not_due', '31d left (renews when fewer than 30d are left)'),
    (NOW + 10 * DAY, '10d', 'not_due', '10d left (renews when fewer than 10d are left)'),
    (NOW + 10 * DAY - datetime.timedelta(seconds=1), '10d', 'expiring', '9d23h59m59s left, renew_before 10d'),
])
def test_expiring(ca, tmp_path, not_after, renew_before, reason, detail):
    cert, key = ca.issue('app.example.test', not_before=NOW - 30 * DAY, not_after=not_after)
    deploy(tmp_path, cert, key)
    assert decided(tmp_path, renew_before=renew_before) == (reason, detail)


def test_lifetime_fraction(ca, tmp_path):
    cert, key = ca.issue('app.example.test', not_before=NOW - 61 * DAY, not_after=NOW + 29 * DAY)  # 90 days, 67.8% used
    deploy(tmp_path, cert, key)
    assert decided(tmp_path, renew_before='7d', renew_at_fraction=0.67) == (
        'lifetime', '67% of its lifetime used, renew_at_fraction 0.67')
    reason, detail = decided(tmp_path, renew_before='7d', renew_at_fraction=0.7)
    assert reason == 'not_due' and 'or past 70% of its lifetime' in detail
    assert decided(tmp_path, renew_before='7d')[0] == 'not_due'


def test_forced_first(ca, tmp_path):
    assert decided(tmp_path, force=True) == ('forced', 'force=true')


# -------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize('item, message', [
    (dict(common_name=''), 'common_name is required'),
    (dict(role=None), 'role is required'),
    (dict(cert_path=None), 'cert_path is required'),
    (dict(renew_before='soon'), "renew_before: invalid duration 'soon'"),
    (dict(ttl='-5d'), "ttl: invalid duration '-5d'"),
    (dict(ttl='7d'), 'renew_before (30d) must be shorter than ttl (7d)'),
    (dict(renew_at_fraction=1.5), 'renew_at_fraction must be greater than 0 and less than 1'),
    (dict(renew_at_fraction='lots'), "renew_at_fraction must be a number between 0 and 1, got 'lots'"),
    (dict(key_mode='0644'), 'key_mode 0644 gives every user of the host access to the private key'),
    (dict(key_mode='rw'), "key_mode: invalid mode 'rw'"),
    (dict(cert_mode=644), "cert_mode: invalid mode 644: a number is used as it is, as Ansible does, and 644 is 01204, not a "
                          "permission mode (0000-0777); YAML reads an unquoted 644 as a decimal number: quote it: '0644'"),
    (dict(alt_names=['10.1.2.3']), "alt_names entry '10.1.2.3' is an IP address: put IP addresses in ip_sans"),
    (dict(alt_names=['bad name!']), "alt_names entry 'bad name!' is not a valid DNS name or email address"),
    (dict(ip_sans=['300.1.1.1']), "ip_sans entry '300.1.1.1' is not an IP address"),
    (dict(uri_sans=['no-scheme']), "uri_sans entry 'no-scheme' is not a URI"),
    (dict(owner='no-such-user-xyz'), "owner 'no-such-user-xyz' does not exist on this host"),
    (dict(bundle_include_key=True), 'bundle_include_key needs bundle_path'),
    (dict(private_key_format='der'), "private_key_format must be pem or pkcs8, got 'der'"),
])
def test_bad_items(tmp_path, item, message):
    with pytest.raises(RotationError) as err:
        spec_for(tmp_path, **item)
    assert message in str(err.value)


def test_paths_must_be_distinct_and_in_existing_directories(tmp_path):
    with pytest.raises(RotationError, match='key_path and cert_path are the same file'):
        spec_for(tmp_path, key_path=str(tmp_path / 'app.crt'))
    with pytest.raises(RotationError, match='directory %s does not exist' % (tmp_path / 'nope')):
        spec_for(tmp_path, cert_path=str(tmp_path / 'nope' / 'app.crt'))
    with pytest.raises(RotationError, match='is a directory'):
        spec_for(tmp_path, cert_path=str(tmp_path))


def test_validate_items_reports_all_items_and_shared_files(tmp_path):
    params = dict(role='web', mount='pki', renew_before='30d', certificates=[
        dict(common_name='a.test', cert_path=str(tmp_path / 'a.crt'), key_path=str(tmp_path / 'a.key')),
        dict(common_name='b.test', cert_path=str(tmp_path / 'b.crt'), key_path=str(tmp_path / 'a.key')),
    ])
    with pytest.raises(RotationError) as err:
        validate_items(params)
    assert 'certificates[0] key_path and certificates[1] key_path are the same file' in str(err.value)
    params['certificates'][1]['key_path'] = str(tmp_path / 'b.key')
    params['certificates'].append(dict(common_name='c.test', ttl='nope'))
    with pytest.raises(RotationError) as err:
        validate_items(params)
    text = str(err.value)
    assert text.startswith('invalid input, nothing was changed: ')
    assert "certificates[2] (c.test): ttl: invalid duration 'nope'" in text and 'certificates[2] (c.test): cert_path is required' in text
    with pytest.raises(RotationError, match='cert_path cannot be set at the top level together with certificates'):
        validate_items(dict(params, cert_path='/tmp/x.crt'))


def test_items_inherit_top_level(tmp_path):
    specs = validate_items(dict(role='web', mount='pki_int', ttl='90d', renew_before='30d', key_mode='0640', certificates=[
        dict(common_name='a.test', cert_path=str(tmp_path / 'a.crt'), key_path=str(tmp_path / 'a.key')),
        dict(common_name='b.test', cert_path=str(tmp_path / 'b.crt'), key_path=str(tmp_path / 'b.key'), ttl='10d',
             renew_before='2d')]))
    assert [(s.mount, s.role, s.ttl, s.renew_before, s.key_mode) for s in specs] == [
        ('pki_int', 'web', 90 * 86400, 30 * 86400, 0o640), ('pki_int', 'web', 10 * 86400, 2 * 86400, 0o640)]
    assert specs[1].issue_params() == {'ttl': '864000s'}


# ----------------------------------------------------------------------------------------------- renewer
class FakePki:
    """Stands in for hvac's ``client.secrets.pki`` (issue/revoke/read CA) with the test CA; records calls."""

    def __init__(self, ca):
        self.ca, self.issued, self.revoked, self.stored, self.reads = ca, [], [], {}, []

    def generate_certificate(self, name, common_name, extra_params, mount_point):
        alt = [n for n in extra_params.get('alt_names', '').split(',') if n]
        ips = [n for n in extra_params.get('ip_sans', '').split(',') if n]
        cert, key = self.ca.issue(common_name, alt_names=alt, ip_sans=ips, not_before=NOW, not_after=NOW + 90 * DAY)
        self.issued.append((mount_point, name, common_name, extra_params))
        return {'data': {'certificate': cert_pem(cert).decode(), 'private_key': key_pem(key).decode(),
                         'issuing_ca': cert_pem(self.ca.cert).decode(), 'ca_chain': [cert_pem(self.ca.cert).decode()],
                         'serial_number': format_serial(cert.serial_number)}}

    def revoke_certificate(self, serial_number, mount_point):
        self.revoked.append(serial_number)
        if serial_number in self.stored:
            self.stored[serial_number] = (self.stored[serial_number][0], 1796026734)
        return {'data': {'revocation_time': 1796026734, 'state': 'revoked'}}

    def store(self, cert, revocation_time=0):
        """Keep ``cert`` under its serial, as ``<mount>/cert/<serial>`` would hold it; returns the serial."""
        self.stored[format_serial(cert.serial_number)] = (cert, revocation_time)
        return format_serial(cert.serial_number)

    def read_certificate(self, serial, mount_point):
        self.reads.append((mount_point, serial))
        if serial not in self.stored:
            raise hvac.exceptions.InvalidPath()
        cert, revocation_time = self.stored[serial]
        return {'data': {'certificate': cert_pem(cert).decode(), 'revocation_time': revocation_time}}

    def read_ca_certificate(self, mount_point):
        return cert_pem(self.ca.cert).decode()


class FakeClient:
    def __init__(self, ca):
        self.secrets = type('Secrets', (), {})()
        self.secrets.pki = FakePki(ca)


@pytest.fixture
def vault(ca):
    client = FakeClient(ca)
    calls = []

    def connect(params):
        calls.append(params)
        return client, None
    connect.calls = calls
    connect.pki = client.secrets.pki
    return connect


def params_for(tmp_path, **extra):
    params = dict(common_name='app.example.test', role='web', mount='pki', cert_path=str(tmp_path / 'app.crt'),
                  key_path=str(tmp_path / 'app.key'), renew_before='30d', key_mode='0600', cert_mode='0644')
    params.update(extra)
    return params


def test_not_due_makes_no_vault_call(ca, tmp_path, vault):
    cert, key = ca.issue('app.example.test')
    deploy(tmp_path, cert, key)
    result = PkiCertRenewer(params_for(tmp_path), connect=vault, clock=lambda: NOW).run()
    assert (result['changed'], result['reason']) == (False, 'not_due')
    assert result['serial'] == format_serial(cert.serial_number) and result['days_remaining_after'] == 89.0
    assert vault.calls == [] and 'private_key' not in result


def test_missing_issues_and_writes_all_files(tmp_path, vault):
    params = params_for(tmp_path, chain_path=str(tmp_path / 'chain.pem'), bundle_path=str(tmp_path / 'bundle.pem'),
                        bundle_include_key=True, alt_names=['b.example.test'], ttl='90d')
    result = PkiCertRenewer(params, connect=vault, clock=lambda: NOW).run()
    assert (result['changed'], result['reason']) == (True, 'missing')
    assert len(vault.calls) == 1 and vault.pki.issued == [('pki', 'web', 'app.example.test',
                                                           {'alt_names': 'b.example.test', 'ttl': '7776000s'})]
    modes = dict((name, stat.S_IMODE(os.stat(str(tmp_path / name)).st_mode)) for name in os.listdir(str(tmp_path)))
    assert modes == {'app.crt': 0o644, 'app.key': 0o600, 'chain.pem': 0o644, 'bundle.pem': 0o600}
    bundle = (tmp_path / 'bundle.pem').read_bytes()
    assert bundle == (tmp_path / 'app.crt').read_bytes() + (tmp_path / 'chain.pem').read_bytes() + (tmp_path / 'app.key').read_bytes()
    assert 'private_key' not in result and 'PRIVATE KEY' not in repr(result)
    assert result['alt_names'] == ['app.example.test', 'b.example.test'] and result['days_remaining_after'] == 90.0


def test_check_mode_writes_and_issues_nothing(tmp_path, vault):
    result = PkiCertRenewer(params_for(tmp_path, ttl='10d', renew_before='1d'), check_mode=True, diff=True, connect=vault,
                            clock=lambda: NOW).run()
    assert (result['changed'], result['reason']) == (True, 'missing')
    assert result['msg'].startswith('would issue app.example.test: missing')
    assert result['not_after'] == '2026-12-06T12:00:00Z'
    assert os.listdir(str(tmp_path)) == [] and vault.pki.issued == []
    assert result['diff']['before'] == {'state': 'absent'} and result['diff']['after']['serial'] == '(new)'


@pytest.fixture
def expiring(ca, tmp_path):
    """A deployed pair that is due (one day left); returns the directory content before the run."""
    old_cert, old_key = ca.issue('app.example.test', not_after=NOW + DAY)
    deploy(tmp_path, old_cert, old_key)
    return dict((name, (tmp_path / name).read_bytes()) for name in os.listdir(str(tmp_path)))


def _assert_nothing_changed(tmp_path, before, result, vault):
    assert result['failed'] and result['reason'] == 'error'
    assert 'previous files were left in place' in result['msg']
    assert dict((name, (tmp_path / name).read_bytes()) for name in os.listdir(str(tmp_path))) == before  # no temp, no backup
    assert stat.S_IMODE(os.stat(str(tmp_path / 'app.key')).st_mode) == 0o600
    assert len(vault.pki.issued) == 1 and len(vault.pki.revoked) == 1
    assert vault.pki.revoked[0] in result['msg']


def test_failed_staging_changes_nothing_and_revokes_the_new_cert(tmp_path, vault, monkeypatch, expiring):
    real_stage = _pki.stage_write

    def failing_stage(path, content, **kwargs):
        if path.endswith('.crt'):
            raise FileWriteError(path, 'disk full (simulated)')
        return real_stage(path, content, **kwargs)
    monkeypatch.setattr(_pki, 'stage_write', failing_stage)
    result = PkiCertRenewer(params_for(tmp_path, backup=True), connect=vault, clock=lambda: NOW).run()
    assert 'cannot write %s: disk full (simulated)' % (tmp_path / 'app.crt') in result['msg']
    _assert_nothing_changed(tmp_path, expiring, result, vault)


def test_failed_rename_puts_back_the_files_already_renamed(tmp_path, vault, monkeypatch, expiring):
    real_commit = _files.StagedWrite.commit

    def failing_commit(self, sync=True):
        if self.result.path.endswith('.crt'):
            self.discard()
            raise FileWriteError(self.result.path, 'renaming the temporary file into place failed (simulated)')
        return real_commit(self, sync)
    monkeypatch.setattr(_files.StagedWrite, 'commit', failing_commit)
    result = PkiCertRenewer(params_for(tmp_path, backup=True), connect=vault, clock=lambda: NOW).run()
    assert 'renaming the temporary file into place failed (simulated)' in result['msg']
    _assert_nothing_changed(tmp_path, expiring, result, vault)


def test_stage_write_renames_only_on_commit(tmp_path):
    path = tmp_path / 'key.pem'
    path.write_bytes(b'old')
    os.chmod(str(path), 0o600)
    staged = _files.stage_write(str(path), b'new', backup=True)
    assert path.read_bytes() == b'old' and len(os.listdir(str(tmp_path))) == 3  # old, temporary file, backup
    result = staged.commit()
    assert path.read_bytes() == b'new' and result.changed and open(result.backup_file, 'rb').read() == b'old'
    assert sorted(os.listdir(str(tmp_path))) == sorted(['key.pem', os.path.basename(result.backup_file)])
    dropped = _files.stage_write(str(path), b'newer', backup=True)
    dropped.discard()
    assert path.read_bytes() == b'new' and len(os.listdir(str(tmp_path))) == 2
    os.chmod(str(path), 0o644)
    fix = _files.stage_write(str(path), b'new')
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o644
    assert fix.commit().changed and stat.S_IMODE(os.stat(str(path)).st_mode) == 0o600


def test_revoke_previous_and_backup(ca, tmp_path, vault):
    old_cert, old_key = ca.issue('app.example.test', not_after=NOW + DAY)
    deploy(tmp_path, old_cert, old_key)
    result = PkiCertRenewer(params_for(tmp_path, backup=True, revoke_previous=True), connect=vault, clock=lambda: NOW).run()
    assert result['reason'] == 'expiring' and result['previous_serial'] == format_serial(old_cert.serial_number)
    assert vault.pki.revoked == [result['previous_serial']] == [result['revoked_serial']]
    assert open(result['backup_files']['cert'], 'rb').read() == cert_pem(old_cert)
    assert open(result['backup_files']['key'], 'rb').read() == key_pem(old_key)
    assert result['days_remaining_before'] == 1.0


def test_failed_revoke_of_previous_only_warns(ca, tmp_path, vault):
    old_cert, old_key = ca.issue('app.example.test', not_after=NOW + DAY)
    deploy(tmp_path, old_cert, old_key)

    def refuse(serial_number, mount_point):
        raise RotationError('certificate with serial %s not found' % serial_number)
    vault.pki.revoke_certificate = refuse
    renewer = PkiCertRenewer(params_for(tmp_path, revoke_previous=True), connect=vault, clock=lambda: NOW)
    result = renewer.run()
    assert result['changed'] and not result['failed'] and result['revoked_serial'] is None
    assert renewer.warnings and format_serial(old_cert.serial_number) in renewer.warnings[0]


def test_mode_fix_is_reason_attributes_without_vault(ca, tmp_path, vault):
    cert, key = ca.issue('app.example.test')
    deploy(tmp_path, cert, key)
    os.chmod(str(tmp_path / 'app.key'), 0o644)
    inode = os.stat(str(tmp_path / 'app.key')).st_ino
    result = PkiCertRenewer(params_for(tmp_path), connect=vault, clock=lambda: NOW).run()
    assert (result['changed'], result['reason']) == (True, 'attributes')
    assert stat.S_IMODE(os.stat(str(tmp_path / 'app.key')).st_mode) == 0o600
    assert os.stat(str(tmp_path / 'app.key')).st_ino == inode and vault.calls == []


def test_batch_one_login_and_a_failed_item(ca, tmp_path, vault):
    cert, key = ca.issue('b.example.test')
    (tmp_path / 'b.crt').write_bytes(cert_pem(cert))
    (tmp_path / 'b.key').write_bytes(key_pem(key))
    os.chmod(str(tmp_path / 'b.key'), 0o600)
    os.chmod(str(tmp_path / 'b.crt'), 0o644)

    def generate(name, common_name, extra_params, mount_point, real=vault.pki.generate_certificate):
        if common_name == 'c.example.test':
            raise RotationError('Vault rejected the request while issuing: common name not allowed')
        return real(name, common_name, extra_params, mount_point)
    vault.pki.generate_certificate = generate
    items = [dict(common_name=n, cert_path=str(tmp_path / (n[0] + '.crt')), key_path=str(tmp_path / (n[0] + '.key')))
             for n in ('a.example.test', 'b.example.test', 'c.example.test')]
    result = PkiCertRenewer(dict(role='web', mount='pki', renew_before='30d', certificates=items), connect=vault, clock=lambda: NOW).run()
    assert result['failed'] and result['changed'] and result['reason'] == 'mixed'
    assert [(r['reason'], r['changed'], r['failed']) for r in result['results']] == [
        ('missing', True, False), ('not_due', False, False), ('error', False, True)]
    assert result['msg'].startswith('1 of 3 certificates failed: c.example.test: Vault rejected')
    assert 'renewed 1 of 3 certificates (missing: 1); 1 not due' in result['msg']
    assert result['reasons'] == {'missing': 1, 'not_due': 1, 'error': 1}
    assert len(vault.calls) == 1
    assert not (tmp_path / 'c.crt').exists()


def test_return_content_only_when_asked(tmp_path, vault):
    result = PkiCertRenewer(params_for(tmp_path, return_content=True), connect=vault, clock=lambda: NOW).run()
    assert result['private_key'] == (tmp_path / 'app.key').read_text()
    assert result['certificate'] == (tmp_path / 'app.crt').read_text()
    again = PkiCertRenewer(params_for(tmp_path, return_content=True), connect=vault, clock=lambda: NOW).run()
    assert again['reason'] == 'not_due' and again['private_key'] == result['private_key']


def test_run_module_hides_batch_entries_of_a_no_log_task():
    """ansible-core shows ``results`` entries of a no_log task unless they carry ``_ansible_no_log``."""
    from ansible_collections.secops.rotation.plugins.module_utils._common import run_module

    class Module:
        def __init__(self, no_log):
            self.no_log, self.exited = no_log, None

        def exit_json(self, **result):
            self.exited = result

    for no_log in (True, False):
        module = Module(no_log)
        run_module(module, lambda: {'changed': True, 'results': [{'private_key': 'k'}, {'private_key': 'l'}]})
        assert [entry.get('_ansible_no_log') for entry in module.exited['results']] == ([True, True] if no_log else [None, None])


def test_a_run_waits_for_another_run_on_the_same_directory(tmp_path, vault):
    with _pki.directory_lock([str(tmp_path)], 1):  # another run (its own open lock file) holds the lock
        renewer = PkiCertRenewer(params_for(tmp_path), connect=vault, clock=lambda: NOW)
        renewer.lock_timeout = 0.2
        result = renewer.run()
        assert result['failed'] and 'another run has been renewing certificates in %s' % tmp_path in result['msg']
        assert os.listdir(str(tmp_path)) == [] and vault.pki.issued == []
        predicted = PkiCertRenewer(params_for(tmp_path), check_mode=True, connect=vault, clock=lambda: NOW).run()
        assert predicted['reason'] == 'missing' and not predicted.get('failed')  # check mode does not wait
    assert PkiCertRenewer(params_for(tmp_path), connect=vault, clock=lambda: NOW).run()['reason'] == 'missing'


def test_directory_lock_takes_one_directory_reached_by_two_paths_once(tmp_path):
    # e.g. cert_path and key_path in one directory seen through a bind mount: two flocks of one process on it would
    # block each other until the timeout
    (tmp_path / 'tls').mkdir()
    os.symlink(str(tmp_path / 'tls'), str(tmp_path / 'alias'))
    with _pki.directory_lock([str(tmp_path / 'alias'), str(tmp_path / 'tls')], 0.2):
        pass
    assert sorted(os.listdir(str(tmp_path))) == ['alias', 'tls'] and os.listdir(str(tmp_path / 'tls')) == []


# ------------------------------------------------------------------------------------- modes (issue 10, item 6)
@pytest.mark.parametrize('item, key_mode, cert_mode', [
    (dict(key_mode=384), 0o600, 0o644),  # what YAML makes of an unquoted 0600: used as it is, as Ansible does
    (dict(key_mode=288, cert_mode=292), 0o440, 0o444),  # unquoted 0440 and 0444
    (dict(key_mode='0440', cert_mode='640'), 0o440, 0o640),
    (dict(key_mode='0o640', cert_mode='0o644'), 0o640, 0o644),
    (dict(key_mode='0700', cert_mode=493), 0o700, 0o755),  # the owner may have any access; unquoted 0755
    (dict(key_mode=0, cert_mode=7), 0, 0o007),  # one digit: both readings agree
])
def test_modes_accepted(tmp_path, item, key_mode, cert_mode):
    spec = spec_for(tmp_path, **item)
    assert (spec.key_mode, spec.cert_mode) == (key_mode, cert_mode)


@pytest.mark.parametrize('item, message', [
    # key_mode: 440 unquoted is the number 440, which Ansible would apply as 0670 (group may write the key)
    (dict(key_mode=440), "key_mode: ambiguous mode 440: a number is used as it is, as Ansible does, which makes 440 the mode "
                         "0670 (what YAML reads from an unquoted 0670), but its digits read like the octal mode 0440; "
                         "quote it: '0440'"),
    (dict(key_mode=416), "key_mode: ambiguous mode 416: a number is used as it is, as Ansible does, which makes 416 the mode "
                         "0640 (what YAML reads from an unquoted 0640), but its digits read like the octal mode 0416; "
                         "quote it: '0640'"),
    (dict(cert_mode=420), "cert_mode: ambiguous mode 420: a number is used as it is, as Ansible does, which makes 420 the "
                          "mode 0644 (what YAML reads from an unquoted 0644), but its digits read like the octal mode 0420; "
                          "quote the mode you mean: '0644' or '0420'"),
    (dict(key_mode=600), "key_mode: invalid mode 600: a number is used as it is, as Ansible does, and 600 is 01130, not a "
                         "permission mode (0000-0777); YAML reads an unquoted 600 as a decimal number: quote it: '0600'"),
    (dict(key_mode=4096), "key_mode: invalid mode 4096: a number is used as it is, as Ansible does, and 4096 is 010000, not a "
                          "permission mode (0000-0777); quote an octal mode such as '0600'"),
    (dict(key_mode='0660'), 'key_mode 0660 gives the group write or execute access to the private key; use 0600, or 0640 '
                            'with group'),
    (dict(key_mode='0650'), 'key_mode 0650 gives the group write or execute access to the private key'),
    (dict(key_mode='0604'), 'key_mode 0604 gives every user of the host access to the private key'),
    (dict(key_mode='4600'), "key_mode: invalid mode '4600': only the permission bits 0000-0777 are allowed"),
    (dict(cert_mode='2644'), "cert_mode: invalid mode '2644': only the permission bits 0000-0777 are allowed"),
    (dict(key_mode='u=rw'), "key_mode: invalid mode 'u=rw': use a quoted octal mode such as '0600'"),
    (dict(key_mode=1.5), "key_mode: invalid mode 1.5: use a quoted octal mode such as '0600'"),
    (dict(key_mode=True), "key_mode: invalid mode True: use a quoted octal mode such as '0600'"),
])
def test_modes_refused(tmp_path, item, message):
    with pytest.raises(RotationError) as err:
        spec_for(tmp_path, **item)
    assert message in str(err.value)
    assert os.listdir(str(tmp_path)) == []


# ------------------------------------------------------------------- content of a failed task (issue 10, item 2)
def test_a_failed_batch_returns_no_private_key(tmp_path, vault):
    def generate(name, common_name, extra_params, mount_point, real=vault.pki.generate_certificate):
        if common_name == 'c.example.test':
            raise RotationError('Vault rejected the request while issuing: common name not allowed')
        return real(name, common_name, extra_params, mount_point)
    vault.pki.generate_certificate = generate
    items = [dict(common_name=n, cert_path=str(tmp_path / (n[0] + '.crt')), key_path=str(tmp_path / (n[0] + '.key')))
             for n in ('a.example.test', 'c.example.test')]
    result = PkiCertRenewer(dict(role='web', mount='pki', renew_before='30d', return_content=True, certificates=items),
                            connect=vault, clock=lambda: NOW).run()
    assert result['failed'] and [r['reason'] for r in result['results']] == ['missing', 'error']
    assert 'PRIVATE KEY' not in repr(result) and 'BEGIN' not in repr(result)
    assert all(key not in entry for entry in [result] + result['results'] for key in ('private_key', 'certificate', 'ca_chain'))
    assert (tmp_path / 'a.key').read_bytes().startswith(b'-----BEGIN')  # renewed and deployed all the same
    assert 'return_content: nothing is returned because the task failed; the renewed files are in place' in result['msg']
    # a task that succeeds still returns them
    good = PkiCertRenewer(dict(role='web', mount='pki', renew_before='30d', return_content=True, certificates=items[:1]),
                          connect=vault, clock=lambda: NOW).run()
    assert good['results'][0]['private_key'] == (tmp_path / 'a.key').read_text()


# ------------------------------------------------------------------------- the renewal lock (issue 10, item 7)
NOBODY = 65534


def _fork_as_nobody(body):
    """Run ``body(report)`` in a child process as uid/gid 65534; ``report(text)`` sends a line to the parent.

    Returns ``(pid, lines)``: ``lines()`` reads the next line the child reported (10 s at most)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            body(lambda text: os.write(write_end, (text + '\n').encode()))
            status = 0
        except BaseException as exc:  # pylint: disable=broad-except
            os.write(write_end, ('child failed: %r\n' % (exc,)).encode())
        finally:
            os._exit(status)  # pylint: disable=protected-access
    os.close(write_end)
    buffered = [b'']

    def lines():
        while b'\n' not in buffered[0]:
            ready, dummy, dummy = select.select([read_end], [], [], 10)
            chunk = os.read(read_end, 4096) if ready else b''
            if not chunk:
                raise AssertionError('the child process reported nothing (so far: %r)' % buffered[0])
            buffered[0] += chunk
        line, buffered[0] = buffered[0].split(b'\n', 1)
        return line.decode()
    lines.fd = read_end
    return pid, lines


def _reap(pid, lines, grace=5):
    """Wait for the child (``grace`` seconds at most, so that it can release what it holds), then kill it."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            break
        time.sleep(0.02)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    os.close(lines.fd)


@pytest.mark.skipif(os.geteuid() != 0, reason='switching to another user needs root')
def test_another_user_can_neither_block_nor_take_the_renewal_lock(vault):
    # a directory every user can read, like /etc/nginx/tls
    shared = tempfile.mkdtemp(prefix='secops-lock-test-', dir='/tmp')
    os.chmod(shared, 0o755)
    nobodys = [os.path.join(base, 'secops-rotation-%d' % NOBODY) for base in ('/run/lock', '/tmp')]
    nobodys = [path for path in nobodys if not os.path.exists(path)]  # the child's own lock directory, to clean up
    release_read, release_write = os.pipe()
    holder = None
    try:
        def hold(report):
            os.close(release_write)  # the parent closing its end is the signal to let go
            fd = os.open(shared, os.O_RDONLY)
            fcntl.flock(fd, fcntl.LOCK_EX)  # what blocked every renewal in this directory before
            try:
                with _pki.directory_lock([shared], 1):  # its own run's lock: must not be root's
                    report('holding the directory and a lock of its own')
                    os.read(release_read, 1)
            except Exception as exc:  # pylint: disable=broad-except
                report('holding the directory; no lock of its own: %s' % exc)
                os.read(release_read, 1)
        holder, holder_lines = _fork_as_nobody(hold)
        assert holder_lines().startswith('holding the directory')
        renewer = PkiCertRenewer(params_for(pathlib.Path(shared)), connect=vault, clock=lambda: NOW)
        renewer.lock_timeout = 1
        result = renewer.run()
        assert not result.get('failed'), result['msg']
        assert result['reason'] == 'missing' and len(vault.pki.issued) == 1

        with _pki.directory_lock([shared], 1):
            held = [os.readlink('/proc/self/fd/' + fd) for fd in os.listdir('/proc/self/fd')
                    if os.path.exists('/proc/self/fd/' + fd)]
            lock_files = [path for path in held if path.endswith('.lock')]
            assert len(lock_files) == 1, held
            lock_file = lock_files[0]
            st, dir_st = os.lstat(lock_file), os.lstat(os.path.dirname(lock_file))
            assert (st.st_uid, stat.S_IMODE(st.st_mode), stat.S_ISREG(st.st_mode)) == (0, 0o600, True)
            assert (dir_st.st_uid, stat.S_IMODE(dir_st.st_mode), stat.S_ISDIR(dir_st.st_mode)) == (0, 0o700, True)
            shared_st = os.stat(shared)
            assert re.search(r'%x.*%x' % (shared_st.st_dev, shared_st.st_ino), os.path.basename(lock_file))

            def take(report):
                for path in (lock_file, os.path.dirname(lock_file)):
                    try:
                        os.close(os.open(path, os.O_RDONLY))
                        report('opened %s' % path)
                    except PermissionError:
                        report('denied')
            taker, taker_lines = _fork_as_nobody(take)
            try:
                assert [taker_lines(), taker_lines()] == ['denied', 'denied']
            finally:
                _reap(taker, taker_lines)
        assert not os.path.exists(lock_file)  # released: nothing left behind
    finally:
        os.close(release_write)
        os.close(release_read)
        if holder is not None:
            _reap(holder, holder_lines)
        shutil.rmtree(shared)
        for path in nobodys:
            if os.path.isdir(path):
                os.rmdir(path)


# --------------------------------------------------------- revoke_previous and the reload (issue 10, item 12)
def _tasks(node):
    """Every task of a list of plays/tasks/blocks/handlers, in order."""
    found = []
    for entry in node or []:
        if not isinstance(entry, dict):
            continue
        if any(key in entry for key in ('block', 'tasks', 'handlers', 'rescue', 'always')):
            for key in ('tasks', 'block', 'rescue', 'always', 'handlers'):
                found.extend(_tasks(entry.get(key)))
        else:
            found.append(entry)
    return found


def _examples():
    import yaml
    from ansible_collections.secops.rotation.plugins.modules import pki_cert_renew
    docs = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'docs', 'pki_certs.md')
    with open(docs) as handle:
        blocks = re.findall(r'```yaml\n(.*?)```', handle.read(), re.S)
    return [('EXAMPLES', yaml.safe_load(pki_cert_renew.EXAMPLES))] + [('docs/pki_certs.md', yaml.safe_load(b)) for b in blocks]


def test_examples_revoke_the_previous_certificate_only_after_the_reload_and_a_health_check():
    for where, examples in _examples():
        for task in _tasks(examples if isinstance(examples, list) else [examples]):
            args = task.get('secops.rotation.pki_cert_renew')
            if isinstance(args, dict) and args.get('revoke_previous'):
                # revoke_previous revokes inside the task; a notified reload runs at the end of the play, after it
                assert 'notify' not in task, '%s: %s revokes before its reload' % (where, task.get('name'))
    tasks = _tasks(_examples()[0][1])
    names = [t.get('name', '') for t in tasks]
    flush = [i for i, t in enumerate(tasks) if t.get('ansible.builtin.meta') == 'flush_handlers']
    health = [i for i, n in enumerate(names) if 'health' in n.lower()]
    revoke = [i for i, t in enumerate(tasks) if 'previous_serial' in repr(t)
              and (t.get('secops.rotation.pki_cert_renew') or {}).get('state') == 'revoked']
    assert flush and health and revoke, names
    assert flush[0] < health[0] < revoke[0]


# ------------------------------------------------------------------ serials: state=revoked and renewal by serial
@pytest.mark.parametrize('text, serial', [
    ('1c:23:4d', '1c:23:4d'), ('1C:23:4D', '1c:23:4d'), ('1c234d', '1c:23:4d'), ('1c-23-4d', '1c:23:4d'),
    (' 1c:23:4d\n', '1c:23:4d'), ('00:1c', '1c'), ('abc', '0a:bc'), ('0a:bc', '0a:bc'), ('1', '01'),
    ('25:18:aa:31:d9:06:90:35:f8:80:e8:02:e1:3b:b7:55:b3:0f:16:66', '25:18:aa:31:d9:06:90:35:f8:80:e8:02:e1:3b:b7:55:b3:0f:16:66'),
    ('2518AA31D9069035F880E802E13BB755B30F1666', '25:18:aa:31:d9:06:90:35:f8:80:e8:02:e1:3b:b7:55:b3:0f:16:66')])
def test_normalize_serial_gives_vaults_form(text, serial):
    assert normalize_serial(text) == serial


@pytest.mark.parametrize('value, message', [
    ('', 'must be a certificate serial'), (None, 'must be a certificate serial'), (1234, 'must be a certificate serial'),
    ('xyz', "'xyz' is not a certificate serial"), ('1:23', "'1:23' is not a certificate serial"),
    ('1c::23', 'is not a certificate serial'), ('1c:23:', 'is not a certificate serial'), ('0x1c', 'is not a certificate'),
    ('00:00', "'00:00' is not a certificate serial (it is zero)"), ('ab' * 65, 'is not a certificate serial')])
def test_normalize_serial_refuses_what_is_no_serial(value, message):
    with pytest.raises(RotationError) as err:
        normalize_serial(value)
    assert message in str(err.value)


@pytest.mark.parametrize('params, message', [
    (dict(state='revoked'), 'state=revoked needs serial'),
    (dict(state='revoked', serial='de:ad', cert_path='/tmp/a.crt'), 'cert_path cannot be used with state=revoked'),
    (dict(state='revoked', serial='de:ad', bundle_path='/tmp/a.pem'), 'bundle_path cannot be used with state=revoked'),
    (dict(state='revoked', serial='de:ad', owner='root'), 'owner cannot be used with state=revoked'),
    (dict(state='revoked', serial='de:ad', backup=True), 'backup cannot be used with state=revoked'),
    (dict(state='revoked', serial='de:ad', cert_mode='0640'), 'cert_mode cannot be used with state=revoked'),
    (dict(state='revoked', serial='de:ad', return_content=True), 'return_content cannot be used with state=revoked'),
    (dict(state='revoked', serial='de:ad', ledger_entry='web'), 'state=revoked takes serial, not ledger_entry'),
    (dict(state='revoked', serial='de:ad', mount='../sys'), "invalid mount '../sys'"),
    (dict(state='revoked', certificates=[dict(serial='de:ad'), dict(serial='DE-AD')]),
     'certificates name serial de:ad of pki more than once'),
    (dict(state='revoked', serial='de:ad', certificates=[dict(serial='be:ef')]),
     'serial cannot be set at the top level together with certificates'),
    (dict(state='revoked', certificates=[]), 'certificates is empty; give at least one certificate (or serial at the top level)'),
    (dict(state='absent', serial='de:ad'), "state must be one of present, revoked, got 'absent'"),
    (dict(common_name='a.test', role='web', serial='de:ad', ledger_entry='web'), 'give serial or ledger_entry, not both'),
    (dict(common_name='a.test', role='web', ledger_entry='../x'), "invalid ledger_entry '../x'"),
    (dict(common_name='a.test', role='web', serial='de:ad', cert_path='/tmp/a.crt'), 'key_path is required when files are written'),
    (dict(common_name='a.test', role='web', serial='de:ad', chain_path='/tmp/c.pem'), 'cert_path is required when files are written'),
    (dict(common_name='a.test', role='web', serial='zz', return_content=True), "serial 'zz' is not a certificate serial"),
    (dict(common_name='a.test', role='web'), 'cert_path is required (or serial or ledger_entry'),
    (dict(role='web', ledger_entry='web', certificates=[dict(common_name='b.test')]),
     'ledger_entry cannot be set at the top level together with certificates'),
])
def test_options_of_revoked_and_serial_are_validated(params, message):
    with pytest.raises(RotationError) as err:
        validate_items(params)
    assert message in str(err.value)


def test_revoked_items_and_serial_items_validate(tmp_path):
    specs = validate_items(dict(state='revoked', mount='pki_int', key_mode='0600', cert_mode='0644', backup=False,
                                certificates=[dict(serial='DE:AD'), dict(serial='beef', mount='pki')]))
    assert [(type(s), s.serial, s.mount) for s in specs] == [(RevokeSpec, 'de:ad', 'pki_int'), (RevokeSpec, 'be:ef', 'pki')]
    spec = validate_items(dict(common_name='a.test', role='web', serial='dead', return_content=True))[0]
    assert (spec.serial, spec.from_vault, spec.paths) == ('de:ad', True, {})
    spec = validate_items(dict(common_name='a.test', role='web', ledger_entry='lb/www', cert_path=str(tmp_path / 'a.crt'),
                               key_path=str(tmp_path / 'a.key')))[0]
    assert (spec.ledger_entry, spec.from_vault, sorted(spec.paths)) == ('lb/www', True, ['cert', 'key'])


def found_in_vault(cert, revocation_time=0):
    return {'serial': format_serial(cert.serial_number), 'pem': cert_pem(cert).decode(), 'cert': cert,
            'revocation_time': revocation_time, 'revoked_at': '2026-11-20T00:00:00Z' if revocation_time else None}


def vault_spec(**item):
    return CertSpec(dict(dict(common_name='app.example.test', role='web', serial='01', return_content=True), **item))


@pytest.mark.parametrize('not_after, item, reason, detail', [
    (NOW + 89 * DAY, {}, 'not_due', '89d left (renews when fewer than 30d are left)'),
    (NOW + DAY / 8, dict(renew_before='2h'), 'not_due', '3h left (renews when fewer than 2h are left)'),
    (NOW + DAY / 24, dict(renew_before='2h'), 'expiring', '1h left, renew_before 2h'),
    (NOW - DAY, {}, 'expiring', 'expired 1d ago'),
    (NOW + 89 * DAY, dict(renew_at_fraction=0.001), 'lifetime', 'of its lifetime used, renew_at_fraction 0.001'),
    (NOW + 89 * DAY, dict(alt_names=['www.example.test']), 'drift', 'alt_names +www.example.test'),
    (NOW + 89 * DAY, dict(common_name='other.example.test'), 'drift', 'common_name app.example.test -> other.example.test'),
    (NOW + 89 * DAY, dict(ip_sans=['10.0.0.1']), 'drift', 'ip_sans +10.0.0.1'),
    (NOW + 89 * DAY, dict(force=True), 'forced', 'force=true'),
])
def test_decide_vault_applies_the_file_rules_to_vaults_certificate(ca, not_after, item, reason, detail):
    cert, dummy = ca.issue('app.example.test', not_after=not_after)
    got, why = decide_vault(vault_spec(**item), found_in_vault(cert), NOW)
    assert got == reason and detail in why, why


def test_decide_vault_revoked_unparsable_and_issuer(ca):
    cert, dummy = ca.issue('app.example.test')
    assert decide_vault(vault_spec(), found_in_vault(cert, revocation_time=1), NOW) == (
        'invalid', 'the certificate %s was revoked at 2026-11-20T00:00:00Z' % format_serial(cert.serial_number))
    assert decide_vault(vault_spec(), dict(found_in_vault(cert), cert=None), NOW)[0] == 'invalid'
    assert decide_vault(vault_spec(), found_in_vault(cert), NOW, issuer=ca.cert)[0] == 'not_due'
    assert decide_vault(vault_spec(), found_in_vault(cert), NOW, issuer=CA('another CA').cert)[0] == 'issuer_changed'


def vault_params(**extra):
    """A certificate by serial/ledger_entry: its new key is returned (return_content), or written when paths are given."""
    return dict(dict(common_name='app.example.test', role='web', mount='pki', renew_before='30d', return_content=True), **extra)


NO_KEY_KEPT = 'with serial or ledger_entry, give cert_path and key_path or return_content=true'
NO_REVOKE_PREVIOUS = 'revoke_previous cannot be used with serial or ledger_entry'


@pytest.mark.parametrize('extra, message', [
    (dict(serial='de:ad'), NO_KEY_KEPT),
    (dict(ledger_entry='lb/www'), NO_KEY_KEPT),
    (dict(serial='de:ad', revoke_previous=True), NO_KEY_KEPT),
    (dict(serial='de:ad', return_content=True, revoke_previous=True), NO_REVOKE_PREVIOUS),
    (dict(ledger_entry='lb/www', return_content=True, revoke_previous=True), NO_REVOKE_PREVIOUS),
    (dict(serial='de:ad', cert_path='{tmp}/a.crt', key_path='{tmp}/a.key', revoke_previous=True), NO_REVOKE_PREVIOUS),
])
@pytest.mark.parametrize('check_mode', [False, True])
def test_serial_refuses_to_throw_the_new_key_away_or_revoke_elsewhere(ca, tmp_path, vault, extra, message, check_mode):
    """A due certificate in Vault, but the new key would be neither written nor returned, or the certificate deployed
    elsewhere would be revoked: refused before anything is read, issued or revoked (check mode too)."""
    cert, dummy = ca.issue('app.example.test', not_after=NOW + DAY)
    serial = vault.pki.store(cert)
    params = dict(common_name='app.example.test', role='web', mount='pki', renew_before='30d')
    params.update((key, value.format(tmp=tmp_path) if isinstance(value, str) else value) for key, value in extra.items())
    if params.get('serial'):
        params['serial'] = serial
    with pytest.raises(RotationError) as err:
        PkiCertRenewer(params, connect=vault, clock=lambda: NOW, check_mode=check_mode).run()
    assert 'invalid input, nothing was changed' in str(err.value) and message in str(err.value)
    assert vault.calls == [] and vault.pki.reads == [] and vault.pki.issued == [] and vault.pki.revoked == []
    assert os.listdir(str(tmp_path)) == []


def test_serial_with_cert_and_key_path_or_return_content_validates(tmp_path):
    paths = dict(cert_path=str(tmp_path / 'a.crt'), key_path=str(tmp_path / 'a.key'))
    for extra in (dict(serial='de:ad', return_content=True), dict(ledger_entry='lb/www', **paths),
                  dict(serial='de:ad', return_content=True, **paths)):
        spec = validate_items(dict(common_name='a.test', role='web', **extra))[0]
        assert spec.from_vault and not spec.revoke_previous


def test_serial_not_due_reads_vault_and_issues_nothing(ca, vault):
    cert, dummy = ca.issue('app.example.test', not_after=NOW + 40 * DAY)
    serial = vault.pki.store(cert)
    result = PkiCertRenewer(vault_params(serial=serial.replace(':', '').upper(), return_content=True), connect=vault,
                            clock=lambda: NOW).run()
    assert (result['changed'], result['reason'], result['serial'], result['previous_serial']) == (
        False, 'not_due', serial, serial)
    assert result['days_remaining'] == 40.0 and result['not_after'] == '2027-01-05T12:00:00Z'
    assert vault.pki.issued == [] and vault.pki.reads == [('pki', serial)]
    assert result['certificate'] == cert_pem(cert).decode() and result['private_key'] is None


def test_serial_due_issues_and_returns_a_matching_key_without_files(ca, vault):
    cert, dummy = ca.issue('app.example.test', not_after=NOW + 10 * DAY)
    serial = vault.pki.store(cert)
    check = PkiCertRenewer(vault_params(serial=serial), connect=vault, clock=lambda: NOW, check_mode=True).run()
    assert (check['changed'], check['reason'], check['previous_serial'], check['serial']) == (True, 'expiring', serial, None)
    assert vault.pki.issued == []
    result = PkiCertRenewer(vault_params(serial=serial, return_content=True), connect=vault, clock=lambda: NOW).run()
    assert (result['changed'], result['reason'], result['previous_serial']) == (True, 'expiring', serial)
    assert len(vault.pki.issued) == 1 and result['serial'] != serial and result['cert_path'] is None
    new_cert = x509.load_pem_x509_certificate(result['certificate'].encode())
    new_key = serialization.load_pem_private_key(result['private_key'].encode(), password=None)
    assert format_serial(new_cert.serial_number) == result['serial']
    assert new_key.public_key().public_numbers() == new_cert.public_key().public_numbers()


def test_serial_due_writes_the_files_when_paths_are_given(ca, tmp_path, vault):
    cert, dummy = ca.issue('app.example.test', alt_names=['old.example.test'])
    serial = vault.pki.store(cert)
    result = PkiCertRenewer(vault_params(serial=serial, alt_names=['new.example.test'], cert_path=str(tmp_path / 'app.crt'),
                                         key_path=str(tmp_path / 'app.key')), connect=vault, clock=lambda: NOW).run()
    assert (result['reason'], result['previous_serial']) == ('drift', serial), result['msg']
    written = x509.load_pem_x509_certificate((tmp_path / 'app.crt').read_bytes())
    assert format_serial(written.serial_number) == result['serial']
    assert stat.S_IMODE(os.stat(str(tmp_path / 'app.key')).st_mode) == 0o600


def test_serial_unknown_fails_clearly_and_issues_nothing(vault):
    result = PkiCertRenewer(vault_params(serial='de:ad:be:ef'), connect=vault, clock=lambda: NOW).run()
    assert result['failed'] and result['msg'] == ('serial de:ad:be:ef is not known to the PKI mount pki (no certificate at '
                                                  'pki/cert/de:ad:be:ef); nothing was issued')
    assert vault.pki.issued == []


class FakeKv:
    def __init__(self, entries):
        self.entries = entries

    def read_secret_version(self, path, mount_point, raise_on_deleted_version):
        if (mount_point, path) not in self.entries:
            raise hvac.exceptions.InvalidPath()
        return {'data': {'data': self.entries[(mount_point, path)], 'metadata': {'version': 3}}}


@pytest.fixture
def ledger(vault):
    entries = {}
    client = vault.pki  # the fake client is reached through the connect function
    kv = FakeKv(entries)
    real = vault

    def connect(params):
        fake, opts = real(params)
        fake.secrets.kv = type('Kv', (), {'v2': kv})()
        return fake, opts
    connect.pki, connect.entries, connect.calls = client, entries, real.calls
    return connect


def test_ledger_entry_reads_current_serial(ca, ledger):
    cert, dummy = ca.issue('app.example.test', not_after=NOW + 5 * DAY)
    serial = ledger.pki.store(cert)
    ledger.entries[('kv', 'rot/lb/www')] = {'kind': 'pki', 'phase': 'idle', 'current': {'id': serial, 'serial': serial.upper()}}
    result = PkiCertRenewer(vault_params(ledger_entry='lb/www', kv_mount='kv', prefix='rot'), connect=ledger, clock=lambda: NOW).run()
    assert (result['reason'], result['previous_serial'], result['ledger_entry']) == ('expiring', serial, 'lb/www')
    assert ledger.pki.reads == [('pki', serial)] and len(ledger.pki.issued) == 1


@pytest.mark.parametrize('entry, message', [
    (None, 'ledger entry secret/rotation/web does not exist; nothing was issued'),
    ({'kind': 'db', 'current': {'id': 'x', 'serial': '01'}}, 'ledger entry secret/rotation/web is of kind db, not pki'),
    ({'kind': 'pki', 'current': {'id': 'x'}}, 'ledger entry secret/rotation/web has no current.serial'),
    ({'kind': 'pki', 'current': None}, 'has no current.serial'),
    ({'kind': 'pki', 'current': {'id': 'x', 'serial': 'nope'}}, "current.serial of ledger entry secret/rotation/web 'nope' is not"),
])
def test_ledger_entry_of_another_kind_or_without_serial_fails_clearly(ledger, entry, message):
    if entry is not None:
        ledger.entries[('secret', 'rotation/web')] = entry
    result = PkiCertRenewer(vault_params(ledger_entry='web'), connect=ledger, clock=lambda: NOW).run()
    assert result['failed'] and message in result['msg'], result['msg']
    assert ledger.pki.issued == [] and ledger.pki.reads == []


def test_revoke_by_serial_is_idempotent_and_predicted(ca, vault):
    cert, dummy = ca.issue('app.example.test')
    serial = vault.pki.store(cert)
    check = PkiCertRenewer(dict(state='revoked', serial=serial.upper()), connect=vault, clock=lambda: NOW, check_mode=True).run()
    assert (check['changed'], check['reason'], check['revoked'], check['revocation_time']) == (True, 'revoked', True, None)
    assert vault.pki.revoked == []
    done = PkiCertRenewer(dict(state='revoked', serial=serial), connect=vault, clock=lambda: NOW).run()
    assert (done['changed'], done['reason'], done['revocation_time'], done['common_name']) == (
        True, 'revoked', '2026-11-30T08:18:54Z', 'app.example.test')
    assert vault.pki.revoked == [serial]
    again = PkiCertRenewer(dict(state='revoked', serial=serial), connect=vault, clock=lambda: NOW).run()
    assert (again['changed'], again['reason'], again['revoked']) == (False, 'already_revoked', True)
    assert vault.pki.revoked == [serial]


def test_revoke_unknown_serial_in_a_batch_fails_that_item_only(ca, vault):
    cert, dummy = ca.issue('app.example.test')
    serial = vault.pki.store(cert)
    result = PkiCertRenewer(dict(state='revoked', certificates=[dict(serial='de:ad'), dict(serial=serial)]),
                            connect=vault, clock=lambda: NOW).run()
    assert result['failed'] and [r['reason'] for r in result['results']] == ['error', 'revoked']
    assert result['msg'].startswith('1 of 2 certificates failed: de:ad: serial de:ad is not known to the PKI mount pki')
    assert 'revoked 1 of 2 certificates (revoked: 1)' in result['msg'] and vault.pki.revoked == [serial]


def test_revoke_an_expired_certificate_vault_refuses_is_reported(ca, vault):
    cert, dummy = ca.issue('app.example.test', not_after=NOW - DAY)
    serial = vault.pki.store(cert)
    vault.pki.revoke_certificate = lambda serial_number, mount_point: {'data': None, 'warnings': ['already expired; refusing']}
    renewer = PkiCertRenewer(dict(state='revoked', serial=serial), connect=vault, clock=lambda: NOW)
    result = renewer.run()
    assert (result['changed'], result['reason'], result['revoked']) == (False, 'expired', False)
    assert renewer.warnings == ['%s in pki was not revoked: already expired; refusing' % serial]
    predicted = PkiCertRenewer(dict(state='revoked', serial=serial), connect=vault, clock=lambda: NOW, check_mode=True).run()
    assert (predicted['changed'], predicted['reason']) == (False, 'expired')


def test_documentation_covers_state_serial_and_the_ledger():
    import yaml
    from ansible_collections.secops.rotation.plugins.modules import pki_cert_renew
    doc, returned = yaml.safe_load(pki_cert_renew.DOCUMENTATION), yaml.safe_load(pki_cert_renew.RETURN)
    options = doc['options']
    assert options['state']['choices'] == ['present', 'revoked'] and options['state']['default'] == 'present'
    assert (options['kv_mount']['default'], options['prefix']['default']) == ('secret', 'rotation')
    assert {'serial', 'ledger_entry'} <= set(options) & set(options['certificates']['suboptions'])
    assert {'revoked', 'revocation_time', 'days_remaining', 'ledger_entry', 'mount'} <= set(returned)
    assert 'no option to revoke' not in pki_cert_renew.DOCUMENTATION.replace('\n', ' ')


def test_a_missing_hvac_is_the_task_error_not_an_item_error(ca, tmp_path):
    """A host without hvac fails the task with missing_required_lib (run_module), not one item with a vague msg."""
    from ansible_collections.secops.rotation.plugins.module_utils._errors import MissingLibraryError

    def connect(params):
        raise MissingLibraryError('hvac', import_error='Traceback: No module named hvac')

    with pytest.raises(MissingLibraryError):
        PkiCertRenewer(params_for(tmp_path, force=True), connect=connect, clock=lambda: NOW).run()
