# -*- coding: utf-8 -*-
# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic, idempotent writes of secret files (private keys, certificates, env files).

:func:`atomic_write` never leaves a half-written file and never exposes the new content with looser
permissions than requested: the content goes to a hidden temporary file in the destination directory whose
owner and mode are set *before* the first byte is written, which is fsync'ed and then renamed over the
destination.

It does not use ``AnsibleModule.atomic_move``: when the destination does not exist yet, that chmods the
new file to ``0666 & ~umask`` after the rename, leaving a window in which a fresh private key is
world-readable until the caller fixes the mode.

Symbolic links (the module often runs as root in a directory that an application user can write):

* A destination that **is** a symbolic link is refused (:class:`FileWriteError` naming the path and the link's
  target), also a dangling one and also in check mode: nothing is written through it and nothing is created
  where it points. Give the real path of the file.
* The destination's directory is opened once, component by component, without following links
  (``O_DIRECTORY | O_NOFOLLOW`` relative to the parent's descriptor). A link on the way is followed only if it
  belongs to root or to the user the module runs as **and** sits in a directory that only they can write
  (owner root or that user, no group/other write bit); otherwise the write is refused with a message naming
  the link. Everything after that (reading the old file, the temporary file, the backup, the rename) happens
  relative to that directory descriptor, so swapping a directory for a link meanwhile changes nothing.
* New files (temporary files, backups) are created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` and chowned through
  their descriptor. No path is ever chowned or chmodded: the mode/owner of an existing file (same content) are fixed
  through a descriptor opened with ``O_NOFOLLOW`` after checking it is still the file that was read, and a file
  with other hard links is replaced by a new copy instead of being changed in place.

:func:`stage_write` does the same in two steps (prepare all, then rename back-to-back) for files that belong
together, such as a private key and its certificate. :func:`lock_directories` serializes writers of the same
directories through lock files that only the module's user can open.

Private to the collection: the leading underscore means no compatibility promise to other collections.
"""

from __future__ import annotations

import binascii
import collections
import contextlib
import errno
import fcntl
import grp
import hashlib
import os
import pwd
import re
import stat
import time
from typing import Any, Callable, Iterable, Iterator

from ansible_collections.secops.rotation.plugins.module_utils._errors import OperatorError

WriteResult = collections.namedtuple('WriteResult', ['changed', 'path', 'created', 'backup_file', 'before_sha256', 'after_sha256'])
WriteResult.__doc__ = """Outcome of :func:`atomic_write`.

``changed``: the file was (or, in check mode, would be) created, rewritten or had its mode/owner fixed.
``path``: the path as given. ``created``: the file did not exist before.
``backup_file``: path of the backup made, else ``None``.
``before_sha256`` / ``after_sha256``: hex digests of the old (``None`` if missing) and new content.
"""

_O_CLOEXEC = getattr(os, 'O_CLOEXEC', 0)
_O_NOFOLLOW = getattr(os, 'O_NOFOLLOW', 0)
_O_NONBLOCK = getattr(os, 'O_NONBLOCK', 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0) | _O_NOFOLLOW | _O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC
_MAX_LINKS = 40  # as the kernel's MAXSYMLINKS
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


class FileWriteError(OperatorError):
    """Writing a file failed; the message names the path and the cause, never the content."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__('cannot write %s: %s' % (path, reason))
        self.path = path
        self.reason = reason


class ModeError(ValueError):
    """A mode option that is not a valid (or not an unambiguous) permission mode; the message is for the operator."""


class LockTimeout(Exception):
    """:func:`lock_directories` waited ``timeout`` seconds for ``directory``."""

    def __init__(self, directory: str, timeout: float) -> None:
        super().__init__('%s is locked by another run (waited %ss)' % (directory, timeout))
        self.directory = directory
        self.timeout = timeout


def read_file_bytes(path: str, follow_symlinks: bool = True) -> bytes | None:
    """Return the content of ``path`` as bytes, or ``None`` if it does not exist.

    ``follow_symlinks=False`` opens it with ``O_NOFOLLOW``: a symbolic link raises ``OSError`` (``ELOOP``).
    """
    if follow_symlinks:
        try:
            with open(path, 'rb') as f:
                return f.read()
        except FileNotFoundError:
            return None
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, 'rb') as f:
        return f.read()


def _why(exc):
    return exc.strerror or str(exc) or type(exc).__name__


# ------------------------------------------------------------------------------------------------ modes
_OCTAL_TEXT = re.compile(r'^(?:0[oO])?0*([0-7]{1,4})$')
_QUOTE_HINT = "use a quoted octal mode such as '0600'"


def parse_mode(value: Any, name: str = 'mode', option: bool = False,
               check: Callable[[int], str | None] | None = None) -> int:
    """Return the permission mode (an int) of ``value``, or raise :class:`ModeError` with a message for the operator.

    A string is an octal number: ``'0640'``, ``'640'`` or ``'0o640'`` (symbolic modes such as ``u=rw`` are not
    supported). An ``int`` is used as it is, as ansible-core's ``set_mode_if_different`` does: an unquoted ``0640``
    in YAML is the number 416, which is mode 0640.

    ``option=True`` is for values an operator typed in a task (module options): only the permission bits
    (``0000``-``0777``) are allowed, and a number is refused when it cannot be told what was meant - when its decimal
    digits also read as an octal mode that differs from the number (``440`` is mode 0670 for Ansible but looks like
    0440; ``420`` is what YAML makes of an unquoted ``0644`` but looks like 0420). The message says which quoted
    string to write. ``check(mode)`` returns ``None`` or a sentence why the mode is not acceptable for this option;
    it is applied to the result and used to suggest only acceptable readings of an ambiguous number.

    ``option=False`` (programmatic callers) takes an int as it is in ``0``-``0o7777``.
    """
    limit = 0o777 if option else 0o7777
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ModeError('%s: invalid mode %r: %s' % (name, value, _QUOTE_HINT))
    if isinstance(value, str):
        mode = _mode_from_text(value, name, limit)
    else:
        mode = _mode_from_number(value, name, limit, option, check)
    if check is not None:
        problem = check(mode)
        if problem:
            raise ModeError(problem)
    return mode


def _mode_from_text(value: str, name: str, limit: int) -> int:
    """An octal string (``'0640'``, ``'640'``, ``'0o640'``) as a mode of at most ``limit``."""
    match = _OCTAL_TEXT.match(value.strip())
    if not match:
        raise ModeError('%s: invalid mode %r: %s' % (name, value, _QUOTE_HINT))
    mode = int(match.group(1), 8)
    if mode > limit:
        raise ModeError('%s: invalid mode %r: only the permission bits 0000-%04o are allowed' % (name, value, limit))
    return mode


def _mode_from_number(value: int, name: str, limit: int, option: bool, check: Callable[[int], str | None] | None) -> int:
    """A number used as it is (as ansible-core does); for an option, refused when its digits read as another mode."""
    mode = value
    if mode < 0:
        raise ModeError('%s: invalid mode %d: %s' % (name, value, _QUOTE_HINT))
    digits = str(value)
    as_octal = int(digits, 8) if set(digits) <= set('01234567') else None
    if mode > limit:
        text = '%s: invalid mode %d' % (name, value)
        if option:
            text += ': a number is used as it is, as Ansible does, and %d is 0%o, not a permission mode (0000-%04o)' % (
                value, value, limit)
            if as_octal is not None and as_octal <= limit:
                text += "; YAML reads an unquoted %d as a decimal number: quote it: '%04o'" % (value, as_octal)
            else:
                text += "; quote an octal mode such as '0600'"
        else:
            text += ': only 0-0o%o' % limit
        raise ModeError(text)
    if option and as_octal is not None and as_octal != mode:
        readings = [m for m in (mode, as_octal) if check is None or check(m) is None]
        if len(readings) == 2:
            hint = "quote the mode you mean: '%04o' or '%04o'" % tuple(readings)
        elif readings:
            hint = "quote it: '%04o'" % readings[0]
        else:
            hint = "quote an octal mode such as '0600'"
        raise ModeError('%s: ambiguous mode %d: a number is used as it is, as Ansible does, which makes %d the mode '
                        '%04o (what YAML reads from an unquoted %04o), but its digits read like the octal mode %04o; %s'
                        % (name, value, value, mode, mode, as_octal, hint))
    return mode


def _normalize_mode(path, mode):
    try:
        return parse_mode(mode)
    except ModeError:
        raise FileWriteError(path, 'invalid mode %r (use an octal number such as 0600 or 0640)' % (mode,)) from None


def resolve_id(path: str, value: Any, kind: str) -> int | None:
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


# ------------------------------------------------------------------------------------ directories, links
def _dir_error(path, directory, exc):
    if isinstance(exc, FileNotFoundError):
        reason = 'directory %s does not exist (%s)' % (directory, _why(exc))
    elif exc.errno == errno.ENOTDIR:
        reason = '%s is not a directory (%s)' % (directory, _why(exc))
    elif isinstance(exc, PermissionError):
        reason = 'directory %s is not accessible (%s)' % (directory, _why(exc))
    else:
        reason = 'cannot open directory %s (%s)' % (directory, _why(exc))
    return FileWriteError(path, reason)


def _check_link(path, link, link_st, parent, parent_st, euid):
    """Refuse a symbolic link that someone else than root or ``euid`` could point elsewhere."""
    trusted = (0, euid)
    who = 'root' if euid == 0 else 'root or uid %d' % euid
    if link_st.st_uid not in trusted:
        raise FileWriteError(path, 'its directory is reached through the symbolic link %s, which belongs to uid %d; only links '
                                   'owned by root or by the user the module runs as are followed: use the real path'
                             % (link, link_st.st_uid))
    if parent_st.st_uid not in trusted or parent_st.st_mode & 0o022:
        raise FileWriteError(path, 'its directory is reached through the symbolic link %s, which sits in %s, a directory that '
                                   'users other than %s can write (mode %04o, owner uid %d): use the real path'
                             % (link, parent, who, stat.S_IMODE(parent_st.st_mode), parent_st.st_uid))


def open_directory(directory: str, path: str | None = None) -> int:
    """Open ``directory`` for ``*at`` calls, one component at a time, never following an untrusted link.

    Returns a descriptor (``O_RDONLY | O_DIRECTORY``) the caller closes. A symbolic link on the way is followed only
    if it belongs to root or the module's user and its directory is writable by nobody else; otherwise, and for any
    error, :class:`FileWriteError` is raised with ``path`` (default: ``directory``) and the reason.
    """
    path = directory if path is None else path
    directory = os.path.abspath(directory)
    euid = os.geteuid()
    try:
        stack = [(os.open('/', _DIR_FLAGS), '/')]
    except OSError as exc:
        raise _dir_error(path, '/', exc) from exc
    pending = [part for part in directory.split('/') if part]
    links = 0
    try:
        while pending:
            name = pending.pop(0)
            if name == '.':
                continue
            if name == '..':
                if len(stack) > 1:
                    os.close(stack.pop()[0])
                continue
            parent_fd, parent = stack[-1]
            here = os.path.join(parent, name)
            try:
                fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
            except FileNotFoundError:
                raise
            except OSError:
                st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
                if not stat.S_ISLNK(st.st_mode):
                    raise
                links += 1
                if links > _MAX_LINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), directory) from None
                _check_link(path, here, st, parent, os.fstat(parent_fd), euid)
                target = os.readlink(name, dir_fd=parent_fd)
                if target.startswith('/'):
                    while len(stack) > 1:
                        os.close(stack.pop()[0])
                pending[:0] = [part for part in target.split('/') if part]
                continue
            stack.append((fd, here))
        return stack.pop()[0]
    except OSError as exc:
        raise _dir_error(path, directory, exc) from exc
    finally:
        for fd, dummy in stack:
            os.close(fd)


def _link_refusal(path, dir_fd, name):
    try:
        target = os.readlink(name, dir_fd=dir_fd)
    except OSError:
        target = '?'
    return FileWriteError(path, 'it is a symbolic link (to %s); secret files are never written through a link: give the path '
                                'of the file itself' % target)


def _lstat_at(path, dir_fd, name):
    """``lstat`` of ``name`` in ``dir_fd``: ``None`` if missing; a link or a non-regular file is refused."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise FileWriteError(path, 'cannot stat it (%s)' % _why(e)) from e
    if stat.S_ISLNK(st.st_mode):
        raise _link_refusal(path, dir_fd, name)
    if not stat.S_ISREG(st.st_mode):
        raise FileWriteError(path, 'it exists and is not a regular file')
    return st


def _open_existing(path, dir_fd, name, st, flags=_READ_FLAGS):
    """Open the file ``st`` describes without following a link; refuse it if it was replaced meanwhile."""
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except FileNotFoundError as e:
        raise FileWriteError(path, 'it was removed while it was being written (%s); nothing was changed' % _why(e)) from e
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _link_refusal(path, dir_fd, name) from e
        raise FileWriteError(path, 'cannot open the existing file (%s)' % _why(e)) from e
    current = os.fstat(fd)
    if (current.st_dev, current.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(current.st_mode):
        os.close(fd)
        raise FileWriteError(path, 'it was replaced while it was being written; nothing was changed, try again')
    return fd, current


def _read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b''.join(chunks)
        chunks.append(chunk)


def check_target(path: str) -> None:
    """Raise :class:`FileWriteError` if :func:`stage_write` would refuse ``path`` for where it is: its directory is
    missing or reached through an untrusted link, or the path is a symbolic link or not a regular file."""
    directory, name = os.path.split(os.path.abspath(path))
    dir_fd = open_directory(directory, path)
    try:
        _lstat_at(path, dir_fd, name)
    finally:
        os.close(dir_fd)


def _random_name(prefix, suffix):
    return '%s%s%s' % (prefix, binascii.hexlify(os.urandom(6)).decode('ascii'), suffix)


def _create_new(dir_fd, prefix, suffix):
    """Create a new empty file (mode 0600, ``O_EXCL | O_NOFOLLOW``) in ``dir_fd``; return ``(fd, name)``."""
    for dummy in range(100):
        name = _random_name(prefix, suffix)
        try:
            return os.open(name, _NEW_FILE_FLAGS, 0o600, dir_fd=dir_fd), name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, 'no free name for a temporary file', prefix)


def check_directory_writable(directory: str) -> None:
    """Create and remove a probe file in ``directory`` (opened as :func:`open_directory` does); raise
    :class:`FileWriteError` (``reason``: ``directory ... is not writable (...)``) if that fails."""
    dir_fd = open_directory(directory)
    try:
        try:
            fd, name = _create_new(dir_fd, '.secops-probe.', '')
        except OSError as e:
            raise FileWriteError(directory, 'directory %s is not writable (%s)' % (directory, _why(e))) from e
        os.close(fd)
        try:
            os.unlink(name, dir_fd=dir_fd)
        except OSError:
            pass
    finally:
        os.close(dir_fd)


# ------------------------------------------------------------------------------------------------ writing
def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)


def _chown(fd, uid, gid, preserve_only):
    """fchown a descriptor; when only preserving the previous owner, an unprivileged caller may not be able to: ignore
    EPERM."""
    try:
        os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
    except PermissionError:
        if not preserve_only:
            raise


def _backup(dir_fd, name, content, st, new_mode):
    """Copy the old file to ``<name>.<YYYYmmddTHHMMSS>.<pid>~`` in ``dir_fd``; return the backup's name.

    Created exclusively (``O_EXCL | O_NOFOLLOW``) with mode 0600, then given the old file's owner and group, its
    times, and the old mode **narrowed by the new one** (``old & new``): a backup is never readable by more users
    than the file that replaced it, nor than the file it keeps (a 0644 key replaced by a 0600 one is kept 0600).
    """
    base = '%s.%s.%d' % (name, time.strftime('%Y%m%dT%H%M%S'), os.getpid())
    for attempt in range(1000):
        backup_name = '%s%s~' % (base, '.%d' % attempt if attempt else '')
        try:
            fd = os.open(backup_name, _NEW_FILE_FLAGS, 0o600, dir_fd=dir_fd)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(errno.EEXIST, 'too many backups for this second', base)
    try:
        try:
            _chown(fd, st.st_uid, st.st_gid, preserve_only=True)
            os.fchmod(fd, stat.S_IMODE(st.st_mode) & new_mode)
            _write_all(fd, content)
            os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(fd)
    except BaseException:
        try:
            os.unlink(backup_name, dir_fd=dir_fd)
        except OSError:
            pass
        raise
    return backup_name


def atomic_write(path: str, content: str | bytes, mode: Any = 0o600, owner: Any = None, group: Any = None,
                 backup: bool = False, check_mode: bool = False) -> WriteResult:
    """Write ``content`` (``bytes``, or ``str`` encoded as UTF-8) to ``path`` atomically; return a :class:`WriteResult`.

    * Same content, mode, owner and group: nothing is touched (same inode and mtime), ``changed=False``.
    * Same content, other mode/owner/group: fixed in place through an ``O_NOFOLLOW`` descriptor - first narrowed to
      ``new & old`` mode, then chown, then the final mode - ``changed=True``. (A file with other hard links is
      replaced by a new copy instead, so the other names keep their file as it was.)
    * Otherwise the file is replaced via a temporary file in the same directory; ``backup=True`` first keeps a
      copy of the old file as ``<path>.<YYYYmmddTHHMMSS>.<pid>~`` (mode ``old & new``).

    ``path`` must not be a symbolic link, and its directory must not be reached through a link that someone other
    than root or the module's user could change (see the module docstring): such paths are refused.

    ``owner``/``group`` are names or numeric ids; ``None`` keeps the existing file's owner/group (the process's
    for a new file). ``mode`` is an int (used as it is) or an octal string such as ``'0640'``. ``check_mode=True``
    only reports. On any failure the original file is left intact, no temporary file remains, and
    :class:`FileWriteError` is raised.
    """
    return stage_write(path, content, mode=mode, owner=owner, group=group, backup=backup, check_mode=check_mode).commit()


class StagedWrite:
    """A write prepared by :func:`stage_write`. :meth:`commit` finishes it (one ``rename``, or the chmod/chown of
    an unchanged file) and returns the :class:`WriteResult`; :meth:`discard` drops the temporary file and the backup,
    leaving the destination as it was. ``result`` is the :class:`WriteResult` the commit will return.

    It holds a descriptor of the destination's directory until :meth:`commit` (with ``sync=True``), :meth:`discard`
    or :meth:`close`."""

    def __init__(self, result: WriteResult, dir_fd: int | None = None, name: str | None = None, tmp_name: str | None = None,
                 backup_name: str | None = None, fix_attrs: tuple | None = None) -> None:
        self.result = result
        self._dir_fd = dir_fd
        self._name = name
        self._tmp_name = tmp_name
        self._backup_name = backup_name
        self._fix_attrs = fix_attrs

    def commit(self, sync: bool = True) -> WriteResult:
        """Rename the temporary file over the destination (or fix mode/owner); on failure nothing has changed.

        ``sync=False`` skips the fsync of the directory after the rename, so that several commits follow each other
        without delay; call :meth:`sync` afterwards to make the renames durable, and :meth:`close`.
        """
        path = self.result.path
        if self._fix_attrs is not None:
            fix, self._fix_attrs = self._fix_attrs, None
            try:
                self._fix(*fix)
            finally:
                self.close()
        elif self._tmp_name is not None:
            try:
                os.replace(self._tmp_name, self._name, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd)
            except OSError as e:
                self.discard()
                raise FileWriteError(path, 'renaming the temporary file into place failed (%s)' % _why(e)) from e
            self._tmp_name = self._backup_name = None
            if sync:
                self.sync()
                self.close()
        return self.result

    def _fix(self, mode, uid, gid, st):
        """Mode/owner of the existing file (same content), through an O_NOFOLLOW descriptor of the very file read."""
        path = self.result.path
        fd, current = _open_existing(path, self._dir_fd, self._name, st)
        try:
            if current.st_nlink != 1:
                raise FileWriteError(path, 'it has other hard links now; nothing was changed, try again')
            old_mode = stat.S_IMODE(current.st_mode)
            if uid not in (None, current.st_uid) or gid not in (None, current.st_gid):
                # Narrow first: neither the old group nor the new one may get more than both modes allow while the
                # owner changes. chown may then clear setuid/setgid bits, so the final mode comes last.
                os.fchmod(fd, mode & old_mode)
                _chown(fd, uid, gid, preserve_only=False)
            os.fchmod(fd, mode)
        except OSError as e:
            raise FileWriteError(path, 'cannot set mode/owner (%s)' % _why(e)) from e
        finally:
            os.close(fd)

    def sync(self) -> None:
        """fsync the destination's directory (persists a rename); best effort."""
        if self._dir_fd is not None:
            try:
                os.fsync(self._dir_fd)
            except OSError:
                pass

    def close(self) -> None:
        """Release the directory descriptor (safe to call twice)."""
        if self._dir_fd is not None:
            fd, self._dir_fd = self._dir_fd, None
            os.close(fd)

    def discard(self) -> None:
        """Drop the temporary file and the backup of a write that was not committed (safe to call twice)."""
        if self._tmp_name is not None and self._dir_fd is not None:
            for leftover in (self._tmp_name, self._backup_name):
                try:
                    if leftover:
                        os.unlink(leftover, dir_fd=self._dir_fd)
                except OSError:
                    pass
        self._tmp_name = self._backup_name = self._fix_attrs = None
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # pylint: disable=broad-except  # interpreter shutdown
            pass


def stage_write(path: str, content: str | bytes, mode: Any = 0o600, owner: Any = None, group: Any = None,
                backup: bool = False, check_mode: bool = False) -> StagedWrite:
    """Do everything :func:`atomic_write` does except the final rename; return a :class:`StagedWrite`.

    For files that belong together (a private key and its certificate): stage them all (temporary files written
    and fsync'ed, backups made), then ``commit()`` them back-to-back so the renames are microseconds apart, or
    ``discard()`` them all if staging one failed. Same arguments and errors as :func:`atomic_write`.
    """
    data = content.encode('utf-8') if isinstance(content, str) else content
    if not isinstance(data, (bytes, bytearray)):
        raise FileWriteError(path, 'content must be str or bytes, not %s' % type(content).__name__)
    data = bytes(data)
    mode = _normalize_mode(path, mode)
    uid = resolve_id(path, owner, 'user')
    gid = resolve_id(path, group, 'group')
    directory, name = os.path.split(os.path.abspath(path))
    after_sha256 = hashlib.sha256(data).hexdigest()

    try:
        dir_fd = open_directory(directory, path)
    except FileWriteError as exc:
        if check_mode and isinstance(exc.__cause__, FileNotFoundError):
            # an earlier task would create the directory; check mode did not
            return StagedWrite(WriteResult(True, path, True, None, None, after_sha256))
        raise
    staged = None
    try:
        st, before = _read_existing(path, dir_fd, name)
        before_sha256 = hashlib.sha256(before).hexdigest() if before is not None else None

        def result(changed, backup_file=None):
            return WriteResult(changed, path, before is None, backup_file, before_sha256, after_sha256)

        if before is not None and before == data:
            attrs_ok = (stat.S_IMODE(st.st_mode) == mode and uid in (None, st.st_uid) and gid in (None, st.st_gid))
            if attrs_ok or check_mode:
                return StagedWrite(result(not attrs_ok))
            if st.st_nlink == 1:
                staged = StagedWrite(result(True), dir_fd=dir_fd, name=name, fix_attrs=(mode, uid, gid, st))
                return staged
            # another name shares this inode: replace the file below rather than change the other name's file

        if check_mode:
            return StagedWrite(result(True))
        tmp_name, backup_name = _stage_new(path, dir_fd, directory, name, data, mode, uid, gid, st,
                                           backup and before is not None and before != data, before)
        staged = StagedWrite(result(True, os.path.join(directory, backup_name) if backup_name else None), dir_fd=dir_fd,
                             name=name, tmp_name=tmp_name, backup_name=backup_name)
        return staged
    finally:
        if staged is None:
            os.close(dir_fd)


def _read_existing(path: str, dir_fd: int, name: str) -> tuple[os.stat_result | None, bytes | None]:
    """``(stat, content)`` of the file ``name`` in ``dir_fd`` (``(None, None)`` if there is none)."""
    st = _lstat_at(path, dir_fd, name)
    if st is None:
        return None, None
    fd, st = _open_existing(path, dir_fd, name, st)
    try:
        return st, _read_all(fd)
    except OSError as e:
        raise FileWriteError(path, 'cannot read the existing file (%s)' % _why(e)) from e
    finally:
        os.close(fd)


def _stage_new(path, dir_fd, directory, name, data, mode, uid, gid, st, backup, before):
    """Create the temporary file (owner and mode before any content) and the backup in ``dir_fd``; return their names
    (``backup_name`` is ``None`` without a backup). On failure both are removed and FileWriteError is raised."""
    tmp_name = backup_name = None
    step = 'creating a temporary file'
    try:
        try:
            fd, tmp_name = _create_new(dir_fd, '.%s.' % name, '.tmp')
        except OSError as e:
            if isinstance(e, FileNotFoundError):
                raise FileWriteError(path, 'directory %s does not exist (%s)' % (directory, _why(e))) from e
            if e.errno in _NOT_WRITABLE:
                raise FileWriteError(path, 'directory %s is not writable (%s)' % (directory, _why(e))) from e
            raise
        try:
            step = 'setting owner/mode of the temporary file'
            keep = st is not None and uid is None and gid is None
            _chown(fd, st.st_uid if uid is None and st else uid, st.st_gid if gid is None and st else gid, preserve_only=keep)
            os.fchmod(fd, mode)  # after chown, which may clear setuid/setgid bits; before any content
            step = 'writing the temporary file'
            _write_all(fd, data)
        finally:
            os.close(fd)
        if backup:
            step = 'making a backup'
            backup_name = _backup(dir_fd, name, before, st, mode)
    except BaseException as e:
        for leftover in (tmp_name, backup_name):  # failed: nothing changed, so drop the temporary file and the backup
            try:
                if leftover:
                    os.unlink(leftover, dir_fd=dir_fd)
            except OSError:
                pass
        if isinstance(e, OSError):
            raise FileWriteError(path, '%s failed (%s)' % (step, _why(e))) from e
        raise
    return tmp_name, backup_name


# ------------------------------------------------------------------------------------------------ locking
# Where lock files live: the first of these that exists and takes a private subdirectory. Root's lock directory is
# /run/secops-rotation (/run is writable by root only); other users get secops-rotation-<uid> in /run/lock or /tmp.
LOCK_BASES = ('/run', '/run/lock', '/var/lock', '/tmp')


def _lock_directory():
    """``(fd, path)`` of the private lock directory of the module's user (created 0700 if missing).

    It must belong to the module's user: one that another user created first (in a world-writable base such as
    /tmp) is refused with a message, never used."""
    euid = os.geteuid()
    name = 'secops-rotation' if euid == 0 else 'secops-rotation-%d' % euid
    tried = []
    for base in LOCK_BASES:
        if euid == 0 and base != LOCK_BASES[0] and os.path.isdir(LOCK_BASES[0]):
            break  # root always uses the first base when it exists, so that all root runs meet in one place
        try:
            base_fd = open_directory(base)
        except FileWriteError as exc:
            tried.append(exc.reason)
            continue
        lock_dir = os.path.join(base, name)
        try:
            try:
                os.mkdir(name, 0o700, dir_fd=base_fd)
            except FileExistsError:
                pass
            except OSError as exc:
                tried.append('cannot create %s (%s)' % (lock_dir, _why(exc)))
                continue
            try:
                fd = os.open(name, _DIR_FLAGS, dir_fd=base_fd)
            except OSError as exc:
                raise FileWriteError(lock_dir, 'cannot open the lock directory (%s); it must be a directory of the user the '
                                               'module runs as (uid %d), mode 0700' % (_why(exc), euid)) from exc
            st = os.fstat(fd)
            if st.st_uid != euid:
                os.close(fd)
                raise FileWriteError(lock_dir, 'the lock directory belongs to uid %d, not to uid %d that the module runs as: '
                                               'another user created it; remove it, the next run creates it'
                                     % (st.st_uid, euid))
            if stat.S_IMODE(st.st_mode) != 0o700:
                os.fchmod(fd, 0o700)
            return fd, lock_dir
        finally:
            os.close(base_fd)
    raise FileWriteError(name, 'no directory for lock files (%s)' % '; '.join(tried))


def _acquire(lock_fd, lock_dir, name, directory, timeout):
    """Lock file ``name`` in the lock directory, exclusively; wait up to ``timeout`` seconds; return its fd.

    The holder removes the file before it releases the lock, so after getting the lock a run checks that the file it
    holds is still the one under that name; otherwise it tries again."""
    euid = os.geteuid()
    deadline = time.monotonic() + timeout
    lock_path = os.path.join(lock_dir, name)
    while True:
        try:
            fd = os.open(name, os.O_RDWR | os.O_CREAT | _O_NOFOLLOW | _O_CLOEXEC, 0o600, dir_fd=lock_fd)
        except OSError as exc:
            raise FileWriteError(lock_path, 'cannot open the lock file (%s)' % _why(exc)) from exc
        keep = False
        try:
            st = os.fstat(fd)
            if st.st_uid != euid or not stat.S_ISREG(st.st_mode):
                raise FileWriteError(lock_path, 'the lock file belongs to uid %d, not to uid %d that the module runs as; '
                                                'remove it' % (st.st_uid, euid))
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(directory, timeout) from None
                time.sleep(0.05)
                continue
            except OSError as exc:
                raise FileWriteError(lock_path, 'cannot lock the lock file (%s)' % _why(exc)) from exc
            try:
                current = os.stat(name, dir_fd=lock_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if (current.st_dev, current.st_ino) == (st.st_dev, st.st_ino):
                keep = True
                return fd
        finally:
            if not keep:
                os.close(fd)


@contextlib.contextmanager
def lock_directories(directories: Iterable[str], timeout: float) -> Iterator[None]:
    """Hold an exclusive lock for each of ``directories`` (e.g. the directories of one certificate's files).

    The lock is a ``flock`` on a lock file named after the directory's device and inode (``<dev>-<ino>.lock``, in hex)
    in a directory only the module's user can open (root: ``/run/secops-rotation``, mode 0700; see
    :data:`LOCK_BASES`): another local user can neither take nor hold it, so nobody but this module's runs can delay
    a renewal. The directories are opened as :func:`open_directory` does (the same rules for links), locked once each
    and in the order of their identity (two paths of one directory, a bind mount, do not block each other; two runs
    that reach the same directories by different paths lock them in the same order). Nothing is created in the
    directories themselves (they may be read-only) and no lock file is left behind.

    Raises :class:`LockTimeout` after ``timeout`` seconds, :class:`FileWriteError` if a directory or the lock
    directory cannot be used.
    """
    identities = {}
    for directory in directories:
        fd = open_directory(directory)
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        identities.setdefault((st.st_dev, st.st_ino), directory)
    lock_fd, lock_dir = _lock_directory()
    held = []
    try:
        for identity in sorted(identities):
            name = '%x-%x.lock' % identity
            held.append((name, _acquire(lock_fd, lock_dir, name, identities[identity], timeout)))
        yield
    finally:
        for name, fd in reversed(held):
            try:
                os.unlink(name, dir_fd=lock_fd)  # while holding it: a waiter then finds it gone and takes a new file
            except OSError:
                pass
            os.close(fd)
        os.close(lock_fd)
