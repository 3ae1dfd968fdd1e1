# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Process supervision for the lab: start, recognise and stop exactly the processes we started.

* A started process is identified for its whole life by :func:`process_identity` (pid + start time + boot id);
  :func:`is_same_process` tells whether a record still names the same process, and :func:`stop_processes`
  signals only such records, so a reused pid is never signalled.
* Every process started for a lab carries ``OWNER_VAR=<its state dir>`` in its environment:
  :func:`owned_pids` finds them even when nothing recorded them (a run killed right after a fork).
* Services that write their own ``DIR/pid`` file (the demo app, ``lab.tls_app``) are recognised by a mark in
  their command line: :func:`pidfile_pid`, :func:`signal_pidfile`, :func:`stop_pidfile`.
* :func:`spawn` and :func:`wait_until` start a server in its own session and wait until it answers.
"""

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

OWNER_VAR = 'SECOPS_LAB_OWNER'  # set in every server's environment: marks the processes of one state dir
STOP_GRACE = 5.0


class LabError(RuntimeError):
    """A lab server failed to start, answer or stop; the message says which and why."""


@contextlib.contextmanager
def file_lock(path):
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the duration of a ``with`` block."""
    with open(path, 'a', encoding='utf-8') as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- identity

def _boot_id():
    return Path('/proc/sys/kernel/random/boot_id').read_text(encoding='ascii').strip()


def proc_start(pid):
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
    return {'name': name, 'pid': pid, 'start': proc_start(pid), 'boot': _boot_id(), 'cmd': cmd}


def is_same_process(rec):
    """True if the recorded process still runs (same pid *and* same start identity: no reused pid)."""
    start = proc_start(rec['pid'])
    return start is not None and start == rec.get('start') and rec.get('boot') == _boot_id()


# --------------------------------------------------------------------------- stopping what was started

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


def owned_pids(owner, nested=False, uid=None, cwd_roots=()):
    """Live processes started for the lab at ``owner``, recorded or not (e.g. a run killed right after a fork).

    Matched by the marker variable in their initial environment, or (for servers such as PostgreSQL, which
    overwrite their environment block for ps titles) by running as ``uid`` in a directory under ``cwd_roots``.
    ``nested=True`` matches the markers of every state dir below ``owner`` instead.
    """
    marker = f'{OWNER_VAR}={owner}'.encode()
    prefixes = tuple(str(root) for root in cwd_roots)
    found = []
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / 'environ').read_bytes().split(b'\0')
            cwd = os.readlink(entry / 'cwd').removesuffix(' (deleted)')
            in_root = entry.stat().st_uid == uid and any(cwd == root or cwd.startswith(root + '/') for root in prefixes)
        except OSError:
            continue
        marked = any(item.startswith(marker + b'/') for item in environ) if nested else marker in environ
        if marked or in_root:
            found.append(int(entry.name))
    return found


# --------------------------------------------------------------------------- starting servers

def venv_bin(name):
    """Locate a console script of the running venv (never a hard-coded venv path)."""
    for folder in (Path(sys.prefix) / 'bin', Path(sys.executable).parent):
        if (folder / name).is_file():
            return str(folder / name)
    found = shutil.which(name)
    if not found:
        raise LabError(f'{name} not found in {sys.prefix}/bin: install the dev requirements into this venv')
    return found


def log_tail(path, lines=25):
    """The last ``lines`` lines of a log file, or a note saying it is missing or empty."""
    try:
        text = Path(path).read_text(encoding='utf-8', errors='replace')
    except OSError:
        return f'(no log at {path})'
    return '\n'.join(text.splitlines()[-lines:]) or '(empty log)'


def spawn(argv, log_path, env, cwd):
    """Start ``argv`` in its own session (its own process group), output appended to ``log_path``; the Popen."""
    with open(log_path, 'ab') as log:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,  # pylint: disable=consider-using-with
                                env=env, cwd=cwd, start_new_session=True)


def wait_until(name, ready, timeout, proc=None, log_path=None):
    """Poll ``ready()`` until true; fail early if ``proc`` died, with the tail of ``log_path``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if proc is not None and proc.poll() is not None:
            raise LabError(f'{name} exited with code {proc.returncode}; tail of {log_path}:\n{log_tail(log_path)}')
        time.sleep(0.1)
    raise LabError(f'{name} did not become ready within {timeout:.0f}s; tail of its log:\n{log_tail(log_path)}')


# --------------------------------------------------------------------------- services with a pid file

def read_int(path):
    """The integer in a small file (``pid``, ``port``), else None."""
    try:
        return int(Path(path).read_text(encoding='utf-8').strip())
    except (OSError, ValueError):
        return None


def cmdline_has(pid, mark):
    """True if process ``pid`` is alive and ``mark`` (bytes) is in its command line (a zombie's is empty)."""
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as handle:
            return mark in handle.read()
    except OSError:
        return False


def pidfile_pid(directory, mark):
    """The pid in ``DIR/pid`` if that process is alive and its command line has ``mark``, else None."""
    pid = read_int(Path(directory) / 'pid')
    return pid if pid and cmdline_has(pid, mark) else None


def signal_pidfile(directory, mark, sig):
    """Send ``sig`` to the service of ``DIR/pid`` (checked by :func:`pidfile_pid`); its pid, or None if none runs."""
    pid = pidfile_pid(directory, mark)
    if pid is not None:
        os.kill(pid, sig)
    return pid


def stop_pidfile(directory, mark, grace=STOP_GRACE):
    """SIGTERM the service of ``DIR/pid``, SIGKILL it after ``grace`` seconds; its pid, or None if none ran."""
    pid = pidfile_pid(directory, mark)
    if pid is None:
        return None
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):  # it exited on its own in between
            os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while cmdline_has(pid, mark) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not cmdline_has(pid, mark):
            break
    return pid
