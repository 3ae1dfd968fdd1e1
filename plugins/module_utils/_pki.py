# -*- coding: utf-8 -*-
# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Renew TLS certificates from a Vault/OpenBao PKI mount, only when due, deployed atomically.

:class:`PkiCertRenewer` is the logic of the ``secops.rotation.pki_cert_renew`` module:

1. validate every item (durations, modes, paths, SANs, owners) before anything is read or changed;
2. read what is deployed (certificate and key with ``cryptography``) and :func:`decide` a ``reason``:
   ``forced``, ``missing``, ``invalid``, ``key_mismatch``, ``drift``, ``issuer_changed``, ``expiring``,
   ``lifetime``, else ``not_due`` (or ``attributes`` when only a mode/owner had to be fixed);
3. for the items that are due, issue a new certificate with ``<mount>/issue/<role>`` (one Vault client for the
   whole batch, created only when something has to be issued or checked), write chain, key, certificate and
   bundle with :func:`~._files.atomic_write` (key and certificate renamed back-to-back), roll every file back
   and revoke the new serial if a write fails, and optionally revoke the previous serial.

Private to the collection: the leading underscore means no compatibility promise to other collections.
"""


from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import re
import stat
import traceback
from typing import Any, Callable, Iterable, Iterator

CRYPTOGRAPHY_IMPORT_ERROR = None
try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID
except ImportError:
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.secops.rotation.plugins.module_utils._common import (
    BatchRunner, MissingLibraryError, OperatorError, RotationError, batch_argument_spec, count_reasons, expand_batch,
    merge_argument_specs, to_iso, utcnow, with_defaults)
from ansible_collections.secops.rotation.plugins.module_utils._duration import (
    DurationError, format_duration, parse_duration)
from ansible_collections.secops.rotation.plugins.module_utils._files import (
    FileWriteError, LockTimeout, ModeError, atomic_write, check_directory_writable, check_target, lock_directories,
    parse_mode, read_file_bytes, resolve_id, stage_write)
from ansible_collections.secops.rotation.plugins.module_utils._ledger import LedgerStore, check_name, check_path_option
from ansible_collections.secops.rotation.plugins.module_utils._vault import (
    VaultNotFoundError, get_vault_connection, vault_argument_spec, vault_errors)

# ------------------------------------------------------------------------------------------ argument spec
# The one source of the options and their defaults (the module's DOCUMENTATION describes them). Every option of
# ITEM_SPEC is also an option of an item of ``certificates``; what an item leaves unset falls back to the task's value.
ITEM_SPEC = dict(
    common_name=dict(type='str'),
    alt_names=dict(type='list', elements='str'),
    ip_sans=dict(type='list', elements='str'),
    uri_sans=dict(type='list', elements='str'),
    ttl=dict(type='str'),
    mount=dict(type='str', default='pki'),
    role=dict(type='str'),
    cert_path=dict(type='path'),
    key_path=dict(type='path'),
    chain_path=dict(type='path'),
    bundle_path=dict(type='path'),
    bundle_include_key=dict(type='bool', default=False),
    owner=dict(type='str'),
    group=dict(type='str'),
    key_mode=dict(type='raw', default='0600', no_log=False),
    cert_mode=dict(type='raw', default='0644'),
    renew_before=dict(type='str', default='30d'),
    renew_at_fraction=dict(type='float'),
    check_issuer=dict(type='bool', default=False),
    force=dict(type='bool', default=False),
    backup=dict(type='bool', default=False),
    revoke_previous=dict(type='bool', default=False),
    private_key_format=dict(type='str', choices=['pem', 'pkcs8'], default='pem'),
    return_content=dict(type='bool', default=False),
    serial=dict(type='str'),
    ledger_entry=dict(type='str'),
)

STATES = ('present', 'revoked')

# Options of the task only (not of an item). kv_mount/prefix: where ledger_entry is read, as in rotation_state.
TASK_SPEC = dict(
    state=dict(type='str', choices=list(STATES), default='present'),
    kv_mount=dict(type='str', default='secret'),
    prefix=dict(type='str', default='rotation'),
)

LIST_KEY = 'certificates'

# Options an item of ``certificates`` can set; unset ones fall back to the task's top-level value.
ITEM_KEYS = tuple(ITEM_SPEC)


def own_argument_spec() -> dict[str, dict]:
    """The module's own options (without the Vault connection options): the items' options at the top level and
    in ``certificates``, plus the task's options."""
    return merge_argument_specs(batch_argument_spec(ITEM_SPEC, LIST_KEY), TASK_SPEC)


def argument_spec() -> dict[str, dict]:
    """The argument spec of ``secops.rotation.pki_cert_renew``."""
    return merge_argument_specs(own_argument_spec(), vault_argument_spec())


def _default(name: str) -> Any:
    """The spec's default of an item option (what an empty string given for it means, too)."""
    return ITEM_SPEC[name].get('default')


# Options that only make sense when files are written; refused with state=revoked unless left at their defaults.
FILE_OPTIONS = tuple((name, _default(name)) for name in (
    'cert_path', 'key_path', 'chain_path', 'bundle_path', 'owner', 'group', 'backup', 'bundle_include_key', 'key_mode',
    'cert_mode', 'return_content', 'revoke_previous'))

# The files of one certificate, in the order they are written: the chain first (only CA certificates), then
# key and certificate back-to-back, then the bundle that repeats them.
FILE_KINDS = ('chain', 'key', 'cert', 'bundle')
PATH_OPTIONS = {'chain': 'chain_path', 'key': 'key_path', 'cert': 'cert_path', 'bundle': 'bundle_path'}

# What return_content adds to a result; never part of a failed task's result.
CONTENT_KEYS = ('certificate', 'private_key', 'ca_chain')

# What triggers a renewal, most significant first (the first that applies is the ``reason``).
RENEW_REASONS = ('forced', 'missing', 'invalid', 'key_mismatch', 'drift', 'issuer_changed', 'expiring', 'lifetime')

_DNS_RE = re.compile(r'^(\*\.)?([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?$')
_URI_RE = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*:\S+$')


_SERIAL_RE = re.compile(r'^([0-9a-f]{2}([:-][0-9a-f]{2})*|[0-9a-f]+)$')
MAX_SERIAL_BYTES = 64


# ----------------------------------------------------------------------------------------------- helpers
def format_serial(number: int) -> str:
    """A certificate serial the way Vault writes it: lower-case hex bytes joined by colons (``1c:23:4d``)."""
    text = '%x' % number
    if len(text) % 2:
        text = '0' + text
    return ':'.join(text[i:i + 2] for i in range(0, len(text), 2))


def normalize_serial(value: Any, name: str = 'serial') -> str:
    """A serial as Vault prints it (``1c:23:4d``) from ``1c:23:4d``, ``1C-23-4D`` or ``1c234d`` (case-insensitive).

    Leading zero bytes are dropped (``00:1c`` is ``1c``), as Vault does: ``<mount>/cert/00:1c`` would not be found.
    Raises :class:`RotationError` naming ``name`` for anything else.
    """
    if not isinstance(value, str) or not value.strip():
        raise RotationError('%s must be a certificate serial such as 1c:23:4d (hex bytes, separated by colons or not), got %r'
                            % (name, value))
    text = value.strip().lower()
    if not _SERIAL_RE.match(text) or len(text.replace(':', '').replace('-', '')) > 2 * MAX_SERIAL_BYTES:
        raise RotationError('%s %r is not a certificate serial: give hex bytes such as 1c:23:4d or 1c234d' % (name, value))
    number = int(text.replace(':', '').replace('-', ''), 16)
    if not number:
        raise RotationError('%s %r is not a certificate serial (it is zero)' % (name, value))
    return format_serial(number)


def days_between(later: datetime.datetime, earlier: datetime.datetime) -> float:
    """Days from ``earlier`` to ``later`` (negative when ``later`` is in the past), to two decimals."""
    return round((later - earlier).total_seconds() / 86400.0, 2)


def _seconds_text(seconds: float) -> str:
    """``12d3h`` for a positive number of seconds; ``expired 2d ago`` style handled by the caller."""
    return format_duration(max(int(seconds), 0))


def key_mode_problem(mode: int) -> str | None:
    """Why ``mode`` is not acceptable for a private key (``None`` if it is): the group may at most read it, and other
    users may not access it at all."""
    if mode & 0o007:
        return 'key_mode %04o gives every user of the host access to the private key; use 0600, or 0640 with group' % mode
    if mode & 0o030:
        return ('key_mode %04o gives the group write or execute access to the private key; use 0600, or 0640 with group'
                % mode)
    return None


def _text_list(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(',')
    if not isinstance(value, (list, tuple)):
        raise RotationError('%s must be a list of strings, got %s' % (name, type(value).__name__))
    result = []
    for entry in value:
        if not isinstance(entry, str):
            raise RotationError('%s must be a list of strings, got the %s %r' % (name, type(entry).__name__, entry))
        entry = entry.strip()
        if not entry:
            raise RotationError('%s contains an empty name' % name)
        if entry not in result:
            result.append(entry)
    return result


class _ItemSpec:
    """What both kinds of item share: ``fail`` collects the problems of the item (prefixed with ``where``, the item),
    ``done`` raises them all in one :class:`RotationError`."""

    def __init__(self, index: int | None) -> None:
        self.index = index
        self.where = 'certificates[%d]: ' % index if index is not None else ''
        self.errors: list[str] = []
        self.paths: dict[str, str] = {}

    def fail(self, text: str) -> None:
        self.errors.append(self.where + text)

    def done(self) -> None:
        if self.errors:
            raise RotationError('; '.join(self.errors))


class CertSpec(_ItemSpec):
    """One validated certificate request: what to ask Vault for, where the files go, when to renew.

    ``item``: the options of one certificate (an item of ``certificates`` merged with the task's options); what it
    leaves unset takes the default of :data:`ITEM_SPEC`. Each group of fields has its validator, called in the order
    of the messages; every problem is collected and :class:`RotationError` names them all.
    """

    def __init__(self, item: dict[str, Any], index: int | None = None) -> None:
        _ItemSpec.__init__(self, index)
        item = with_defaults(item, ITEM_SPEC)
        self._check_names(item, index)
        self._check_source(item)
        self._check_sans(item)
        self._check_timing(item)
        self._check_paths(item)
        self._check_modes(item)
        self._check_owners(item)
        self._check_flags(item)
        self.done()

    # -- field validators (each sets its attributes, also when the value is bad, and reports through fail)
    def _check_names(self, item: dict[str, Any], index: int | None) -> None:
        """common_name (names the item in every later message), role and mount."""
        self.common_name = item.get('common_name')
        if not isinstance(self.common_name, str) or not self.common_name.strip():
            self.fail('common_name is required')
            self.common_name = ''
        self.common_name = self.common_name.strip()
        self.label = self.common_name or ('certificates[%d]' % index if index is not None else 'certificate')
        if index is not None and self.common_name:
            self.where = 'certificates[%d] (%s): ' % (index, self.common_name)
        self.role = item.get('role')
        if not self.role:
            self.fail('role is required (the PKI role to issue from, as in <mount>/issue/<role>)')
        self.mount = _mount_option(item, self.fail)

    def _check_source(self, item: dict[str, Any]) -> None:
        """The certificate to check may be in Vault instead of a file: a serial, or the ledger's current.serial."""
        self.serial = self.ledger_entry = None
        has_serial = item.get('serial') not in (None, '')
        has_entry = item.get('ledger_entry') not in (None, '')
        if has_serial:
            try:
                self.serial = normalize_serial(item.get('serial'))
            except RotationError as exc:
                self.fail(str(exc))
        if has_entry:
            try:
                self.ledger_entry = check_name(item.get('ledger_entry'), 'ledger_entry')
            except RotationError as exc:
                self.fail(str(exc))
            if has_serial:
                self.fail('give serial or ledger_entry, not both (ledger_entry reads the serial from the ledger)')
        self.from_vault = has_serial or has_entry

    def _check_sans(self, item: dict[str, Any]) -> None:
        """alt_names (DNS names, emails), ip_sans (normalized), uri_sans."""
        self.alt_names = self.ip_sans = self.uri_sans = []
        try:
            self.alt_names = _text_list(item.get('alt_names'), 'alt_names')
            self.ip_sans = _text_list(item.get('ip_sans'), 'ip_sans')
            self.uri_sans = _text_list(item.get('uri_sans'), 'uri_sans')
        except RotationError as exc:
            self.fail(str(exc))
        for name in self.alt_names:
            if _is_ip(name):
                self.fail('alt_names entry %r is an IP address: put IP addresses in ip_sans' % name)
            elif '@' not in name and not _DNS_RE.match(name):
                self.fail('alt_names entry %r is not a valid DNS name or email address' % name)
        normalized_ips = []
        for name in self.ip_sans:
            try:
                normalized_ips.append(str(ipaddress.ip_address(name)))
            except ValueError:
                self.fail('ip_sans entry %r is not an IP address' % name)
        self.ip_sans = normalized_ips
        for name in self.uri_sans:
            if not _URI_RE.match(name):
                self.fail('uri_sans entry %r is not a URI (scheme:rest, e.g. spiffe://example.org/app)' % name)

    def _check_timing(self, item: dict[str, Any]) -> None:
        """ttl, renew_before (shorter than ttl), renew_at_fraction."""
        self.ttl = None
        if item.get('ttl') not in (None, ''):
            try:
                self.ttl = parse_duration(item.get('ttl'), name='ttl')
            except DurationError as exc:
                self.fail(str(exc))
        renew_before = item.get('renew_before')
        try:
            self.renew_before = parse_duration(_default('renew_before') if renew_before == '' else renew_before,
                                               name='renew_before', allow_zero=True)
        except DurationError as exc:
            self.fail(str(exc))
            self.renew_before = None
        self.renew_at_fraction = _fraction(item.get('renew_at_fraction'), self.fail)
        if self.ttl is not None and self.renew_before is not None and self.renew_before >= self.ttl:
            self.fail('renew_before (%s) must be shorter than ttl (%s), or every run would renew the certificate'
                      % (format_duration(self.renew_before), format_duration(self.ttl)))

    def _check_paths(self, item: dict[str, Any]) -> None:
        """cert_path and key_path (required unless the certificate is read from Vault), chain_path, bundle_path: each
        a file of its own in an existing directory, reached without untrusted links."""
        any_path = any(item.get(PATH_OPTIONS[k]) not in (None, '') for k in FILE_KINDS)
        for kind in FILE_KINDS:
            option, value = PATH_OPTIONS[kind], item.get(PATH_OPTIONS[kind])
            if value in (None, ''):
                if kind in ('cert', 'key') and not self.from_vault:
                    self.fail('%s is required (or serial or ledger_entry, to check a certificate in Vault)' % option)
                elif kind in ('cert', 'key') and any_path:
                    self.fail('%s is required when files are written (with serial or ledger_entry, give cert_path and '
                              'key_path, or no path at all)' % option)
            elif not isinstance(value, str):
                self.fail('%s must be a path, got %r' % (option, value))
            else:
                self.paths[kind] = self._check_path(option, value)
        seen: dict[str, str] = {}
        for kind, path in self.paths.items():
            real = os.path.realpath(path)
            if real in seen:
                self.fail('%s and %s are the same file (%s); each file needs its own path'
                          % (PATH_OPTIONS[seen[real]], PATH_OPTIONS[kind], path))
            seen.setdefault(real, kind)
        self.bundle_include_key = bool(item.get('bundle_include_key'))
        if self.bundle_include_key and 'bundle' not in self.paths:
            self.fail('bundle_include_key needs bundle_path')

    def _check_path(self, option: str, value: str) -> str:
        path = os.path.abspath(os.path.expanduser(value))
        if os.path.isdir(path) and not os.path.islink(path):
            self.fail('%s %s is a directory; give the path of the file' % (option, path))
        elif not os.path.isdir(os.path.dirname(path)):
            self.fail('%s %s: directory %s does not exist' % (option, path, os.path.dirname(path)))
        else:
            try:
                check_target(path)  # not a symbolic link, and not in a directory reached through an untrusted one
            except FileWriteError as exc:
                self.fail('%s: %s' % (option, exc))
        return path

    def _check_modes(self, item: dict[str, Any]) -> None:
        """key_mode (no access for others, at most read for the group) and cert_mode."""
        self.key_mode = self.cert_mode = None
        try:
            self.key_mode = parse_mode(item.get('key_mode'), 'key_mode', option=True, check=key_mode_problem)
        except ModeError as exc:
            self.fail(str(exc))
        try:
            self.cert_mode = parse_mode(item.get('cert_mode'), 'cert_mode', option=True)
        except ModeError as exc:
            self.fail(str(exc))

    def _check_owners(self, item: dict[str, Any]) -> None:
        """owner and group exist on this host."""
        self.owner, self.group = item.get('owner') or None, item.get('group') or None
        for option, value, kind in (('owner', self.owner, 'user'), ('group', self.group, 'group')):
            if value is not None:
                try:
                    resolve_id(option, value, kind)
                except FileWriteError:
                    self.fail('%s %r does not exist on this host' % (option, value))

    def _check_flags(self, item: dict[str, Any]) -> None:
        """private_key_format, the booleans, and what a certificate read from Vault cannot do."""
        self.private_key_format = item.get('private_key_format') or _default('private_key_format')
        if self.private_key_format not in ITEM_SPEC['private_key_format']['choices']:
            self.fail('private_key_format must be pem or pkcs8, got %r' % (self.private_key_format,))
        for flag in ('backup', 'force', 'check_issuer', 'revoke_previous', 'return_content'):
            setattr(self, flag, bool(item.get(flag)))
        if self.from_vault:
            # The key of a certificate issued here exists only in this run: it must be written or returned.
            if not self.return_content and not ('cert' in self.paths and 'key' in self.paths):
                self.fail('with serial or ledger_entry, give cert_path and key_path or return_content=true: otherwise a '
                          'new certificate would be issued and its private key thrown away')
            if self.revoke_previous:
                self.fail('revoke_previous cannot be used with serial or ledger_entry: the certificate is deployed '
                          'elsewhere; revoke previous_serial with state=revoked once the new certificate is in place')

    def mode_of(self, kind: str) -> int:
        """The mode a file gets: the key (and a bundle holding it) key_mode, the others cert_mode."""
        if kind == 'key' or (kind == 'bundle' and self.bundle_include_key):
            return self.key_mode
        return self.cert_mode

    def issue_params(self) -> dict[str, str]:
        """``extra_params`` of ``<mount>/issue/<role>`` (everything but common_name)."""
        params = {}
        if self.alt_names:
            params['alt_names'] = ','.join(self.alt_names)
        if self.ip_sans:
            params['ip_sans'] = ','.join(self.ip_sans)
        if self.uri_sans:
            params['uri_sans'] = ','.join(self.uri_sans)
        if self.ttl is not None:
            params['ttl'] = '%ds' % self.ttl
        if self.private_key_format == 'pkcs8':
            params['private_key_format'] = 'pkcs8'
        return params

    def requested(self) -> dict[str, Any]:
        """The names asked for, in the shape of :func:`cert_names`."""
        return {'common_name': self.common_name, 'alt_names': sorted(set(n.lower() for n in self.alt_names)),
                'ip_sans': sorted(set(self.ip_sans)), 'uri_sans': sorted(set(self.uri_sans))}


def _fraction(value: Any, fail: Callable[[str], None]) -> float | None:
    """renew_at_fraction as a float strictly between 0 and 1 (``None``: lifetime is not checked)."""
    if value is None:
        return None
    try:
        fraction = float(value)
    except (TypeError, ValueError):
        fail('renew_at_fraction must be a number between 0 and 1, got %r' % (value,))
        return None
    if not 0 < fraction < 1:
        fail('renew_at_fraction must be greater than 0 and less than 1 (e.g. 0.67 renews after two thirds of '
             'the lifetime), got %r' % (value,))
    return fraction


def _mount_option(item: dict[str, Any], fail: Callable[[str], None]) -> str:
    mount = (item.get('mount') or _default('mount')).strip('/')
    if not mount or '..' in mount.split('/'):
        fail('invalid mount %r' % item.get('mount'))
    return mount


class RevokeSpec(_ItemSpec):
    """One certificate to revoke (``state=revoked``): its normalized serial and mount; no file is involved."""

    def __init__(self, item: dict[str, Any], index: int | None = None) -> None:
        _ItemSpec.__init__(self, index)
        fail = self.fail
        self.mount = _mount_option(item, fail)
        self.serial = None
        if item.get('serial') in (None, ''):
            fail('state=revoked needs serial (the serial of the certificate to revoke, as Vault prints it: 1c:23:4d)')
        else:
            try:
                self.serial = normalize_serial(item.get('serial'))
            except RotationError as exc:
                fail(str(exc))
        self.label = self.serial or (item.get('serial') or 'certificate')
        for key, default in FILE_OPTIONS:
            if item.get(key) not in (None, '', default):
                fail('%s cannot be used with state=revoked: revoking touches no file and returns no key' % key)
        if item.get('ledger_entry') not in (None, ''):
            fail('state=revoked takes serial, not ledger_entry')
        self.done()


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def validate_items(params: dict[str, Any]) -> list[CertSpec | RevokeSpec]:
    """Every item of the task as a :class:`CertSpec` (a :class:`RevokeSpec` with ``state=revoked``); all problems of all
    items in one :class:`RotationError` (``invalid input, nothing was changed: ...``)."""
    params = with_defaults(params, own_argument_spec())
    items, state = params.get(LIST_KEY), params['state']
    if state not in STATES:
        raise RotationError('invalid input, nothing was changed: state must be one of %s, got %r' % (', '.join(STATES), state))
    if items is not None and not isinstance(items, list):
        raise RotationError('certificates must be a list of certificate definitions')
    if items == [] and not params.get('common_name' if state == 'present' else 'serial'):
        top = 'common_name, cert_path and key_path' if state == 'present' else 'serial'
        raise RotationError('invalid input, nothing was changed: certificates is empty; give at least one certificate '
                            '(or %s at the top level)' % top)
    if items:
        for key in ('common_name', 'cert_path', 'key_path', 'chain_path', 'bundle_path', 'serial', 'ledger_entry'):
            if params.get(key):
                raise RotationError('%s cannot be set at the top level together with certificates: it would be the same for '
                                    'every item; set it in each item' % key)

    def check(item: Any, index: int) -> CertSpec | RevokeSpec:
        if not isinstance(item, dict):
            raise RotationError('certificates[%d] must be a dictionary' % index)
        return (CertSpec if state == 'present' else RevokeSpec)(item, index if items else None)

    # Each spec names its item in every one of its messages (certificates[2] (c.test): ...), so the checker joins the
    # messages as they are (as for a single item) and this prefix says that nothing was changed.
    checker = BatchRunner(LIST_KEY, LIST_KEY, single=True, name=str)
    try:
        specs = checker.check_all(expand_batch(params, LIST_KEY, ITEM_KEYS), check)
    except RotationError as exc:
        raise RotationError('invalid input, nothing was changed: %s' % exc)
    errors = _duplicate_serials(specs) if state == 'revoked' else _shared_files(specs)
    if errors:
        raise RotationError('invalid input, nothing was changed: ' + '; '.join(errors))
    return specs


def _duplicate_serials(specs: list[RevokeSpec]) -> list[str]:
    serials = [(spec.mount, spec.serial) for spec in specs]
    return ['certificates name serial %s of %s more than once' % (twice[1], twice[0])
            for twice in sorted(set(s for s in serials if serials.count(s) > 1))]


def _shared_files(specs: list[CertSpec]) -> list[str]:
    errors, owners = [], {}
    for spec in specs:
        for kind, path in spec.paths.items():
            real = os.path.realpath(path)
            if real in owners and owners[real][0] is not spec:
                other, other_kind = owners[real]
                errors.append('certificates[%s] %s and certificates[%s] %s are the same file %s: each certificate needs '
                              'its own files' % (other.index, PATH_OPTIONS[other_kind], spec.index, PATH_OPTIONS[kind], path))
            owners.setdefault(real, (spec, kind))
    return errors


# ------------------------------------------------------------------------------------------ reading certs
def load_certificate(data: bytes) -> x509.Certificate | None:
    """The first certificate of PEM ``data`` (``bytes``), or ``None`` if there is none that parses."""
    try:
        cert = x509.load_pem_x509_certificate(data)
        # parsed lazily: a malformed or duplicate extension, or a key of an unsupported algorithm, raises here
        cert.extensions  # pylint: disable=pointless-statement
        cert.public_key()
        cert.not_valid_after_utc  # pylint: disable=pointless-statement
        return cert
    except Exception:  # pylint: disable=broad-except  # ValueError, DuplicateExtension, UnsupportedAlgorithm, ...
        return None


def _rsa_numbers_consistent(key: Any) -> bool:
    """True unless ``key`` is an RSA key whose private numbers do not belong together.

    The arithmetic part of OpenSSL's RSA key check without its primality tests (the slow part): ``p * q == n``,
    ``e * d == 1`` modulo ``p - 1`` and ``q - 1``, and the CRT values. A corrupted private part (``d``, ``p``,
    ``q``, ...) of a key whose modulus is intact still matches the certificate's public key, and only this tells.
    """
    if not isinstance(key, rsa.RSAPrivateKey):
        return True
    numbers = key.private_numbers()
    p, q, d = numbers.p, numbers.q, numbers.d
    n, e = numbers.public_numbers.n, numbers.public_numbers.e
    return (p > 1 and q > 1 and p * q == n and (e * d) % (p - 1) == 1 and (e * d) % (q - 1) == 1
            and numbers.dmp1 == d % (p - 1) and numbers.dmq1 == d % (q - 1) and (numbers.iqmp * q) % p == 1)


def load_private_key(data: bytes, full_check: bool = True) -> Any:
    """A private key from PEM ``data``; ``None`` if it does not parse (also when it is encrypted) or is inconsistent.

    ``full_check=False`` replaces cryptography's RSA key check (which tests ``p`` and ``q`` for primality: 30-70 ms
    per RSA key on the lab machine) with :func:`_rsa_numbers_consistent` (microseconds), so a not-due run over many
    certificates stays fast and a key file whose private part was corrupted is still ``invalid``. EC keys are
    always checked by cryptography. A key fresh from Vault is checked fully.
    """
    try:
        if full_check:
            return serialization.load_pem_private_key(data, password=None)
        key = serialization.load_pem_private_key(data, password=None, unsafe_skip_rsa_key_validation=True)
        return key if _rsa_numbers_consistent(key) else None
    except (ValueError, TypeError):  # TypeError: encrypted key without a password
        return None
    except Exception:  # pylint: disable=broad-except  # UnsupportedAlgorithm and friends
        return None


def _public_der(key_or_cert: Any) -> bytes:
    return key_or_cert.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)


def key_matches(key: Any, cert: x509.Certificate) -> bool:
    """True if ``key`` is the private key of ``cert``'s public key."""
    return _public_der(key) == _public_der(cert)


def cert_names(cert: x509.Certificate) -> dict[str, Any]:
    """CN and SANs of a certificate: ``{common_name, alt_names (DNS + email, lower-case), ip_sans, uri_sans}``."""
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = cns[0].value if cns else ''
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        dns, emails, ips, uris = [], [], [], []
    else:
        dns = san.get_values_for_type(x509.DNSName)
        emails = san.get_values_for_type(x509.RFC822Name)
        ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    return {'common_name': common_name, 'alt_names': sorted(set(n.lower() for n in list(dns) + list(emails))),
            'ip_sans': sorted(set(ips)), 'uri_sans': sorted(set(uris))}


def cert_info(cert: x509.Certificate, now: datetime.datetime) -> dict[str, Any]:
    """What the module returns about a certificate (no secret): serial, dates, days remaining, names, issuer."""
    info = {'serial': format_serial(cert.serial_number), 'not_before': to_iso(cert.not_valid_before_utc),
            'not_after': to_iso(cert.not_valid_after_utc), 'days_remaining': days_between(cert.not_valid_after_utc, now),
            'issuer': cert.issuer.rfc4514_string(), 'subject': cert.subject.rfc4514_string()}
    info.update(cert_names(cert))
    return info


def _dns_forms(name: str) -> set[str]:
    """A name lower-cased, plus its IDNA (``xn--``) form, which is what Vault puts in the SANs for a non-ASCII name."""
    forms = {name.lower()}
    try:
        forms.add(name.encode('idna').decode('ascii').lower())
    except UnicodeError:
        pass
    return forms


def name_drift(spec: CertSpec, cert: x509.Certificate) -> list[str]:
    """Differences between the request and the certificate, as short texts (empty list: no drift).

    Vault adds the common name to the DNS (or email) SANs unless the role excludes it, so the common name is
    ignored when the alternative names are compared.
    """
    have, want = cert_names(cert), spec.requested()
    changes = []
    if have['common_name'].lower() != want['common_name'].lower():
        changes.append('common_name %s -> %s' % (have['common_name'] or '(none)', want['common_name']))
    cn = _dns_forms(want['common_name'])
    for key in ('alt_names', 'ip_sans', 'uri_sans'):
        have_set = set(have[key]) - (cn if key == 'alt_names' else set())
        want_set = set(want[key]) - (cn if key == 'alt_names' else set())
        added, removed = sorted(want_set - have_set), sorted(have_set - want_set)
        if added:
            changes.append('%s +%s' % (key, ',+'.join(added)))
        if removed:
            changes.append('%s -%s' % (key, ',-'.join(removed)))
    return changes


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """All certificates of PEM ``data``, in order (``[]`` if there is none, or one does not parse)."""
    try:
        return x509.load_pem_x509_certificates(data)
    except Exception:  # pylint: disable=broad-except  # ValueError and friends, as in load_certificate
        return []


def key_format_drift(spec: CertSpec, deployed: Deployed) -> list[str]:
    """``private_key_format`` changed since the key was written: PKCS#8 (``PRIVATE KEY``) or the traditional PEM
    of the key type (``RSA PRIVATE KEY``, ``EC PRIVATE KEY``; other key types have only PKCS#8)."""
    pkcs8 = b'-----BEGIN PRIVATE KEY-----' in deployed.data['key']
    if spec.private_key_format == 'pkcs8' and not pkcs8:
        return ['key_path %s is not in PKCS#8 format (private_key_format=pkcs8)' % spec.paths['key']]
    if spec.private_key_format == 'pem' and pkcs8 and isinstance(deployed.key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        return ['key_path %s is in PKCS#8 format (private_key_format=pem)' % spec.paths['key']]
    return []


def bundle_drift(spec: CertSpec, deployed: Deployed) -> list[str]:
    """Why the bundle on disk is not what this request writes, as short texts (empty list: it is).

    The bundle is rebuilt only when the certificate is renewed, so a bundle that holds another certificate, or the
    private key although ``bundle_include_key`` is now false (the bundle then gets ``cert_mode``: the key would be
    made readable by everyone), or lacks it although it is now true, must be a reason to renew.
    """
    data = deployed.data.get('bundle')
    if data is None:
        return []
    path = spec.paths['bundle']
    certs = load_certificates(data)
    if not certs or certs[0] != deployed.cert:
        return ['bundle_path %s does not start with the certificate of cert_path' % path]
    has_key = b'PRIVATE KEY-----' in data
    if spec.bundle_include_key and (not has_key or deployed.data['key'].strip() not in data):
        return ['bundle_path %s lacks the private key of key_path (bundle_include_key=true)' % path]
    if has_key and not spec.bundle_include_key:
        return ['bundle_path %s holds a private key but bundle_include_key=false' % path]
    return []


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True if ``issuer`` (a certificate) signed ``cert``."""
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except Exception:  # pylint: disable=broad-except  # ValueError, TypeError, InvalidSignature
        return False


class Deployed:
    """What is on disk for one :class:`CertSpec`: raw bytes and stat of every file, parsed cert and key."""

    def __init__(self, spec: CertSpec) -> None:
        self.data, self.stats, self.missing = {}, {}, []
        for kind, path in spec.paths.items():
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                self.missing.append(kind)
                continue
            except OSError as exc:
                raise RotationError('cannot read %s %s: %s' % (PATH_OPTIONS[kind], path, exc.strerror or exc))
            if stat.S_ISLNK(st.st_mode):
                raise RotationError('%s %s is a symbolic link; secret files are never written through a link: give the path '
                                    'of the file itself' % (PATH_OPTIONS[kind], path))
            if not stat.S_ISREG(st.st_mode):
                raise RotationError('%s %s exists and is not a regular file' % (PATH_OPTIONS[kind], path))
            try:
                self.data[kind] = read_file_bytes(path, follow_symlinks=False)
            except OSError as exc:
                raise RotationError('cannot read %s %s: %s' % (PATH_OPTIONS[kind], path, exc.strerror or exc))
            if self.data[kind] is None:
                self.missing.append(kind)
                del self.data[kind]
            else:
                self.stats[kind] = st
        self.cert = load_certificate(self.data['cert']) if 'cert' in self.data else None
        self.key = load_private_key(self.data['key'], full_check=False) if 'key' in self.data else None


def decide(spec: CertSpec, deployed: Deployed, now: datetime.datetime,
           issuer: x509.Certificate | None = None) -> tuple[str, str]:
    """Return ``(reason, detail)``: why the certificate must be renewed, or ``('not_due', detail)``.

    ``issuer``: the mount's CA certificate when ``check_issuer`` is on (else ``None``: not checked).
    ``detail`` is a short text for ``msg`` (names, days, paths; never key material).
    """
    cert, key, paths = deployed.cert, deployed.key, spec.paths
    if spec.force:
        return 'forced', 'force=true'
    if deployed.missing:
        return 'missing', ', '.join('%s %s does not exist' % (PATH_OPTIONS[k], paths[k]) for k in ('cert', 'key', 'chain', 'bundle')
                                    if k in deployed.missing)
    if cert is None:
        return 'invalid', 'cert_path %s holds no PEM certificate' % paths['cert']
    if key is None:
        return 'invalid', 'key_path %s holds no readable unencrypted PEM private key' % paths['key']
    if not key_matches(key, cert):
        return 'key_mismatch', 'the key in %s does not belong to the certificate in %s' % (paths['key'], paths['cert'])
    chain = deployed.data.get('chain')
    if chain is not None:
        certs = load_certificates(chain)
        if not certs or not issued_by(cert, certs[0]):
            return 'invalid', 'chain_path %s does not start with the CA certificate that issued the certificate' % paths['chain']
    return decide_cert(spec, cert, now, issuer, key_format_drift(spec, deployed) + bundle_drift(spec, deployed))


def decide_vault(spec: CertSpec, found: dict[str, Any], now: datetime.datetime,
                 issuer: x509.Certificate | None = None) -> tuple[str, str]:
    """Like :func:`decide`, for the certificate Vault holds under a serial (``found``: :meth:`PkiCertRenewer.
    vault_certificate`); there is no key and no file, so only force, revocation, names, issuer and time count."""
    if spec.force:
        return 'forced', 'force=true'
    if found['cert'] is None:
        return 'invalid', 'the certificate %s in %s does not parse' % (found['serial'], spec.mount)
    if found['revocation_time']:
        return 'invalid', 'the certificate %s was revoked at %s' % (found['serial'], found['revoked_at'])
    return decide_cert(spec, found['cert'], now, issuer)


def decide_cert(spec: CertSpec, cert: x509.Certificate, now: datetime.datetime, issuer: x509.Certificate | None = None,
                more_drift: Iterable[str] = ()) -> tuple[str, str]:
    """The due rules every certificate shares, wherever it was read: drift of the names (and ``more_drift``, what
    the files add), issuer, expiry, lifetime. Returns ``(reason, detail)`` as :func:`decide`."""
    drift = name_drift(spec, cert) + list(more_drift)
    if drift:
        return 'drift', '; '.join(drift)
    if issuer is not None and not issued_by(cert, issuer):
        return 'issuer_changed', 'the certificate was not issued by the current CA of %s (%s)' % (
            spec.mount, issuer.subject.rfc4514_string())
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    remaining = (not_after - now).total_seconds()
    if remaining <= 0:
        return 'expiring', 'expired %s ago' % _seconds_text(-remaining)
    if remaining < spec.renew_before:
        return 'expiring', '%s left, renew_before %s' % (_seconds_text(remaining), format_duration(spec.renew_before))
    lifetime = (not_after - not_before).total_seconds()
    if spec.renew_at_fraction is not None and lifetime > 0:
        used = (now - not_before).total_seconds() / lifetime
        if used >= spec.renew_at_fraction:
            return 'lifetime', '%d%% of its lifetime used, renew_at_fraction %s' % (int(used * 100), spec.renew_at_fraction)
    detail = '%s left (renews when fewer than %s are left' % (_seconds_text(remaining), format_duration(spec.renew_before))
    if spec.renew_at_fraction is not None and lifetime > 0:
        detail += ' or past %d%% of its lifetime' % int(spec.renew_at_fraction * 100)
    return 'not_due', detail + ')'


# ---------------------------------------------------------------------------------------------- locking
LOCK_TIMEOUT = 120  # seconds to wait for another run that renews files in the same directory


@contextlib.contextmanager
def directory_lock(directories: Iterable[str], timeout: float) -> Iterator[None]:
    """Hold the renewal lock of each directory for one certificate (:func:`~._files.lock_directories`).

    Two runs of the module for the same files (overlapping schedules) would otherwise both issue, and their
    renames could interleave into the key of one with the certificate of the other. The second run waits, then
    finds the fresh certificate and reports ``not_due``.

    The lock is a lock file named after the directory's device and inode in a directory only the module's user can
    open (``/run/secops-rotation`` for root), not a ``flock`` on the target directory: any user who can read that
    directory could hold such a lock and stop every renewal. Nothing is created in the target directories, so a
    not-due run works in a read-only directory too. One directory reached by two paths (a bind mount) is locked once.
    """
    try:
        with lock_directories(directories, timeout):
            yield
    except LockTimeout as exc:
        raise RotationError('another run has been renewing certificates in %s for more than %ds; try again later'
                            % (exc.directory, timeout))


# ----------------------------------------------------------------------------------------------- renewer
class PkiCertRenewer:
    """Decide and renew the certificates of one task (a single item or ``certificates``).

    ``params``: the module's options (:func:`argument_spec`; what is missing takes the spec's default).
    ``warn(text)`` reports warnings (the module passes ``module.warn``); they are also kept in :attr:`warnings`.
    ``clock()``: the current UTC time (read once per task), the time seam of the tests.
    ``connect(params)`` returns ``(client, opts)``; it defaults to the collection's Vault client factory and is
    called at most once, and only when a certificate has to be issued, revoked or its issuer checked.
    """

    def __init__(self, params: dict[str, Any], check_mode: bool = False, diff: bool = False,
                 warn: Callable[[str], None] | None = None, clock: Callable[[], datetime.datetime] | None = None,
                 connect: Callable[[dict[str, Any]], tuple[Any, dict[str, Any]]] | None = None) -> None:
        self.params = with_defaults(params, own_argument_spec())
        self.check_mode = check_mode
        self.diff = diff
        self._connect = connect or get_vault_connection
        self._connection = None
        self._connection_error: str | None = None
        self.clock = clock or utcnow
        self.now = self.clock()
        self.warnings: list[str] = []
        self._warn = warn
        self._issuers: dict[str, Any] = {}
        self._ledger = None
        self.lock_timeout = LOCK_TIMEOUT
        self.state = self.params['state']

    # -- Vault
    def warn(self, text: str) -> None:
        self.warnings.append(text)
        if self._warn is not None:
            self._warn(text)

    def connection(self) -> tuple[Any, dict[str, Any]]:
        """``(client, opts)``, logging in once per task; a failed login fails every item that needs Vault."""
        if self._connection_error is not None:
            raise RotationError(self._connection_error)
        if self._connection is None:
            try:
                self._connection = self._connect(self.params)
            except MissingLibraryError:
                raise  # the task's error, reported with missing_required_lib, not one item's
            except OperatorError as exc:
                self._connection_error = str(exc)
                raise RotationError(self._connection_error)
        return self._connection

    def mount_issuer(self, mount: str) -> x509.Certificate:
        """The default issuer (CA certificate) of ``mount``, read once per mount."""
        if mount not in self._issuers:
            client, opts = self.connection()
            with vault_errors('reading the CA certificate of %s' % mount, opts):
                pem = client.secrets.pki.read_ca_certificate(mount_point=mount)
            issuer = load_certificate(pem.encode('utf-8') if isinstance(pem, str) else pem) if pem else None
            if issuer is None:
                raise RotationError('the PKI mount %s has no CA certificate (is a root or intermediate CA configured?)' % mount)
            self._issuers[mount] = issuer
        return self._issuers[mount]

    def issue(self, spec: CertSpec) -> dict[str, Any]:
        client, opts = self.connection()
        with vault_errors('issuing a certificate for %s from %s/issue/%s' % (spec.common_name, spec.mount, spec.role), opts):
            response = client.secrets.pki.generate_certificate(name=spec.role, common_name=spec.common_name,
                                                               extra_params=spec.issue_params(), mount_point=spec.mount)
        for warning in (response or {}).get('warnings') or []:
            self.warn('%s/issue/%s for %s: %s' % (spec.mount, spec.role, spec.common_name, warning))
        data = (response or {}).get('data') or {}
        if not data.get('certificate') or not data.get('private_key'):
            raise RotationError('%s/issue/%s returned no certificate and private key for %s'
                                % (spec.mount, spec.role, spec.common_name))
        return data

    def revoke(self, spec: CertSpec | RevokeSpec, serial: str, action: str) -> None:
        client, opts = self.connection()
        with vault_errors('%s %s on %s' % (action, serial, spec.mount), opts):
            client.secrets.pki.revoke_certificate(serial_number=serial, mount_point=spec.mount)

    # -- the task
    def run(self) -> dict[str, Any]:
        """Validate every item, then decide and renew (or revoke) each; the task result of docs/results.md."""
        specs = validate_items(self.params)
        self.kv_mount = check_path_option(self.params['kv_mount'], 'kv_mount')
        self.prefix = check_path_option(self.params['prefix'], 'prefix')
        runner = BatchRunner(LIST_KEY, LIST_KEY, single=not self.params.get(LIST_KEY), name=result_name)
        results = runner.act_each(specs, self._act, self._failed)
        notes = self._withhold_content(results)
        return runner.result(results, self.summary(results), notes=notes, want_diff=self.diff)

    def _act(self, spec: CertSpec | RevokeSpec) -> dict[str, Any]:
        result, item_diff = self.handle(spec)
        if item_diff is not None:
            result['diff'] = item_diff
        return result

    def _failed(self, spec: CertSpec | RevokeSpec, exc: OperatorError) -> dict[str, Any]:
        return self.item_result(spec, changed=False, failed=True, reason='error', msg=str(exc))

    def item_result(self, spec: CertSpec | RevokeSpec, **fields: Any) -> dict[str, Any]:
        if isinstance(spec, RevokeSpec):
            result = {'serial': spec.serial, 'mount': spec.mount, 'common_name': None, 'not_after': None, 'changed': False,
                      'failed': False, 'revoked': False, 'revocation_time': None}
            result.update(fields)
            return result
        result = {'common_name': spec.common_name, 'cert_path': spec.paths.get('cert'), 'key_path': spec.paths.get('key'),
                  'chain_path': spec.paths.get('chain'), 'bundle_path': spec.paths.get('bundle'),
                  'changed': False, 'failed': False, 'serial': None, 'not_before': None, 'not_after': None,
                  'days_remaining_before': None, 'days_remaining_after': None, 'previous_serial': None,
                  'revoked_serial': None, 'backup_files': {}, 'alt_names': [], 'ip_sans': [], 'uri_sans': [],
                  'issuer': None, 'ledger_entry': spec.ledger_entry}
        result.update(fields)
        result['days_remaining'] = result['days_remaining_after']
        return result

    def handle(self, spec: CertSpec | RevokeSpec) -> tuple[dict[str, Any], dict[str, Any] | None]:
        if isinstance(spec, RevokeSpec):
            return self.revoke_serial(spec)
        if self.check_mode or not spec.paths:
            return self._handle(spec)
        with directory_lock(sorted(set(os.path.dirname(p) for p in spec.paths.values())), self.lock_timeout):
            return self._handle(spec)

    def _handle(self, spec):
        if spec.from_vault:
            return self._handle_vault(spec)
        deployed = Deployed(spec)
        before = cert_info(deployed.cert, self.now) if deployed.cert is not None else None
        issuer = self.mount_issuer(spec.mount) if spec.check_issuer and deployed.cert is not None else None
        reason, detail = decide(spec, deployed, self.now, issuer)
        if reason == 'not_due':
            return self.keep(spec, deployed, before, detail)
        return self.renew(spec, deployed, before, reason, detail)

    def _handle_vault(self, spec):
        """Due or not by the certificate Vault holds under ``serial`` (or the ledger entry's ``current.serial``)."""
        serial = spec.serial or self.ledger_serial(spec.ledger_entry)
        found = self.vault_certificate(spec.mount, serial, 'nothing was issued')
        before = cert_info(found['cert'], self.now) if found['cert'] is not None else None
        issuer = self.mount_issuer(spec.mount) if spec.check_issuer and before is not None else None
        reason, detail = decide_vault(spec, found, self.now, issuer)
        if reason != 'not_due':
            return self.renew(spec, Deployed(spec), before, reason, detail, previous_serial=serial)
        result = self.item_result(spec, reason='not_due', msg='%s is not due: serial %s in %s, %s' % (
            spec.common_name, serial, spec.mount, detail), previous_serial=serial,
            days_remaining_before=before['days_remaining'], **self._fields(before))
        if spec.return_content:
            self._add_content(result, found['pem'], None, None)  # Vault keeps no private key
        return result, None

    def ledger_serial(self, name: str) -> str:
        """``current.serial`` of the ``pki`` ledger entry ``name`` (read as rotation_state reads it)."""
        if self._ledger is None:
            client, opts = self.connection()
            self._ledger = LedgerStore(client, opts, self.kv_mount, self.prefix)
            self._ledger.check_mount()
        data, version = self._ledger.read(name)
        where = 'ledger entry %s' % self._ledger.full_path(name)
        if data is None:
            raise RotationError('%s %s; nothing was issued' % (
                where, 'has a deleted latest version' if version else 'does not exist'))
        if not isinstance(data, dict) or data.get('kind') != 'pki':
            raise RotationError('%s is of kind %s, not pki: ledger_entry must name a certificate entry; nothing was issued'
                                % (where, data.get('kind') if isinstance(data, dict) else '(not an entry)'))
        current = data.get('current')
        serial = current.get('serial') if isinstance(current, dict) else None
        if not serial:
            raise RotationError('%s has no current.serial (stage or init it with metadata.serial); nothing was issued' % where)
        return normalize_serial(serial if isinstance(serial, str) else str(serial), 'current.serial of %s' % where)

    def vault_certificate(self, mount: str, serial: str, nothing: str) -> dict[str, Any]:
        """Vault's record of ``serial`` (``<mount>/cert/<serial>``): ``{serial, pem, cert (None if it does not parse),
        revocation_time (0: not revoked), revoked_at}``. An unknown serial fails naming serial and mount; ``nothing``
        says what was not done (``nothing was revoked``)."""
        client, opts = self.connection()
        unknown = 'serial %s is not known to the PKI mount %s (no certificate at %s/cert/%s); %s' % (
            serial, mount, mount, serial, nothing)
        try:
            with vault_errors('reading the certificate %s from %s/cert' % (serial, mount), opts):
                response = client.secrets.pki.read_certificate(serial=serial, mount_point=mount)
        except VaultNotFoundError as exc:
            if exc.missing_mount:
                raise RotationError('the PKI mount %s does not exist (no secrets engine is mounted there); %s' % (mount, nothing))
            raise RotationError(unknown)
        data = (response if isinstance(response, dict) else {}).get('data') or {}
        pem = data.get('certificate')
        if not pem:
            raise RotationError(unknown)
        try:
            revocation_time = int(data.get('revocation_time') or 0)
        except (TypeError, ValueError):
            revocation_time = 0
        revoked_at = None
        if revocation_time > 0:
            revoked_at = to_iso(datetime.datetime.fromtimestamp(revocation_time, datetime.timezone.utc))
        return {'serial': serial, 'pem': pem.strip() + '\n', 'cert': load_certificate(pem.encode('utf-8')),
                'revocation_time': max(revocation_time, 0), 'revoked_at': revoked_at}

    def revoke_serial(self, spec: RevokeSpec) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """``state=revoked``: revoke ``spec.serial`` unless Vault already lists it as revoked."""
        found = self.vault_certificate(spec.mount, spec.serial, 'nothing was revoked')
        cert = found['cert']
        fields = dict(common_name=cert_names(cert)['common_name'] if cert is not None else None,
                      not_after=to_iso(cert.not_valid_after_utc) if cert is not None else None)
        if found['revocation_time']:
            return self.item_result(spec, reason='already_revoked', revoked=True, revocation_time=found['revoked_at'],
                                    msg='%s in %s was already revoked at %s' % (spec.serial, spec.mount, found['revoked_at']),
                                    **fields), None
        expired = cert is not None and cert.not_valid_after_utc <= self.now
        if self.check_mode:
            if expired:
                return self.item_result(spec, reason='expired', msg='%s in %s expired at %s: Vault would refuse to put it '
                                        'on the CRL' % (spec.serial, spec.mount, fields['not_after']), **fields), None
            return self.item_result(spec, changed=True, reason='revoked', revoked=True,
                                    msg='would revoke %s in %s' % (spec.serial, spec.mount), **fields), self._revoke_diff(spec)
        client, opts = self.connection()
        with vault_errors('revoking %s on %s' % (spec.serial, spec.mount), opts):
            response = client.secrets.pki.revoke_certificate(serial_number=spec.serial, mount_point=spec.mount)
        response = response if isinstance(response, dict) else {}
        answer = response.get('data') or {}
        if not answer.get('revocation_time'):
            said = '; '.join(str(w) for w in response.get('warnings') or []) or 'no revocation time in its answer'
            if expired:
                self.warn('%s in %s was not revoked: %s' % (spec.serial, spec.mount, said))
                return self.item_result(spec, reason='expired', msg='%s in %s expired at %s and was not revoked: %s' % (
                    spec.serial, spec.mount, fields['not_after'], said), **fields), None
            raise RotationError('Vault did not revoke %s in %s: %s' % (spec.serial, spec.mount, said))
        at = to_iso(datetime.datetime.fromtimestamp(int(answer['revocation_time']), datetime.timezone.utc))
        return self.item_result(spec, changed=True, reason='revoked', revoked=True, revocation_time=at,
                                msg='revoked %s in %s at %s' % (spec.serial, spec.mount, at), **fields), self._revoke_diff(spec)

    def _revoke_diff(self, spec):
        if not self.diff:
            return None
        header = '%s/cert/%s' % (spec.mount, spec.serial)
        return {'before': {'serial': spec.serial, 'revoked': False}, 'after': {'serial': spec.serial, 'revoked': True},
                'before_header': header, 'after_header': header}

    @staticmethod
    def _diff_view(spec, info):
        if info is None:
            return {'state': 'absent'}
        keys = ('serial', 'not_before', 'not_after', 'common_name', 'alt_names', 'ip_sans', 'uri_sans', 'issuer')
        return dict((key, info.get(key)) for key in keys)

    def _make_diff(self, spec, before, after):
        if not self.diff:
            return None
        header = '%s (%s)' % (spec.paths['cert'] if 'cert' in spec.paths else '%s/cert' % spec.mount, spec.common_name)
        return {'before': self._diff_view(spec, before), 'after': self._diff_view(spec, after),
                'before_header': header, 'after_header': header}

    @staticmethod
    def _fields(info):
        fields = {}
        if info is not None:
            for key in ('serial', 'not_before', 'not_after', 'alt_names', 'ip_sans', 'uri_sans', 'issuer'):
                fields[key] = info[key]
            fields['days_remaining_after'] = info['days_remaining']
        return fields

    def keep(self, spec: CertSpec, deployed: Deployed, before: dict[str, Any],
             detail: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Not due: only make sure mode/owner/group of the existing files are what was asked."""
        fixed = []
        for kind in FILE_KINDS:
            if kind in deployed.data:
                written = atomic_write(spec.paths[kind], deployed.data[kind], mode=spec.mode_of(kind), owner=spec.owner,
                                       group=spec.group, backup=False, check_mode=self.check_mode)
                if written.changed:
                    fixed.append(spec.paths[kind])
        reason = 'attributes' if fixed else 'not_due'
        if fixed:
            msg = '%s %s mode/owner/group of %s; the certificate is not due: %s' % (
                'would fix' if self.check_mode else 'fixed', spec.common_name, ', '.join(fixed), detail)
        else:
            msg = '%s is not due: %s' % (spec.common_name, detail)
        result = self.item_result(spec, changed=bool(fixed), reason=reason, msg=msg,
                                  days_remaining_before=before['days_remaining'], **self._fields(before))
        if spec.return_content:
            self._add_content(result, deployed.data.get('cert'), deployed.data.get('key'), deployed.data.get('chain'))
        item_diff = None
        if fixed and self.diff:
            item_diff = {'before': {'files_with_other_mode_or_owner': fixed}, 'after': {'files_with_other_mode_or_owner': []},
                         'before_header': spec.paths['cert'], 'after_header': spec.paths['cert']}
        return result, item_diff

    def renew(self, spec: CertSpec, deployed: Deployed, before: dict[str, Any] | None, reason: str, detail: str,
              previous_serial: str | None = None) -> tuple[dict[str, Any], dict[str, Any] | None]:
        previous_serial = previous_serial or (before['serial'] if before else None)
        days_before = before['days_remaining'] if before else None
        if self.check_mode:
            self.connection()  # a prediction that Vault cannot be reached or the login fails is no prediction
            predicted = dict(spec.requested(), serial=None, issuer=before['issuer'] if before else None,
                             # Vault adds the common name to the SANs unless the role excludes it
                             alt_names=sorted(set(spec.requested()['alt_names']) | {spec.common_name.lower()}),
                             not_before=to_iso(self.now),
                             not_after=None if spec.ttl is None else to_iso(self.now + datetime.timedelta(seconds=spec.ttl)))
            msg = 'would %s %s: %s (%s)' % ('renew' if before else 'issue', spec.common_name, reason, detail)
            result = self.item_result(spec, changed=True, reason=reason, msg=msg, previous_serial=previous_serial,
                                      days_remaining_before=days_before, not_after=predicted['not_after'],
                                      days_remaining_after=None if spec.ttl is None else round(spec.ttl / 86400.0, 2),
                                      alt_names=predicted['alt_names'], ip_sans=predicted['ip_sans'],
                                      uri_sans=predicted['uri_sans'])
            after = dict(predicted, serial='(new)', not_after=predicted['not_after'] or '(role ttl)')
            return result, self._make_diff(spec, before, after)

        self._check_writable(spec)
        data = self.issue(spec)
        new_serial = data.get('serial_number')
        try:
            contents, new_cert = self._contents(spec, data)
            backups = self._write_all(spec, deployed, contents)
        except OperatorError as exc:
            revoked = self._revoke_quietly(spec, new_serial)
            raise RotationError('%s; the previous files were left in place and the new certificate %s %s'
                                % (exc, new_serial, 'was revoked' if revoked else 'could not be revoked (see the warning)'))
        after = cert_info(new_cert, self.now)
        revoked = None
        if spec.revoke_previous and previous_serial and previous_serial != after['serial']:
            try:
                self.revoke(spec, previous_serial, 'revoking the previous certificate')
                revoked = previous_serial
            except OperatorError as exc:
                self.warn('%s was renewed but its previous certificate %s was not revoked: %s' % (
                    spec.common_name, previous_serial, exc))
        self._check_new(spec, new_cert, after)
        msg = '%s %s: %s (%s); serial %s valid until %s' % (
            'renewed' if before else 'issued', spec.common_name, reason, detail, after['serial'], after['not_after'])
        if revoked:
            msg += '; revoked previous serial %s' % revoked
        result = self.item_result(spec, changed=True, reason=reason, msg=msg, previous_serial=previous_serial,
                                  revoked_serial=revoked, days_remaining_before=days_before, backup_files=backups,
                                  **self._fields(after))
        if spec.return_content:
            self._add_content(result, contents['cert'], contents['key'], contents['chain'])
        return result, self._make_diff(spec, before, after)

    @staticmethod
    def _add_content(result, cert, key, chain):
        def text(data):
            return data.decode('utf-8') if isinstance(data, bytes) else data
        result.update(certificate=text(cert), private_key=text(key), ca_chain=text(chain))

    @staticmethod
    def _check_writable(spec):
        """Fail before issuing when a target directory takes no new file (read-only mount, ``chattr +i``, no write
        permission): issuing first would only leave a certificate to revoke, on every scheduled run."""
        for directory in sorted(set(os.path.dirname(p) for p in spec.paths.values())):
            try:
                check_directory_writable(directory)
            except FileWriteError as exc:
                raise RotationError('cannot write the files of %s: %s; nothing was issued' % (spec.common_name, exc.reason))

    def _contents(self, spec, data):
        """The bytes of every file from Vault's answer; checks that key and certificate belong together."""
        cert_pem = data['certificate'].strip() + '\n'
        key_pem = data['private_key'].strip() + '\n'
        chain = data.get('ca_chain') or ([data['issuing_ca']] if data.get('issuing_ca') else [])
        chain_pem = ''.join(c.strip() + '\n' for c in chain)
        new_cert = load_certificate(cert_pem.encode('utf-8'))
        new_key = load_private_key(key_pem.encode('utf-8'))
        if new_cert is None or new_key is None or not key_matches(new_key, new_cert):
            raise RotationError('Vault returned a certificate and private key that do not belong together')
        bundle_pem = cert_pem + chain_pem + (key_pem if spec.bundle_include_key else '')
        contents = {'cert': cert_pem.encode('utf-8'), 'key': key_pem.encode('utf-8'), 'chain': chain_pem.encode('utf-8'),
                    'bundle': bundle_pem.encode('utf-8')}
        return contents, new_cert

    def _write_all(self, spec, deployed, contents):
        """Write the files: stage them all (temporary files written and fsync'ed, backups made), then rename them
        back-to-back - chain, key, certificate, bundle. A failure while staging changes nothing; a failed rename puts
        back the files already renamed. Returns the backups made, by kind."""
        staged = []
        try:
            for kind in FILE_KINDS:
                if kind in spec.paths:
                    staged.append((kind, stage_write(spec.paths[kind], contents[kind], mode=spec.mode_of(kind),
                                                     owner=spec.owner, group=spec.group, backup=spec.backup)))
        except FileWriteError:
            for dummy, pending in staged:
                pending.discard()
            raise
        committed = []
        try:
            for kind, pending in staged:
                committed.append((kind, pending.commit(sync=False)))
        except FileWriteError:
            for dummy, pending in staged[len(committed):]:
                pending.discard()
            self._roll_back(spec, deployed, committed)
            raise
        finally:
            synced = set()
            for kind, pending in staged[:len(committed)]:
                directory = os.path.dirname(spec.paths[kind])
                if directory not in synced:
                    synced.add(directory)
                    pending.sync()
            for dummy, pending in staged:
                pending.close()
        return dict((kind, result.backup_file) for kind, result in committed if result.backup_file)

    def _roll_back(self, spec, deployed, done):
        for kind, result in reversed(done):
            path = spec.paths[kind]
            try:
                if kind in deployed.data:
                    st = deployed.stats[kind]
                    atomic_write(path, deployed.data[kind], mode=stat.S_IMODE(st.st_mode), owner=st.st_uid, group=st.st_gid)
                elif result.changed:
                    os.unlink(path)
                if result.backup_file:
                    os.unlink(result.backup_file)
            except (OSError, FileWriteError) as exc:
                self.warn('could not restore %s after a failed renewal of %s: %s' % (path, spec.common_name, exc))

    def _revoke_quietly(self, spec, serial):
        """Revoke a certificate that was issued but not deployed; True if it was."""
        if not serial:
            return False
        try:
            self.revoke(spec, serial, 'revoking the unused new certificate')
            return True
        except OperatorError as exc:
            self.warn('the new certificate %s of %s was not deployed and could not be revoked: %s' % (
                serial, spec.common_name, exc))
            return False

    def _check_new(self, spec, cert, info):
        """Warn when the new certificate would be renewed again on the next run (a renewal loop)."""
        drift = name_drift(spec, cert)
        if drift:
            self.warn('the certificate issued for %s does not match the request (%s): the next run will renew it again; '
                      'check the PKI role %s/roles/%s' % (spec.common_name, '; '.join(drift), spec.mount, spec.role))
        remaining = (cert.not_valid_after_utc - self.now).total_seconds()
        if remaining < spec.renew_before:
            self.warn('the certificate issued for %s is valid for %s only, less than renew_before (%s): the next run will '
                      'renew it again; lower renew_before or raise the max_ttl of %s/roles/%s'
                      % (spec.common_name, _seconds_text(remaining), format_duration(spec.renew_before), spec.mount, spec.role))

    # -- summary
    @staticmethod
    def _withhold_content(results: list[dict[str, Any]]) -> list[str]:
        """A failed task prints its whole result (also without register, and the results entries at -v): it carries
        serials, paths and reasons, never key material. The renewed keys are in their files. Returns the note."""
        if not any(res.get('failed') for res in results):
            return []
        withheld = False
        for res in results:
            for key in CONTENT_KEYS:
                withheld = res.pop(key, None) is not None or withheld
        return ['return_content: nothing is returned because the task failed; the renewed files are in place'] if withheld else []

    def summary(self, results: list[dict[str, Any]]) -> str:
        """``renewed 2 of 20 certificates (expiring: 1, missing: 1); 18 not due`` (``revoked``, ``would ...``)."""
        reasons = count_reasons(results)
        renewed = [res for res in results if res['changed'] and res['reason'] != 'attributes']
        verb = {'present': ('renewed', 'would renew'), 'revoked': ('revoked', 'would revoke')}[self.state][self.check_mode]
        parts = ['%s %d of %d certificates' % (verb, len(renewed), len(results))]
        if renewed:
            counts = count_reasons(renewed)
            parts[0] += ' (%s)' % ', '.join('%s: %d' % (k, counts[k]) for k in sorted(counts))
        if reasons.get('not_due') or reasons.get('attributes'):
            parts.append('%d not due' % (reasons.get('not_due', 0) + reasons.get('attributes', 0)))
        if reasons.get('already_revoked') or reasons.get('expired'):
            parts.append('%d already revoked or expired' % (reasons.get('already_revoked', 0) + reasons.get('expired', 0)))
        return '; '.join(parts)


def result_name(result: dict[str, Any]) -> str:
    """How messages and diff headers name a certificate: its common name, else its serial."""
    return result.get('common_name') or result.get('serial') or 'certificate'
