# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import os
import re
import stat
import tempfile

import pytest

from ansible_collections.secops.rotation.plugins.module_utils._files import FileWriteError, atomic_write, read_file_bytes

OLD = b'-----BEGIN PRIVATE KEY-----\nold\n-----END PRIVATE KEY-----\n'
NEW = b'-----BEGIN PRIVATE KEY-----\nnew\n-----END PRIVATE KEY-----\n'
IS_ROOT = hasattr(os, 'geteuid') and os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason='chown to other users needs root')


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def key(tmp_path):
    """An existing key file with OLD content and mode 0600."""
    path = tmp_path / 'key.pem'
    path.write_bytes(OLD)
    os.chmod(str(path), 0o600)
    return path


def test_new_file_default_mode(tmp_path):
    path = tmp_path / 'key.pem'
    result = atomic_write(str(path), NEW)
    assert result.changed and result.created and result.backup_file is None
    assert result.path == str(path)
    assert result.before_sha256 is None and result.after_sha256 == hashlib.sha256(NEW).hexdigest()
    assert path.read_bytes() == NEW
    assert mode_of(path) == 0o600
    assert os.listdir(str(tmp_path)) == ['key.pem']


@pytest.mark.parametrize('mode', [0o640, '0640', '640'])
def test_new_file_requested_mode_ignores_umask(tmp_path, mode):
    path = tmp_path / 'cert.pem'
    old_umask = os.umask(0o077)
    try:
        atomic_write(str(path), 'certificate é\n', mode=mode)
    finally:
        os.umask(old_umask)
    assert mode_of(path) == 0o640
    assert path.read_bytes() == 'certificate é\n'.encode('utf-8')


def test_identical_content_and_attributes_untouched(key):
    before = os.stat(str(key))
    result = atomic_write(str(key), OLD, mode=0o600)
    after = os.stat(str(key))
    assert not result.changed and not result.created
    assert result.before_sha256 == result.after_sha256
    assert (after.st_ino, after.st_mtime_ns, after.st_ctime_ns) == (before.st_ino, before.st_mtime_ns, before.st_ctime_ns)


def test_str_content_identical_to_bytes(key):
    assert not atomic_write(str(key), OLD.decode('utf-8')).changed


def test_mode_only_difference_fixed_in_place(key):
    os.chmod(str(key), 0o644)
    before = os.stat(str(key))
    result = atomic_write(str(key), OLD, mode=0o600)
    after = os.stat(str(key))
    assert result.changed and not result.created
    assert after.st_ino == before.st_ino and after.st_mtime_ns == before.st_mtime_ns
    assert mode_of(key) == 0o600
    assert key.read_bytes() == OLD


def test_content_change_replaces_file(key):
    result = atomic_write(str(key), NEW)
    assert result.changed and not result.created and result.backup_file is None
    assert result.before_sha256 == hashlib.sha256(OLD).hexdigest()
    assert key.read_bytes() == NEW
    assert os.listdir(str(key.parent)) == ['key.pem']


def test_backup_keeps_old_content_and_mode(key):
    os.chmod(str(key), 0o640)
    old_mtime = os.stat(str(key)).st_mtime_ns
    result = atomic_write(str(key), NEW, backup=True)
    assert result.changed and result.backup_file
    assert re.match(re.escape(str(key)) + r'\.\d{8}T\d{6}\.%d~$' % os.getpid(), result.backup_file)
    assert read_file_bytes(result.backup_file) == OLD
    assert mode_of(result.backup_file) == 0o640
    assert os.stat(result.backup_file).st_mtime_ns == old_mtime
    assert key.read_bytes() == NEW and mode_of(key) == 0o600
    # a second backup within the same second gets its own name
    second = atomic_write(str(key), OLD, backup=True)
    assert second.backup_file != result.backup_file and read_file_bytes(second.backup_file) == NEW
    assert sorted(os.listdir(str(key.parent))) == sorted(['key.pem', os.path.basename(result.backup_file), os.path.basename(second.backup_file)])


def test_backup_not_made_for_new_or_unchanged_file(tmp_path):
    path = str(tmp_path / 'key.pem')
    assert atomic_write(path, NEW, backup=True).backup_file is None
    assert atomic_write(path, NEW, backup=True).backup_file is None
    assert os.listdir(str(tmp_path)) == ['key.pem']


@pytest.mark.parametrize('failing', ['fsync', 'replace', 'write'])
def test_failure_mid_write_leaves_original_intact(key, monkeypatch, failing):
    def boom(*args, **kwargs):
        raise OSError(errno.EIO, 'Input/output error')

    monkeypatch.setattr(os, failing, boom)
    with pytest.raises(FileWriteError) as excinfo:
        atomic_write(str(key), NEW, backup=True)
    monkeypatch.undo()
    message = str(excinfo.value)
    assert message.startswith('cannot write %s: ' % key)
    assert 'Input/output error' in message
    assert 'new' not in message and 'PRIVATE' not in message
    assert key.read_bytes() == OLD
    assert os.listdir(str(key.parent)) == ['key.pem']


def test_backup_failure_leaves_original_and_no_partial_backup(key, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(os, 'utime', boom)
    with pytest.raises(FileWriteError, match=r'making a backup failed \(No space left on device\)'):
        atomic_write(str(key), NEW, backup=True)
    monkeypatch.undo()
    assert key.read_bytes() == OLD
    assert os.listdir(str(key.parent)) == ['key.pem']


def test_unwritable_directory(key, monkeypatch):
    # running as root, a chmod 0555 directory would not stop us: inject the error mkstemp would raise
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, 'Permission denied')

    monkeypatch.setattr(tempfile, 'mkstemp', denied)
    expected = 'cannot write %s: directory %s is not writable (Permission denied)' % (key, key.parent)
    with pytest.raises(FileWriteError) as excinfo:
        atomic_write(str(key), NEW)
    assert str(excinfo.value) == expected
    assert excinfo.value.path == str(key)
    monkeypatch.undo()
    assert key.read_bytes() == OLD


@pytest.mark.skipif(IS_ROOT, reason='root ignores directory permissions')
def test_unwritable_directory_for_real(key):
    os.chmod(str(key.parent), 0o555)
    try:
        with pytest.raises(FileWriteError, match='is not writable'):
            atomic_write(str(key), NEW)
    finally:
        os.chmod(str(key.parent), 0o755)
    assert key.read_bytes() == OLD


def test_missing_directory(tmp_path):
    path = tmp_path / 'nope' / 'key.pem'
    with pytest.raises(FileWriteError, match=r'directory %s does not exist' % re.escape(str(path.parent))):
        atomic_write(str(path), NEW)


def test_check_mode_new_file(tmp_path):
    path = tmp_path / 'key.pem'
    result = atomic_write(str(path), NEW, backup=True, check_mode=True)
    assert result.changed and result.created and result.backup_file is None
    assert os.listdir(str(tmp_path)) == []


def test_check_mode_existing_file(key):
    os.chmod(str(key), 0o644)
    before = os.stat(str(key))
    assert atomic_write(str(key), OLD, check_mode=True).changed  # mode differs
    assert atomic_write(str(key), NEW, backup=True, check_mode=True).changed  # content differs
    assert not atomic_write(str(key), OLD, mode=0o644, check_mode=True).changed
    after = os.stat(str(key))
    assert (after.st_ino, after.st_mtime_ns, after.st_ctime_ns, after.st_mode) == (before.st_ino, before.st_mtime_ns, before.st_ctime_ns, before.st_mode)
    assert os.listdir(str(key.parent)) == ['key.pem']


def test_symlink_is_followed(tmp_path):
    target = tmp_path / 'archive-key1.pem'
    target.write_bytes(OLD)
    link = tmp_path / 'key.pem'
    link.symlink_to(target.name)
    assert atomic_write(str(link), NEW).changed
    assert os.path.islink(str(link)) and target.read_bytes() == NEW


@pytest.mark.parametrize('bad_mode', ['u=rw', '0900', -1, 0o10000, 1.5, True])
def test_invalid_mode(tmp_path, bad_mode):
    with pytest.raises(FileWriteError, match='invalid mode'):
        atomic_write(str(tmp_path / 'key.pem'), NEW, mode=bad_mode)
    assert os.listdir(str(tmp_path)) == []


def test_destination_is_a_directory(tmp_path):
    with pytest.raises(FileWriteError, match='not a regular file'):
        atomic_write(str(tmp_path), NEW)


def test_read_file_bytes(tmp_path, key):
    assert read_file_bytes(str(key)) == OLD
    assert read_file_bytes(str(tmp_path / 'missing')) is None


@needs_root
@pytest.mark.parametrize('owner, group', [('nobody', 'nogroup'), (65534, 65534), ('65534', '65534')])
def test_owner_and_group_applied(tmp_path, owner, group):
    path = tmp_path / 'key.pem'
    result = atomic_write(str(path), NEW, mode=0o640, owner=owner, group=group)
    st = os.stat(str(path))
    assert result.changed and (st.st_uid, st.st_gid) == (65534, 65534) and mode_of(path) == 0o640
    # idempotent
    assert not atomic_write(str(path), NEW, mode=0o640, owner=owner, group=group).changed


@needs_root
def test_owner_difference_fixed_in_place(key):
    inode = os.stat(str(key)).st_ino
    assert atomic_write(str(key), OLD, owner='nobody').changed
    st = os.stat(str(key))
    assert st.st_ino == inode and st.st_uid == 65534 and st.st_gid == 0


@needs_root
def test_rewrite_keeps_existing_owner_when_not_given(key):
    os.chown(str(key), 65534, 65534)
    assert atomic_write(str(key), NEW).changed
    st = os.stat(str(key))
    assert (st.st_uid, st.st_gid) == (65534, 65534)


@pytest.mark.parametrize('kwargs, expected', [
    ({'owner': 'no-such-user-xyz'}, "unknown user 'no-such-user-xyz'"),
    ({'group': 'no-such-group-xyz'}, "unknown group 'no-such-group-xyz'"),
    ({'owner': ''}, "unknown user ''"),
    ({'owner': -3}, 'unknown user -3'),
])
def test_unknown_owner_or_group(tmp_path, kwargs, expected):
    path = tmp_path / 'key.pem'
    with pytest.raises(FileWriteError) as excinfo:
        atomic_write(str(path), NEW, **kwargs)
    assert str(excinfo.value) == 'cannot write %s: %s' % (path, expected)
    with pytest.raises(FileWriteError):
        atomic_write(str(path), NEW, check_mode=True, **kwargs)
    assert os.listdir(str(tmp_path)) == []


def test_temp_file_is_hidden_in_same_directory_and_private_before_write(tmp_path, monkeypatch):
    seen = []
    real_fsync = os.fsync

    def spy_fsync(fd):
        # called right after the content is written: the temp file must already have the final mode
        name = os.readlink('/proc/self/fd/%d' % fd) if os.path.exists('/proc/self/fd/%d' % fd) else None
        if name and os.path.isfile(name):
            seen.append((os.path.dirname(name), os.path.basename(name), mode_of(name)))
        return real_fsync(fd)

    monkeypatch.setattr(os, 'fsync', spy_fsync)
    atomic_write(str(tmp_path / 'key.pem'), NEW, mode=0o600)
    monkeypatch.undo()
    assert seen, 'fsync was not called on the temporary file'
    directory, name, mode = seen[0]
    assert directory == str(tmp_path) and name.startswith('.key.pem.') and mode == 0o600


def test_content_type_checked(tmp_path):
    with pytest.raises(FileWriteError, match='content must be str or bytes'):
        atomic_write(str(tmp_path / 'key.pem'), 42)
