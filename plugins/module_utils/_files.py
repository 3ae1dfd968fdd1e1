# -*- coding: utf-8 -*-
# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic, idempotent writes of secret files (private keys, certificates, env files).

:func:`atomic_write` never leaves a half-written file and never exposes the new content with looser
permissions than requested: the content goes to a hidden temporary file in the destination directory whose
owner and mode are set *before* the first byte is written, which is fsync'ed and then renamed over the
destination with ``os.replace``.

It does not use ``AnsibleModule.atomic_move``: when the destination does not exist yet, that chmods the
new file to ``0666 & ~umask`` after the rename, leaving a window in which a fresh private key is
world-readable until the caller fixes the mode.

Symbolic links are followed: the link's target is replaced and the link itself is kept.

:func:`stage_write` does the same in two steps (prepare all, then rename back-to-back) for files that belong
together, such as a private key and its certificate.

Private to the collection: the leading underscore means no compatibility promise to other collections.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import errno
import grp
import hashlib
import os
import pwd
import stat
import tempfile
import time

WriteResult = collections.namedtuple('WriteResult', ['changed', 'path', 'created', 'backup_file', 'before_sha256', 'after_sha256'])
WriteResult.__doc__ = """Outcome of :func:`atomic_write`.

``changed``: the file was (or, in check mode, would be) created, rewritten or had its mode/owner fixed.
``path``: the path as given. ``created``: the file did not exist before.
``backup_file``: path of the backup made, else ``None``.
``before_sha256`` / ``after_sha256``: hex digests of the old (``None`` if missing) and new content.
"""


class FileWriteError(Exception):
    """Writing a file failed; the message names the path and the cause, never the content."""

    def __init__(self, path, reason):
        super().__init__('cannot write %s: %s' % (path, reason))
        self.path = path
        self.reason = reason


def read_file_bytes(path):
    """Return the content of ``path`` as bytes, or ``None`` if it does not exist."""
    try:
        with open(path, 'rb') as f:
            return f.read()
    except FileNotFoundError:
        return None


def _why(exc):
    return exc.strerror or str(exc) or type(exc).__name__


def _normalize_mode(path, mode):
    if isinstance(mode, str) and mode.isdigit() and set(mode) <= set('01234567'):
        mode = int(mode, 8)
    if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o7777:
        raise FileWriteError(path, 'invalid mode %r (use an octal number such as 0600 or 0640)' % (mode,))
    return mode


def resolve_id(path, value, kind):
    """Return a numeric uid (``kind='user'``) or gid (``kind='group'``) for a name or id, ``None`` for ``None``."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    if isinstance(value, str) and value:
        try:
            return pwd.getpwnam(value).pw_uid if kind == 'user' else grp.getgrnam(value).gr_gid
        except KeyError:
            if value.isdigit() and value.isascii():
                return int(value)
    raise FileWriteError(path, 'unknown %s %r' % (kind, value))


def _fsync_dir(directory):
    """Persist the rename; best effort, some file systems cannot fsync a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)


def _chown(fd_or_path, uid, gid, preserve_only):
    """chown; when only preserving the previous owner, an unprivileged caller may not be able to: ignore EPERM."""
    try:
        os.chown(fd_or_path, -1 if uid is None else uid, -1 if gid is None else gid)
    except PermissionError:
        if not preserve_only:
            raise


def _backup(real_path, content, st):
    """Copy the old file to ``<path>.<YYYYmmddTHHMMSS>.<pid>~`` keeping its mode, owner and times.

    The copy is created 0600 and exclusively, so the old secret is never readable by others meanwhile.
    """
    base = '%s.%s.%d' % (real_path, time.strftime('%Y%m%dT%H%M%S'), os.getpid())
    for attempt in range(1000):
        backup_file = '%s%s~' % (base, '.%d' % attempt if attempt else '')
        try:
            fd = os.open(backup_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0), 0o600)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(errno.EEXIST, 'too many backups for this second', base)
    try:
        try:
            _chown(fd, st.st_uid, st.st_gid, preserve_only=True)
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
            _write_all(fd, content)
        finally:
            os.close(fd)
        os.utime(backup_file, ns=(st.st_atime_ns, st.st_mtime_ns))
    except BaseException:
        try:
            os.unlink(backup_file)
        except OSError:
            pass
        raise
    return backup_file


def atomic_write(path, content, mode=0o600, owner=None, group=None, backup=False, check_mode=False):
    """Write ``content`` (``bytes``, or ``str`` encoded as UTF-8) to ``path`` atomically; return a :class:`WriteResult`.

    * Same content, mode, owner and group: nothing is touched (same inode and mtime), ``changed=False``.
    * Same content, other mode/owner/group: fixed in place with chmod/chown, ``changed=True``.
    * Otherwise the file is replaced via a temporary file in the same directory; ``backup=True`` first keeps a
      copy of the old file as ``<path>.<YYYYmmddTHHMMSS>.<pid>~``.

    ``owner``/``group`` are names or numeric ids; ``None`` keeps the existing file's owner/group (the process's
    for a new file). ``mode`` is an int or an octal string such as ``'0640'``. ``check_mode=True`` only reports.
    On any failure the original file is left intact, no temporary file remains, and :class:`FileWriteError`
    is raised.
    """
    return stage_write(path, content, mode=mode, owner=owner, group=group, backup=backup, check_mode=check_mode).commit()


class StagedWrite:
    """A write prepared by :func:`stage_write`. :meth:`commit` finishes it (one ``rename``, or the chmod/chown of
    an unchanged file) and returns the :class:`WriteResult`; :meth:`discard` drops the temporary file and the backup,
    leaving the destination as it was. ``result`` is the :class:`WriteResult` the commit will return."""

    def __init__(self, result, real_path=None, tmp_path=None, fix_attrs=None):
        self.result = result
        self._real_path = real_path
        self._tmp_path = tmp_path
        self._fix_attrs = fix_attrs

    def commit(self, sync=True):
        """Rename the temporary file over the destination (or fix mode/owner); on failure nothing has changed.

        ``sync=False`` skips the fsync of the directory after the rename, so that several commits follow each other
        without delay; call :meth:`sync` afterwards to make the renames durable.
        """
        path = self.result.path
        if self._fix_attrs is not None:
            mode, uid, gid = self._fix_attrs
            self._fix_attrs = None
            try:
                # chmod first (never widens access to the new owner beyond the requested mode), then chown, which
                # may clear setuid/setgid bits, so chmod again.
                os.chmod(self._real_path, mode)
                _chown(self._real_path, uid, gid, preserve_only=False)
                os.chmod(self._real_path, mode)
            except OSError as e:
                raise FileWriteError(path, 'cannot set mode/owner (%s)' % _why(e)) from e
        elif self._tmp_path is not None:
            try:
                os.replace(self._tmp_path, self._real_path)
            except OSError as e:
                self.discard()
                raise FileWriteError(path, 'renaming the temporary file into place failed (%s)' % _why(e)) from e
            self._tmp_path = None
            if sync:
                self.sync()
        return self.result

    def sync(self):
        """fsync the destination's directory (persists a rename); best effort."""
        if self._real_path is not None:
            _fsync_dir(os.path.dirname(self._real_path))

    def discard(self):
        """Drop the temporary file and the backup of a write that was not committed (safe to call twice)."""
        if self._tmp_path is not None:
            for leftover in (self._tmp_path, self.result.backup_file):
                try:
                    if leftover:
                        os.unlink(leftover)
                except OSError:
                    pass
        self._tmp_path = self._fix_attrs = None


def stage_write(path, content, mode=0o600, owner=None, group=None, backup=False, check_mode=False):
    """Do everything :func:`atomic_write` does except the final rename; return a :class:`StagedWrite`.

    For files that belong together (a private key and its certificate): stage them all (temporary files written
    and fsync'ed, backups made), then ``commit()`` them back-to-back so the renames are microseconds apart, or
    ``discard()`` them all if staging one failed. Same arguments and errors as :func:`atomic_write`.
    """
    data = content.encode('utf-8') if isinstance(content, str) else content
    if not isinstance(data, (bytes, bytearray)):
        raise FileWriteError(path, 'content must be str or bytes, not %s' % type(content).__name__)
    mode = _normalize_mode(path, mode)
    uid = resolve_id(path, owner, 'user')
    gid = resolve_id(path, group, 'group')
    real_path = os.path.realpath(path)
    directory = os.path.dirname(real_path)
    after_sha256 = hashlib.sha256(data).hexdigest()

    try:
        st = os.stat(real_path)
    except FileNotFoundError:
        st = before = before_sha256 = None
    except OSError as e:
        raise FileWriteError(path, 'cannot stat it (%s)' % _why(e)) from e
    else:
        if not stat.S_ISREG(st.st_mode):
            raise FileWriteError(path, 'it exists and is not a regular file')
        try:
            before = read_file_bytes(real_path)
        except OSError as e:
            raise FileWriteError(path, 'cannot read the existing file (%s)' % _why(e)) from e
        before_sha256 = hashlib.sha256(before).hexdigest() if before is not None else None

    def result(changed, backup_file=None):
        return WriteResult(changed, path, before is None, backup_file, before_sha256, after_sha256)

    if before is not None and before == data:
        attrs_ok = (stat.S_IMODE(st.st_mode) == mode and uid in (None, st.st_uid) and gid in (None, st.st_gid))
        if attrs_ok or check_mode:
            return StagedWrite(result(not attrs_ok))
        return StagedWrite(result(True), real_path=real_path, fix_attrs=(mode, uid, gid))

    if check_mode:
        return StagedWrite(result(True))

    tmp_path = backup_file = None
    step = 'creating a temporary file'
    try:
        try:
            fd, tmp_path = tempfile.mkstemp(prefix='.%s.' % os.path.basename(real_path), suffix='.tmp', dir=directory)
        except PermissionError as e:
            raise FileWriteError(path, 'directory %s is not writable (%s)' % (directory, _why(e))) from e
        except FileNotFoundError as e:
            raise FileWriteError(path, 'directory %s does not exist (%s)' % (directory, _why(e))) from e
        try:
            step = 'setting owner/mode of the temporary file'
            _chown(fd, st.st_uid if uid is None and st else uid, st.st_gid if gid is None and st else gid,
                   preserve_only=uid is None and gid is None)
            os.fchmod(fd, mode)  # after chown, which may clear setuid/setgid bits; before any content
            step = 'writing the temporary file'
            _write_all(fd, data)
        finally:
            os.close(fd)
        if backup and before is not None:
            step = 'making a backup'
            backup_file = _backup(real_path, before, st)
    except BaseException as e:
        for leftover in (tmp_path, backup_file):  # failed: nothing changed, so drop the temporary file and the backup
            try:
                if leftover:
                    os.unlink(leftover)
            except OSError:
                pass
        if isinstance(e, OSError):
            raise FileWriteError(path, '%s failed (%s)' % (step, _why(e))) from e
        raise
    return StagedWrite(result(True, backup_file), real_path=real_path, tmp_path=tmp_path)
