# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Demo application for blue-green secret rotation: an HTTP service querying PostgreSQL with dual credentials.

``python demo_app.py --config-dir DIR [--host 127.0.0.1] [--port 0] [--daemon]``

Files in DIR:

* ``app.json`` (static): ``db_host``, ``db_port``, ``db_name``, ``query`` (default ``SELECT count(*) FROM
  demo_items``), optional ``aws_endpoint_url``, ``aws_region``.
* ``db.json``: ``{"primary": {"username": ..., "password": ...}, "secondary": {...} or null}``.
* ``aws.json`` (optional): ``{"primary": {"access_key_id": ..., "secret_access_key": ...}, "secondary": ... }``.
* written by the app: ``port``, ``pid`` (atomically; ``pid`` is removed on shutdown) and the log ``app.log``.
* ``fault-ignore-reload`` (tests): while it exists, SIGHUP is ignored (the instance keeps its old credentials).

Endpoints: ``GET /`` and ``/query`` run the query (200 ``{"ok": true, "db_user", "result"}``, 503 ``{"ok":
false, "error"}``); ``GET /health`` checks the database (``SELECT current_user``) and, with ``aws.json``, STS
GetCallerIdentity (200/503 ``{"status", "db_user", "access_key_id", "aws_arn", "generation", "pid"[, "error"]}``).

Signals: SIGHUP re-reads ``db.json``/``aws.json`` without closing the listening socket (an invalid file keeps
the old config); SIGTERM/SIGINT stop gracefully (in-flight requests finish). No password or secret key is
ever logged or returned.
"""

import argparse
import http.server
import json
import logging
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import botocore.config
import psycopg2

from rotating_credentials import RotatingCredentialProvider

DEFAULT_QUERY = 'SELECT count(*) FROM demo_items'
DB_FIELDS = ('username', 'password')
AWS_FIELDS = ('access_key_id', 'secret_access_key')
DB_AUTH_CODES = frozenset(('28P01', '28000'))  # invalid_password, invalid_authorization_specification
DB_AUTH_MESSAGE = re.compile(r'password authentication failed|role ".*" does not exist')
AWS_AUTH_CODES = frozenset(('InvalidClientTokenId', 'SignatureDoesNotMatch', 'UnrecognizedClientException',
                            'InvalidAccessKeyId', 'AuthFailure'))
MAX_IDLE_CONNECTIONS = 4
DAEMON_WAIT = 10.0
FAULT_IGNORE_RELOAD = 'fault-ignore-reload'

log = logging.getLogger('demo_app')


class ConfigError(Exception):
    """A config file is missing, unreadable or has the wrong shape (the message never holds a secret)."""


# --------------------------------------------------------------------------- config files

def _read_json(path):
    try:
        with open(path, encoding='utf-8') as handle:
            return json.load(handle)
    except OSError as exc:
        raise ConfigError(f'cannot read {path}: {exc.strerror or exc}') from None
    except ValueError as exc:  # never echo the document: it holds secrets
        raise ConfigError(f'{path} is not valid JSON (line {getattr(exc, "lineno", "?")})') from None


def _credential(path, slot, value, fields):
    if not isinstance(value, dict):
        raise ConfigError(f'{path}: "{slot}" must be an object with {", ".join(fields)}')
    for field in fields:
        if not isinstance(value.get(field), str) or not value[field]:
            raise ConfigError(f'{path}: "{slot}.{field}" must be a non-empty string')
    return {field: value[field] for field in fields}


def load_pair(path, fields):
    """``(primary, secondary or None)`` from a ``{"primary": {...}, "secondary": {...} or null}`` file."""
    data = _read_json(path)
    if not isinstance(data, dict):
        raise ConfigError(f'{path} must hold a JSON object with "primary" and "secondary"')
    primary = _credential(path, 'primary', data.get('primary'), fields)
    secondary = data.get('secondary')
    if secondary is not None:
        secondary = _credential(path, 'secondary', secondary, fields)
    return primary, secondary


def load_optional_pair(path, fields):
    """Like :func:`load_pair`, but ``None`` when the file does not exist."""
    if not os.path.lexists(path):
        return None
    return load_pair(path, fields)


def load_settings(path):
    """The static settings of ``app.json`` with defaults."""
    data = _read_json(path)
    if not isinstance(data, dict):
        raise ConfigError(f'{path} must hold a JSON object')
    settings = {'db_host': '127.0.0.1', 'db_port': 5432, 'db_name': 'postgres', 'query': DEFAULT_QUERY,
                'aws_endpoint_url': None, 'aws_region': 'us-east-1'}
    settings.update({key: value for key, value in data.items() if value is not None})
    try:
        settings['db_port'] = int(settings['db_port'])
    except (TypeError, ValueError):
        raise ConfigError(f'{path}: "db_port" must be a port number') from None
    return settings


def write_atomic(path, text, mode=0o644):
    """Replace ``path`` with ``text`` through a temporary file in the same directory and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', dir=path.parent)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with_suppressed(os.unlink, tmp)
        raise


def with_suppressed(fn, *args):
    """Call ``fn(*args)`` ignoring ``OSError`` (cleanup paths)."""
    try:
        fn(*args)
    except OSError:
        pass


# --------------------------------------------------------------------------- secrets never leave

class Redactor(logging.Filter):
    """Replaces every secret the app has ever loaded by ``[redacted]``, in log records and error texts."""

    def __init__(self):
        super().__init__()
        self._secrets = set()
        self._lock = threading.Lock()

    def add(self, *pairs):
        """Remember the secret fields of credential pairs."""
        with self._lock:
            for pair in pairs:
                for credential in pair or ():
                    for field in ('password', 'secret_access_key'):
                        if credential and credential.get(field):
                            self._secrets.add(credential[field])

    def __call__(self, text):
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, '[redacted]')
        return text

    def filter(self, record):
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = self(message), ()
        if record.exc_text:
            record.exc_text = self(record.exc_text)
        return True


def short_error(exc, redact):
    """One short line about ``exc`` for a JSON body or the log (class name and first line of the message)."""
    text = str(exc).strip().splitlines()
    first = text[0].strip() if text else ''
    line = f'{type(exc).__name__}: {first}' if first else type(exc).__name__
    return redact(line)[:300]


# --------------------------------------------------------------------------- errors

def is_db_auth_error(exc):
    """True if PostgreSQL rejected the login (wrong password, unknown role); "permission denied" is not one."""
    if not isinstance(exc, psycopg2.Error):
        return False
    if getattr(exc, 'pgcode', None) in DB_AUTH_CODES:
        return True
    return bool(DB_AUTH_MESSAGE.search(str(exc)))


def is_aws_auth_error(exc):
    """True if AWS rejected the access key or its signature (not an authorization failure such as AccessDenied)."""
    response = getattr(exc, 'response', None)
    if not isinstance(response, dict):
        return False
    return (response.get('Error') or {}).get('Code') in AWS_AUTH_CODES


def _key(credential):
    return tuple(sorted(credential.items()))


# --------------------------------------------------------------------------- database connections

class ConnectionPool:
    """Open connections of the active credential only.

    ``activate(credential)`` (from the provider's ``on_switch``) closes at once the idle connections of any other
    credential; a connection of another credential given back by :meth:`release` (an in-flight request that
    started before the switch) is closed instead of kept.
    """

    def __init__(self, connect, max_idle=MAX_IDLE_CONNECTIONS):
        self._connect = connect
        self._max_idle = max_idle
        self._lock = threading.Lock()
        self._idle = []  # [(key, connection)]
        self._active = None

    def activate(self, credential):
        """Only connections of ``credential`` are kept from now on; idle ones of others are closed now."""
        with self._lock:
            self._active = _key(credential)
            stale = [conn for key, conn in self._idle if key != self._active]
            self._idle = [(key, conn) for key, conn in self._idle if key == self._active]
        for conn in stale:
            self.discard(conn)
        return len(stale)

    def acquire(self, credential):
        """``(connection, cached)``: an idle connection of ``credential``, or a new one (``cached`` False)."""
        key = _key(credential)
        with self._lock:
            for index in range(len(self._idle) - 1, -1, -1):
                if self._idle[index][0] == key:
                    return self._idle.pop(index)[1], True
        return self.connect(credential), False

    def connect(self, credential):
        """A new connection (not kept until :meth:`release`)."""
        return self._connect(credential)

    def release(self, credential, conn):
        """Keep ``conn`` for reuse if its credential is the active one, else close it."""
        key = _key(credential)
        with self._lock:
            if key == self._active and not conn.closed and len(self._idle) < self._max_idle:
                self._idle.append((key, conn))
                return
        self.discard(conn)

    @staticmethod
    def discard(conn):
        """Close ``conn``, ignoring errors (it may be broken already)."""
        try:
            conn.close()
        except psycopg2.Error:
            pass

    def close_all(self):
        """Close every idle connection (shutdown)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for entry in idle:
            self.discard(entry[1])


class Database:
    """PostgreSQL through a :class:`RotatingCredentialProvider` and a :class:`ConnectionPool`."""

    def __init__(self, settings, pair, redact):
        self.settings = settings
        self.redact = redact
        self.pool = ConnectionPool(self._open)
        self.provider = RotatingCredentialProvider(pair[0], pair[1], is_auth_error=is_db_auth_error,
                                                   on_switch=self._on_switch)
        self.pool.activate(pair[0])

    def _open(self, credential):
        conn = psycopg2.connect(host=self.settings['db_host'], port=self.settings['db_port'],
                                dbname=self.settings['db_name'], user=credential['username'],
                                password=credential['password'], connect_timeout=5, application_name='demo_app')
        conn.autocommit = True
        return conn

    def _on_switch(self, old, new):
        closed = self.pool.activate(new)
        log.info('database credential switched: user %s -> user %s (%d idle connection(s) of other users closed)',
                 old['username'], new['username'], closed)

    def reset(self, pair):
        """New credentials from a reload: primary active again, connections of other users closed."""
        self.provider.reset(pair[0], pair[1])

    def run(self, work):
        """``work(cursor)`` on a connection of the active credential (auth failure: the other one)."""
        return self.provider.call(lambda credential: self._with_connection(credential, work))

    def _with_connection(self, credential, work):
        conn, cached = self.pool.acquire(credential)
        try:
            try:
                with conn.cursor() as cur:
                    result = work(cur)
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                if not cached:
                    raise
                # A cached connection died (server restart, terminated backend): drop it, retry once on a new one.
                log.warning('dropped a broken cached connection of user %s (%s); retrying once',
                            credential['username'], short_error(exc, self.redact))
                self.pool.discard(conn)
                conn = None
                conn = self.pool.connect(credential)
                with conn.cursor() as cur:
                    result = work(cur)
        except BaseException:
            if conn is not None:
                # Any error (permission denied after a revocation ...): do not reuse this session.
                self.pool.discard(conn)
            raise
        self.pool.release(credential, conn)
        return result

    def close(self):
        """Close all idle connections."""
        self.pool.close_all()


# --------------------------------------------------------------------------- AWS

class Aws:
    """STS GetCallerIdentity signed by the active access key (on an auth error code: the other key)."""

    def __init__(self, settings, pair):
        self.settings = settings
        self._clients = {}
        self._lock = threading.Lock()
        # One session for every client: its service models are loaded once (a session per client would reload them
        # from disk each time, and after a switch every request in flight would do so at once). Sessions are not
        # thread-safe, so clients are created under the lock.
        self._session = boto3.session.Session()
        self.provider = RotatingCredentialProvider(pair[0], pair[1], is_auth_error=is_aws_auth_error,
                                                   on_switch=self._on_switch)
        self._client(pair[0])

    def _client(self, credential):
        key = _key(credential)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                config = botocore.config.Config(retries={'total_max_attempts': 1, 'mode': 'standard'},
                                                connect_timeout=5, read_timeout=5)
                client = self._session.client(
                    'sts', aws_access_key_id=credential['access_key_id'], aws_secret_access_key=credential['secret_access_key'],
                    region_name=self.settings.get('aws_region') or 'us-east-1',
                    endpoint_url=self.settings.get('aws_endpoint_url') or None, config=config)
                self._clients[key] = client
        return client

    def _on_switch(self, old, new):
        keep = _key(new)
        with self._lock:
            self._clients = {key: client for key, client in self._clients.items() if key == keep}
        log.info('AWS credential switched: access key %s -> access key %s', old['access_key_id'], new['access_key_id'])

    def reset(self, pair):
        """New keys from a reload: primary active again (its client is made now, before requests need it)."""
        self.provider.reset(pair[0], pair[1])
        self._client(pair[0])

    def identity(self):
        """``(access key id used, ARN)``."""
        def call(credential):
            return credential['access_key_id'], self._client(credential).get_caller_identity()['Arn']
        return self.provider.call(call)


# --------------------------------------------------------------------------- the application

class App:
    """Config, providers, reload and the request logic (independent of HTTP)."""

    def __init__(self, config_dir):
        self.dir = Path(config_dir)
        self.redact = Redactor()
        self.settings = load_settings(self.dir / 'app.json')
        db_pair = load_pair(self.dir / 'db.json', DB_FIELDS)
        aws_pair = load_optional_pair(self.dir / 'aws.json', AWS_FIELDS)
        self.redact.add(db_pair, aws_pair)
        self.db = Database(self.settings, db_pair, self.redact)
        self.aws = Aws(self.settings, aws_pair) if aws_pair else None
        self.generation = 0
        self._reload_lock = threading.Lock()
        log.info('config loaded: %s', self.describe(db_pair, aws_pair))

    @staticmethod
    def describe(db_pair, aws_pair):
        """Who is configured, by user name and key id only."""
        def name(credential, field):
            return credential[field] if credential else None
        text = f'db primary user {name(db_pair[0], "username")}, secondary user {name(db_pair[1], "username")}'
        if aws_pair:
            text += f'; aws primary key {name(aws_pair[0], "access_key_id")}, secondary key {name(aws_pair[1], "access_key_id")}'
        else:
            text += '; no aws.json'
        return text

    def reload(self):
        """SIGHUP: re-read db.json and aws.json; on any error keep the old config. Returns True if applied."""
        with self._reload_lock:
            fault = self.dir / FAULT_IGNORE_RELOAD
            if fault.exists():
                log.warning('SIGHUP: reload ignored (fault injection: %s exists); generation stays %d', fault, self.generation)
                return False
            try:
                db_pair = load_pair(self.dir / 'db.json', DB_FIELDS)
                aws_pair = load_optional_pair(self.dir / 'aws.json', AWS_FIELDS)
            except ConfigError as exc:
                log.error('SIGHUP: reload failed, keeping the old config (generation %d): %s', self.generation, self.redact(str(exc)))
                return False
            self.redact.add(db_pair, aws_pair)
            self.db.reset(db_pair)
            if aws_pair is None:
                self.aws = None
            elif self.aws is None:
                self.aws = Aws(self.settings, aws_pair)
            else:
                self.aws.reset(aws_pair)
            self.generation += 1
            log.info('SIGHUP: reloaded, generation %d: %s', self.generation, self.describe(db_pair, aws_pair))
            return True

    def query(self):
        """``(status, body)`` of ``GET /``."""
        sql = self.settings['query']

        def work(cur):
            cur.execute(sql)
            row = cur.fetchone()
            cur.execute('SELECT current_user')
            return cur.fetchone()[0], (row[0] if row else None)
        try:
            user, result = self.db.run(work)
        except Exception as exc:  # pylint: disable=broad-except
            error = short_error(exc, self.redact)
            log.error('query failed: %s', error)
            return 503, {'ok': False, 'error': error}
        return 200, {'ok': True, 'db_user': user, 'result': result}

    def health(self):
        """``(status, body)`` of ``GET /health``."""
        body = {'status': 'ok', 'db_user': None, 'access_key_id': None, 'aws_arn': None,
                'generation': self.generation, 'pid': os.getpid()}
        errors = []

        def work(cur):
            cur.execute('SELECT current_user')
            return cur.fetchone()[0]
        try:
            body['db_user'] = self.db.run(work)
        except Exception as exc:  # pylint: disable=broad-except
            errors.append(f'database: {short_error(exc, self.redact)}')
        aws = self.aws
        if aws is not None:
            try:
                body['access_key_id'], body['aws_arn'] = aws.identity()
            except Exception as exc:  # pylint: disable=broad-except
                body['access_key_id'] = aws.provider.active['access_key_id']
                errors.append(f'aws: {short_error(exc, self.redact)}')
        if errors:
            body['status'] = 'error'
            body['error'] = '; '.join(errors)
            log.error('health check failed: %s', body['error'])
            return 503, body
        return 200, body

    def close(self):
        """Close the database connections."""
        self.db.close()


class Handler(http.server.BaseHTTPRequestHandler):
    """``GET /``, ``/query``, ``/health``; HTTP/1.0 (one request per connection), so shutdown never waits on idle clients."""

    server_version = 'demo_app/1'
    timeout = 30

    def do_GET(self):  # noqa: N802  pylint: disable=invalid-name
        """Route a GET request."""
        path = self.path.split('?', 1)[0]
        app = self.server.app
        if path in ('/', '/query'):
            status, body = app.query()
        elif path == '/health':
            status, body = app.health()
        else:
            status, body = 404, {'ok': False, 'error': 'not found'}
        data = (json.dumps(body, default=str) + '\n').encode('utf-8')
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        log.debug('%s %s', self.address_string(), format % args)


class Server(http.server.ThreadingHTTPServer):
    """Threaded server whose ``server_close()`` waits for in-flight requests."""

    daemon_threads = False
    block_on_close = True
    app = None

    def handle_error(self, request, client_address):
        log.error('error while serving %s: %s', client_address[0], short_error(sys.exc_info()[1], self.app.redact))


def _address_family(host):
    return socket.AF_INET6 if ':' in host else socket.AF_INET


def serve(config_dir, host, port):
    """Run the service in the foreground until SIGTERM/SIGINT; returns the exit code."""
    config_dir = Path(config_dir).resolve()
    handler = logging.FileHandler(config_dir / 'app.log', encoding='utf-8')
    handler.setFormatter(logging.Formatter('%(asctime)s %(levelname)s [%(process)d] %(message)s'))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False

    events = queue.SimpleQueue()  # put() is safe in a signal handler; a thread does the work
    signal.signal(signal.SIGHUP, lambda *_: events.put('reload'))
    signal.signal(signal.SIGTERM, lambda *_: events.put('stop'))
    signal.signal(signal.SIGINT, lambda *_: events.put('stop'))
    try:
        app = App(config_dir)
    except ConfigError as exc:
        log.error('cannot start: %s', exc)
        print(f'demo_app: cannot start: {exc}', file=sys.stderr)
        return 1
    handler.addFilter(app.redact)

    Server.address_family = _address_family(host)
    try:
        server = Server((host, port), Handler)
    except OSError as exc:
        log.error('cannot listen on %s:%s: %s', host, port, exc)
        return 1
    server.app = app
    bound = server.server_address[1]
    write_atomic(config_dir / 'port', f'{bound}\n')
    write_atomic(config_dir / 'pid', f'{os.getpid()}\n')
    log.info('started: pid %d listening on %s:%d', os.getpid(), host, bound)

    def control():
        while True:
            event = events.get()
            if event == 'reload':
                try:
                    app.reload()
                except Exception:  # pylint: disable=broad-except
                    log.exception('SIGHUP: reload failed, keeping the old config')
            elif event == 'stop':
                log.info('stopping: no new connections, waiting for in-flight requests')
                server.shutdown()
                return
    threading.Thread(target=control, name='control', daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()  # joins the request threads
        app.close()
        pid_file = config_dir / 'pid'
        try:
            if pid_file.read_text(encoding='utf-8').strip() == str(os.getpid()):
                pid_file.unlink()
        except OSError:
            pass
        log.info('stopped')
    return 0


# --------------------------------------------------------------------------- --daemon

def _read_int(path):
    try:
        return int(Path(path).read_text(encoding='utf-8').strip())
    except (OSError, ValueError):
        return None


def running_pid(config_dir):
    """The pid in ``DIR/pid`` if that process is alive and is a demo_app, else None."""
    pid = _read_int(Path(config_dir) / 'pid')
    if not pid:
        return None
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as handle:
            cmdline = handle.read()
    except OSError:
        return None
    return pid if b'demo_app.py' in cmdline else None


def _answers(host, port, timeout):
    host = {'0.0.0.0': '127.0.0.1', '::': '::1'}.get(host, host)
    url = f'http://[{host}]:{port}/health' if ':' in host else f'http://{host}:{port}/health'
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    try:
        with opener.open(url, timeout=max(0.2, timeout)):
            return True
    except urllib.error.HTTPError:
        return True  # any status: the server answers
    except (OSError, ValueError):
        return False


def _log_tail(path, lines=20):
    try:
        return '\n'.join(Path(path).read_text(encoding='utf-8', errors='replace').splitlines()[-lines:])
    except OSError:
        return '(no log)'


def daemonize(config_dir, host, port):
    """Start the server detached, wait until it answers, print ``pid=<pid> port=<port>``; returns the exit code."""
    config_dir = Path(config_dir).resolve()
    existing = running_pid(config_dir)
    if existing:
        print(f'demo_app: already running in {config_dir} (pid {existing})', file=sys.stderr)
        return 1
    with_suppressed(os.unlink, config_dir / 'port')
    command = [sys.executable, str(Path(__file__).resolve()), '--config-dir', str(config_dir), '--host', host, '--port', str(port)]
    with open(config_dir / 'app.log', 'ab') as out:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out,  # pylint: disable=consider-using-with
                                start_new_session=True, close_fds=True, cwd='/')
    deadline = time.monotonic() + DAEMON_WAIT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        bound = _read_int(config_dir / 'port')
        if bound and _read_int(config_dir / 'pid') == proc.pid and _answers(host, bound, deadline - time.monotonic()):
            print(f'pid={proc.pid} port={bound}')
            proc.returncode = 0  # detached on purpose: no "still running" warning when this process exits
            return 0
        time.sleep(0.05)
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    print(f'demo_app: did not start within {DAEMON_WAIT:g}s (exit code {proc.returncode}); log tail:\n'
          f'{_log_tail(config_dir / "app.log")}', file=sys.stderr)
    return 1


def main(argv=None):
    """Command line entry point."""
    parser = argparse.ArgumentParser(description='Demo app: HTTP service on PostgreSQL with dual (rotating) credentials.')
    parser.add_argument('--config-dir', required=True, help='directory with app.json, db.json and optionally aws.json')
    parser.add_argument('--host', default='127.0.0.1', help='address to listen on (default 127.0.0.1)')
    parser.add_argument('--port', type=int, default=0, help='port to listen on (default 0: a free port)')
    parser.add_argument('--daemon', action='store_true', help='start detached, print "pid=<pid> port=<port>" once it answers')
    args = parser.parse_args(argv)
    if not Path(args.config_dir).is_dir():
        parser.error(f'--config-dir {args.config_dir} is not a directory')
    if args.daemon:
        return daemonize(args.config_dir, args.host, args.port)
    return serve(args.config_dir, args.host, args.port)


if __name__ == '__main__':
    sys.exit(main())
