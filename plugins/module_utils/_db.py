# -*- coding: utf-8 -*-
# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rotation of database credentials issued by the Vault/OpenBao database secrets engine (module vault_db_rotate).

:class:`DbCredentialRotator` decides per role whether a rotation is due, issues (dynamic role) or rotates
(static role) the credential, verifies the new login on PostgreSQL (TLS required and SCRAM only, unless the task says
otherwise) and revokes what it created when the verification fails. Issuing is sent once (``_vault.send_once``); after
a failure that leaves open whether Vault created the user, the role's leases are listed and the new one revoked. A
failed batch returns no password, so the new leases of its good items are revoked too. It can renew a renewable
lease instead of rotating it, revoke leases (with ``no_sessions_of`` only once no session of the old users is left
in ``pg_stat_activity``), handle a batch of roles with one Vault client, and predict all of this in check mode
without changing Vault or PostgreSQL. Its results have the one shape of docs/results.md (``_common.BatchRunner``).

The decisions (:func:`validate_item`, :func:`validate_revoke`, :func:`decide_dynamic`, :func:`decide_static`,
:func:`wait_for_no_sessions`, :func:`summary`) are pure functions so that unit tests drive them without servers.

Private to the collection: the leading underscore means no compatibility promise to other collections.
"""

from __future__ import annotations

import copy
import datetime
import os
import time
from typing import Any, Callable, Iterable, Mapping

try:
    import hvac.exceptions as hvac_exceptions
except ImportError:  # the module reports it (RotationModule requires hvac)
    hvac_exceptions = None

from ansible_collections.secops.rotation.plugins.module_utils import _postgres
from ansible_collections.secops.rotation.plugins.module_utils._common import (
    BatchRunner, OperatorError, RotationError, backoff_delays, batch_argument_spec, expand_batch, merge_argument_specs,
    parse_iso, spec_defaults, to_iso, utcnow, with_defaults)
from ansible_collections.secops.rotation.plugins.module_utils._duration import format_duration, parse_duration
from ansible_collections.secops.rotation.plugins.module_utils._vault import (
    VaultClientError, get_vault_connection, send_once, vault_argument_spec, vault_errors)

ROLE_TYPES = ('dynamic', 'static')

# The options of one role: top-level options of the task, and the options of an entry of ``roles`` (where they have no
# default, so that an unset one falls back to the task's value). The defaults here are the only ones.
ITEM_SPEC = dict(
    role=dict(type='str'),
    role_type=dict(type='str', default='dynamic', choices=list(ROLE_TYPES)),
    mount=dict(type='str', default='database'),
    lease_id=dict(type='str'),
    lease_threshold=dict(type='raw'),
    lease_threshold_fraction=dict(type='float'),
    max_age=dict(type='raw'),
    renew=dict(type='bool', default=False),
    renew_increment=dict(type='raw'),
    force=dict(type='bool', default=False),
    verify=dict(type='bool', default=True),
    check_query=dict(type='str', default='SELECT 1'),
    privileges=dict(type='list', elements='dict', options=dict(table=dict(type='str', required=True),
                                                               privilege=dict(type='str', default='SELECT'))),
    db_host=dict(type='str'),
    db_port=dict(type='int'),
    db_name=dict(type='str'),
    db_sslmode=dict(type='str', choices=list(_postgres.SSLMODES)),
    db_require_auth=dict(type='str'),
    db_connect_timeout=dict(type='int', default=5),
    verify_attempts=dict(type='int', default=5),
)
ITEM_OPTIONS = tuple(ITEM_SPEC)
ITEM_DEFAULTS = spec_defaults(ITEM_SPEC)

# Options of the task only (state=revoked and its session check). sessions_timeout has no default in the spec on
# purpose: with state=present a set one is rejected, so unset must be told apart from set (SESSIONS_TIMEOUT below).
TASK_SPEC = dict(
    state=dict(type='str', default='present', choices=['present', 'revoked']),
    lease_ids=dict(type='list', elements='str'),
    no_sessions_of=dict(type='list', elements='str'),
    sessions_timeout=dict(type='raw'),
    db_user=dict(type='str'),
    db_password=dict(type='str', no_log=True),
)

# Options without a static default: environment variable consulted, then the default.
# db_sslmode: require, so the new password never travels without TLS (prefer sent it to whoever answered the port, TLS or
# not); prefer, allow and disable only when the task or PGSSLMODE asks for them. db_require_auth: scram-sha-256 (libpq
# >= 16), so the password is not sent even to a server impostor that asks for it in clear text.
ENV_DEFAULTS = dict(db_host=('PGHOST', 'localhost'), db_port=('PGPORT', 5432), db_name=('PGDATABASE', 'postgres'),
                    db_sslmode=('PGSSLMODE', _postgres.DEFAULT_SSLMODE),
                    db_require_auth=('PGREQUIREAUTH', _postgres.DEFAULT_REQUIRE_AUTH))
# Upper bounds of options that would otherwise overflow a socket timeout or a list of pauses.
MAX_CONNECT_TIMEOUT = 3600
MAX_SESSIONS_TIMEOUT = 86400


# state=revoked: options of the session check (rejected with state=present), the default wait, the polling schedule.
SESSION_OPTIONS = ('no_sessions_of', 'sessions_timeout', 'db_user', 'db_password')
SESSIONS_TIMEOUT = '60s'
SESSIONS_POLL_START, SESSIONS_POLL_CAP = 0.5, 5.0

# After issuing failed without an answer (read timeout, connection lost): pauses before looking again for a lease the
# request may still be creating (Vault finishes a request whose client went away only if it was nearly done).
UNCERTAIN_SETTLE = (0.5, 1.0, 2.0, 4.0)


def db_argument_spec() -> dict[str, dict[str, Any]]:
    """The module's own options (merge with ``vault_argument_spec()``); batch items (``roles``) take those of
    :data:`ITEM_SPEC` without their defaults."""
    spec = batch_argument_spec(copy.deepcopy(ITEM_SPEC), 'roles', required='role')
    spec.update(copy.deepcopy(TASK_SPEC))
    return spec


def argument_spec() -> dict[str, dict[str, Any]]:
    """The whole argument spec of vault_db_rotate: its own options and the Vault connection options."""
    return merge_argument_specs(db_argument_spec(), vault_argument_spec())


# ----------------------------------------------------------------------------------------------- validation

class ItemPlan:
    """One role to handle, validated by :func:`validate_item`; filled with what Vault says (role, lease, static creds)
    and the :class:`Decision` in pre-flight."""

    def __init__(self, **fields: Any) -> None:
        self.index: int = 0
        self.role: str = ''
        self.role_type: str = ''
        self.mount: str = ''
        self.lease_id: str | None = None
        self.threshold: int | None = None
        self.fraction: float | None = None
        self.max_age: int | None = None
        self.renew: bool = False
        self.increment: int | None = None
        self.force: bool = False
        self.verify: bool = False
        self.check_query: str = ''
        self.privileges: list[tuple[str, str]] = []
        self.target: _postgres.PgTarget | None = None
        self.attempts: int = 0
        # pre-flight
        self.role_info: dict[str, Any] | None = None
        self.lease: dict[str, Any] | None = None
        self.static_creds: dict[str, Any] | None = None
        self.decision: Decision | None = None
        self.__dict__.update(fields)

    @property
    def path(self) -> str:
        return '%s/%s/%s' % (self.mount, 'creds' if self.role_type == 'dynamic' else 'static-creds', self.role)


def _env_or_default(item: Mapping[str, Any], key: str, environ: Mapping[str, str]) -> Any:
    value = item.get(key)
    if value is not None and value != '':
        return value
    name, default = ENV_DEFAULTS[key]
    return environ.get(name) or default


def _value(item: Mapping[str, Any], key: str) -> Any:
    """The item's value of ``key``, else the spec's default (items built in tests may leave options unset)."""
    value = item.get(key)
    return ITEM_DEFAULTS.get(key) if value is None else value


def _duration(item: Mapping[str, Any], key: str) -> int | None:
    if item.get(key) in (None, ''):
        return None
    return parse_duration(item[key], name=key)


def validate_item(item: Mapping[str, Any], index: int = 0, environ: Mapping[str, str] | None = None) -> ItemPlan:
    """Check one item's options (durations, ranges, conflicts) and return an :class:`ItemPlan`.

    The argument spec already checked types and choices; this checks what it cannot (ranges, paths, options that
    exclude each other). Raises :class:`RotationError` / :class:`DurationError` / :class:`PostgresError` naming the option.
    """
    environ = os.environ if environ is None else environ
    fields = _role_fields(item)
    fields.update(_due_fields(item, fields))
    fields.update(_verify_fields(item))
    return ItemPlan(index=index, target=db_target(item, environ), **fields)


def _role_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    """``role``, ``role_type`` and ``mount`` of an item, checked."""
    role = item.get('role')
    if not role or not str(role).strip():
        raise RotationError('role is required (the name of the database role in Vault)')
    role = str(role).strip()
    if '/' in role:
        raise RotationError('role %r must be a role name without "/" (set the mount separately with mount)' % role)
    mount = str(_value(item, 'mount') or '').strip().strip('/')
    if not mount:
        raise RotationError('mount must not be empty (the path of the database secrets engine, e.g. database)')
    if any(part in ('', '.', '..') for part in mount.split('/')) or any(char in mount for char in '?#%\x00 '):
        raise RotationError('mount %r must be the path of the database secrets engine (e.g. database or team/db), without '
                            'empty, "." or ".." segments, spaces or ?#%%' % mount)
    role_type = _value(item, 'role_type')
    if role_type not in ROLE_TYPES:  # the spec checks it for the module; scripts and tests build items without it
        raise RotationError('role_type must be one of %s, got %r' % (', '.join(ROLE_TYPES), role_type))
    return dict(role=role, role_type=role_type, mount=mount)


def _due_fields(item: Mapping[str, Any], role: Mapping[str, Any]) -> dict[str, Any]:
    """What decides whether the role is due (lease and its threshold, max_age, renew, force), checked against the
    role type (``role``: the item's :func:`_role_fields`)."""
    threshold = _duration(item, 'lease_threshold')
    fraction = item.get('lease_threshold_fraction')
    if fraction is not None:
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
            raise RotationError('lease_threshold_fraction must be a number between 0 and 1 (exclusive), e.g. 0.25, got %r' % (fraction,))
        fraction = float(fraction)
    if threshold is not None and fraction is not None:
        raise RotationError('lease_threshold and lease_threshold_fraction are mutually exclusive: set one of them')
    fields = dict(lease_id=item.get('lease_id') or None, threshold=threshold, fraction=fraction,
                  max_age=_duration(item, 'max_age'), renew=bool(_value(item, 'renew')),
                  increment=_duration(item, 'renew_increment'), force=bool(_value(item, 'force')))
    if role['role_type'] == 'static':
        _check_static(fields, role['role'])
    else:
        _check_dynamic(fields, role['role'], role['mount'])
    return fields


def _check_static(fields: Mapping[str, Any], role: str) -> None:
    for key, name in (('lease_id', 'lease_id'), ('threshold', 'lease_threshold'), ('fraction', 'lease_threshold_fraction'),
                      ('increment', 'renew_increment')):
        if fields[key] is not None:
            raise RotationError('%s applies to dynamic roles only; static role %s is rotated by age (max_age) or force'
                                % (name, role))
    if fields['renew']:
        raise RotationError('renew applies to dynamic roles only (static roles have no lease to renew)')


def _check_dynamic(fields: Mapping[str, Any], role: str, mount: str) -> None:
    if fields['max_age'] is not None:
        raise RotationError('max_age applies to static roles only; for dynamic roles use lease_threshold or '
                            'lease_threshold_fraction with lease_id')
    if fields['increment'] is not None and not fields['renew']:
        raise RotationError('renew_increment needs renew=true')
    lease_id = fields['lease_id']
    if lease_id is not None:
        prefix = '%s/creds/%s/' % (mount, role)
        if not lease_id.startswith(prefix) or len(lease_id) == len(prefix):
            raise RotationError('lease_id %s is not a lease of %s/creds/%s (expected %s<id>): pass the lease of this role'
                                % (lease_id, mount, role, prefix))


def _verify_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    """How the new credentials are verified: ``verify``, ``check_query``, ``privileges``, ``verify_attempts``, checked."""
    verify = bool(_value(item, 'verify'))
    check_query = _value(item, 'check_query')
    if verify and not (check_query or '').strip():
        raise RotationError('check_query must not be empty when verify=true (default: SELECT 1)')
    if '\x00' in str(item.get('check_query') or ''):
        raise RotationError('check_query must not contain a NUL character')
    privileges = _postgres.normalize_privileges(item.get('privileges') or [])
    if privileges and not verify:
        raise RotationError('privileges are checked while verifying: they need verify=true')
    attempts = _value(item, 'verify_attempts')
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 20:
        raise RotationError('verify_attempts must be between 1 and 20, got %r' % (attempts,))
    return dict(verify=verify, check_query=check_query, privileges=privileges, attempts=attempts)


def db_target(options: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> _postgres.PgTarget:
    """The :class:`_postgres.PgTarget` of ``db_host``, ``db_port``, ``db_name``, ``db_sslmode`` and ``db_connect_timeout``
    (unset ones from ``PGHOST``, ``PGPORT``, ``PGDATABASE``, ``PGSSLMODE``, then the defaults), validated.

    ``options``: a batch item or the module's params. Raises :class:`RotationError` naming the option.
    """
    environ = os.environ if environ is None else environ
    for key in ('db_host', 'db_name'):
        if '\x00' in str(options.get(key) or ''):
            raise RotationError('%s must not contain a NUL character' % key)
    port = _env_or_default(options, 'db_port', environ)
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise RotationError('db_port must be a port number, got %r' % (port,))
    if not 0 < port < 65536:
        raise RotationError('db_port must be between 1 and 65535, got %d' % port)
    sslmode = _env_or_default(options, 'db_sslmode', environ)
    if sslmode not in _postgres.SSLMODES:
        raise RotationError('db_sslmode must be one of %s, got %r' % (', '.join(_postgres.SSLMODES), sslmode))
    connect_timeout = _value(options, 'db_connect_timeout')
    if isinstance(connect_timeout, bool) or not isinstance(connect_timeout, int) or connect_timeout <= 0:
        raise RotationError('db_connect_timeout must be a positive number of seconds, got %r' % (connect_timeout,))
    if connect_timeout > MAX_CONNECT_TIMEOUT:
        raise RotationError('db_connect_timeout must be at most %d seconds, got %d' % (MAX_CONNECT_TIMEOUT, connect_timeout))
    return _postgres.PgTarget(host=_env_or_default(options, 'db_host', environ), port=port,
                              dbname=_env_or_default(options, 'db_name', environ), sslmode=sslmode,
                              connect_timeout=connect_timeout, require_auth=require_auth(options, environ))


def require_auth(options: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    """libpq's ``require_auth`` from ``db_require_auth`` (else ``PGREQUIREAUTH``, else scram-sha-256), validated;
    None for ``any`` (no requirement). Raises :class:`RotationError` naming the option."""
    value = _env_or_default(options, 'db_require_auth', environ)
    if not isinstance(value, str):
        raise RotationError('db_require_auth must be a string such as scram-sha-256, got %r' % (value,))
    text = value.strip()
    if text.lower() == 'any':
        return None
    if '\x00' in text:
        raise RotationError('db_require_auth must not contain a NUL character')
    methods = [method.strip() for method in text.split(',')]
    refused = [method.startswith('!') for method in methods]
    if any(refused) and not all(refused):
        raise RotationError('db_require_auth: methods must be all required or all refused (!), got %r' % value)
    for method in methods:
        if method.lstrip('!') not in _postgres.REQUIRE_AUTH_METHODS:
            raise RotationError('db_require_auth: unknown authentication method %r; use %s (several separated by commas, '
                                'each optionally refused with !), or any' % (method, ', '.join(_postgres.REQUIRE_AUTH_METHODS)))
    explicit = options.get('db_require_auth') not in (None, '') or bool(environ.get('PGREQUIREAUTH'))
    if explicit and _postgres.libpq_version() and not _postgres.require_auth_supported():
        raise RotationError('db_require_auth needs libpq 16 or later; psycopg2 here uses libpq %s: install a newer psycopg2-binary, '
                            'or set db_require_auth: any' % _postgres.libpq_version_text())
    return ','.join(methods)


# ----------------------------------------------------------------------------------------------- state=revoked

class RevokePlan:
    """The leases to revoke and, with ``no_sessions_of``, whose sessions must be gone first and how to check."""

    def __init__(self, lease_ids: list[str], single: bool, users: list[str] | None = None, timeout: int | None = None,
                 target: _postgres.PgTarget | None = None, db_user: str | None = None, db_password: str | None = None) -> None:
        self.lease_ids = lease_ids
        self.single = single
        self.users = users or []
        self.timeout = timeout
        self.target = target
        self.db_user = db_user
        self.db_password = db_password


def reject_revoke_options(params: Mapping[str, Any]) -> None:
    """With state=present: fail if an option of state=revoked's session check is set."""
    given = [key for key in SESSION_OPTIONS if params.get(key) is not None]
    if given:
        raise RotationError('%s %s for state=revoked (checking pg_stat_activity before revoking leases); with state=present '
                            'the new credentials are verified with their own login' % (', '.join(given), 'is' if len(given) == 1 else 'are'))


def validate_revoke(params: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> RevokePlan:
    """Check the options of state=revoked and return a :class:`RevokePlan`; nothing is contacted."""
    environ = os.environ if environ is None else environ
    if params.get('roles'):
        raise RotationError('roles is for state=present; with state=revoked pass lease_id or lease_ids')
    ids = list(params.get('lease_ids') or [])
    if params.get('lease_id'):
        ids.insert(0, params['lease_id'])
    if not ids:
        raise RotationError('state=revoked needs lease_id or lease_ids (the leases to revoke)')
    unique = []
    for index, lease_id in enumerate(ids):
        if not isinstance(lease_id, str) or not lease_id.strip() or ' ' in lease_id.strip():
            raise RotationError('lease_ids[%d]: %r is not a lease id (e.g. database/creds/app/AbC123)' % (index, lease_id))
        if lease_id.strip() not in unique:
            unique.append(lease_id.strip())
    plan = RevokePlan(unique, single=len(unique) == 1 and not params.get('lease_ids'))

    timeout = params.get('sessions_timeout')
    plan.timeout = parse_duration(SESSIONS_TIMEOUT if timeout in (None, '') else timeout, name='sessions_timeout', allow_zero=True)
    if plan.timeout > MAX_SESSIONS_TIMEOUT:
        raise RotationError('sessions_timeout must be at most %s, got %s' % (format_duration(MAX_SESSIONS_TIMEOUT),
                                                                             format_duration(plan.timeout)))
    users = params.get('no_sessions_of')
    if users is None:
        return plan
    if not isinstance(users, list) or not users:
        raise RotationError('no_sessions_of must be a non-empty list of database user names (the users whose sessions '
                            'must be gone before the leases are revoked), got %r' % (users,))
    for index, user in enumerate(users):
        if not isinstance(user, str) or not user.strip():
            raise RotationError('no_sessions_of[%d] must be a database user name, got %r' % (index, user))
        if '\x00' in user:
            raise RotationError('no_sessions_of[%d] must not contain a NUL character' % index)
        if user.strip() not in plan.users:
            plan.users.append(user.strip())
    plan.db_user = params.get('db_user') or environ.get('PGUSER') or None
    plan.db_password = params.get('db_password') or environ.get('PGPASSWORD') or None
    if '\x00' in str(plan.db_user or ''):
        raise RotationError('db_user must not contain a NUL character')
    if '\x00' in str(plan.db_password or ''):
        raise RotationError('db_password must not contain a NUL character')
    plan.target = db_target(params, environ)
    return plan


def wait_for_no_sessions(count: Callable[[list[str]], dict[str, int]], users: list[str], timeout: float, check_mode: bool = False,
                         monotonic: Callable[[], float] = time.monotonic,
                         sleep: Callable[[float], Any] = time.sleep) -> tuple[dict[str, int], float]:
    """Count the sessions of ``users`` with ``count(users)`` until none is left or ``timeout`` seconds have passed.

    Pauses between counts follow ``backoff_delays`` (0.5 s doubling to at most 5 s), never past the deadline; the
    last count is taken at the deadline. ``timeout=0`` and check mode count once and do not wait.
    Returns ``(counts, waited)``: ``{user: count}`` of the last count and the seconds spent (rounded to 0.1).
    """
    started = monotonic()
    deadline = started + (0 if check_mode else timeout)
    delays = iter(backoff_delays(SESSIONS_POLL_START, SESSIONS_POLL_CAP, total=timeout) if timeout and not check_mode else ())
    counts = count(users)
    while any(counts.values()):
        remaining = deadline - monotonic()
        delay = next(delays, None)
        if remaining <= 0 or delay is None:
            break
        sleep(min(delay, remaining))
        counts = count(users)
    return counts, round(max(0.0, monotonic() - started), 1)


def describe_sessions(counts: Mapping[str, int], still: bool = False) -> str:
    """``user v-app-a still has 2 session(s) and user v-app-c ...`` for the users with sessions."""
    parts = ['user %s %shas %d session(s)' % (name, 'still ' if still else '', number) for name, number in counts.items() if number]
    return ' and '.join(parts)


# ----------------------------------------------------------------------------------------------- decisions

class Decision:
    """What to do with one role: ``action`` (rotate, renew, none), ``reason`` and a human ``why``."""

    def __init__(self, action: str, reason: str, why: str, need: int | None = None) -> None:
        self.action = action
        self.reason = reason
        self.why = why
        self.need = need  # seconds of TTL a renewal must reach to be worth it

    def __repr__(self) -> str:
        return 'Decision(%r, %r, %r)' % (self.action, self.reason, self.why)


# Vault's answers are checked like input: a field that is not what it should be fails the task naming it.
MAX_SERVER_SECONDS = 36500 * 86400


def server_time(data: Mapping[str, Any], key: str, where: str) -> datetime.datetime | None:
    """``data[key]`` as an aware UTC datetime (None when missing); :class:`RotationError` naming it when it is no time."""
    value = data.get(key)
    if value in (None, ''):
        return None
    try:
        if isinstance(value, str):
            return parse_iso(value)
    except (TypeError, ValueError, OverflowError):
        pass
    raise RotationError('%s%s %r is not a time' % (where, key, value))


def server_seconds(value: Any, key: str, where: str, default: int | None = None) -> int:
    """``value`` as a whole number of seconds (0 to 100 years); :class:`RotationError` naming ``key`` otherwise."""
    if value in (None, '') and default is not None:
        return default
    try:
        seconds = int(value) if not isinstance(value, (bool, float)) or float(value).is_integer() else None
    except (TypeError, ValueError, OverflowError):
        seconds = None
    if seconds is None or isinstance(value, bool) or not 0 <= seconds <= MAX_SERVER_SECONDS:
        raise RotationError('%s%s %r, not a number of seconds' % (where, key, value))
    return seconds


def lease_info(data: Mapping[str, Any], now: datetime.datetime | None = None, lease_id: str | None = None) -> dict[str, Any]:
    """Normalize a ``sys/leases/lookup`` answer: ttl, duration, renewable, issue/expire times (datetimes).

    Raises :class:`RotationError` naming the field when Vault's answer cannot be read (nothing has changed then)."""
    now = now or utcnow()
    where = 'Vault returned an unreadable lease %s: ' % (lease_id or data.get('id'))
    expire = server_time(data, 'expire_time', where)
    issued = server_time(data, 'issue_time', where)
    renewed = server_time(data, 'last_renewal', where)
    ttl = data.get('ttl')
    try:
        if ttl is None:
            ttl = max(0, int((expire - now).total_seconds())) if expire else 0
        else:
            ttl = _lease_ttl(ttl, where)
        start = renewed or issued
        duration = int((expire - start).total_seconds()) if expire and start else None
        expire_time = expire or (now + datetime.timedelta(seconds=ttl))
    except OverflowError:
        raise RotationError('%sttl %r and expire_time %r are out of range' % (where, data.get('ttl'), data.get('expire_time')))
    return dict(id=data.get('id'), ttl=ttl, duration=duration, renewable=bool(data.get('renewable')),
                issue_time=issued, expire_time=expire_time)


def _lease_ttl(value: Any, where: str) -> int:
    try:
        return server_seconds(value, 'ttl', where)
    except RotationError:
        raise RotationError('%sttl %r is not a number of seconds' % (where, value))


def decide_dynamic(plan: ItemPlan, lease: Mapping[str, Any] | None, now: datetime.datetime | None = None,
                   max_ttl: Any = None) -> Decision:
    """Decide for a dynamic role. ``lease``: :func:`lease_info` of ``plan.lease_id``, or None when it is gone.

    ``max_ttl``: the role's max TTL in seconds when known (to tell whether a renewal can still extend the lease).
    """
    now = now or utcnow()
    if plan.force:
        return Decision('rotate', 'forced', 'force=true')
    if plan.lease_id is None:
        return Decision('rotate', 'missing', 'no lease_id given (no credential in use)')
    if lease is None:
        return Decision('rotate', 'missing', 'lease %s is expired, revoked or unknown' % plan.lease_id)
    remaining = lease['ttl']
    if remaining <= 0:
        return Decision('rotate', 'missing', 'lease %s has expired' % plan.lease_id)
    if plan.threshold is not None:
        need = plan.threshold
        limit = 'the threshold of %s' % format_duration(plan.threshold)
    elif plan.fraction is not None and lease.get('duration'):
        need = int(plan.fraction * lease['duration'])
        limit = '%g%% of its %s duration (%s)' % (plan.fraction * 100, format_duration(lease['duration']), format_duration(need))
    else:
        return Decision('none', 'not_due', 'lease expires in %s; no lease_threshold set, so only a missing or expired lease '
                        'is rotated' % format_duration(remaining))
    if remaining >= need:
        return Decision('none', 'not_due', 'lease expires in %s, not below %s' % (format_duration(remaining), limit))
    why = 'lease expires in %s, below %s' % (format_duration(remaining), limit)
    if plan.renew:
        if not lease.get('renewable'):
            return Decision('rotate', 'expiring', why + '; the lease is not renewable')
        try:  # max_ttl comes from the role Vault returned: a value that is no duration is ignored (the renewal tells)
            max_ttl = server_seconds(max_ttl, 'max_ttl', '') if max_ttl else None
        except RotationError:
            max_ttl = None
        if max_ttl and lease.get('issue_time'):
            try:
                room = int((lease['issue_time'] + datetime.timedelta(seconds=max_ttl) - now).total_seconds())
            except OverflowError:  # an issue time at the end of the calendar: room enough
                room = None
            if room is not None and room <= need:
                return Decision('rotate', 'expiring', why + '; renewal cannot extend it past the role max_ttl of %s'
                                % format_duration(max_ttl))
        return Decision('renew', 'expiring', why, need=need)
    return Decision('rotate', 'expiring', why)


def decide_static(plan: ItemPlan, creds: Mapping[str, Any], now: datetime.datetime | None = None) -> Decision:
    """Decide for a static role from its ``static-creds`` answer (``last_vault_rotation``)."""
    now = now or utcnow()
    if plan.force:
        return Decision('rotate', 'forced', 'force=true')
    last = server_time(creds, 'last_vault_rotation', 'Vault returned an unreadable %s: ' % plan.path)
    if plan.max_age is None:
        return Decision('none', 'not_due', 'no max_age set, so the static role is only rotated with force=true')
    if not last:
        return Decision('rotate', 'missing', 'Vault has no record of a rotation of this static role')
    age = max(0, int((now - last).total_seconds()))
    if age >= plan.max_age:
        return Decision('rotate', 'age', 'last rotation %s ago, older than max_age %s' % (format_duration(age), format_duration(plan.max_age)))
    return Decision('none', 'not_due', 'last rotation %s ago, younger than max_age %s' % (format_duration(age), format_duration(plan.max_age)))


# ----------------------------------------------------------------------------------------------- results

# The words of a batch's summary (``not due 1, rotated 2 (3 roles)``), per action of the items that did not fail
# (``rolled_back``: new credentials revoked again because another item failed).
SUMMARY_WORDS = dict(rotate='rotated', renew='renewed', none='not due', revoke='revoked', keep='already revoked',
                     rolled_back='revoked again')
CHECK_MODE_WORDS = dict(SUMMARY_WORDS, rotate='would rotate', renew='would renew', revoke='would revoke')


def summary(results: Iterable[Mapping[str, Any]], check_mode: bool = False, what: str = 'roles') -> str:
    """The one-line account of a batch: ``not due 1, rotated 2 (3 roles)``; ``nothing done (2 leases)`` when every item
    failed (the failed ones are named by the first part of the task's ``msg``)."""
    results = list(results)
    counts: dict[str, int] = {}
    for res in results:
        if not res.get('failed'):
            action = 'rolled_back' if res.get('revoked_lease_id') and not res.get('changed') else res.get('action')
            counts[action] = counts.get(action, 0) + 1
    words = CHECK_MODE_WORDS if check_mode else SUMMARY_WORDS
    parts = ['%s %d' % (words.get(action, action), count) for action, count in sorted(counts.items())]
    return '%s (%d %s)' % (', '.join(parts) or 'nothing done', len(results), what)


def label(thing: ItemPlan | Mapping[str, Any]) -> str:
    """How an item is named in messages and diff headers: ``database/creds/app``, ``database/static-creds/s`` or a lease
    id; ``thing`` is an item's options, its :class:`ItemPlan` or its result."""
    if isinstance(thing, ItemPlan):
        return thing.path
    if thing.get('item'):
        return thing['item']
    kind = 'static-creds' if thing.get('role_type') == 'static' else 'creds'
    return '%s/%s/%s' % (thing.get('mount') or ITEM_DEFAULTS['mount'], kind, thing.get('role'))


def _diff(name: str, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """An item's diff (Ansible's diff protocol), headed by its name."""
    return dict(before=before, after=after, before_header=name, after_header=name)


# ----------------------------------------------------------------------------------------------- the rotator

class DbCredentialRotator:
    """Run the module: ``DbCredentialRotator(module.params, check_mode=..., diff=..., warn=module.warn).run()`` -> the
    result dict of docs/results.md.

    ``warn(text)`` is the one warning channel (default: collected in :attr:`warnings`); ``clock()`` the current UTC time
    (default :func:`_common.utcnow`). Seams for tests: ``environ`` (``PG*``/``VAULT_*`` fallbacks), ``postgres`` (the
    :mod:`_postgres` module), ``sleep`` and ``monotonic`` (waits and their deadlines).
    """

    def __init__(self, params: Mapping[str, Any], check_mode: bool = False, diff: bool = False,
                 warn: Callable[[str], Any] | None = None, clock: Callable[[], datetime.datetime] | None = None, *,
                 environ: Mapping[str, str] | None = None, postgres: Any = None, sleep: Callable[[float], Any] | None = None,
                 monotonic: Callable[[], float] | None = None) -> None:
        self.params = with_defaults(params, db_argument_spec())
        self.check_mode = check_mode
        self.want_diff = diff
        self.warnings: list[str] = []
        self.warn = warn or self.warnings.append
        self.clock = clock or utcnow
        self.environ = os.environ if environ is None else environ
        self.pg = postgres or _postgres
        self.sleep = sleep
        self.monotonic = monotonic or time.monotonic
        self.client: Any = None
        self.opts: Any = None

    # -- entry point
    def run(self) -> dict[str, Any]:
        if self.params['state'] == 'revoked':
            return self.run_revoked()
        return self.run_present()

    def _connect(self) -> None:
        self.client, self.opts = get_vault_connection(self.params, self.environ)

    def _vault(self, action: str) -> Any:
        return vault_errors(action, self.opts)

    # -- state=present
    def run_present(self) -> dict[str, Any]:
        """Validate every role, read what the decisions need, check the databases, then act on each role; a failed
        batch revokes the new leases of its other roles (its result holds no password)."""
        single = self._check_present_options()
        runner = BatchRunner('roles', 'roles', single, label)
        plans = runner.check_all(expand_batch(self.params, 'roles', ITEM_OPTIONS),
                                 lambda item, index: validate_item(item, index, self.environ))
        if any(plan.verify for plan in plans):
            self.pg.require_psycopg2('verify')
        self._connect()
        runner.check_all(plans, lambda plan, index: self._preflight(plan))
        self._probe_databases(plans, single)
        results = [self._act(plan) for plan in plans]  # _act turns an error into the item's failed result itself
        notes = self._roll_back_for_failed_batch(plans, results)
        warning = libpq_warning([plan.target for plan in plans if plan.verify and plan.decision.action == 'rotate'])
        if warning:
            self.warn(warning)
        return runner.result(results, summary(results, self.check_mode, 'roles'), notes=notes, want_diff=self.want_diff)

    def _check_present_options(self) -> bool:
        """Options that do not go with state=present, and role vs roles; returns whether a single role was given."""
        if self.params.get('lease_ids'):
            raise RotationError('lease_ids is for state=revoked; with state=present pass the lease in use as lease_id')
        reject_revoke_options(self.params)
        single = not self.params.get('roles')
        if single and not self.params.get('role'):
            raise RotationError('role is required with state=present (or roles, a list of roles)')
        if not single and self.params.get('role'):
            raise RotationError('role and roles are mutually exclusive: put every role in roles')
        return single

    def _roll_back_for_failed_batch(self, plans: list[ItemPlan], results: list[dict[str, Any]]) -> list[str]:
        """A failed task returns no password (it prints its whole result): when an item failed, the new credentials of
        the items that succeeded would be lost. Revoke their new leases; a static role's new password stays readable
        in Vault. Returns the notes for the task's message."""
        if self.check_mode or not any(res['failed'] for res in results):
            return []
        revoked, kept, static = [], [], []
        for plan, res in zip(plans, results):
            if res['failed'] or not res['changed'] or res.get('action') != 'rotate':
                continue
            res.pop('password', None)
            if plan.role_type == 'static':
                res['msg'] += '; the task failed, so its new password is not returned: read it from %s' % plan.path
                static.append('static role %s was rotated: read its new password from %s' % (plan.role, plan.path))
                continue
            lease_id = res.get('lease_id')
            try:
                with self._vault('revoking the new lease %s' % lease_id):
                    self.client.sys.revoke_lease(lease_id)
            except VaultClientError as exc:
                res['msg'] += '; the task failed, so its password is not returned, and revoking its lease failed (%s): revoke it by hand' % exc
                kept.append('revoking the new lease %s of %s failed (%s): revoke it by hand' % (lease_id, plan.path, exc))
                continue
            res.update(changed=False, lease_id=None, revoked_lease_id=lease_id,
                       msg=res['msg'] + '; it was revoked because the batch failed (a failed task returns no password)')
            if res.get('diff'):
                res['diff']['after'] = res['diff']['before']
            revoked.append(plan.path)
        notes = []
        if revoked:
            notes.append('the new leases of %s were revoked (a failed task returns no password)' % ', '.join(revoked))
        return notes + kept + static

    def _preflight(self, plan: ItemPlan) -> ItemPlan:
        """Read what the decision needs (role, lease, static creds); nothing is changed."""
        plan.role_info = self._read_role(plan)
        now = self.clock()
        if plan.role_type == 'static':
            with self._vault('reading %s' % plan.path):
                plan.static_creds = self.client.secrets.database.get_static_credentials(plan.role, mount_point=plan.mount)['data']
            plan.decision = decide_static(plan, plan.static_creds, now)
        else:
            if plan.lease_id:
                plan.lease = self._lookup_lease(plan.lease_id)
            max_ttl = (plan.role_info or {}).get('max_ttl') or None
            plan.decision = decide_dynamic(plan, plan.lease, now, max_ttl=max_ttl)
        return plan

    def _read_role(self, plan: ItemPlan) -> dict[str, Any] | None:
        """The role's definition, or None when the token may not read it; a missing role or mount fails clearly."""
        kind = 'roles' if plan.role_type == 'dynamic' else 'static-roles'
        path = '%s/%s/%s' % (plan.mount, kind, plan.role)
        with self._vault('reading %s' % path):
            try:
                if plan.role_type == 'dynamic':
                    return self.client.secrets.database.read_role(plan.role, mount_point=plan.mount)['data']
                return self.client.secrets.database.read_static_role(plan.role, mount_point=plan.mount)['data']
            except hvac_exceptions.Forbidden:
                return None  # a token may be allowed to issue creds without reading the role: decide without it
            except hvac_exceptions.InvalidPath as exc:
                if 'no handler for route' in str(exc):
                    raise RotationError('no secrets engine is mounted at %s/ (reading %s): check mount' % (plan.mount, path))
                raise RotationError('%s role %s not found at %s: check role, role_type and mount'
                                    % (plan.role_type, plan.role, path))

    def _lookup_lease(self, lease_id: str) -> dict[str, Any] | None:
        """:func:`lease_info` of a lease, or None when Vault does not know it (expired or revoked)."""
        with self._vault('looking up lease %s (sys/leases/lookup)' % lease_id):
            try:
                data = self.client.sys.read_lease(lease_id)['data']
            except hvac_exceptions.InvalidRequest as exc:
                if 'invalid lease' in str(exc):
                    return None
                raise
        return lease_info(data, self.clock(), lease_id=lease_id)

    def _probe_databases(self, plans: list[ItemPlan], single: bool) -> None:
        """Before anything is issued: every database a new credential will be verified on answers like PostgreSQL."""
        seen = {}
        errors = []
        for plan in plans:
            if not plan.verify or plan.decision.action != 'rotate':
                continue
            target = plan.target
            key = (target.host, target.port, target.sslmode)
            if key not in seen:
                try:
                    answer = self.pg.probe(target) if ',' not in str(target.host) else None
                    seen[key] = None
                    if answer == b'N' and target.sslmode in _postgres.TLS_SSLMODES:
                        seen[key] = ('PostgreSQL at %s:%s does not offer TLS (it answered N to the SSLRequest), but db_sslmode is %s: '
                                     'the new password is only sent over TLS; enable ssl on the server, or set db_sslmode (or '
                                     'PGSSLMODE) to prefer or disable where the network is trusted' % (target.host, target.port,
                                                                                                       target.sslmode))
                except _postgres.PostgresError as exc:
                    seen[key] = str(exc)
            if seen[key]:
                errors.append(seen[key] if single else 'roles[%d] (%s): %s' % (plan.index, plan.path, seen[key]))
        if errors:
            raise RotationError('; '.join(errors) + ' - nothing was issued or rotated')

    # -- acting on one item
    def _act(self, plan: ItemPlan) -> dict[str, Any]:
        """Rotate, renew or leave one role as its decision says (check mode: predict); an error fails this item only."""
        decision = plan.decision
        result = dict(item=plan.path, role=plan.role, role_type=plan.role_type, mount=plan.mount, changed=False,
                      failed=False, reason=decision.reason, action=decision.action, verified=False)
        if plan.role_type == 'dynamic':
            result['previous_lease_id'] = plan.lease_id
        before = self._state_before(plan)
        if decision.action == 'none':
            result['msg'] = '%s: not due: %s' % (plan.path, decision.why)
            result.update(self._current_fields(plan))
            result['diff'] = _diff(plan.path, before, before)
            return result
        if self.check_mode:
            return self._predict(plan, result, before)
        try:
            if decision.action == 'renew':
                self._renew(plan, result)
            elif plan.role_type == 'dynamic':
                self._issue(plan, result)
            else:
                self._rotate_static(plan, result)
        except OperatorError as exc:
            result.update(failed=True, msg='%s: %s' % (plan.path, exc))
            result.pop('password', None)
            return result
        result['diff'] = _diff(plan.path, before, self._state_after(plan, result))
        return result

    @staticmethod
    def _predict(plan: ItemPlan, result: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
        """Check mode: what the rotation or renewal would do, without doing it."""
        verb = 'rotate' if plan.decision.action == 'rotate' else 'renew'
        result.update(changed=True, msg='would %s %s: %s' % (verb, plan.path, plan.decision.why))
        if plan.role_type == 'static':
            after = dict(before, last_vault_rotation='(now)')
        elif verb == 'rotate':
            after = dict(lease_id='(new lease)', expires_at='(new)', username='(new user)')
        else:
            after = dict(before, expires_at='(renewed)')
        result['diff'] = _diff(plan.path, before, after)
        return result

    def _state_before(self, plan: ItemPlan) -> dict[str, Any]:
        if plan.role_type == 'static':
            creds = plan.static_creds or {}
            return dict(username=creds.get('username'), last_vault_rotation=_iso(creds.get('last_vault_rotation')))
        lease = plan.lease
        return dict(lease_id=plan.lease_id if lease else None, expires_at=to_iso(lease['expire_time']) if lease else None)

    @staticmethod
    def _state_after(plan: ItemPlan, result: Mapping[str, Any]) -> dict[str, Any]:
        if plan.role_type == 'static':
            return dict(username=result.get('username'), last_vault_rotation=result.get('last_vault_rotation'))
        after = dict(lease_id=result.get('lease_id'), expires_at=result.get('expires_at'))
        if result.get('username'):
            after['username'] = result['username']
        return after

    @staticmethod
    def _current_fields(plan: ItemPlan) -> dict[str, Any]:
        """Return fields of an item left as it is."""
        if plan.role_type == 'static':
            creds = plan.static_creds or {}
            return dict(username=creds.get('username'), password=creds.get('password'),
                        last_vault_rotation=_iso(creds.get('last_vault_rotation')), ttl=creds.get('ttl'))
        lease = plan.lease
        return dict(lease_id=plan.lease_id, lease_duration=lease['ttl'], renewable=lease['renewable'],
                    expires_at=to_iso(lease['expire_time']))

    def _issue(self, plan: ItemPlan, result: dict[str, Any]) -> None:
        changed_before = result.get('changed', False)
        answer = self._generate(plan, result)
        now = self.clock()
        answer = answer if isinstance(answer, dict) else {}
        data = answer.get('data') if isinstance(answer.get('data'), dict) else {}
        lease_id = answer.get('lease_id')
        if not lease_id or not isinstance(lease_id, str):
            raise RotationError('Vault answered %s without a lease id: look for a lease of the role issued at %s and revoke it'
                                % (plan.path, to_iso(now)))
        try:
            where = 'Vault answered %s with ' % plan.path
            duration = server_seconds(answer.get('lease_duration'), 'lease_duration', where)
            for key in ('username', 'password'):
                if not isinstance(data.get(key), str) or not data.get(key):
                    raise RotationError('Vault answered %s without a %s' % (plan.path, key))
        except RotationError as exc:
            raise RotationError('%s; %s' % (exc, self._revoke_quietly(lease_id)))
        result.update(changed=True, lease_id=lease_id, lease_duration=duration,
                      renewable=bool(answer.get('renewable')), username=data.get('username'),
                      expires_at=to_iso(now + datetime.timedelta(seconds=duration)))
        try:
            self._verify(plan, data.get('username'), data.get('password'), result)
        except OperatorError as exc:
            note = self._revoke_quietly(lease_id)
            result.update(changed=changed_before, lease_id=None, revoked_lease_id=lease_id)
            raise RotationError('verification of the new credentials failed: %s; %s' % (exc, note))
        except Exception:
            self._revoke_quietly(lease_id)  # a bug must not leave an unverified lease behind
            raise
        result['password'] = data.get('password')
        result['msg'] = '%s %s: %s; new lease %s (user %s) expires at %s%s' % (
            'rotated' if plan.lease_id else 'issued', plan.path, plan.decision.why, lease_id, data.get('username'),
            result['expires_at'], ', verified' if plan.verify else ', not verified (verify=false)')

    def _generate(self, plan: ItemPlan, result: dict[str, Any]) -> Any:
        """``GET <mount>/creds/<role>``, sent at most once: every send creates a database user.

        After a failure that leaves open whether Vault created the user (no answer, or a 5xx), the role's leases are
        listed again: a single lease that was not there before is this request's and is revoked; several (another
        client issued meanwhile) are named, none revoked. Raises :class:`RotationError` saying which.
        """
        before = self._role_leases(plan)
        started = self.clock()
        try:
            with send_once(self.client):
                with self._vault('issuing credentials from %s' % plan.path):
                    return self.client.secrets.database.generate_credentials(plan.role, mount_point=plan.mount)
        except VaultClientError as exc:
            if not exc.uncertain:
                raise
            raise RotationError('%s; %s' % (exc, self._after_uncertain_issue(plan, before, started, exc.answered, result)))

    def _role_leases(self, plan: ItemPlan) -> set[str] | None:
        """The ids of the role's leases (``LIST sys/leases/lookup/<mount>/creds/<role>/``, needs list and sudo), or
        None when they cannot be listed."""
        prefix = '%s/creds/%s/' % (plan.mount, plan.role)
        try:
            with self._vault('listing the leases of %s' % plan.path):
                try:
                    response = self.client.sys.list_leases(prefix)
                except hvac_exceptions.InvalidPath:
                    return set()
        except VaultClientError:
            return None
        keys = ((response if isinstance(response, dict) else {}).get('data') or {}).get('keys')
        if not isinstance(keys, list):
            return None
        return set(prefix + str(key) for key in keys if not str(key).endswith('/'))

    def _after_uncertain_issue(self, plan: ItemPlan, before: set[str] | None, started: datetime.datetime, answered: bool,
                               result: dict[str, Any]) -> str:
        """Find and revoke what an issuing request that failed uncertainly created; returns a sentence saying what."""
        listing = 'LIST sys/leases/lookup/%s/creds/%s/ (list and sudo)' % (plan.mount, plan.role)
        unknown = ('the request may have created a database user and lease anyway, and this token cannot see the leases of '
                   'the role (%s): look for a lease of %s issued at %s and revoke it' % (listing, plan.path, to_iso(started)))
        if before is None:
            return unknown
        sleep = self.sleep or time.sleep
        waited = 0.0
        new = []
        for delay in (0.0,) + (() if answered else UNCERTAIN_SETTLE):
            if delay:
                sleep(delay)
                waited += delay
            after = self._role_leases(plan)
            if after is None:
                return unknown
            new = sorted(after - before)
            if new:
                break
        if not new:
            return ('no new lease of %s appeared%s, so the request created none' % (
                plan.path, ' within %gs' % waited if waited else ''))
        if len(new) > 1:
            return ('%d new leases of %s appeared meanwhile (%s): this request created at most one of them and other clients '
                    'the others, so none was revoked: revoke the one nobody uses' % (len(new), plan.path, ', '.join(new)))
        note = self._revoke_quietly(new[0])
        if note.endswith('was revoked'):
            result['revoked_lease_id'] = new[0]
        return 'the request created lease %s anyway (found among the leases of the role); %s' % (new[0], note)

    def _rotate_static(self, plan: ItemPlan, result: dict[str, Any]) -> None:
        with self._vault('rotating static role %s (%s/rotate-role/%s)' % (plan.role, plan.mount, plan.role)):
            self.client.secrets.database.rotate_static_role_credentials(plan.role, mount_point=plan.mount)
        result['changed'] = True
        with self._vault('reading %s' % plan.path):
            data = self.client.secrets.database.get_static_credentials(plan.role, mount_point=plan.mount)['data']
        result.update(username=data.get('username'), last_vault_rotation=_iso(data.get('last_vault_rotation')), ttl=data.get('ttl'))
        try:
            self._verify(plan, data.get('username'), data.get('password'), result)
        except OperatorError as exc:
            raise RotationError('the password of static role %s was rotated, but verification of the new password failed: %s; '
                                'the new password is in %s (fix the database user, then re-run with force=true)'
                                % (plan.role, exc, plan.path))
        result['password'] = data.get('password')
        result['msg'] = 'rotated static role %s: %s; user %s%s' % (
            plan.path, plan.decision.why, data.get('username'), ', verified' if plan.verify else ', not verified (verify=false)')

    def _renew(self, plan: ItemPlan, result: dict[str, Any]) -> None:
        with self._vault('renewing lease %s' % plan.lease_id):
            answer = self.client.sys.renew_lease(plan.lease_id, increment=plan.increment)
        result['changed'] = True
        new_ttl = server_seconds((answer or {}).get('lease_duration'), 'lease_duration',
                                 'Vault answered the renewal of %s with ' % plan.lease_id)
        if new_ttl <= plan.lease['ttl'] or new_ttl < (plan.decision.need or 0):
            # max_ttl reached: renewal cannot keep the lease out of the threshold, so rotate after all
            plan.decision = Decision('rotate', 'expiring', '%s; renewal only reached %s (max_ttl)' % (plan.decision.why, format_duration(new_ttl)))
            result['action'] = 'rotate'
            self._issue(plan, result)
            return
        now = self.clock()
        result.update(lease_id=plan.lease_id, lease_duration=new_ttl, renewable=bool(answer.get('renewable')),
                      expires_at=to_iso(now + datetime.timedelta(seconds=new_ttl)))
        result['msg'] = 'renewed %s: %s; it now expires at %s' % (plan.lease_id, plan.decision.why, result['expires_at'])

    def _verify(self, plan: ItemPlan, username: str, password: str, result: dict[str, Any]) -> None:
        if not plan.verify:
            return
        kwargs = dict(check_query=plan.check_query, privileges=plan.privileges, attempts=plan.attempts)
        if self.sleep is not None:
            kwargs['sleep'] = self.sleep
        report = self.pg.verify_login(plan.target, username, password, **kwargs)
        result.update(verified=True, verification=report)

    def _revoke_quietly(self, lease_id: str) -> str:
        """Revoke what we created after a failure; returns a sentence for the message."""
        try:
            with self._vault('revoking the new lease %s' % lease_id):
                self.client.sys.revoke_lease(lease_id)
        except VaultClientError as exc:
            return 'revoking the new lease %s failed too (%s): revoke it by hand' % (lease_id, exc)
        return 'the new lease %s was revoked' % lease_id

    # -- state=revoked
    def run_revoked(self) -> dict[str, Any]:
        """Revoke the leases that are still active; with ``no_sessions_of`` only once none of these users has a session
        left (else none is revoked: reason ``in_use``)."""
        plan = validate_revoke(self.params, self.environ)
        if plan.users:
            self.pg.require_psycopg2('no_sessions_of')
        self._connect()
        results, active = self._look_up_leases(plan.lease_ids)
        counts = waited = None
        if plan.users and active:
            counts, waited = self._wait_for_no_sessions(plan)
        in_use = bool(counts) and any(counts.values())
        for result, lease in active:
            self._revoke(result, lease, plan, counts, waited, in_use)
        failure = None
        if in_use:  # the leases in use are named once, with the sessions that keep them
            failure = '; '.join([self._in_use_message([res['lease_id'] for res, dummy in active], plan, counts)]
                                + ['%s: %s' % (res['item'], res['msg']) for res in results if res['failed'] and res['reason'] != 'in_use'])
        runner = BatchRunner('lease_ids', 'leases', plan.single, label)
        result = runner.result(results, summary(results, self.check_mode, 'leases'), want_diff=self.want_diff, failure=failure)
        result['revoked'] = [res['lease_id'] for res in results if res['changed'] and not res['failed']]
        if counts is not None:
            result.update(sessions=counts, sessions_waited=waited)
            warning = libpq_warning([plan.target])
            if warning:
                self.warn(warning)
        return result

    def _look_up_leases(self, lease_ids: list[str]) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], dict[str, Any]]]]:
        """One result per lease; those already gone (reason ``absent``) or unreadable (``error``) are done. Returns the
        results and ``[(result, lease_info)]`` of the active leases."""
        results, active = [], []
        for lease_id in lease_ids:
            result = dict(item=lease_id, lease_id=lease_id, changed=False, failed=False)
            try:
                lease = self._lookup_lease(lease_id)
            except OperatorError as exc:
                result.update(failed=True, reason='error', action='revoke', msg=str(exc))
            else:
                if lease is None:
                    result.update(reason='absent', action='keep', msg='lease %s is already revoked or expired' % lease_id,
                                  diff=_diff(lease_id, dict(state='absent'), dict(state='absent')))
                else:
                    active.append((result, lease))
            results.append(result)
        return results, active

    def _revoke(self, result: dict[str, Any], lease: Mapping[str, Any], plan: RevokePlan, counts: dict[str, int] | None,
                waited: float | None, in_use: bool) -> None:
        """Revoke one active lease (check mode: predict), unless a session of ``no_sessions_of`` is left."""
        lease_id = result['lease_id']
        before = dict(state='active', expires_at=to_iso(lease['expire_time']))
        if in_use:
            result.update(failed=True, reason='in_use', action='keep', msg=self._in_use_message([lease_id], plan, counts),
                          diff=_diff(lease_id, before, before))
            return
        # check mode counts once and never waits: the time that one count took is no wait
        waiting = ' after waiting %ss' % waited if waited and not self.check_mode else ''
        proof = ' (no session of %s%s)' % (', '.join(plan.users), waiting) if counts else ''
        try:
            if not self.check_mode:
                with self._vault('revoking lease %s' % lease_id):
                    self.client.sys.revoke_lease(lease_id)
        except OperatorError as exc:
            result.update(failed=True, reason='error', action='revoke', msg=str(exc))
            return
        result.update(changed=True, reason='requested', action='revoke', diff=_diff(lease_id, before, dict(state='revoked')),
                      msg='%s lease %s%s' % ('would revoke' if self.check_mode else 'revoked', lease_id, proof))

    def _wait_for_no_sessions(self, plan: RevokePlan) -> tuple[dict[str, int], float]:
        """Count the sessions of ``plan.users`` over one login until none is left or ``plan.timeout`` has passed
        (check mode: count once); returns ``(counts, waited)``. A failed login raises, naming server and user."""
        try:
            with self.pg.SessionCounter(plan.target, plan.db_user, plan.db_password) as counter:
                return wait_for_no_sessions(counter.count, plan.users, plan.timeout, check_mode=self.check_mode,
                                            monotonic=self.monotonic, sleep=self.sleep or time.sleep)
        except _postgres.PostgresError as exc:
            raise RotationError('cannot check no_sessions_of in pg_stat_activity: %s; nothing was revoked' % exc)

    def _in_use_message(self, lease_ids: list[str], plan: RevokePlan, counts: Mapping[str, int]) -> str:
        leases, timeout = ', '.join(lease_ids), format_duration(plan.timeout)
        if self.check_mode:
            return ('would not revoke %s: %s in pg_stat_activity on %s; the real run waits up to %s for them to end, '
                    'then fails without revoking' % (leases, describe_sessions(counts), plan.target, timeout))
        return ('not revoking %s: %s in pg_stat_activity on %s after waiting %s (something still uses it); nothing was revoked'
                % (leases, describe_sessions(counts, still=True), plan.target, timeout))


def libpq_warning(targets: Iterable[_postgres.PgTarget]) -> str | None:
    """A warning when the verification login cannot refuse to send the password in clear text (libpq < 16)."""
    if _postgres.libpq_version() and not _postgres.require_auth_supported() and any(
            target.require_auth and target.sslmode != 'verify-full' and not target.is_socket for target in targets):
        return ('psycopg2 uses libpq %s, which cannot refuse to send the password in clear text (require_auth needs libpq 16): '
                'a server impostor could receive the new password; install a newer psycopg2-binary, or set db_sslmode: '
                'verify-full' % _postgres.libpq_version_text())
    return None


def _iso(text: Any) -> str | None:
    """A time Vault returned, as UTC ISO 8601 (shown as it is when it is no time)."""
    if not text:
        return None
    try:
        return to_iso(parse_iso(text))
    except (TypeError, ValueError, OverflowError):
        return str(text)
