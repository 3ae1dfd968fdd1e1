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
without changing Vault or PostgreSQL.

The decisions (:func:`validate_item`, :func:`validate_revoke`, :func:`decide_dynamic`, :func:`decide_static`,
:func:`wait_for_no_sessions`, :func:`summarize`) are pure functions so that unit tests drive them without servers.

Private to the collection: the leading underscore means no compatibility promise to other collections.
"""


import datetime
import os
import time

try:
    import hvac.exceptions as hvac_exceptions
except ImportError:  # reported by get_vault_connection() with a clear message
    hvac_exceptions = None

from ansible_collections.secops.rotation.plugins.module_utils import _postgres
from ansible_collections.secops.rotation.plugins.module_utils._common import (
    OperatorError, RotationError, backoff_delays, batch_argument_spec, expand_batch, parse_iso, to_iso, utcnow)
from ansible_collections.secops.rotation.plugins.module_utils._duration import format_duration, parse_duration
from ansible_collections.secops.rotation.plugins.module_utils._vault import (
    VaultClientError, get_vault_connection, send_once, vault_errors)

ROLE_TYPES = ('dynamic', 'static')

# Options a batch item (an entry of ``roles``) can set; unset ones fall back to the task's top-level value.
ITEM_OPTIONS = ('role', 'role_type', 'mount', 'lease_id', 'lease_threshold', 'lease_threshold_fraction', 'max_age',
                'renew', 'renew_increment', 'force', 'verify', 'check_query', 'privileges', 'db_host', 'db_port',
                'db_name', 'db_sslmode', 'db_require_auth', 'db_connect_timeout', 'verify_attempts')

# Defaults of the options above (also the argument spec's defaults, so ansible-doc shows them).
DEFAULTS = dict(role_type='dynamic', mount='database', renew=False, force=False, verify=True, check_query='SELECT 1',
                db_connect_timeout=5, verify_attempts=5)

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


def db_argument_spec():
    """The module's own options (merge with ``vault_argument_spec()``); batch items take the per-role ones."""
    privilege_options = dict(table=dict(type='str', required=True), privilege=dict(type='str', default='SELECT'))
    spec = batch_argument_spec(dict(
        role=dict(type='str'),
        role_type=dict(type='str', default=DEFAULTS['role_type'], choices=list(ROLE_TYPES)),
        mount=dict(type='str', default=DEFAULTS['mount']),
        lease_id=dict(type='str'),
        lease_threshold=dict(type='raw'),
        lease_threshold_fraction=dict(type='float'),
        max_age=dict(type='raw'),
        renew=dict(type='bool', default=DEFAULTS['renew']),
        renew_increment=dict(type='raw'),
        force=dict(type='bool', default=DEFAULTS['force']),
        verify=dict(type='bool', default=DEFAULTS['verify']),
        check_query=dict(type='str', default=DEFAULTS['check_query']),
        privileges=dict(type='list', elements='dict', options=privilege_options),
        db_host=dict(type='str'),
        db_port=dict(type='int'),
        db_name=dict(type='str'),
        db_sslmode=dict(type='str', choices=list(_postgres.SSLMODES)),
        db_require_auth=dict(type='str'),
        db_connect_timeout=dict(type='int', default=DEFAULTS['db_connect_timeout']),
        verify_attempts=dict(type='int', default=DEFAULTS['verify_attempts']),
    ), 'roles', required='role')
    spec.update(
        state=dict(type='str', default='present', choices=['present', 'revoked']),
        lease_ids=dict(type='list', elements='str'),
        no_sessions_of=dict(type='list', elements='str'),
        sessions_timeout=dict(type='raw'),
        db_user=dict(type='str'),
        db_password=dict(type='str', no_log=True),
    )
    return spec


# ----------------------------------------------------------------------------------------------- validation

class ItemPlan:
    """One role to handle, validated; filled with what Vault says (lease, role, static creds) in pre-flight."""

    def __init__(self, **kwargs):
        self.index = 0
        self.role = None
        self.role_type = 'dynamic'
        self.mount = 'database'
        self.lease_id = None
        self.threshold = None
        self.fraction = None
        self.max_age = None
        self.renew = False
        self.increment = None
        self.force = False
        self.verify = True
        self.check_query = 'SELECT 1'
        self.privileges = []
        self.target = None
        self.attempts = 5
        # pre-flight
        self.role_info = None
        self.lease = None
        self.static_creds = None
        self.decision = None
        self.__dict__.update(kwargs)

    @property
    def path(self):
        return '%s/%s/%s' % (self.mount, 'creds' if self.role_type == 'dynamic' else 'static-creds', self.role)


def _env_or_default(item, key, environ):
    value = item.get(key)
    if value is not None and value != '':
        return value
    name, default = ENV_DEFAULTS[key]
    return environ.get(name) or default


def _value(item, key):
    value = item.get(key)
    return DEFAULTS.get(key) if value is None else value


def validate_item(item, index=0, environ=None):
    """Check one item's options (durations, ranges, conflicts) and return an :class:`ItemPlan`.

    Raises :class:`RotationError` / :class:`DurationError` / :class:`PostgresError` naming the option.
    """
    environ = os.environ if environ is None else environ
    role = item.get('role')
    if not role or not str(role).strip():
        raise RotationError('role is required (the name of the database role in Vault)')
    role = str(role).strip()
    if '/' in role:
        raise RotationError('role %r must be a role name without "/" (set the mount separately with mount)' % role)
    role_type = _value(item, 'role_type')
    if role_type not in ROLE_TYPES:
        raise RotationError('role_type must be one of %s, got %r' % (', '.join(ROLE_TYPES), role_type))
    mount = str(_value(item, 'mount') or '').strip().strip('/')
    if not mount:
        raise RotationError('mount must not be empty (the path of the database secrets engine, e.g. database)')
    if any(part in ('', '.', '..') for part in mount.split('/')) or any(char in mount for char in '?#%\x00 '):
        raise RotationError('mount %r must be the path of the database secrets engine (e.g. database or team/db), without '
                            'empty, "." or ".." segments, spaces or ?#%%' % mount)

    threshold = None
    if item.get('lease_threshold') not in (None, ''):
        threshold = parse_duration(item['lease_threshold'], name='lease_threshold')
    fraction = item.get('lease_threshold_fraction')
    if fraction is not None:
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
            raise RotationError('lease_threshold_fraction must be a number between 0 and 1 (exclusive), e.g. 0.25, got %r' % (fraction,))
        fraction = float(fraction)
    if threshold is not None and fraction is not None:
        raise RotationError('lease_threshold and lease_threshold_fraction are mutually exclusive: set one of them')
    max_age = None
    if item.get('max_age') not in (None, ''):
        max_age = parse_duration(item['max_age'], name='max_age')
    increment = None
    if item.get('renew_increment') not in (None, ''):
        increment = parse_duration(item['renew_increment'], name='renew_increment')
    renew = bool(_value(item, 'renew'))
    lease_id = item.get('lease_id') or None

    if role_type == 'static':
        for key, value in (('lease_id', lease_id), ('lease_threshold', threshold), ('lease_threshold_fraction', fraction),
                           ('renew_increment', increment)):
            if value is not None:
                raise RotationError('%s applies to dynamic roles only; static role %s is rotated by age (max_age) or force'
                                    % (key, role))
        if renew:
            raise RotationError('renew applies to dynamic roles only (static roles have no lease to renew)')
    else:
        if max_age is not None:
            raise RotationError('max_age applies to static roles only; for dynamic roles use lease_threshold or '
                                'lease_threshold_fraction with lease_id')
        if increment is not None and not renew:
            raise RotationError('renew_increment needs renew=true')
        if lease_id is not None:
            prefix = '%s/creds/%s/' % (mount, role)
            if not lease_id.startswith(prefix) or len(lease_id) == len(prefix):
                raise RotationError('lease_id %s is not a lease of %s/creds/%s (expected %s<id>): pass the lease of this role'
                                    % (lease_id, mount, role, prefix))

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
    target = db_target(item, environ)
    return ItemPlan(index=index, role=role, role_type=role_type, mount=mount, lease_id=lease_id, threshold=threshold,
                    fraction=fraction, max_age=max_age, renew=renew, increment=increment, force=bool(_value(item, 'force')),
                    verify=verify, check_query=check_query, privileges=privileges, target=target, attempts=attempts)


def db_target(options, environ=None):
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


def require_auth(options, environ):
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

    def __init__(self, lease_ids, single, users=None, timeout=None, target=None, db_user=None, db_password=None):
        self.lease_ids = lease_ids
        self.single = single
        self.users = users or []
        self.timeout = timeout
        self.target = target
        self.db_user = db_user
        self.db_password = db_password


def reject_revoke_options(params):
    """With state=present: fail if an option of state=revoked's session check is set."""
    given = [key for key in SESSION_OPTIONS if params.get(key) is not None]
    if given:
        raise RotationError('%s %s for state=revoked (checking pg_stat_activity before revoking leases); with state=present '
                            'the new credentials are verified with their own login' % (', '.join(given), 'is' if len(given) == 1 else 'are'))


def validate_revoke(params, environ=None):
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


def wait_for_no_sessions(count, users, timeout, check_mode=False, clock=time.monotonic, sleep=time.sleep):
    """Count the sessions of ``users`` with ``count(users)`` until none is left or ``timeout`` seconds have passed.

    Pauses between counts follow ``backoff_delays`` (0.5 s doubling to at most 5 s), never past the deadline; the
    last count is taken at the deadline. ``timeout=0`` and check mode count once and do not wait.
    Returns ``(counts, waited)``: ``{user: count}`` of the last count and the seconds spent (rounded to 0.1).
    """
    started = clock()
    deadline = started + (0 if check_mode else timeout)
    delays = iter(backoff_delays(SESSIONS_POLL_START, SESSIONS_POLL_CAP, total=timeout) if timeout and not check_mode else ())
    counts = count(users)
    while any(counts.values()):
        remaining = deadline - clock()
        delay = next(delays, None)
        if remaining <= 0 or delay is None:
            break
        sleep(min(delay, remaining))
        counts = count(users)
    return counts, round(max(0.0, clock() - started), 1)


def describe_sessions(counts, still=False):
    """``user v-app-a still has 2 session(s) and user v-app-c ...`` for the users with sessions."""
    parts = ['user %s %shas %d session(s)' % (name, 'still ' if still else '', number) for name, number in counts.items() if number]
    return ' and '.join(parts)


# ----------------------------------------------------------------------------------------------- decisions

class Decision:
    """What to do with one role: ``action`` (rotate, renew, none), ``reason`` and a human ``why``."""

    def __init__(self, action, reason, why, need=None):
        self.action = action
        self.reason = reason
        self.why = why
        self.need = need  # seconds of TTL a renewal must reach to be worth it

    def __repr__(self):
        return 'Decision(%r, %r, %r)' % (self.action, self.reason, self.why)


# Vault's answers are checked like input: a field that is not what it should be fails the task naming it.
MAX_SERVER_SECONDS = 36500 * 86400


def server_time(data, key, where):
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


def server_seconds(value, key, where, default=None):
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


def lease_info(data, now=None, lease_id=None):
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


def _lease_ttl(value, where):
    try:
        return server_seconds(value, 'ttl', where)
    except RotationError:
        raise RotationError('%sttl %r is not a number of seconds' % (where, value))


def decide_dynamic(plan, lease, now=None, max_ttl=None):
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


def decide_static(plan, creds, now=None):
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

def summarize(results, single, check_mode=False, what='roles'):
    """The task result from per-item results: ``changed``, ``failed``, ``reason``, ``msg``, ``results``.

    A single item (no list given) also has its fields at the top level.
    """
    failed = [res for res in results if res.get('failed')]
    changed = any(res.get('changed') for res in results)
    reasons = sorted(set(res.get('reason') for res in results))
    if single and results:
        result = dict((key, value) for key, value in results[0].items() if key != 'diff')
    else:
        result = dict(reason=reasons[0] if len(reasons) == 1 else 'mixed')
        counts = {}
        for res in results:
            if not res.get('failed'):
                counts[res.get('action')] = counts.get(res.get('action'), 0) + 1
        words = dict(rotate='rotated', renew='renewed', none='not due', revoke='revoked', keep='already revoked')
        if check_mode:
            words = dict(rotate='would rotate', renew='would renew', none='not due', revoke='would revoke', keep='already revoked')
        parts = ['%s %d' % (words.get(action, action), count) for action, count in sorted(counts.items())]
        result['msg'] = '%s (%d %s)' % (', '.join(parts) or 'nothing done', len(results), what)
    if failed and not single:
        result['msg'] = '%d of %d %s failed: %s' % (len(failed), len(results), what, '; '.join(
            res.get('msg') if str(res.get('msg')).startswith('%s: ' % res.get('item')) else '%s: %s' % (res.get('item'), res.get('msg'))
            for res in failed))
    result.update(changed=changed, failed=bool(failed), results=results)
    return result


def merge_diffs(results):
    """One ``{before, after}`` diff keyed by item, from the ``diff`` of each result (removed from the results)."""
    before, after = {}, {}
    for res in results:
        diff = res.pop('diff', None)
        if diff:
            before[res['item']] = diff['before']
            after[res['item']] = diff['after']
    return dict(before=before, after=after)


# ----------------------------------------------------------------------------------------------- the rotator

class DbCredentialRotator:
    """Run the module: ``DbCredentialRotator(module.params, check_mode=..., diff=...).run()`` -> result dict."""

    def __init__(self, params, check_mode=False, diff=False, environ=None, postgres=None, sleep=None, clock=None):
        self.params = params
        self.check_mode = check_mode
        self.want_diff = diff
        self.environ = os.environ if environ is None else environ
        self.pg = postgres or _postgres
        self.sleep = sleep
        self.clock = clock
        self.client = None
        self.opts = None

    # -- entry point
    def run(self):
        if (self.params.get('state') or 'present') == 'revoked':
            return self.run_revoked()
        return self.run_present()

    def _connect(self):
        self.client, self.opts = get_vault_connection(self.params, self.environ)

    def _vault(self, action):
        return vault_errors(action, self.opts)

    # -- state=present
    def run_present(self):
        if self.params.get('lease_ids'):
            raise RotationError('lease_ids is for state=revoked; with state=present pass the lease in use as lease_id')
        reject_revoke_options(self.params)
        single = not self.params.get('roles')
        if single and not self.params.get('role'):
            raise RotationError('role is required with state=present (or roles, a list of roles)')
        if not single and self.params.get('role'):
            raise RotationError('role and roles are mutually exclusive: put every role in roles')
        items = expand_batch(self.params, 'roles', ITEM_OPTIONS)
        plans = self._collect(items, lambda item, index: validate_item(item, index, self.environ), single)
        if any(plan.verify for plan in plans):
            message = self.pg.missing_psycopg2_message()
            if message:
                raise RotationError(message)
        self._connect()
        self._collect(plans, lambda plan, index: self._preflight(plan), single)
        self._probe_databases(plans, single)
        results = []
        for plan in plans:
            results.append(self._act(plan))
        notes = self._roll_back_for_failed_batch(plans, results)
        diff = merge_diffs(results)
        result = summarize(results, single, self.check_mode)
        if notes:
            result['msg'] = '%s; %s' % (result['msg'], '; '.join(notes))
        if self.want_diff:
            result['diff'] = diff
        warning = libpq_warning([plan.target for plan in plans if plan.verify and plan.decision.action == 'rotate'])
        if warning:
            result['warnings'] = [warning]
        return result

    def _roll_back_for_failed_batch(self, plans, results):
        """A failed task returns no password (it prints its whole result): when an item failed, the new credentials of
        the items that succeeded would be lost. Revoke their new leases; a static role's new password stays readable
        in Vault. Returns sentences for the task's message."""
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

    def _collect(self, things, check, single):
        """Apply ``check`` to every item; if any fails, raise one error naming every failed item (nothing changed yet)."""
        done, errors = [], []
        for index, thing in enumerate(things):
            try:
                done.append(check(thing, index))
            except OperatorError as exc:
                errors.append(str(exc) if single else 'roles[%d] (%s): %s' % (index, _label(thing), exc))
        if errors:
            raise RotationError('; '.join(errors) + ('' if single else ' - nothing was changed'))
        return done

    def _preflight(self, plan):
        """Read what the decision needs (role, lease, static creds); nothing is changed."""
        plan.role_info = self._read_role(plan)
        now = utcnow()
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

    def _read_role(self, plan):
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

    def _lookup_lease(self, lease_id):
        """:func:`lease_info` of a lease, or None when Vault does not know it (expired or revoked)."""
        with self._vault('looking up lease %s (sys/leases/lookup)' % lease_id):
            try:
                data = self.client.sys.read_lease(lease_id)['data']
            except hvac_exceptions.InvalidRequest as exc:
                if 'invalid lease' in str(exc):
                    return None
                raise
        return lease_info(data, lease_id=lease_id)

    def _probe_databases(self, plans, single):
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
    def _act(self, plan):
        decision = plan.decision
        result = dict(item=plan.path, role=plan.role, role_type=plan.role_type, mount=plan.mount, changed=False,
                      failed=False, reason=decision.reason, action=decision.action, verified=False)
        if plan.role_type == 'dynamic':
            result['previous_lease_id'] = plan.lease_id
        before = self._state_before(plan)
        if decision.action == 'none':
            result['msg'] = '%s: not due: %s' % (plan.path, decision.why)
            result.update(self._current_fields(plan))
            result['diff'] = dict(before=before, after=before)
            return result
        if self.check_mode:
            verb = 'rotate' if decision.action == 'rotate' else 'renew'
            result.update(changed=True, msg='would %s %s: %s' % (verb, plan.path, decision.why))
            if plan.role_type == 'static':
                after = dict(before, last_vault_rotation='(now)')
            elif verb == 'rotate':
                after = dict(lease_id='(new lease)', expires_at='(new)', username='(new user)')
            else:
                after = dict(before, expires_at='(renewed)')
            result['diff'] = dict(before=before, after=after)
            return result
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
        result['diff'] = dict(before=before, after=self._state_after(plan, result))
        return result

    def _state_before(self, plan):
        if plan.role_type == 'static':
            creds = plan.static_creds or {}
            return dict(username=creds.get('username'), last_vault_rotation=_iso(creds.get('last_vault_rotation')))
        lease = plan.lease
        return dict(lease_id=plan.lease_id if lease else None, expires_at=to_iso(lease['expire_time']) if lease else None)

    @staticmethod
    def _state_after(plan, result):
        if plan.role_type == 'static':
            return dict(username=result.get('username'), last_vault_rotation=result.get('last_vault_rotation'))
        after = dict(lease_id=result.get('lease_id'), expires_at=result.get('expires_at'))
        if result.get('username'):
            after['username'] = result['username']
        return after

    @staticmethod
    def _current_fields(plan):
        """Return fields of an item left as it is."""
        if plan.role_type == 'static':
            creds = plan.static_creds or {}
            return dict(username=creds.get('username'), password=creds.get('password'),
                        last_vault_rotation=_iso(creds.get('last_vault_rotation')), ttl=creds.get('ttl'))
        lease = plan.lease
        return dict(lease_id=plan.lease_id, lease_duration=lease['ttl'], renewable=lease['renewable'],
                    expires_at=to_iso(lease['expire_time']))

    def _issue(self, plan, result):
        changed_before = result.get('changed', False)
        answer = self._generate(plan, result)
        now = utcnow()
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

    def _generate(self, plan, result):
        """``GET <mount>/creds/<role>``, sent at most once: every send creates a database user.

        After a failure that leaves open whether Vault created the user (no answer, or a 5xx), the role's leases are
        listed again: a single lease that was not there before is this request's and is revoked; several (another
        client issued meanwhile) are named, none revoked. Raises :class:`RotationError` saying which.
        """
        before = self._role_leases(plan)
        started = utcnow()
        try:
            with send_once(self.client):
                with self._vault('issuing credentials from %s' % plan.path):
                    return self.client.secrets.database.generate_credentials(plan.role, mount_point=plan.mount)
        except VaultClientError as exc:
            if not exc.uncertain:
                raise
            raise RotationError('%s; %s' % (exc, self._after_uncertain_issue(plan, before, started, exc.answered, result)))

    def _role_leases(self, plan):
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

    def _after_uncertain_issue(self, plan, before, started, answered, result):
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

    def _rotate_static(self, plan, result):
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

    def _renew(self, plan, result):
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
        now = utcnow()
        result.update(lease_id=plan.lease_id, lease_duration=new_ttl, renewable=bool(answer.get('renewable')),
                      expires_at=to_iso(now + datetime.timedelta(seconds=new_ttl)))
        result['msg'] = 'renewed %s: %s; it now expires at %s' % (plan.lease_id, plan.decision.why, result['expires_at'])

    def _verify(self, plan, username, password, result):
        if not plan.verify:
            return
        kwargs = dict(check_query=plan.check_query, privileges=plan.privileges, attempts=plan.attempts)
        if self.sleep is not None:
            kwargs['sleep'] = self.sleep
        report = self.pg.verify_login(plan.target, username, password, **kwargs)
        result.update(verified=True, verification=report)

    def _revoke_quietly(self, lease_id):
        """Revoke what we created after a failure; returns a sentence for the message."""
        try:
            with self._vault('revoking the new lease %s' % lease_id):
                self.client.sys.revoke_lease(lease_id)
        except VaultClientError as exc:
            return 'revoking the new lease %s failed too (%s): revoke it by hand' % (lease_id, exc)
        return 'the new lease %s was revoked' % lease_id

    # -- state=revoked
    def run_revoked(self):
        plan = validate_revoke(self.params, self.environ)
        if plan.users and self.pg.missing_psycopg2_message():
            raise RotationError('the Python library psycopg2 is required on the host that runs this module to count the sessions '
                                'of no_sessions_of: pip install psycopg2-binary - nothing was revoked')
        self._connect()
        results, active = [], []
        for lease_id in plan.lease_ids:
            result = dict(item=lease_id, lease_id=lease_id, changed=False, failed=False)
            try:
                lease = self._lookup_lease(lease_id)
            except OperatorError as exc:
                result.update(failed=True, reason='error', action='revoke', msg=str(exc))
            else:
                if lease is None:
                    result.update(reason='absent', action='keep', msg='lease %s is already revoked or expired' % lease_id,
                                  diff=dict(before=dict(state='absent'), after=dict(state='absent')))
                else:
                    active.append((result, lease))
            results.append(result)

        counts = waited = None
        if plan.users and active:
            counts, waited = self._wait_for_no_sessions(plan)
        in_use = bool(counts) and any(counts.values())
        for result, lease in active:
            before = dict(state='active', expires_at=to_iso(lease['expire_time']))
            if in_use:
                result.update(failed=True, reason='in_use', action='keep', msg=self._in_use_message([result['lease_id']], plan, counts),
                              diff=dict(before=before, after=before))
                continue
            proof = ' (no session of %s%s)' % (', '.join(plan.users), ' after waiting %ss' % waited if waited else '') if counts else ''
            try:
                if not self.check_mode:
                    with self._vault('revoking lease %s' % result['lease_id']):
                        self.client.sys.revoke_lease(result['lease_id'])
            except OperatorError as exc:
                result.update(failed=True, reason='error', action='revoke', msg=str(exc))
                continue
            result.update(changed=True, reason='requested', action='revoke', diff=dict(before=before, after=dict(state='revoked')),
                          msg='%s lease %s%s' % ('would revoke' if self.check_mode else 'revoked', result['lease_id'], proof))

        diff = merge_diffs(results)
        result = summarize(results, plan.single, self.check_mode, what='leases')
        result['revoked'] = [res['lease_id'] for res in results if res['changed'] and not res['failed']]
        if counts is not None:
            result.update(sessions=counts, sessions_waited=waited)
            warning = libpq_warning([plan.target])
            if warning:
                result['warnings'] = [warning]
        if in_use:
            others = ['%s: %s' % (res['item'], res['msg']) for res in results if res['failed'] and res['reason'] != 'in_use']
            result.update(reason='in_use', msg='; '.join([self._in_use_message([res['lease_id'] for res, dummy in active], plan, counts)]
                                                         + others))
        if self.want_diff:
            result['diff'] = diff
        return result

    def _wait_for_no_sessions(self, plan):
        """Count the sessions of ``plan.users`` over one login until none is left or ``plan.timeout`` has passed
        (check mode: count once); returns ``(counts, waited)``. A failed login raises, naming server and user."""
        try:
            with self.pg.SessionCounter(plan.target, plan.db_user, plan.db_password) as counter:
                return wait_for_no_sessions(counter.count, plan.users, plan.timeout, check_mode=self.check_mode,
                                            clock=self.clock or time.monotonic, sleep=self.sleep or time.sleep)
        except _postgres.PostgresError as exc:
            raise RotationError('cannot check no_sessions_of in pg_stat_activity: %s; nothing was revoked' % exc)

    def _in_use_message(self, lease_ids, plan, counts):
        leases, timeout = ', '.join(lease_ids), format_duration(plan.timeout)
        if self.check_mode:
            return ('would not revoke %s: %s in pg_stat_activity on %s; the real run waits up to %s for them to end, '
                    'then fails without revoking' % (leases, describe_sessions(counts), plan.target, timeout))
        return ('not revoking %s: %s in pg_stat_activity on %s after waiting %s (something still uses it); nothing was revoked'
                % (leases, describe_sessions(counts, still=True), plan.target, timeout))


def libpq_warning(targets):
    """A warning when the verification login cannot refuse to send the password in clear text (libpq < 16)."""
    if _postgres.libpq_version() and not _postgres.require_auth_supported() and any(
            target.require_auth and target.sslmode != 'verify-full' and not target.is_socket for target in targets):
        return ('psycopg2 uses libpq %s, which cannot refuse to send the password in clear text (require_auth needs libpq 16): '
                'a server impostor could receive the new password; install a newer psycopg2-binary, or set db_sslmode: '
                'verify-full' % _postgres.libpq_version_text())
    return None


def _label(thing):
    if isinstance(thing, ItemPlan):
        return thing.path
    kind = 'static-creds' if thing.get('role_type') == 'static' else 'creds'
    return '%s/%s/%s' % (thing.get('mount') or DEFAULTS['mount'], kind, thing.get('role'))


def _iso(text):
    """A time Vault returned, as UTC ISO 8601 (shown as it is when it is no time)."""
    if not text:
        return None
    try:
        return to_iso(parse_iso(text))
    except (TypeError, ValueError, OverflowError):
        return str(text)
