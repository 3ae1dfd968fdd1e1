# -*- coding: utf-8 -*-
# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the certificate a TLS endpoint presents (the health check of a certificate renewal).

:class:`ServedCertificate` is the logic of the ``secops.rotation.served_certificate`` module: a TLS handshake to
``host:port`` (SNI ``server_name``), the presented leaf certificate described in the same terms as
``pki_cert_renew`` returns (serial in Vault's colon-separated hex, UTC ISO 8601 times), and, with an
``expected_serial``, bounded retries until the endpoint serves that serial (a reloaded service may take a moment).

By default the certificate is only read, not verified - the check is "which certificate does the service present",
not "do clients trust it"; with ``ca_cert`` the chain and the host name are verified too.

Private to the collection: the leading underscore means no compatibility promise to other collections.
"""


from __future__ import annotations

import datetime
import hashlib
import socket
import ssl
import time
from typing import Any, Callable

from ansible_collections.secops.rotation.plugins.module_utils._common import RotationError, to_iso, utcnow, with_defaults
from ansible_collections.secops.rotation.plugins.module_utils._pki import format_serial

try:
    from cryptography import x509
    from cryptography.x509.oid import NameOID
except ImportError:
    pass  # _pki.CRYPTOGRAPHY_IMPORT_ERROR says so; the module reports it with missing_required_lib

# The options of secops.rotation.served_certificate and their defaults (its DOCUMENTATION describes them). retries has
# no default in the spec: unset, it is DEFAULT_RETRIES with expected_serial and 0 without.
SPEC = dict(
    host=dict(type='str', required=True),
    port=dict(type='int', required=True),
    server_name=dict(type='str'),
    expected_serial=dict(type='str'),
    timeout=dict(type='float', default=10),
    retries=dict(type='int'),
    delay=dict(type='float', default=1),
    ca_cert=dict(type='path'),
    check_hostname=dict(type='bool', default=True),
)

DEFAULT_TIMEOUT = float(SPEC['timeout']['default'])
# Retries when an expected serial is given and retries is not (a reloaded service may take a moment).
DEFAULT_RETRIES = 5


def argument_spec() -> dict[str, dict]:
    """The argument spec of ``secops.rotation.served_certificate``."""
    return dict((name, dict(option)) for name, option in SPEC.items())


class TlsProbeError(RotationError):
    """The endpoint could not be reached or gave no certificate; the message says which and why."""

    reason = 'unreachable'


class TlsVerifyError(TlsProbeError):
    """The presented certificate does not verify against ``ca_cert`` (or does not name the server)."""

    reason = 'unverified'


def parse_serial(value: Any, name: str = 'expected_serial') -> int:
    """A certificate serial as an integer, from the ways people write it: Vault's ``1c:23:4d`` (any case, any
    number of leading zeros), plain hex ``1c234d`` or ``0x1c234d``, or hyphen/space separated hex."""
    if isinstance(value, bool) or value is None:
        raise RotationError('%s must be a certificate serial in hex (e.g. 1c:23:4d), got %r' % (name, value))
    if isinstance(value, int):
        value = '%x' % value if value >= 0 else str(value)
    text = str(value).strip().lower()
    if text.startswith('0x'):
        text = text[2:]
    for separator in (':', '-', ' '):
        text = text.replace(separator, '')
    if not text or any(c not in '0123456789abcdef' for c in text):
        raise RotationError('%s must be a certificate serial in hex (e.g. 1c:23:4d), got %r' % (name, value))
    return int(text, 16)


def _name_attr(name, oid):
    values = name.get_attributes_for_oid(oid)
    return values[0].value if values else None


def describe(der: bytes, now: datetime.datetime | None = None) -> dict[str, Any]:
    """The fields of a DER certificate that the module returns (no key material: a certificate is public);
    ``days_remaining`` counts from ``now`` (default: the current time)."""
    cert = x509.load_der_x509_certificate(der)
    now = now or utcnow()
    dns_names, ip_sans = [], []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = sorted(set(n.lower() for n in san.get_values_for_type(x509.DNSName)))
        ip_sans = sorted(set(str(n) for n in san.get_values_for_type(x509.IPAddress)))
    except x509.ExtensionNotFound:
        pass
    return {
        'serial': format_serial(cert.serial_number),
        'subject': cert.subject.rfc4514_string(),
        'issuer': cert.issuer.rfc4514_string(),
        'common_name': _name_attr(cert.subject, NameOID.COMMON_NAME),
        'dns_names': dns_names,
        'ip_sans': ip_sans,
        'not_before': to_iso(cert.not_valid_before_utc),
        'not_after': to_iso(cert.not_valid_after_utc),
        'days_remaining': round((cert.not_valid_after_utc - now).total_seconds() / 86400.0, 2),
        'fingerprint_sha256': ':'.join('%02x' % b for b in bytearray(hashlib.sha256(der).digest())),
    }


def fetch_certificate(host: str, port: int, server_name: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                      ca_cert: str | None = None, check_hostname: bool = True) -> tuple[bytes, str | None]:
    """TLS handshake with ``host:port``; returns ``(der, tls_version)`` of the presented leaf certificate.

    Without ``ca_cert`` nothing is verified (the certificate is only read). With it, the chain must lead to that CA
    and, unless ``check_hostname`` is false, the certificate must name ``server_name`` (or ``host``).
    Raises :class:`TlsProbeError` with a message naming the endpoint and the cause.
    """
    where = '%s:%s' % (host, port)
    if server_name:
        where += ' (server_name %s)' % server_name
    if ca_cert:
        context = ssl.create_default_context(cafile=ca_cert) if _readable(ca_cert) else None
        if context is None:
            raise TlsProbeError('cannot read ca_cert %s' % ca_cert)
        context.check_hostname = bool(check_hostname)
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    # Python sends no SNI for an IP address, but matches it against the IP SANs when verifying.
    sni = server_name or host
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=sni) as tls:
                der = tls.getpeercert(binary_form=True)
                version = tls.version()
    except ssl.SSLCertVerificationError as exc:
        raise TlsVerifyError('the certificate presented at %s does not verify against %s: %s'
                             % (where, ca_cert, exc.verify_message or exc.reason or exc))
    except ssl.SSLError as exc:
        raise TlsProbeError('TLS handshake with %s failed: %s' % (where, exc.reason or exc))
    except socket.timeout:
        raise TlsProbeError('no TLS answer from %s within %ss' % (where, timeout))
    except socket.gaierror as exc:
        raise TlsProbeError('cannot resolve %s: %s' % (host, exc.strerror or exc))
    except (OSError, ValueError) as exc:
        raise TlsProbeError('cannot connect to %s: %s' % (where, getattr(exc, 'strerror', None) or exc))
    if not der:
        raise TlsProbeError('%s presented no certificate' % where)
    return der, version


def _readable(path: str) -> bool:
    try:
        with open(path, 'rb'):
            return True
    except (OSError, IOError):
        return False


class ServedCertificate:
    """Which certificate does ``host:port`` present; with ``expected_serial``, wait (bounded) until it is that one.

    Not a batch module: one endpoint, one result (``changed`` always false, ``reason``, ``msg`` and the certificate's
    fields). The input is checked when :meth:`run` starts (a bad one raises :class:`RotationError`, before any
    connection). ``clock`` (current UTC time, for ``days_remaining``), ``fetch`` and ``sleep`` are seams for unit
    tests; ``check_mode``/``diff`` change nothing (the module only reads); nothing is warned.
    """

    def __init__(self, params: dict[str, Any], check_mode: bool = False, diff: bool = False,
                 warn: Callable[[str], None] | None = None, clock: Callable[[], datetime.datetime] | None = None,
                 fetch: Callable[..., tuple[bytes, str | None]] = fetch_certificate,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.params = with_defaults(params, SPEC)
        self.check_mode, self.diff, self.warn = check_mode, diff, warn
        self.clock = clock or utcnow
        self.fetch, self.sleep = fetch, sleep

    def _check(self) -> None:
        """Read and check the options (sets host, port, server_name, timeout, expected, retries, delay, ca_cert)."""
        params = self.params
        self.host = params.get('host')
        if not self.host or not str(self.host).strip():
            raise RotationError('host is required (the name or address to connect to)')
        self.host = str(self.host).strip()
        port = params.get('port')
        try:
            self.port = int(port)
        except (TypeError, ValueError):
            raise RotationError('port must be a number between 1 and 65535, got %r' % (port,))
        if not 0 < self.port < 65536:
            raise RotationError('port must be a number between 1 and 65535, got %r' % (port,))
        self.server_name = params.get('server_name') or None
        self.timeout = float(params['timeout'])
        if self.timeout <= 0:
            raise RotationError('timeout must be more than 0 seconds, got %r' % (params.get('timeout'),))
        self.expected = None
        if params.get('expected_serial') not in (None, ''):
            self.expected = parse_serial(params.get('expected_serial'))
        retries = params.get('retries')
        self.retries = int(retries if retries is not None else (DEFAULT_RETRIES if self.expected is not None else 0))
        self.delay = float(params['delay'])
        if self.retries < 0 or self.delay < 0:
            raise RotationError('retries and delay must not be negative')
        self.ca_cert = params.get('ca_cert') or None
        self.check_hostname = params.get('check_hostname') is not False

    def _once(self) -> dict[str, Any]:
        der, version = self.fetch(self.host, self.port, server_name=self.server_name, timeout=self.timeout,
                                  ca_cert=self.ca_cert, check_hostname=self.check_hostname)
        try:
            info = describe(der, self.clock())
        except ValueError as exc:
            raise TlsProbeError('%s:%d presented a certificate that cannot be parsed: %s' % (self.host, self.port, exc))
        info['tls_version'] = version
        return info

    def _tries(self, attempts: int) -> str:
        if attempts == 1:
            return '1 attempt'
        return '%d attempts %ss apart' % (attempts, _number(self.delay))

    def run(self) -> dict[str, Any]:
        """Check the input, then handshake (with retries while the expected serial is not served); the result."""
        self._check()
        where = '%s:%d' % (self.host, self.port)
        if self.server_name:
            where += ' (server_name %s)' % self.server_name
        attempts, info, error = 0, None, None
        while True:
            attempts += 1
            try:
                info, error = self._once(), None
            except TlsProbeError as exc:
                info, error = None, exc
            if info is not None and (self.expected is None or parse_serial(info['serial']) == self.expected):
                break
            if attempts > self.retries:
                break
            self.sleep(self.delay)
        result = {'changed': False, 'host': self.host, 'port': self.port, 'server_name': self.server_name,
                  'attempts': attempts, 'verified': bool(self.ca_cert)}
        if self.expected is not None:
            result['expected_serial'] = format_serial(self.expected)
        if info is None:
            result['verified'] = False
            if self.expected is not None:
                result['matched'] = False
            result.update(failed=True, reason=error.reason, serial=None,
                          msg='%s%s (%s)' % (
                              ('expected serial %s, but ' % format_serial(self.expected)) if self.expected is not None else '',
                              error, self._tries(attempts)))
            return result
        result.update(info)
        if self.expected is None:
            result.update(reason='served', msg='%s serves serial %s (%s, valid until %s)'
                          % (where, info['serial'], info['subject'], info['not_after']))
        elif parse_serial(info['serial']) == self.expected:
            result.update(reason='match', matched=True, msg='%s serves the expected serial %s (valid until %s; %s)'
                          % (where, info['serial'], info['not_after'], self._tries(attempts)))
        else:
            result.update(failed=True, reason='mismatch', matched=False,
                          msg='%s serves serial %s, not the expected serial %s, after %s (served: %s, valid until %s)'
                          % (where, info['serial'], format_serial(self.expected), self._tries(attempts), info['subject'],
                             info['not_after']))
        return result


def _number(value: float) -> str:
    return ('%d' % value) if float(value).is_integer() else ('%g' % value)
