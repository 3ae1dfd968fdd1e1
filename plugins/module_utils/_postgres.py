# -*- coding: utf-8 -*-
# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL checks of the collection, with psycopg2: does a (new) credential log in, run a check query and
hold the privileges it needs, and who still has sessions open (``pg_stat_activity``).

Every failure is a :class:`PostgresError` whose message names the server, the user and the failed check, and
never a password. Verification never commits: the check query and the privilege checks run in one
transaction that is rolled back.

Private to the collection: the leading underscore means no compatibility promise to other collections.
"""

from __future__ import annotations

import re
import socket
import ssl
import struct
import time
import traceback
from typing import Any, Callable, Iterable, Mapping

from ansible_collections.secops.rotation.plugins.module_utils._common import backoff_delays
from ansible_collections.secops.rotation.plugins.module_utils._errors import MissingLibraryError, OperatorError

PSYCOPG2_IMPORT_ERROR = None
try:
    import psycopg2
    import psycopg2.extensions
except ImportError:
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()

# The privileges has_table_privilege() understands (MAINTAIN: PostgreSQL 17+).
TABLE_PRIVILEGES = ('SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER', 'MAINTAIN')
SSLMODES = ('disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full')
# sslmodes that never log in without TLS.
TLS_SSLMODES = ('require', 'verify-ca', 'verify-full')
DEFAULT_SSLMODE = 'require'
# libpq's require_auth (libpq >= 16): the authentication methods the client accepts. scram-sha-256 proves that the
# client knows the password without sending it (nor an md5 hash that is as good as it), even to a server impostor.
REQUIRE_AUTH_METHODS = ('password', 'md5', 'gss', 'sspi', 'scram-sha-256', 'none')
DEFAULT_REQUIRE_AUTH = 'scram-sha-256'
REQUIRE_AUTH_LIBPQ = 160000

# Login failures a freshly created role can show for a moment (replication lag behind a proxy or a
# replica, a role committed just after the login attempt): retried; everything else fails at once.
_TRANSIENT_LOGIN = (re.compile(r'password authentication failed for user'),
                    re.compile(r'role "[^"]*" does not exist'),
                    re.compile(r'the database system is (starting up|in recovery mode|not yet accepting connections)'))

# The SSLRequest message (length 8, code 80877103): every PostgreSQL server answers it with one byte, S or N,
# before any authentication; used to tell a PostgreSQL port from something else without logging in.
_SSL_REQUEST = struct.pack('!ii', 8, 80877103)


class PostgresError(OperatorError):
    """A PostgreSQL check failed; the message says which one and why, never with a password."""


def require_psycopg2(reason: str) -> None:
    """Raise :class:`MissingLibraryError` (reported with Ansible's ``missing_required_lib``) when psycopg2 does not import;
    ``reason`` names the option that needs it (``verify``, ``no_sessions_of``). Called before anything is changed."""
    if PSYCOPG2_IMPORT_ERROR is not None:
        raise MissingLibraryError('psycopg2-binary', import_error=PSYCOPG2_IMPORT_ERROR, reason=reason)


def missing_psycopg2_message() -> str | None:
    """Message for a host without psycopg2 (None when it imports): a login attempted anyway fails with it."""
    if PSYCOPG2_IMPORT_ERROR is None:
        return None
    return ('the Python library psycopg2 is required on the host that runs this module to verify database logins: '
            'pip install psycopg2-binary (or set verify=false)')


def libpq_version() -> int:
    """The version of the libpq psycopg2 uses (``170011`` for 17.11), 0 without psycopg2."""
    if PSYCOPG2_IMPORT_ERROR is not None:
        return 0
    return psycopg2.extensions.libpq_version()


def libpq_version_text(version: int | None = None) -> str:
    version = libpq_version() if version is None else version
    return '%d.%d' % (version // 10000, version % 10000) if version >= 100000 else str(version)


def require_auth_supported() -> bool:
    """True when libpq knows ``require_auth`` (libpq 16 and later)."""
    return libpq_version() >= REQUIRE_AUTH_LIBPQ


class PgTarget:
    """Where to log in: host (name, address or a Unix socket directory), port, database, sslmode, connect_timeout, and
    the authentication methods the client accepts (``require_auth``; None: any)."""

    def __init__(self, host: str, port: int | str = 5432, dbname: str = 'postgres', sslmode: str = DEFAULT_SSLMODE,
                 connect_timeout: int = 5, require_auth: str | None = DEFAULT_REQUIRE_AUTH) -> None:
        self.host = host
        self.port = port
        self.dbname = dbname
        self.sslmode = sslmode
        self.connect_timeout = connect_timeout
        self.require_auth = require_auth

    def __str__(self) -> str:
        return '%s:%s/%s' % (self.host, self.port, self.dbname)

    @property
    def is_socket(self) -> bool:
        return str(self.host).startswith('/')

    def connect_kwargs(self, user: str | None, password: str | None) -> dict[str, Any]:
        kwargs = dict(host=self.host, port=self.port, dbname=self.dbname, user=user, password=password,
                      sslmode=self.sslmode, connect_timeout=self.connect_timeout,
                      application_name='secops.rotation', options='-c statement_timeout=30s')
        if self.require_auth and require_auth_supported():  # an older libpq refuses the keyword
            kwargs['require_auth'] = self.require_auth
        return kwargs


def normalize_privileges(privileges: Iterable[Mapping[str, Any]] | None, name: str = 'privileges') -> list[tuple[str, str]]:
    """Validate ``[{table, privilege}]`` and return ``[(table, 'SELECT'), ...]``.

    ``privilege`` may be one privilege or several separated by commas (``SELECT, INSERT``), each of
    :data:`TABLE_PRIVILEGES`, optionally followed by ``WITH GRANT OPTION``; it defaults to ``SELECT``.
    """
    checks = []
    for index, entry in enumerate(privileges or []):
        where = '%s[%d]' % (name, index)
        if not isinstance(entry, dict):
            raise PostgresError('%s must be a dict with table and privilege, got %r' % (where, entry))
        unknown = sorted(set(entry) - set(['table', 'privilege']))
        if unknown:
            raise PostgresError('%s: unknown key(s) %s; use table and privilege' % (where, ', '.join(unknown)))
        table = entry.get('table')
        if not isinstance(table, str) or not table.strip():
            raise PostgresError('%s.table is required (a table name, optionally schema-qualified)' % where)
        if '\x00' in table:
            raise PostgresError('%s.table must not contain a NUL character' % where)
        privilege = entry.get('privilege') or 'SELECT'
        if not isinstance(privilege, str):
            raise PostgresError('%s.privilege must be a string such as SELECT, got %r' % (where, privilege))
        parts = [part.strip().upper() for part in privilege.split(',')]
        for part in parts:
            base = re.sub(r'\s+WITH\s+GRANT\s+OPTION$', '', part)
            if base not in TABLE_PRIVILEGES:
                raise PostgresError('%s.privilege: unknown table privilege %r; use %s' % (where, part, ', '.join(TABLE_PRIVILEGES)))
        checks.append((table.strip(), ', '.join(parts)))
    return checks


def is_transient_login_error(message: str | None) -> bool:
    """True for the login errors a just-created role may show for a moment (worth a retry)."""
    return any(pattern.search(message or '') for pattern in _TRANSIENT_LOGIN)


def login_delays(attempts: int) -> list[float]:
    """Sleeps between ``attempts`` login tries: 0.25, 0.5, 1, 2, 2, ... seconds (``attempts - 1`` of them)."""
    return backoff_delays(0.25, 2.0, count=max(0, attempts - 1))


def short_error(exc: BaseException, password: str | None = None) -> str:
    """The useful line of a psycopg2 error, without libpq's prefixes and never with ``password``."""
    text = str(exc).strip() or exc.__class__.__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    text = lines[0] if lines else text
    text = re.sub(r'^connection to server (at|on) .*? failed: ', '', text)
    text = re.sub(r'^(FATAL|ERROR):\s+', '', text)
    return scrub(text, password)


def scrub(text: str, password: str | None) -> str:
    """Replace any occurrence of ``password`` in ``text`` (defence in depth: errors are built without it)."""
    if password and text and password in text:
        text = text.replace(password, '********')
    return text


def probe(target: PgTarget, timeout: float | None = None) -> bytes | None:
    """Check that ``target`` answers like a PostgreSQL server, without logging in (no session is opened).

    Sends the SSLRequest message and expects the one-byte answer ``S`` or ``N``. After ``N`` the connection is
    closed before a startup packet, which the server does not log. After ``S`` the server waits for a TLS
    handshake and logs ``could not accept SSL connection: EOF detected`` if the client just goes away, so the
    probe completes the handshake (no certificate check: nothing is sent over it) and closes TLS cleanly,
    which the server does not log either. Only ``log_connections`` shows the probe (``connection received``).
    A Unix socket directory is only checked for the socket file. Returns the answer (``b'S'``: the server offers
    TLS, ``b'N'``: it does not; None for a Unix socket). Raises :class:`PostgresError` naming host and port.
    """
    timeout = timeout or target.connect_timeout or 5
    if target.is_socket:
        path = '%s/.s.PGSQL.%s' % (str(target.host).rstrip('/'), target.port)
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(path)
            sock.close()
        except (OSError, socket.error) as exc:
            raise PostgresError('cannot reach PostgreSQL at Unix socket %s: %s' % (path, exc.strerror or exc))
        return None
    try:
        sock = socket.create_connection((target.host, int(target.port)), timeout=timeout)
    except socket.timeout:
        raise PostgresError('cannot reach PostgreSQL at %s:%s: no answer within %ss (check db_host and db_port)'
                            % (target.host, target.port, timeout))
    except (OSError, socket.error) as exc:
        raise PostgresError('cannot reach PostgreSQL at %s:%s: %s (check db_host and db_port)'
                            % (target.host, target.port, getattr(exc, 'strerror', None) or exc))
    try:
        sock.settimeout(timeout)
        sock.sendall(_SSL_REQUEST)
        answer = sock.recv(1)
    except socket.timeout:
        answer = None
        detail = 'no answer within %ss' % timeout
    except (OSError, socket.error) as exc:
        answer = None
        detail = getattr(exc, 'strerror', None) or str(exc) or exc.__class__.__name__
    else:
        detail = 'it answered %r' % answer[:1] if answer else 'it closed the connection'
    if answer == b'S':
        sock = _close_tls_quietly(sock)
    sock.close()
    if answer not in (b'S', b'N'):
        raise PostgresError('%s:%s does not answer like a PostgreSQL server (%s): check db_port'
                            % (target.host, target.port, detail))
    return answer


def _close_tls_quietly(sock: socket.socket) -> socket.socket:
    """Complete the TLS handshake the server expects after ``S`` and shut TLS down cleanly; returns the socket
    to close. Best effort: the server already proved it speaks PostgreSQL, so a failure here is ignored."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        tls = context.wrap_socket(sock)
    except (OSError, ValueError):  # ssl.SSLError is an OSError
        return sock
    try:
        return tls.unwrap()
    except (OSError, ValueError):
        return tls


def connect(target: PgTarget, user: str | None, password: str | None, attempts: int = 1,
            sleep: Callable[[float], Any] = time.sleep) -> tuple[Any, int]:
    """Open a psycopg2 connection, retrying transient login errors; returns ``(connection, attempts_used)``."""
    message = missing_psycopg2_message()
    if message:
        raise PostgresError(message)
    delays = login_delays(max(1, attempts))
    used = 0
    while True:
        used += 1
        try:
            return psycopg2.connect(**target.connect_kwargs(user, password)), used
        except psycopg2.Error as exc:
            reason = short_error(exc, password)
            if used <= len(delays) and is_transient_login_error(reason):
                sleep(delays[used - 1])
                continue
            raise PostgresError('login as %s to PostgreSQL at %s failed%s: %s%s'
                                % (user_label(user), target, ' after %d attempts' % used if used > 1 else '', reason,
                                   login_hint(reason, target)))


def login_hint(reason: str, target: PgTarget) -> str:
    """What to change when a login failed on the TLS or authentication requirements of the target."""
    if 'SSL was required' in reason or 'server does not support SSL' in reason:
        return (' (db_sslmode is %s: enable ssl on the server, or set db_sslmode (or PGSSLMODE) to prefer or disable where '
                'the network is trusted)' % target.sslmode)
    if 'authentication method requirement' in reason:
        return (' (db_require_auth is %s, so the password is never sent in clear text or as an md5 hash: if this is your '
                'server, store the password as SCRAM (password_encryption = scram-sha-256) or set db_require_auth to the '
                'method it uses)' % target.require_auth)
    return ''


def verify_login(target: PgTarget, user: str, password: str, check_query: str = 'SELECT 1',
                 privileges: Iterable[tuple[str, str]] = (), attempts: int = 5,
                 sleep: Callable[[float], Any] = time.sleep) -> dict[str, Any]:
    """Log in as ``user``, run ``check_query`` and the privilege checks; return what was checked.

    ``privileges``: ``[(table, privilege), ...]`` as :func:`normalize_privileges` returns them. Everything runs
    in one transaction that is rolled back. Raises :class:`PostgresError` naming the failed check.
    """
    conn, used = connect(target, user, password, attempts=attempts, sleep=sleep)
    report = dict(login_attempts=used, check_query=check_query, privileges=[])
    try:
        cursor = conn.cursor()
        if check_query:
            try:
                cursor.execute(check_query)
                if cursor.description is not None:
                    cursor.fetchall()
            except psycopg2.Error as exc:
                raise PostgresError('check query failed for user %s on %s: %s' % (user, target, short_error(exc, password)))
        for table, privilege in privileges:
            try:
                conn.rollback()  # a failed statement aborts the transaction; each check starts clean
                cursor.execute('SELECT has_table_privilege(%s, %s)', (table, privilege))
                granted = bool(cursor.fetchone()[0])
            except psycopg2.Error as exc:
                raise PostgresError('privilege check %s on table %s failed for user %s on %s: %s'
                                    % (privilege, table, user, target, short_error(exc, password)))
            if not granted:
                raise PostgresError('privilege check failed: user %s lacks %s on table %s (on %s)' % (user, privilege, table, target))
            report['privileges'].append(dict(table=table, privilege=privilege, granted=True))
    finally:
        _rollback_and_close(conn)
    return report


def _rollback_and_close(conn: Any) -> None:
    """Roll back and close; a connection the server already closed (e.g. the check query ended it) is fine."""
    try:
        conn.rollback()
    except psycopg2.Error:
        pass
    finally:
        conn.close()


_SESSIONS_SQL = ('SELECT usename, count(*) FROM pg_stat_activity WHERE usename = ANY(%s) AND pid <> pg_backend_pid() '
                 'GROUP BY usename')


def user_label(user: str | None) -> str:
    """How a login user appears in messages (libpq picks the operating system user when none is given)."""
    return user if user else '(the default user of libpq)'


class SessionCounter:
    """Count the sessions in ``pg_stat_activity`` of some user names, over one login kept open between counts.

    Any login may read ``usename`` of every session in ``pg_stat_activity``; the counting session itself is
    excluded. The connection is in autocommit mode, because PostgreSQL reads ``pg_stat_activity`` once per
    transaction: each count is a fresh look. A connection the server dropped is reopened once.
    Use as a context manager (or call :meth:`close`).
    """

    def __init__(self, target: PgTarget, user: str | None, password: str | None) -> None:
        self.target = target
        self.user = user
        self.password = password
        self.conn: Any = None

    def __enter__(self) -> SessionCounter:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _open(self) -> None:
        self.conn, dummy = connect(self.target, self.user, self.password)
        self.conn.autocommit = True

    def count(self, usernames: Iterable[str]) -> dict[str, int]:
        """``{username: count}`` for every name in ``usernames``, including zeros."""
        names = [str(name) for name in usernames]
        for attempt in (1, 2):
            if self.conn is None or self.conn.closed:
                self._open()
            try:
                cursor = self.conn.cursor()
                try:
                    cursor.execute(_SESSIONS_SQL, (names,))
                    counts = dict((name, int(count)) for name, count in cursor.fetchall())
                finally:
                    cursor.close()
                break
            except psycopg2.Error as exc:
                if attempt == 1 and self.conn.closed:
                    continue  # the server dropped the connection between two counts: log in again, once
                raise PostgresError('reading pg_stat_activity on %s as %s failed: %s'
                                    % (self.target, user_label(self.user), short_error(exc, self.password)))
        return dict((name, counts.get(name, 0)) for name in names)

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except psycopg2.Error:
                pass
            self.conn = None


def active_sessions(target: PgTarget, user: str | None, password: str | None, usernames: Iterable[str]) -> dict[str, int]:
    """Count the sessions in ``pg_stat_activity`` of each name in ``usernames`` with one login (any login can).

    Returns ``{username: count}`` including zeros. Used to prove nobody uses an old credential any more.
    """
    with SessionCounter(target, user, password) as counter:
        return counter.count(usernames)
