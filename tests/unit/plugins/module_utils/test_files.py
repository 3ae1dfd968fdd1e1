# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


import errno
import hashlib
import os
import re
import stat

import pytest

from ansible_collections.secops.rotation.plugins.module_utils import _files
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


def test_backup_keeps_old_content_and_times(key):
    os.chmod(str(key), 0o640)
    old_mtime = os.stat(str(key)).st_mtime_ns
    result = atomic_write(str(key), NEW, backup=True)
    assert result.changed and result.backup_file
    assert re.match(re.escape(str(key)) + r'\.\d{8}T\d{6}\.%d~$' % os.getpid(), result.backup_file)
    assert read_file_bytes(result.backup_file) == OLD
    assert mode_of(result.backup_file) == 0o600  # the new mode: never looser than the file that replaced it
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
    # running as root, a chmod 0555 directory would not stop us: inject the error creating a file would raise
    real_open = os.open

    def denied(path, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, 'Permission denied')
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, 'open', denied)
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


def test_symlink_destination_is_refused(tmp_path):
    target = tmp_path / 'archive-key1.pem'
    target.write_bytes(OLD)
    os.chmod(str(target), 0o644)
    link = tmp_path / 'key.pem'
    link.symlink_to(target.name)
    for check_mode in (True, False):
        for content in (OLD, NEW):  # rewriting, or only fixing the mode of the file behind the link
            with pytest.raises(FileWriteError) as excinfo:
                atomic_write(str(link), content, mode=0o600, backup=True, check_mode=check_mode)
            assert str(excinfo.value).startswith('cannot write %s: it is a symbolic link (to archive-key1.pem)' % link)
    assert os.path.islink(str(link)) and target.read_bytes() == OLD and mode_of(target) == 0o644
    assert sorted(os.listdir(str(tmp_path))) == ['archive-key1.pem', 'key.pem']


def test_dangling_symlink_creates_no_file_anywhere(tmp_path):
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    link = tmp_path / 'key.pem'
    link.symlink_to(elsewhere / 'planted.pem')
    with pytest.raises(FileWriteError, match='it is a symbolic link'):
        atomic_write(str(link), NEW)
    with pytest.raises(FileWriteError, match='it is a symbolic link'):
        _files.stage_write(str(link), NEW, backup=True)
    assert os.listdir(str(elsewhere)) == [] and sorted(os.listdir(str(tmp_path))) == ['elsewhere', 'key.pem']


@needs_root
def test_directory_reached_through_a_link_another_user_owns_is_refused(tmp_path):
    real = tmp_path / 'real'
    real.mkdir()
    link = tmp_path / 'tls'
    link.symlink_to(real)
    os.lchown(str(link), 65534, 65534)  # e.g. the application user, who can point it at /etc
    for check_mode in (True, False):
        with pytest.raises(FileWriteError) as excinfo:
            atomic_write(str(link / 'key.pem'), NEW, check_mode=check_mode)
        assert str(excinfo.value) == (
            'cannot write %s/key.pem: its directory is reached through the symbolic link %s, which belongs to uid 65534; '
            'only links owned by root or by the user the module runs as are followed: use the real path' % (link, link))
    assert os.listdir(str(real)) == []


@needs_root
def test_directory_reached_through_a_link_in_a_directory_others_can_write_is_refused(tmp_path):
    shared = tmp_path / 'shared'
    shared.mkdir()
    os.chmod(str(shared), 0o777)  # anyone could replace the link
    real = tmp_path / 'real'
    real.mkdir()
    (shared / 'tls').symlink_to(real)
    with pytest.raises(FileWriteError) as excinfo:
        atomic_write(str(shared / 'tls' / 'key.pem'), NEW)
    assert str(excinfo.value) == (
        'cannot write %s/tls/key.pem: its directory is reached through the symbolic link %s/tls, which sits in %s, '
        'a directory that users other than root can write (mode 0777, owner uid 0): use the real path' % (shared, shared, shared))
    assert os.listdir(str(real)) == []


def test_directory_reached_through_a_trusted_link_is_followed(tmp_path):
    (tmp_path / 'releases' / 'v2').mkdir(parents=True)
    (tmp_path / 'current').symlink_to('releases/v2')  # owned by us, in a directory only we can write
    assert atomic_write(str(tmp_path / 'current' / 'key.pem'), NEW).changed
    assert (tmp_path / 'releases' / 'v2' / 'key.pem').read_bytes() == NEW
    assert not atomic_write(str(tmp_path / 'current' / 'key.pem'), NEW).changed


def test_commit_renames_inside_the_directory_that_was_opened(tmp_path):
    # the directory is opened once; swapping it for a link between staging and the rename changes nothing
    tls = tmp_path / 'tls'
    tls.mkdir()
    (tls / 'key.pem').write_bytes(OLD)
    staged = _files.stage_write(str(tls / 'key.pem'), NEW, backup=True)
    moved, decoy = tmp_path / 'moved', tmp_path / 'decoy'
    decoy.mkdir()
    os.rename(str(tls), str(moved))
    tls.symlink_to(decoy)
    result = staged.commit()
    assert (moved / 'key.pem').read_bytes() == NEW and os.listdir(str(decoy)) == []
    assert sorted(os.listdir(str(moved))) == sorted(['key.pem', os.path.basename(result.backup_file)])


def test_fixing_attributes_never_follows_a_link_put_in_place_of_the_file(key, tmp_path):
    victim = tmp_path / 'victim'
    victim.write_bytes(b'someone else\'s file\n')
    os.chmod(str(victim), 0o644)
    os.chmod(str(key), 0o640)
    staged = _files.stage_write(str(key), OLD, mode=0o600)  # same content: only the mode is fixed, in place
    os.unlink(str(key))
    os.symlink(str(victim), str(key))
    with pytest.raises(FileWriteError, match='cannot write %s: ' % re.escape(str(key))):
        staged.commit()
    assert mode_of(victim) == 0o644 and os.path.islink(str(key))


def test_attributes_of_a_file_with_another_hard_link_are_not_changed_in_place(tmp_path):
    victim = tmp_path / 'victim'
    victim.write_bytes(OLD)
    os.chmod(str(victim), 0o644)
    key = tmp_path / 'key.pem'
    os.link(str(victim), str(key))  # the same inode under a second name
    result = atomic_write(str(key), OLD, mode=0o600)
    assert result.changed and not result.created
    assert mode_of(victim) == 0o644 and victim.read_bytes() == OLD  # the other name's file is not touched
    assert mode_of(key) == 0o600 and key.read_bytes() == OLD and os.stat(str(key)).st_ino != os.stat(str(victim)).st_ino


def test_backup_of_a_loose_key_gets_the_new_tighter_mode(key):
    os.chmod(str(key), 0o644)
    result = atomic_write(str(key), NEW, mode=0o600, backup=True)
    assert read_file_bytes(result.backup_file) == OLD and mode_of(result.backup_file) == 0o600
    # nor is a backup wider than the file it keeps: 0600 replaced by 0640 is kept 0600
    again = atomic_write(str(key), OLD, mode=0o640, backup=True)
    assert read_file_bytes(again.backup_file) == NEW and mode_of(again.backup_file) == 0o600


@needs_root
def test_fixing_mode_and_group_tightens_before_the_chown(key, monkeypatch):
    # 0600 root:root -> 0640 root:nogroup; the old group (root) must never get to read the key on the way
    inode = os.stat(str(key)).st_ino
    seen = []
    real_chown, real_fchown = os.chown, os.fchown

    def spy_chown(target, *args, **kwargs):
        seen.append(mode_of(key))
        return real_chown(target, *args, **kwargs)

    def spy_fchown(fd, *args, **kwargs):
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_fchown(fd, *args, **kwargs)

    monkeypatch.setattr(os, 'chown', spy_chown)
    monkeypatch.setattr(os, 'fchown', spy_fchown)
    assert atomic_write(str(key), OLD, mode='0640', group='nogroup').changed
    monkeypatch.undo()
    assert seen == [0o600]  # 0640 & 0600 while the group is still the old one
    st = os.stat(str(key))
    assert (stat.S_IMODE(st.st_mode), st.st_gid, st.st_ino) == (0o640, 65534, inode)


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
