# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run instances of the demo app (``examples/demo_app``) for tests and molecule, and put them under load.

* :func:`start_instance` writes ``app.json``/``db.json``/``aws.json`` (0600) in a config dir and starts
  ``demo_app.py --daemon`` there; :func:`stop_instance` (SIGTERM, SIGKILL after 5 s) and
  :func:`reload_instance` (SIGHUP) signal the pid of ``DIR/pid`` only if it is a demo app.
* :func:`app_settings` (``app.json`` for the lab's PostgreSQL and moto) and :func:`ensure_demo_table` (the
  ``demo_items`` table the app queries, created idempotently with the lab's admin login).
* :func:`run_load` sends GET requests at a fixed rate to loopback URLs in background threads, with a hard
  stop on count and time; ``stop()`` returns ``{sent, ok, failed, errors: {text: count}}``.

Command line: ``python -m lab.apps stop DIR...``, ``python -m lab.apps reload DIR...`` and
``python -m lab.apps setup --lab-dir DIR [--iam-user NAME]`` (the demo table and an IAM user in a running lab).
"""

import argparse
import concurrent.futures
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psycopg2

from .collection import REPO, atomic_write
from .core import load_env
from .process import OWNER_VAR, STOP_GRACE, pidfile_pid, signal_pidfile, stop_pidfile

DEMO_APP = Path(REPO) / 'examples' / 'demo_app' / 'demo_app.py'
MARK = b'demo_app.py'  # in the command line of every instance
LOOPBACK_HOSTS = ('127.0.0.1', 'localhost')
# Direct connections only: a proxy from the environment must never see loopback test traffic.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class AppError(RuntimeError):
    """An instance did not start, is not running, or a URL is not allowed; the message says why."""


@dataclasses.dataclass(frozen=True)
class Instance:
    """A started demo app: its pid, port, config dir and base URL (``http://127.0.0.1:PORT``)."""

    pid: int
    port: int
    dir: str
    url: str

    def __getitem__(self, key):
        return getattr(self, key)

    def as_dict(self):
        """``{'pid', 'port', 'dir', 'url'}``."""
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- config

DEMO_TABLE = 'demo_items'
DEMO_ROWS = ((1, 'alpha'), (2, 'beta'), (3, 'gamma'))


def app_settings(env, **overrides):
    """``app.json`` settings for the lab of ``env`` (its PostgreSQL database and moto endpoint), plus ``overrides``."""
    settings = {'db_host': env['PGHOST'], 'db_port': int(env['PGPORT']), 'db_name': env['PGDATABASE'],
                'query': f'SELECT count(*) FROM {DEMO_TABLE}', 'aws_endpoint_url': env.get('AWS_ENDPOINT_URL'),
                'aws_region': env.get('AWS_DEFAULT_REGION') or 'us-east-1'}
    settings.update(overrides)
    return settings


def ensure_demo_table(env):
    """Create ``demo_items`` with a few rows in the lab's database (as its admin; idempotent, safe in parallel).

    Create it before issuing credentials: the lab's ``lab-readonly`` role grants SELECT on the tables that exist
    when a credential is created. Returns the number of rows.
    """
    conn = psycopg2.connect(host=env['PGHOST'], port=env['PGPORT'], user=env['PGUSER'], password=env['PGPASSWORD'],
                            dbname=env['PGDATABASE'], connect_timeout=10, application_name='lab.apps')
    try:
        with conn, conn.cursor() as cur:  # one transaction; the advisory lock serializes parallel test workers
            cur.execute('SELECT pg_advisory_xact_lock(hashtext(%s))', (DEMO_TABLE,))
            cur.execute(f'CREATE TABLE IF NOT EXISTS {DEMO_TABLE} (id integer PRIMARY KEY, name text NOT NULL)')
            cur.executemany(f'INSERT INTO {DEMO_TABLE} (id, name) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING', DEMO_ROWS)
            cur.execute(f'SELECT count(*) FROM {DEMO_TABLE}')
            return cur.fetchone()[0]
    finally:
        conn.close()


def _pair(value, name):
    """``{'primary': ..., 'secondary': ... or None}`` from such a dict, a (primary, secondary) sequence or one credential."""
    if isinstance(value, dict) and 'primary' in value:
        primary, secondary = value['primary'], value.get('secondary')
    elif isinstance(value, (list, tuple)) and 1 <= len(value) <= 2:
        primary, secondary = value[0], (value[1] if len(value) == 2 else None)
    elif isinstance(value, dict):
        primary, secondary = value, None
    else:
        raise AppError(f'{name}: expected {{"primary": ..., "secondary": ...}} or (primary, secondary)')
    return {'primary': primary, 'secondary': secondary}


def write_config(config_dir, app_settings=None, db_pair=None, aws_pair=None):
    """Write the given config files (0600, atomically) into ``config_dir``; ``None`` leaves that file alone.

    The format is the one the shipped templates render (Ansible's ``to_nice_json``), so a role that templates the
    same credentials finds nothing to change.
    """
    config_dir = Path(config_dir)
    files = {'app.json': app_settings, 'db.json': db_pair and _pair(db_pair, 'db_pair'),
             'aws.json': aws_pair and _pair(aws_pair, 'aws_pair')}
    for name, data in files.items():
        if data is not None:
            atomic_write(str(config_dir / name), json.dumps(data, indent=4, sort_keys=True, separators=(',', ': ')) + '\n', mode=0o600)


def start_instance(config_dir, app_settings, db_pair, aws_pair=None, host='127.0.0.1', port=0, timeout=30):
    """Write the config (``aws.json`` removed when ``aws_pair`` is None) and start ``demo_app.py --daemon``.

    Returns an :class:`Instance`; raises :class:`AppError` with the app's log tail if it does not start.
    """
    if host not in LOOPBACK_HOSTS:
        raise AppError(f'refusing to start a demo app on {host}: loopback only')
    config_dir = Path(config_dir).resolve()
    config_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if aws_pair is None:
        (config_dir / 'aws.json').unlink(missing_ok=True)
    write_config(config_dir, app_settings, db_pair, aws_pair)
    command = [sys.executable, str(DEMO_APP), '--config-dir', str(config_dir), '--host', host, '--port', str(port), '--daemon']
    # The lab's owner marker lets `python -m lab leftovers --dir <tests' temp root>` find an instance a test left running.
    env = dict(os.environ, **{OWNER_VAR: str(config_dir)})
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    except subprocess.TimeoutExpired as exc:
        raise AppError(f'demo app in {config_dir} did not start within {timeout}s') from exc
    match = re.search(r'^pid=(\d+) port=(\d+)$', proc.stdout, re.M)
    if proc.returncode != 0 or not match:
        raise AppError(f'demo app in {config_dir} did not start (exit code {proc.returncode}):\n{proc.stderr.strip()}')
    pid, bound = int(match.group(1)), int(match.group(2))
    return Instance(pid=pid, port=bound, dir=str(config_dir), url=f'http://{host}:{bound}')


# --------------------------------------------------------------------------- signals

def instance_pid(config_dir):
    """The pid of ``DIR/pid`` if that process is alive and runs demo_app.py, else None (never a reused pid's)."""
    return pidfile_pid(config_dir, MARK)


def reload_instance(config_dir):
    """Send SIGHUP to the instance of ``config_dir``; returns its pid. Raises :class:`AppError` if none runs."""
    pid = signal_pidfile(config_dir, MARK, signal.SIGHUP)
    if pid is None:
        raise AppError(f'no demo app runs in {config_dir}')
    return pid


def stop_instance(config_dir, grace=STOP_GRACE):
    """SIGTERM the instance of ``config_dir``, SIGKILL it after ``grace`` seconds; returns its pid or None."""
    return stop_pidfile(config_dir, MARK, grace)


# --------------------------------------------------------------------------- HTTP

def check_loopback(url):
    """Raise :class:`AppError` unless ``url`` is ``http://`` on 127.0.0.1 or localhost."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != 'http' or parts.hostname not in LOOPBACK_HOSTS:
        raise AppError(f'refusing {url!r}: only http://127.0.0.1 or http://localhost URLs are allowed')
    return url


def get_json(url, timeout=5.0):
    """``(status, body)`` of a GET on a loopback URL (body: the JSON document, or ``{'error': text}``)."""
    check_loopback(url)
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            status, data = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, data = exc.code, exc.read()
        exc.close()
    try:
        return status, json.loads(data.decode('utf-8'))
    except ValueError:
        return status, {'error': data.decode('utf-8', 'replace')[:200]}


def wait_health(url, predicate=None, timeout=10.0, interval=0.1):
    """Poll ``URL/health`` until ``predicate(status, body)`` (default: status 200) holds; returns ``(status, body)``."""
    predicate = predicate or (lambda status, body: status == 200)
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = get_json(url.rstrip('/') + '/health', timeout=max(0.5, min(5.0, deadline - time.monotonic())))
            if predicate(*last):
                return last
        except OSError as exc:
            last = (None, {'error': str(exc)})
        if time.monotonic() >= deadline:
            raise AppError(f'{url}/health did not reach the expected state within {timeout}s; last answer: {last}')
        time.sleep(interval)


# --------------------------------------------------------------------------- load

class Load:
    """GET requests at ``rate_per_second`` over ``urls`` (round robin) for at most ``duration_s`` seconds and
    ``max_requests`` requests, sent from a small thread pool. Use :func:`run_load`."""

    def __init__(self, urls, rate_per_second, duration_s, max_requests, timeout=5.0, workers=16):
        if isinstance(urls, str):
            urls = [urls]
        self.urls = [check_loopback(url) for url in urls]
        if not self.urls:
            raise AppError('run_load needs at least one URL')
        if not 0 < rate_per_second <= 1000 or not 0 < duration_s <= 3600 or not 0 < max_requests <= 1000000:
            raise AppError('run_load needs 0 < rate_per_second <= 1000, 0 < duration_s <= 3600, 0 < max_requests <= 1000000')
        self.rate, self.duration, self.max_requests, self.timeout = rate_per_second, duration_s, int(max_requests), timeout
        self._lock = threading.Lock()
        self._counts = {'sent': 0, 'ok': 0, 'failed': 0, 'errors': {}}
        self._halt = threading.Event()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix='load')
        self._thread = threading.Thread(target=self._schedule, name='load-scheduler', daemon=True)
        self._thread.start()

    def _schedule(self):
        start = time.monotonic()
        interval = 1.0 / self.rate
        for number in range(self.max_requests):
            offset = number * interval
            if offset >= self.duration:
                break
            if self._halt.wait(max(0.0, start + offset - time.monotonic())):
                break
            with self._lock:
                self._counts['sent'] += 1
            self._pool.submit(self._one, self.urls[number % len(self.urls)])

    def _one(self, url):
        error = None
        try:
            with _OPENER.open(url, timeout=self.timeout) as response:
                response.read()
                if response.status != 200:
                    error = f'HTTP {response.status}'
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read().decode('utf-8')).get('error')
            except (ValueError, AttributeError, OSError):
                detail = None
            exc.close()
            error = f'HTTP {exc.code}: {detail}' if detail else f'HTTP {exc.code}'
        except Exception as exc:  # pylint: disable=broad-except
            error = f'{type(exc).__name__}: {exc}'
        with self._lock:
            if error is None:
                self._counts['ok'] += 1
            else:
                self._counts['failed'] += 1
                self._counts['errors'][error[:200]] = self._counts['errors'].get(error[:200], 0) + 1

    @property
    def running(self):
        """True while requests are still being scheduled."""
        return self._thread.is_alive()

    def counts(self):
        """A snapshot ``{sent, ok, failed, errors: {text: count}}`` (requests in flight are in sent only)."""
        with self._lock:
            return {**self._counts, 'errors': dict(self._counts['errors'])}

    def stop(self):
        """Stop sending, wait for the requests in flight (each bounded by ``timeout``) and return the counts."""
        self._halt.set()
        self._thread.join()
        self._pool.shutdown(wait=True)
        return self.counts()

    def wait(self):
        """Wait until the load ends by itself (count or time), then return the counts like :meth:`stop`."""
        self._thread.join(self.duration + 1.0)
        return self.stop()


def run_load(urls, rate_per_second, duration_s, max_requests, timeout=5.0):
    """Start a bounded load on loopback ``urls`` in background threads; ``.stop()`` returns the counts."""
    return Load(urls, rate_per_second, duration_s, max_requests, timeout=timeout)


# --------------------------------------------------------------------------- command line

def setup(lab_env, iam_user=None):
    """Prepare a lab for the demo app: the ``demo_items`` table and, if given, an IAM user (both idempotent)."""
    rows = ensure_demo_table(lab_env)
    created = False
    if iam_user:
        import boto3  # pylint: disable=import-outside-toplevel  # only this command talks to IAM
        iam = boto3.session.Session(aws_access_key_id=lab_env['AWS_ACCESS_KEY_ID'], aws_secret_access_key=lab_env['AWS_SECRET_ACCESS_KEY'],
                                    region_name=lab_env['AWS_DEFAULT_REGION']).client('iam', endpoint_url=lab_env['AWS_ENDPOINT_URL'])
        try:
            iam.create_user(UserName=iam_user)
            created = True
        except iam.exceptions.EntityAlreadyExistsException:
            pass
    return rows, created


def main(argv=None):
    """``python -m lab.apps stop|reload DIR...`` and ``python -m lab.apps setup --lab-dir DIR [--iam-user NAME]``."""
    parser = argparse.ArgumentParser(prog='python -m lab.apps', description='Stop or reload demo app instances; prepare a lab for them.')
    parser.add_argument('command', choices=('stop', 'reload', 'setup'))
    parser.add_argument('dirs', nargs='*', metavar='DIR', help='config dir of an instance (stop, reload)')
    parser.add_argument('--lab-dir', help='setup: state dir of a running lab (its env file is read)')
    parser.add_argument('--iam-user', help='setup: also create this IAM user if it does not exist')
    args = parser.parse_args(argv)
    if args.command == 'setup':
        if not args.lab_dir:
            parser.error('setup needs --lab-dir')
        rows, created = setup(load_env(Path(args.lab_dir) / 'env'), args.iam_user)
        print(f'{DEMO_TABLE}: {rows} rows' + (f'; IAM user {args.iam_user} ' + ('created' if created else 'exists') if args.iam_user else ''))
        return 0
    if not args.dirs:
        parser.error(f'{args.command} needs at least one DIR')
    code = 0
    for config_dir in args.dirs:
        if args.command == 'stop':
            pid = stop_instance(config_dir)
            print(f'{config_dir}: ' + (f'stopped pid {pid}' if pid else 'not running'))
        else:
            try:
                print(f'{config_dir}: sent SIGHUP to pid {reload_instance(config_dir)}')
            except AppError as exc:
                print(f'{config_dir}: {exc}', file=sys.stderr)
                code = 1
    return code


if __name__ == '__main__':
    sys.exit(main())
