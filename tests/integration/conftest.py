"""Fixtures for the integration tests: the ``lab`` of real servers (OpenBao, PostgreSQL, moto).

* ``SECOPS_LAB_ENV=/path/to/env`` (e.g. ``.lab/env`` after ``python -m lab up``): reuse that lab if all its
  servers answer; it is left running.
* otherwise a lab is started in a pytest tmp dir and stopped at session end (a finalizer plus an ``atexit``
  hook, so an error or an interrupted session still stops it).
* under pytest-xdist the workers of one run share one lab: the first worker starts it under a file lock in
  the run's base temp dir, every worker registers itself (pid + start time), and the last one out stops it.
* a lab whose users all died without stopping it (pytest killed with SIGKILL) is stopped by the next session
  that looks at the same pytest temp root.
"""

import atexit
import contextlib
import json
import os
import warnings
from pathlib import Path

import pytest

from lab import Lab, file_lock, is_same_process, load_env, probe, process_identity  # importable: see tests/conftest.py


def _external_lab():
    """The env of the lab named by SECOPS_LAB_ENV if all its servers answer, else None."""
    path = os.environ.get('SECOPS_LAB_ENV')
    if not path:
        return None
    if not Path(path).is_file():
        warnings.warn(f'SECOPS_LAB_ENV={path} does not exist: starting a private lab')
        return None
    env = load_env(path)
    answers = probe(env)
    if not all(answers.values()):
        warnings.warn(f'lab of SECOPS_LAB_ENV={path} is not healthy ({answers}): starting a private lab')
        return None
    return env


class _SharedLab:
    """A lab in ``folder`` shared by pytest processes, reference-counted under a file lock.

    ``folder/users.json`` maps each user (an xdist worker id, or ``main``) to its process identity; users
    whose process is gone are dropped, and the lab stops when the last one leaves.
    """

    def __init__(self, folder, user):
        folder.mkdir(parents=True, exist_ok=True)
        self.lock, self.users_file, self.user = folder / 'lock', folder / 'users.json', user
        self.lab = Lab(folder / 'lab')

    def _users(self):
        try:
            users = json.loads(self.users_file.read_text(encoding='utf-8'))
        except (OSError, ValueError):
            return {}
        return {name: rec for name, rec in users.items() if is_same_process(rec)}

    def _save(self, users):
        self.users_file.write_text(json.dumps(users), encoding='utf-8')

    def acquire(self):
        """Join the lab, starting it if no live user holds a healthy one; returns its env."""
        with file_lock(self.lock):
            users = self._users()
            env = self.lab.env
            if not users or not env or not all(probe(env).values()):
                env = self.lab.up()
            users[self.user] = process_identity('pytest', os.getpid())
            self._save(users)
            return env

    def release(self):
        """Leave the lab; the last user out stops it. Safe to call twice."""
        with file_lock(self.lock):
            users = self._users()
            users.pop(self.user, None)
            self._save(users)
            if not users:
                self.lab.down()

    def reap_if_orphaned(self):
        """Stop the lab if it still has state but no live user (its pytest was killed)."""
        with file_lock(self.lock):
            if not self._users() and self.lab.state_file.exists():
                self.lab.down()


@pytest.fixture(scope='session')
def lab(tmp_path_factory):
    """The lab's environment (dict of the env file: VAULT_ADDR, PGPORT, AWS_ENDPOINT_URL, LAB_* ...)."""
    env = _external_lab()
    if env is not None:
        yield env
        return
    basetemp = tmp_path_factory.getbasetemp()  # .../pytest-N, or .../pytest-N/popen-gwK for an xdist worker
    worker = os.environ.get('PYTEST_XDIST_WORKER')
    if worker:
        shared, runs = _SharedLab(basetemp.parent / 'secops-lab', worker), basetemp.parent.parent
    else:
        shared, runs = _SharedLab(tmp_path_factory.mktemp('secops-lab'), 'main'), basetemp.parent
    for users_file in runs.glob('pytest-*/secops-lab*/users.json'):
        if users_file.parent != shared.lab.dir.parent:
            with contextlib.suppress(OSError):
                _SharedLab(users_file.parent, 'reaper').reap_if_orphaned()
    atexit.register(shared.release)
    try:
        yield shared.acquire()
    finally:
        shared.release()
        atexit.unregister(shared.release)
