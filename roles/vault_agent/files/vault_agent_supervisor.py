# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Supervise one Vault/OpenBao Agent on a host without systemd (installed by the secops.rotation.vault_agent role).

``start`` daemonizes a ``run`` process (new session, stdio on the log file, Python in isolated mode, a clean
environment: only PATH, LANG, LC_ALL and TZ; the variables of ``--env-file`` are given to the agent child only, never
to this root process) and returns once the agent wrote its pid file and every ``--wait-file`` exists (its rendered
templates), or fails with the log tail.
``run`` writes ``--pid-file``, starts ``BINARY agent -config=CONFIG``, restarts it whenever it exits (backoff 1 s
doubling to ``--max-backoff``, reset after a minute of uptime), forwards SIGHUP to it (held back until a freshly
started agent is ready: Go's default action for SIGHUP kills it) and stops it on SIGTERM/SIGINT (SIGKILL after
``--grace`` seconds). ``stop`` ends the supervisor and any agent still running with
this config; ``restart`` is stop + start; ``status`` reports. Pid and log files are opened without following a
symlink, temporary files are created exclusively. Every command prints one JSON line
``{"changed", "running", "pid", "msg"}``; ``--check`` only predicts. Only the Python standard library is used.
"""

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time

MARK = 'vault_agent_supervisor'
STABLE_AFTER = 60.0  # seconds of agent uptime after which the backoff starts again at 1 s
# A SIGHUP reaching the agent before it installed its handlers would kill it (Go's default): it is held back until
# the agent wrote its pid file and ran this long.
HUP_AFTER = 1.0
BASE_ENV = ('PATH', 'LANG', 'LC_ALL', 'TZ')


# --------------------------------------------------------------------------- helpers

NOFOLLOW = getattr(os, 'O_NOFOLLOW', 0)


def _read_pid(path):
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW | getattr(os, 'O_NONBLOCK', 0))
        with os.fdopen(fd, encoding='utf-8') as handle:
            return int(handle.read(64).split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            return handle.read().split(b'\0')  # empty for a zombie: counts as gone
    except OSError:
        return []


def _state(pid):
    try:
        with open('/proc/%d/stat' % pid, encoding='utf-8') as handle:
            return handle.read().rsplit(')', 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _alive(pid):
    return bool(pid) and _state(pid) not in (None, 'Z', 'X')


def _is_supervisor(pid, pid_file):
    """``pid`` is the ``run`` process of this supervisor (never a reused pid of something else)."""
    argv = _cmdline(pid)
    return _alive(pid) and any(MARK.encode() in arg for arg in argv) and b'run' in argv and pid_file.encode() in argv


def _agents(config):
    """Pids of the agents running with ``config`` (``... agent -config=CONFIG``)."""
    wanted = ('-config=%s' % config).encode()
    found = []
    for entry in os.listdir('/proc'):
        if entry.isdigit() and int(entry) != os.getpid():
            argv = _cmdline(int(entry))
            if wanted in argv and b'agent' in argv and _alive(int(entry)):
                found.append(int(entry))
    return found


def _supervisor_pid(args):
    pid = _read_pid(args.pid_file)
    return pid if pid and _is_supervisor(pid, args.pid_file) else None


def _open_log(path):
    """The log file for appending, never through a symlink."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | NOFOLLOW, 0o640)


def _write_atomic(path, text, mode=0o644):
    """Write a new temporary file (O_EXCL, no symlink followed) and rename it over ``path``."""
    tmp = '%s.tmp%d' % (path, os.getpid())
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW
    try:
        fd = os.open(tmp, flags, mode)
    except FileExistsError:  # a stale one of a dead process with our pid: remove it (unlink never follows a symlink)
        os.unlink(tmp)
        fd = os.open(tmp, flags, mode)
    with os.fdopen(fd, 'w', encoding='utf-8') as handle:
        handle.write(text)
    os.replace(tmp, path)


def _tail(path, size=3000):
    try:
        with os.fdopen(os.open(path, os.O_RDONLY | NOFOLLOW | getattr(os, 'O_NONBLOCK', 0)), 'rb') as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - size))
            return handle.read().decode('utf-8', 'replace')
    except OSError:
        return ''


def _read_env_file(path):
    """``KEY="value"`` lines (the systemd EnvironmentFile format the role writes); comments and blanks skipped."""
    env = {}
    if not path:
        return env
    with open(path, encoding='utf-8') as handle:
        for line in handle:
            if line.strip() and not line.lstrip().startswith('#'):
                for word in shlex.split(line):
                    key, sep, value = word.partition('=')
                    if sep and key:
                        env[key] = value
    return env


def _base_env():
    """The environment of the supervisor's own (root) process: PATH, LANG, LC_ALL, TZ and nothing else."""
    env = {key: os.environ[key] for key in BASE_ENV if key in os.environ}
    env.setdefault('PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
    return env


def _agent_env(args):
    """The agent's environment: the base one plus ``--env-file`` (read as the supervisor, applied to the agent only)."""
    env = _base_env()
    env.update(_read_env_file(args.env_file))
    return env


def _id(value):
    """A user or group name, or a numeric id."""
    return int(value) if value and value.isdigit() else value


def _result(changed, msg, args, failed=False):
    pid = _supervisor_pid(args)
    print(json.dumps({'changed': changed, 'failed': failed, 'running': pid is not None, 'pid': pid,
                      'agents': _agents(args.config), 'msg': msg}))
    return 1 if failed else 0


def _wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [pid for pid in pids if _alive(pid)]
        if not pids:
            return []
        time.sleep(0.1)
    return [pid for pid in pids if _alive(pid)]


# --------------------------------------------------------------------------- the supervising process

class Supervisor:
    def __init__(self, args):
        self.args = args
        self.child = None
        self.started = 0.0
        self.stopping = False
        self.held_hup = False
        self.log = os.fdopen(_open_log(args.log_file), 'ab', buffering=0)  # pylint: disable=consider-using-with

    def say(self, text):
        stamp = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
        self.log.write(('%s [supervisor %d] %s\n' % (stamp, os.getpid(), text)).encode())

    def _signal(self, signum, frame):  # pylint: disable=unused-argument
        if signum in (signal.SIGTERM, signal.SIGINT):
            self.stopping = True
            self._send(signal.SIGTERM)
        elif self._ready():
            self._send(signal.SIGHUP)
        else:
            self.held_hup = True

    def _send(self, signum):
        if self.child is not None and self.child.poll() is None:
            try:
                os.kill(self.child.pid, signum)
            except OSError:
                pass

    def _ready(self):
        """The agent has run HUP_AFTER seconds and written its pid file (its signal handlers are installed)."""
        if self.child is None or time.monotonic() - self.started < HUP_AFTER:
            return False
        return not self.args.agent_pid_file or _read_pid(self.args.agent_pid_file) == self.child.pid

    def _wait_child(self):
        while True:
            try:
                return self.child.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                if self.held_hup and self._ready():
                    self.held_hup = False
                    self.say('forwarding the SIGHUP held back while the agent started')
                    self._send(signal.SIGHUP)

    def _spawn(self):
        args = self.args
        argv = [args.binary, 'agent', '-config=%s' % args.config]
        extra = {}
        if args.user:
            extra['user'] = _id(args.user)
            extra['extra_groups'] = []
        if args.group:
            extra['group'] = _id(args.group)
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, env=_agent_env(args),  # pylint: disable=consider-using-with
                                cwd='/', umask=0o027, **extra)

    def run(self):
        args = self.args
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._signal)
        _write_atomic(args.pid_file, '%d\n' % os.getpid())
        self.say('started, supervising %s agent -config=%s' % (args.binary, args.config))
        backoff = 1.0
        try:
            while not self.stopping:
                began = time.monotonic()
                try:
                    self.started = time.monotonic()
                    self.child = self._spawn()
                except OSError as exc:
                    self.say('cannot start the agent: %s' % exc)
                    self.child = None
                else:
                    self.say('agent started, pid %d' % self.child.pid)
                    code = self._wait_child()
                    self.say('agent pid %d exited with %s' % (self.child.pid, code))
                if self.stopping:
                    break
                if time.monotonic() - began > STABLE_AFTER:
                    backoff = 1.0
                self.say('restarting the agent in %.0f s' % backoff)
                deadline = time.monotonic() + backoff
                while not self.stopping and time.monotonic() < deadline:
                    time.sleep(0.1)
                backoff = min(backoff * 2, args.max_backoff)
        finally:
            if self.child is not None and self.child.poll() is None:
                try:
                    self.child.wait(timeout=args.grace)
                except subprocess.TimeoutExpired:
                    self.say('agent pid %d did not stop within %s s: SIGKILL' % (self.child.pid, args.grace))
                    self.child.kill()
                    self.child.wait()
            if _read_pid(args.pid_file) == os.getpid():
                os.unlink(args.pid_file)
            self.say('stopped')
        return 0


# --------------------------------------------------------------------------- commands

def cmd_start(args, restarted=False):
    if _supervisor_pid(args):
        return _result(False, 'the agent is running', args)
    if args.check:
        return _result(True, 'would start the agent (%s agent -config=%s)' % (args.binary, args.config), args)
    if not os.access(args.binary, os.X_OK):
        return _result(False, 'the agent binary %s is missing or not executable' % args.binary, args, failed=True)
    strays = _agents(args.config)
    for pid in strays:  # an agent whose supervisor was killed: it would render twice
        os.kill(pid, signal.SIGTERM)
    _wait_gone(strays, args.grace)
    if args.agent_pid_file:
        try:
            os.unlink(args.agent_pid_file)
        except FileNotFoundError:
            pass
    fd = _open_log(args.log_file)
    argv = [sys.executable, '-I', os.path.abspath(__file__), 'run'] + _common_argv(args)
    env = _base_env()  # never the env file: this process runs as root
    with os.fdopen(fd, 'ab') as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd='/',  # pylint: disable=consider-using-with
                                start_new_session=True, close_fds=True)
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        agent = _read_pid(args.agent_pid_file) if args.agent_pid_file else None
        if _supervisor_pid(args) == proc.pid and (not args.agent_pid_file or (agent and _alive(agent))):
            proc.returncode = 0  # detached on purpose: the daemon lives on
            return _wait_rendered(args, '%s the agent' % ('restarted' if restarted else 'started'))
        time.sleep(0.1)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=args.grace + 2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pid in _agents(args.config):
        os.kill(pid, signal.SIGKILL)
    return _result(True, 'the agent did not start within %s s; end of %s:\n%s' % (args.wait, args.log_file, _tail(args.log_file)),
                   args, failed=True)


def _wait_rendered(args, msg):
    """Wait until every ``--wait-file`` exists (the agent rendered its templates); the agent keeps running either way."""
    deadline = time.monotonic() + args.render_timeout
    missing = [path for path in args.wait_file if not os.path.exists(path)]
    while missing and time.monotonic() < deadline and _supervisor_pid(args):
        time.sleep(0.2)
        missing = [path for path in missing if not os.path.exists(path)]
    if missing:
        return _result(True, '%s, but it did not render %s within %s s (it keeps trying); end of %s:\n%s'
                       % (msg, ', '.join(missing), args.render_timeout, args.log_file, _tail(args.log_file)), args, failed=True)
    return _result(True, msg, args)


def cmd_stop(args):
    pid = _supervisor_pid(args)
    agents = _agents(args.config)
    if not pid and not agents:
        return _result(False, 'the agent is not running', args)
    if args.check:
        return _result(True, 'would stop the agent', args)
    if pid:
        os.kill(pid, signal.SIGTERM)
        if _wait_gone([pid], args.grace + 5):
            os.kill(pid, signal.SIGKILL)
            _wait_gone([pid], 5)
    left = _wait_gone(_agents(args.config), args.grace)
    for agent in left:
        os.kill(agent, signal.SIGKILL)
    _wait_gone(left, 5)
    if _read_pid(args.pid_file) == pid:
        try:
            os.unlink(args.pid_file)
        except FileNotFoundError:
            pass
    left = _agents(args.config)
    if left:
        return _result(True, 'agent processes %s did not stop' % left, args, failed=True)
    return _result(True, 'stopped the agent', args)


def cmd_restart(args):
    if args.check:
        return _result(True, 'would restart the agent', args)
    pid = _supervisor_pid(args)
    if pid or _agents(args.config):
        saved = sys.stdout
        with open(os.devnull, 'w', encoding='utf-8') as sys.stdout:
            code = cmd_stop(args)
        sys.stdout = saved
        if code:
            return _result(True, 'could not stop the agent to restart it', args, failed=True)
    return cmd_start(args, restarted=True)


def cmd_status(args):
    pid = _supervisor_pid(args)
    return _result(False, 'the agent is running' if pid else 'the agent is not running', args)


def _common_argv(args):
    argv = ['--pid-file', args.pid_file, '--config', args.config, '--binary', args.binary, '--log-file', args.log_file,
            '--grace', str(args.grace), '--max-backoff', str(args.max_backoff)]
    for option in ('env_file', 'agent_pid_file', 'user', 'group'):
        if getattr(args, option):
            argv += ['--' + option.replace('_', '-'), getattr(args, option)]
    return argv


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('command', choices=('start', 'stop', 'restart', 'status', 'run'))
    parser.add_argument('--pid-file', required=True)
    parser.add_argument('--config', required=True)
    parser.add_argument('--binary', default='/usr/local/bin/bao')
    parser.add_argument('--log-file', default=os.devnull)
    parser.add_argument('--env-file')
    parser.add_argument('--agent-pid-file', help='the pid_file of the agent config: start waits for it')
    parser.add_argument('--user')
    parser.add_argument('--group')
    parser.add_argument('--grace', type=float, default=10.0)
    parser.add_argument('--max-backoff', type=float, default=60.0)
    parser.add_argument('--wait', type=float, default=30.0)
    parser.add_argument('--wait-file', action='append', default=[], help='start/restart: wait until this file exists')
    parser.add_argument('--render-timeout', type=float, default=30.0)
    parser.add_argument('--check', action='store_true')
    args = parser.parse_args(argv)
    args.pid_file, args.config = os.path.abspath(args.pid_file), os.path.abspath(args.config)
    if args.command == 'run':
        return Supervisor(args).run()
    return {'start': cmd_start, 'stop': cmd_stop, 'restart': cmd_restart, 'status': cmd_status}[args.command](args)


if __name__ == '__main__':
    sys.exit(main())
