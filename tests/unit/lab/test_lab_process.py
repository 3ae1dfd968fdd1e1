# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""lab.process: stop exactly what was started (identity and pid-file checks), with real short-lived processes."""

import os
import signal
import subprocess
import sys
import time

import pytest

from lab import apps, tls_app
from lab.process import (OWNER_VAR, cmdline_has, is_same_process, owned_pids, pidfile_pid, process_identity, signal_pidfile,
                         stop_pidfile, stop_processes)

MARK = b'secops-lab-unit-test-service'
IGNORE_TERM = ('import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); '
               'sys.stdout.write("ready\\n"); sys.stdout.flush(); time.sleep(60)')


@pytest.fixture
def children():
    """Start processes for a test; any still running at the end are killed and reaped."""
    started = []

    def start(argv, env=None, wait_ready=False):
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE if wait_ready else subprocess.DEVNULL)  # pylint: disable=consider-using-with
        started.append(proc)
        if wait_ready:
            assert proc.stdout.readline() == b'ready\n'
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()


def _service(tmp_path, start, mark=MARK, argv=None):
    """A process whose command line holds ``mark``, its pid in ``tmp_path/pid`` (as the demo app and tls_app write it)."""
    # wait until it says ready: right after fork its command line is still the parent's (no mark yet)
    proc = start(argv or [sys.executable, '-c', 'import time; print("ready", flush=True); time.sleep(60)', mark.decode()],
                 wait_ready=True)
    (tmp_path / 'pid').write_text(f'{proc.pid}\n', encoding='utf-8')
    return proc


def _gone(proc, timeout=5.0):
    try:
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        return False


def test_identity_tells_a_reused_pid_apart(children):
    """A record with another start time is not the same process and is never signalled."""
    proc = children(['sleep', '60'])
    rec = process_identity('sleep', proc.pid)
    assert is_same_process(rec)
    stop_processes([dict(rec, start=str(int(rec['start']) + 1))], timeout=0.2)
    assert proc.poll() is None
    stop_processes([rec], timeout=5)
    assert _gone(proc) and not is_same_process(rec)


def test_pidfile_pid_needs_the_mark(tmp_path, children):
    """The pid file counts only if that process runs with the mark in its command line."""
    proc = _service(tmp_path, children)
    assert pidfile_pid(tmp_path, MARK) == proc.pid and cmdline_has(proc.pid, MARK)
    assert pidfile_pid(tmp_path, b'some-other-service') is None
    assert pidfile_pid(tmp_path / 'missing', MARK) is None
    (tmp_path / 'pid').write_text('garbage\n', encoding='utf-8')
    assert pidfile_pid(tmp_path, MARK) is None


def test_signal_and_stop_leave_an_unmarked_process_alone(tmp_path, children):
    """A pid file naming some other process (a reused pid) signals nothing."""
    other = _service(tmp_path, children, mark=b'not-the-service')
    assert signal_pidfile(tmp_path, MARK, signal.SIGTERM) is None
    assert stop_pidfile(tmp_path, MARK, grace=0.2) is None
    time.sleep(0.2)
    assert other.poll() is None


def test_stop_pidfile_terminates_the_service(tmp_path, children):
    """SIGTERM is enough for a service that honours it; its pid is returned."""
    proc = _service(tmp_path, children)
    assert stop_pidfile(tmp_path, MARK, grace=5) == proc.pid
    assert _gone(proc, 1) and proc.returncode == -signal.SIGTERM


def test_stop_pidfile_kills_a_service_that_ignores_sigterm(tmp_path, children):
    """After ``grace`` seconds SIGKILL follows."""
    proc = _service(tmp_path, children, argv=[sys.executable, '-c', IGNORE_TERM, MARK.decode()])
    began = time.monotonic()
    assert stop_pidfile(tmp_path, MARK, grace=0.5) == proc.pid
    assert _gone(proc, 1) and proc.returncode == -signal.SIGKILL
    assert time.monotonic() - began >= 0.5


def test_signal_pidfile_sends_the_signal(tmp_path, children):
    """``signal_pidfile`` (the reload of the demo app and tls_app) signals the recorded service once."""
    proc = _service(tmp_path, children)
    assert signal_pidfile(tmp_path, MARK, signal.SIGTERM) == proc.pid
    assert _gone(proc) and proc.returncode == -signal.SIGTERM


def test_apps_and_tls_app_use_their_own_mark(tmp_path, children):
    """The demo app and tls_app helpers refuse a pid file that names another kind of process."""
    _service(tmp_path, children, mark=apps.MARK)
    assert apps.instance_pid(tmp_path) is not None
    assert tls_app.pid_of(tmp_path) is None
    assert tls_app.stop(tmp_path, grace=0.2) is None
    with pytest.raises(tls_app.TlsAppError, match='no TLS app runs in'):
        tls_app.reload(tmp_path)
    pid = apps.instance_pid(tmp_path)
    assert apps.stop_instance(tmp_path, grace=5) == pid
    with pytest.raises(apps.AppError, match='no demo app runs in'):
        apps.reload_instance(tmp_path)


def test_owned_pids_finds_marked_processes(tmp_path, children):
    """The owner marker finds a process nobody recorded; ``nested`` finds the labs below a root."""
    owner = tmp_path / 'lab'
    marked = children(['sleep', '60'], env=dict(os.environ, **{OWNER_VAR: str(owner)}))
    unmarked = children(['sleep', '60'])
    deadline = time.monotonic() + 5
    while marked.pid not in owned_pids(owner) and time.monotonic() < deadline:  # environ readable once exec'd
        time.sleep(0.02)
    assert marked.pid in owned_pids(owner)
    assert unmarked.pid not in owned_pids(owner)
    assert marked.pid in owned_pids(tmp_path, nested=True)
    assert marked.pid not in owned_pids(tmp_path)
