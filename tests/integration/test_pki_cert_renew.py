# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""secops.rotation.pki_cert_renew against the lab's real OpenBao PKI engine (``pki/``, role ``lab``)."""


import base64
import concurrent.futures
import contextlib
import os
import shutil
import stat
import subprocess
import time
import uuid

import hvac
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import PolicyBuilder, Store

from lab.runner import run_module, run_playbook

MODULE = 'pki_cert_renew'


@pytest.fixture(scope='module')
def vault(lab):
    return hvac.Client(url=lab['VAULT_ADDR'], token=lab['VAULT_TOKEN'])


@pytest.fixture(scope='module')
def lab_ca(lab):
    with open(lab['LAB_PKI_CA'], 'rb') as handle:
        return x509.load_pem_x509_certificate(handle.read())


@pytest.fixture(scope='module')
def uri_role(vault, lab):
    """A role of the lab mount that also allows URI SANs, and only names under example.test."""
    name = 'uri-%s' % uuid.uuid4().hex[:8]
    vault.secrets.pki.create_or_update_role(name, extra_params={
        'allowed_domains': ['example.test'], 'allow_subdomains': True, 'allow_ip_sans': True,
        'allowed_uri_sans': ['spiffe://lab/*'], 'max_ttl': '720h'}, mount_point=lab['LAB_PKI_MOUNT'])
    return name


@pytest.fixture(scope='module')
def other_mount(vault):
    """A second PKI mount with its own root CA (for issuer_changed)."""
    mount = 'pki-%s' % uuid.uuid4().hex[:8]
    vault.sys.enable_secrets_engine('pki', path=mount, config={'max_lease_ttl': '87600h'})
    vault.secrets.pki.generate_root('internal', 'secops other CA %s' % mount, extra_params={'ttl': '8760h', 'key_type': 'ec'},
                                    mount_point=mount)
    vault.secrets.pki.create_or_update_role('lab', extra_params={'allow_any_name': True, 'allow_ip_sans': True,
                                                                 'max_ttl': '720h', 'key_type': 'ec'}, mount_point=mount)
    yield mount
    vault.sys.disable_secrets_engine(mount)


def serial_count(vault, mount='pki'):
    return len(vault.secrets.pki.list_certificates(mount_point=mount)['data']['keys'])


def revoked_serials(vault, mount='pki'):
    crl = x509.load_pem_x509_crl(vault.secrets.pki.read_crl(mount_point=mount).encode())
    return set(r.serial_number for r in crl)


def serial_int(serial):
    return int(serial.replace(':', ''), 16)


def snapshot(directory):
    """name -> (inode, mtime_ns, mode, bytes) of every file in ``directory``."""
    result = {}
    for name in sorted(os.listdir(str(directory))):
        st = os.stat(os.path.join(str(directory), name))
        with open(os.path.join(str(directory), name), 'rb') as handle:
            result[name] = (st.st_ino, st.st_mtime_ns, stat.S_IMODE(st.st_mode), handle.read())
    return result


def load(path):
    with open(str(path), 'rb') as handle:
        return handle.read()


def no_traceback(run):
    assert 'Traceback' not in run.stdout + run.stderr, run.stderr[-2000:]


@pytest.fixture
def certdir(tmp_path):
    directory = tmp_path / 'tls'
    directory.mkdir()
    return directory


@pytest.fixture
def renew(lab, certdir):
    """Run the module with the lab's Vault env; ``args`` on top of a default single certificate in ``certdir``."""
    suffix = uuid.uuid4().hex[:8]

    def run(check=False, diff=False, **args):
        base = dict(role=lab['LAB_PKI_ROLE'], common_name='app-%s.example.test' % suffix,
                    cert_path=str(certdir / 'app.crt'), key_path=str(certdir / 'app.key'), ttl='48h', renew_before='1d')
        base.update(args)
        result = run_module(MODULE, base, check=check, diff=diff, env=lab)
        no_traceback(result)
        return result
    return run


# ------------------------------------------------------------------------------------------ acceptance
def test_missing_files_are_issued_and_verify(renew, certdir, lab_ca, vault):
    count = serial_count(vault)
    result = renew(chain_path=str(certdir / 'chain.pem'), bundle_path=str(certdir / 'full.pem'), alt_names=['www.example.test'],
                   ip_sans=['127.0.0.1'])
    assert not result.get('failed'), result['msg']
    assert (result['changed'], result['reason']) == (True, 'missing')
    assert serial_count(vault) == count + 1
    files = snapshot(certdir)
    assert sorted(files) == ['app.crt', 'app.key', 'chain.pem', 'full.pem']
    assert files['app.key'][2] == 0o600 and files['app.crt'][2] == 0o644
    cert = x509.load_pem_x509_certificate(files['app.crt'][3])
    key = serialization.load_pem_private_key(files['app.key'][3], password=None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()
    cert.verify_directly_issued_by(lab_ca)
    chain = x509.load_pem_x509_certificates(files['chain.pem'][3])
    assert chain == [lab_ca]
    cert.verify_directly_issued_by(chain[0])
    # full RFC 5280 path validation as a TLS client would do it: lab CA as the only trust anchor, name and time checked
    verifier = PolicyBuilder().store(Store([lab_ca])).build_server_verifier(x509.DNSName('www.example.test'))
    assert verifier.verify(cert, chain[:-1])[-1] == lab_ca
    assert files['full.pem'][3] == files['app.crt'][3] + files['chain.pem'][3]
    assert serial_int(result['serial']) == cert.serial_number
    assert result['ip_sans'] == ['127.0.0.1'] and 'www.example.test' in result['alt_names']
    assert 1.99 < result['days_remaining_after'] <= 2.01 and result['days_remaining_before'] is None
    assert 'private_key' not in result and b'PRIVATE KEY' not in result.stdout.encode()


def test_second_run_is_not_due_and_touches_nothing(renew, certdir, vault):
    first = renew(chain_path=str(certdir / 'chain.pem'))
    assert first['reason'] == 'missing'
    before, count = snapshot(certdir), serial_count(vault)
    again = renew(chain_path=str(certdir / 'chain.pem'))
    assert (again['changed'], again['reason']) == (False, 'not_due')
    assert again['serial'] == first['serial'] and again['msg'].endswith('(renews when fewer than 1d are left)')
    assert snapshot(certdir) == before  # same inode, mtime, mode and content
    assert serial_count(vault) == count  # nothing was issued
    # not even a login: a not-due run works with a Vault that is unreachable
    offline = renew(chain_path=str(certdir / 'chain.pem'), url='http://127.0.0.1:9', token='s.unused')
    assert (offline['changed'], offline['reason']) == (False, 'not_due')
    assert snapshot(certdir) == before


def test_check_mode_predicts_drift_and_touches_nothing(renew, certdir, vault):
    renew(alt_names=['a.example.test'])
    before, count = snapshot(certdir), serial_count(vault)
    result = renew(alt_names=['a.example.test', 'c.example.test'], ttl='72h', check=True, diff=True)
    assert (result['changed'], result['reason']) == (True, 'drift')
    assert result['msg'].startswith('would renew app-') and 'alt_names +c.example.test' in result['msg']
    assert result['diff']['before']['alt_names'] != result['diff']['after']['alt_names']
    assert 'c.example.test' in result['diff']['after']['alt_names'] and result['diff']['after']['serial'] == '(new)'
    assert 'PRIVATE KEY' not in result.stdout
    assert snapshot(certdir) == before and serial_count(vault) == count


def test_pkcs8_key_format(renew, certdir):
    result = renew(private_key_format='pkcs8')
    assert result['reason'] == 'missing'
    assert load(certdir / 'app.key').startswith(b'-----BEGIN PRIVATE KEY-----')
    assert renew(private_key_format='pkcs8')['reason'] == 'not_due'
    back = renew()  # private_key_format: pem again
    assert (back['reason'], 'is in PKCS#8 format (private_key_format=pem)' in back['msg']) == ('drift', True)
    assert load(certdir / 'app.key').startswith(b'-----BEGIN RSA PRIVATE KEY-----') and renew()['reason'] == 'not_due'
    again = renew(private_key_format='pkcs8')
    assert (again['reason'], 'is not in PKCS#8 format (private_key_format=pkcs8)' in again['msg']) == ('drift', True)


def test_renew_before_larger_than_remaining_life_renews(renew, vault):
    first = renew()
    result = renew(renew_before='3d', ttl='30d')
    assert (result['changed'], result['reason']) == (True, 'expiring')
    assert result['previous_serial'] == first['serial'] and result['serial'] != first['serial']
    assert result['days_remaining_before'] < 2.01 and result['days_remaining_after'] > 29.9
    assert 'left, renew_before 3d' in result['msg']


def test_lifetime_fraction_renews(renew):
    renew()
    # the certificate is backdated 30s by Vault: 30s of 48h is past 0.0001 of its lifetime
    result = renew(renew_before='0', renew_at_fraction=0.0001)
    assert (result['changed'], result['reason']) == (True, 'lifetime')
    assert renew(renew_before='0', renew_at_fraction=0.5)['reason'] == 'not_due'


def test_added_san_is_drift(renew, certdir):
    renew(alt_names=['a.example.test'])
    result = renew(alt_names=['a.example.test', 'b.example.test'], diff=True)
    assert (result['changed'], result['reason']) == (True, 'drift')
    assert 'alt_names +b.example.test' in result['msg']
    assert 'b.example.test' not in result['diff']['before']['alt_names'] and 'b.example.test' in result['diff']['after']['alt_names']
    cert = x509.load_pem_x509_certificate(load(certdir / 'app.crt'))
    assert 'b.example.test' in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    ip = renew(alt_names=['a.example.test', 'b.example.test'], ip_sans=['10.9.8.7'])
    assert (ip['reason'], ip['ip_sans']) == ('drift', ['10.9.8.7'])


def test_replaced_key_is_key_mismatch(renew, certdir):
    renew()
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                                  serialization.NoEncryption())
    (certdir / 'app.key').write_bytes(other)
    result = renew()
    assert (result['changed'], result['reason']) == (True, 'key_mismatch')
    cert = x509.load_pem_x509_certificate(load(certdir / 'app.crt'))
    key = serialization.load_pem_private_key(load(certdir / 'app.key'), password=None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()


def test_corrupted_private_part_of_the_key_is_invalid(renew, certdir, vault):
    # keys on disk are loaded without cryptography's slow RSA check: a key whose modulus is intact (so its public half
    # still matches the certificate) but whose private part is damaged must still be renewed, not reported not_due
    first = renew()
    der = serialization.load_pem_private_key(load(certdir / 'app.key'), password=None).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    broken = der[:-100] + bytes([der[-100] ^ 0x10]) + der[-99:]  # inside the CRT values, far from the modulus
    (certdir / 'app.key').write_bytes(b'-----BEGIN RSA PRIVATE KEY-----\n' + base64.encodebytes(broken)
                                      + b'-----END RSA PRIVATE KEY-----\n')
    count = serial_count(vault)
    result = renew()
    assert (result['changed'], result['reason']) == (True, 'invalid'), result['msg']
    assert 'holds no readable unencrypted PEM private key' in result['msg']
    assert result['previous_serial'] == first['serial'] and serial_count(vault) == count + 1
    cert = x509.load_pem_x509_certificate(load(certdir / 'app.crt'))
    key = serialization.load_pem_private_key(load(certdir / 'app.key'), password=None)  # the full check passes
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()
    assert renew()['reason'] == 'not_due'


def test_bundle_include_key_switched_off_never_leaves_the_key_world_readable(renew, certdir, vault):
    bundle = str(certdir / 'full.pem')
    first = renew(bundle_path=bundle, bundle_include_key=True)
    assert first['reason'] == 'missing' and b'PRIVATE KEY-----' in load(bundle)
    assert stat.S_IMODE(os.stat(bundle).st_mode) == 0o600
    count = serial_count(vault)
    off = renew(bundle_path=bundle)
    assert (off['changed'], off['reason']) == (True, 'drift'), off['msg']
    assert 'holds a private key but bundle_include_key=false' in off['msg'] and serial_count(vault) == count + 1
    assert b'PRIVATE KEY' not in load(bundle) and stat.S_IMODE(os.stat(bundle).st_mode) == 0o644
    assert load(bundle).startswith(load(certdir / 'app.crt'))
    on = renew(bundle_path=bundle, bundle_include_key=True)
    assert (on['changed'], on['reason']) == (True, 'drift') and 'lacks the private key' in on['msg']
    assert load(bundle).endswith(load(certdir / 'app.key')) and stat.S_IMODE(os.stat(bundle).st_mode) == 0o600
    assert renew(bundle_path=bundle, bundle_include_key=True)['reason'] == 'not_due'


def test_invalid_cert_file_and_forced(renew, certdir):
    renew()
    (certdir / 'app.crt').write_text('garbage\n')
    assert renew()['reason'] == 'invalid'
    assert renew(force=True)['reason'] == 'forced'


def test_backup_keeps_previous_pair_and_revoke_previous_puts_it_on_the_crl(renew, certdir, vault):
    first = renew()
    os.chmod(str(certdir / 'app.key'), 0o640)  # looser than key_mode (0600): the backup must not keep that
    old = snapshot(certdir)
    result = renew(force=True, backup=True, revoke_previous=True)
    assert (result['changed'], result['reason'], result['revoked_serial']) == (True, 'forced', first['serial'])
    assert set(result['backup_files']) == {'cert', 'key'}
    assert load(result['backup_files']['cert']) == old['app.crt'][3]
    assert load(result['backup_files']['key']) == old['app.key'][3]
    assert stat.S_IMODE(os.stat(result['backup_files']['key']).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(result['backup_files']['cert']).st_mode) == 0o644
    revoked = revoked_serials(vault)
    assert serial_int(first['serial']) in revoked
    assert serial_int(result['serial']) not in revoked
    assert 'revoked previous serial %s' % first['serial'] in result['msg']


def test_issuer_changed(renew, other_mount):
    renew()
    assert renew(mount=other_mount)['reason'] == 'not_due'  # not checked unless asked
    result = renew(mount=other_mount, check_issuer=True)
    assert (result['changed'], result['reason']) == (True, 'issuer_changed')
    assert result['issuer'] == 'CN=secops other CA %s' % other_mount
    assert renew(mount=other_mount, check_issuer=True)['reason'] == 'not_due'


def test_uri_sans_and_role_restrictions(renew, uri_role, certdir):
    result = renew(role=uri_role, common_name='svc.example.test', uri_sans=['spiffe://lab/svc'], ttl='24h', renew_before='1h')
    assert result['reason'] == 'missing' and result['uri_sans'] == ['spiffe://lab/svc']
    assert renew(role=uri_role, common_name='svc.example.test', uri_sans=['spiffe://lab/svc'], ttl='24h',
                 renew_before='1h')['reason'] == 'not_due'
    before = snapshot(certdir)
    refused = renew(role=uri_role, common_name='svc.example.test', uri_sans=['spiffe://elsewhere/svc'], ttl='24h', renew_before='1h')
    assert refused['failed'] and 'Vault rejected the request while issuing a certificate for svc.example.test' in refused['msg']
    assert snapshot(certdir) == before


def test_attributes_are_fixed_without_issuing(renew, certdir, vault):
    renew()
    os.chmod(str(certdir / 'app.key'), 0o644)
    count, inode = serial_count(vault), os.stat(str(certdir / 'app.key')).st_ino
    result = renew(owner='nobody')
    assert (result['changed'], result['reason']) == (True, 'attributes')
    st = os.stat(str(certdir / 'app.key'))
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_ino == inode
    assert os.stat(str(certdir / 'app.crt')).st_uid == st.st_uid == _uid('nobody')
    assert serial_count(vault) == count


def _uid(name):
    import pwd
    return pwd.getpwnam(name).pw_uid


@contextlib.contextmanager
def read_only(directory):
    """Make ``directory`` really read-only, also for root: ``chattr +i``, else a read-only bind mount, else skip."""
    probe = os.path.join(str(directory), '.probe')

    def blocked():
        try:
            with open(probe, 'w'):
                pass
        except OSError:
            return True
        os.unlink(probe)
        return False

    if shutil.which('chattr') and subprocess.run(['chattr', '+i', str(directory)], capture_output=True, check=False).returncode == 0:
        try:
            if blocked():
                yield 'chattr +i'
                return
        finally:
            subprocess.run(['chattr', '-i', str(directory)], check=True)
    mounted = subprocess.run(['mount', '--bind', str(directory), str(directory)], capture_output=True, check=False).returncode == 0
    if mounted:
        try:
            if subprocess.run(['mount', '-o', 'remount,ro,bind', str(directory)], capture_output=True, check=False).returncode == 0 \
                    and blocked():
                yield 'read-only bind mount'
                return
        finally:
            subprocess.run(['umount', str(directory)], check=True)
    pytest.skip('this machine cannot make a directory read-only for root (no chattr +i support, no bind mounts)')


def test_read_only_directory_fails_clearly_and_leaves_files_intact(renew, certdir, vault):
    first = renew()
    before = snapshot(certdir)
    with read_only(certdir):
        count = serial_count(vault)
        not_due = renew()  # the directory lock needs no lock file: a not-due run works in a read-only directory
        result = renew(force=True, backup=True)
        predicted = renew(force=True, check=True)
        during = snapshot(certdir)
    assert (not_due['changed'], not_due['reason'], not_due['serial']) == (False, 'not_due', first['serial'])
    assert result['failed'] and result['reason'] == 'error'
    assert 'cannot write the files of %s: directory %s is not writable' % (first['common_name'], certdir) in result['msg']
    assert result['msg'].endswith('; nothing was issued')
    assert serial_count(vault) == count  # checked before issuing: no certificate to revoke
    assert (predicted['changed'], predicted['reason']) == (True, 'forced')
    assert during == before and snapshot(certdir) == before  # intact, and no temporary, probe or backup file


def test_batch_of_20_check_mode_issues_nothing_then_one_login_issues_all(lab, certdir, vault):
    suffix = uuid.uuid4().hex[:8]
    items = [dict(common_name='b%02d-%s.example.test' % (i, suffix), cert_path=str(certdir / ('%02d.crt' % i)),
                  key_path=str(certdir / ('%02d.key' % i))) for i in range(20)]
    args = dict(role=lab['LAB_PKI_ROLE'], ttl='24h', renew_before='1h', certificates=items)
    count = serial_count(vault)
    started = time.monotonic()
    predicted = run_module(MODULE, args, check=True, diff=True, env=lab)
    no_traceback(predicted)
    assert predicted['changed'] and predicted['reasons'] == {'missing': 20}
    assert predicted['msg'] == 'would renew 20 of 20 certificates (missing: 20)'
    assert len(predicted['diff']) == 20 and all(d['after']['serial'] == '(new)' for d in predicted['diff'])
    assert os.listdir(str(certdir)) == [] and serial_count(vault) == count
    done = run_module(MODULE, args, diff=True, env=lab)
    issued_in = time.monotonic() - started
    assert done['msg'] == 'renewed 20 of 20 certificates (missing: 20)', done['msg']
    # the one result shape (docs/results.md): reasons, a list diff headed by each item, no diff in the results
    assert done['reason'] == 'missing' and done['reasons'] == {'missing': 20}
    assert isinstance(done['diff'], list) and len(done['diff']) == 20
    assert [d['after']['serial'] for d in done['diff']] == [r['serial'] for r in done['results']]
    assert all(i['common_name'] in d['before_header'] for i, d in zip(items, done['diff']))
    assert all('diff' not in r for r in done['results']) and 'common_name' not in done
    assert [r['common_name'] for r in done['results']] == [i['common_name'] for i in items]
    assert len(os.listdir(str(certdir))) == 40 and serial_count(vault) == count + 20
    assert len(set(r['serial'] for r in done['results'])) == 20
    before = snapshot(certdir)
    again = run_module(MODULE, args, env=lab)
    assert (again['changed'], again['reason'], again['msg']) == (False, 'not_due', 'renewed 0 of 20 certificates; 20 not due')
    assert snapshot(certdir) == before and serial_count(vault) == count + 20
    assert issued_in < 60


def test_two_overlapping_runs_issue_once(lab, renew, certdir, vault):
    count = serial_count(vault)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda dummy: renew(), range(2)))
    assert sorted(r['reason'] for r in runs) == ['missing', 'not_due']
    assert serial_count(vault) == count + 1
    assert runs[0]['serial'] == runs[1]['serial']
    cert = x509.load_pem_x509_certificate(load(certdir / 'app.crt'))
    key = serialization.load_pem_private_key(load(certdir / 'app.key'), password=None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()


def test_symlinked_paths_are_refused_before_anything_is_issued(renew, certdir, tmp_path, vault):
    # an application user who can write the directory points the key path at another file (or at nothing)
    victim = tmp_path / 'victim.conf'
    victim.write_text('important\n')
    os.chmod(str(victim), 0o644)
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    count = serial_count(vault)
    for target in (victim, elsewhere / 'planted.key'):
        link = certdir / 'app.key'
        link.symlink_to(target)
        for check in (True, False):
            result = renew(owner='nobody', check=check)
            assert result['failed'], result['msg']
            assert 'key_path: cannot write %s: it is a symbolic link (to %s)' % (link, target) in result['msg']
        link.unlink()
    assert serial_count(vault) == count  # refused before Vault was asked
    assert victim.read_text() == 'important\n' and stat.S_IMODE(os.stat(str(victim)).st_mode) == 0o644
    assert os.stat(str(victim)).st_uid == 0 and os.listdir(str(elsewhere)) == [] and os.listdir(str(certdir)) == []
    # a directory reached through a link that another user owns is refused the same way
    real = tmp_path / 'real'
    real.mkdir()
    (tmp_path / 'via').symlink_to(real)
    os.lchown(str(tmp_path / 'via'), _uid('nobody'), -1)
    result = renew(cert_path=str(tmp_path / 'via' / 'app.crt'), key_path=str(tmp_path / 'via' / 'app.key'))
    assert result['failed'] and 'reached through the symbolic link %s, which belongs to uid %d' % (
        tmp_path / 'via', _uid('nobody')) in result['msg'], result['msg']
    assert os.listdir(str(real)) == [] and serial_count(vault) == count


def test_a_failed_task_with_return_content_shows_no_key(lab, certdir, vault):
    # a failing task prints its whole result, even without register and at -v: no key may be in it
    suffix = uuid.uuid4().hex[:8]
    items = [dict(common_name='ok-%s.example.test' % suffix, cert_path=str(certdir / 'ok.crt'), key_path=str(certdir / 'ok.key')),
             dict(common_name='ko-%s.example.test' % suffix, cert_path=str(certdir / 'ko.crt'), key_path=str(certdir / 'ko.key'),
                  mount='no-such-mount')]
    args = dict(role=lab['LAB_PKI_ROLE'], ttl='24h', renew_before='1h', return_content=True, certificates=items)
    direct = run_module(MODULE, args, env=lab)
    no_traceback(direct)
    assert direct['failed'] and [r['reason'] for r in direct['results']] == ['missing', 'error']
    assert direct['reason'] == 'mixed' and direct['reasons'] == {'missing': 1, 'error': 1}
    assert direct['msg'].startswith('1 of 2 certificates failed: ko-%s.example.test: ' % suffix), direct['msg']
    assert 'PRIVATE KEY' not in direct.stdout and 'BEGIN CERTIFICATE' not in direct.stdout
    assert 'return_content: nothing is returned because the task failed' in direct['msg']
    key = load(certdir / 'ok.key').decode()
    assert key.startswith('-----BEGIN')  # the renewal stands, the key is where it belongs
    plays = [{'name': 'A failing batch without no_log', 'hosts': 'localhost', 'gather_facts': False,
              'module_defaults': {'group/secops.rotation.vault': {'url': lab['VAULT_ADDR'], 'token': lab['VAULT_TOKEN']}},
              'tasks': [{'name': 'Renew and return the content', 'secops.rotation.pki_cert_renew': dict(args, force=True),
                         'ignore_errors': True}]}]
    env = dict((k, v) for k, v in lab.items() if not k.startswith('VAULT_'))
    run = run_playbook(plays, env=env, verbosity=1)
    assert run.rc == 0 and 'return_content: nothing is returned because the task failed' in run.output, run.output[-3000:]
    renewed = load(certdir / 'ok.key').decode()
    assert renewed != key and 'PRIVATE KEY' not in run.output
    for line in renewed.splitlines()[1:-1]:
        assert line not in run.output


# ------------------------------------------------------------------------------------------- bad input
BAD_INPUT = [
    (dict(common_name=None), 'common_name is required'),
    (dict(role=None), 'role is required'),
    (dict(renew_before='soon'), "renew_before: invalid duration 'soon'"),
    (dict(ttl='12h', renew_before='1d'), 'renew_before (1d) must be shorter than ttl (12h), or every run would renew'),
    (dict(renew_at_fraction=1.5), 'renew_at_fraction must be greater than 0 and less than 1'),
    (dict(renew_at_fraction='most'), "renew_at_fraction"),
    (dict(key_mode='0644'), 'key_mode 0644 gives every user of the host access to the private key'),
    (dict(key_mode=600), "key_mode: invalid mode 600: a number is used as it is, as Ansible does, and 600 is 01130, not a "
                         "permission mode (0000-0777); YAML reads an unquoted 600 as a decimal number: quote it: '0600'"),
    (dict(key_mode=440), "key_mode: ambiguous mode 440: a number is used as it is, as Ansible does, which makes 440 the mode "
                         "0670 (what YAML reads from an unquoted 0670), but its digits read like the octal mode 0440; "
                         "quote it: '0440'"),
    (dict(key_mode='0660'), 'key_mode 0660 gives the group write or execute access to the private key'),
    (dict(alt_names=['10.1.2.3']), "alt_names entry '10.1.2.3' is an IP address: put IP addresses in ip_sans"),
    (dict(ip_sans=['300.1.1.1']), "ip_sans entry '300.1.1.1' is not an IP address"),
    (dict(uri_sans=['no-scheme']), "uri_sans entry 'no-scheme' is not a URI"),
    (dict(owner='no-such-user-5x'), "owner 'no-such-user-5x' does not exist on this host"),
    (dict(key_path='{dir}/app.crt'), 'key_path and cert_path are the same file'),
    (dict(cert_path='{dir}/missing/app.crt'), 'directory {dir}/missing does not exist'),
    (dict(bundle_include_key=True), 'bundle_include_key needs bundle_path'),
    (dict(role='no-such-role'), 'Vault rejected the request while issuing a certificate for'),
    (dict(mount='no-such-mount'), 'path not found while issuing a certificate for'),
    (dict(token='s.not-a-real-token-5'), 'the Vault token was rejected'),
    (dict(certificates=[], common_name=None, cert_path=None, key_path=None), 'certificates is empty; give at least one certificate'),
    (dict(certificates=[dict(common_name='x.example.test', cert_path='/tmp/x.crt', key_path='/tmp/x.key')],
          common_name=None, cert_path='{dir}/app.crt'), 'cert_path cannot be set at the top level together with certificates'),
    (dict(certificates=[dict(common_name='x.example.test', cert_path='{dir}/x.crt', key_path='{dir}/x.key'),
                        dict(common_name='y.example.test', cert_path='{dir}/x.crt', key_path='{dir}/y.key')],
          common_name=None, cert_path=None, key_path=None),
     'certificates[0] cert_path and certificates[1] cert_path are the same file'),
]


def _fill(value, directory):
    if isinstance(value, str):
        return value.replace('{dir}', str(directory))
    if isinstance(value, list):
        return [_fill(v, directory) for v in value]
    if isinstance(value, dict):
        return dict((k, _fill(v, directory)) for k, v in value.items())
    return value


@pytest.mark.parametrize('args, message', BAD_INPUT, ids=[m[:40] for dummy, m in BAD_INPUT])
def test_bad_input_fails_clearly_and_changes_nothing(renew, certdir, vault, args, message):
    count = serial_count(vault)
    result = renew(**_fill(args, certdir))
    assert result['failed'] and _fill(message, certdir) in result['msg'], result['msg']
    assert os.listdir(str(certdir)) == []
    assert serial_count(vault) == count
    assert 's.not-a-real-token-5' not in result['msg']


# ------------------------------------------------------------------------------------- secrets in logs
def test_vvvv_output_never_contains_the_private_key(lab, certdir, vault):
    # a token of the lab's policy (not root, and not a word that Ansible's no_log masking would find in paths)
    token = vault.auth.token.create(policies=[lab['LAB_POLICY']], ttl='10m')['auth']['client_token']
    cert, key = str(certdir / 'app.crt'), str(certdir / 'app.key')
    common = dict(role=lab['LAB_PKI_ROLE'], common_name='leak-%s.example.test' % uuid.uuid4().hex[:8], cert_path=cert,
                  key_path=key, ttl='24h', renew_before='1h', backup=True)
    plays = [{'name': 'Renew with everything visible', 'hosts': 'localhost', 'gather_facts': False,
              'module_defaults': {'group/secops.rotation.vault': {'url': lab['VAULT_ADDR'], 'token': token}},
              'tasks': [
                  {'name': 'Issue', 'secops.rotation.pki_cert_renew': common, 'register': 'issued'},
                  {'name': 'Renew, predicted', 'secops.rotation.pki_cert_renew': dict(common, force=True), 'check_mode': True,
                   'register': 'predicted'},
                  {'name': 'Renew with the key returned', 'secops.rotation.pki_cert_renew': dict(common, force=True, return_content=True),
                   'register': 'with_key', 'no_log': True},
                  {'name': 'Not due', 'secops.rotation.pki_cert_renew': common, 'register': 'not_due'},
              ]}]
    env = dict((k, v) for k, v in lab.items() if not k.startswith('VAULT_'))
    run = run_playbook(plays, env=env, verbosity=4, diff=True, register=['issued', 'predicted', 'with_key', 'not_due'])
    assert run.rc == 0, run.output[-3000:]
    results = run.results
    assert results['issued']['reason'] == 'missing' and results['predicted']['reason'] == 'forced'
    assert results['predicted']['changed'] and results['not_due']['reason'] == 'not_due'
    final_key = load(key).decode()
    assert results['with_key']['private_key'] == final_key  # return_content works, the no_log task hid it
    first_key = load(results['with_key']['backup_files']['key']).decode()
    assert first_key != final_key
    for pem in (first_key, final_key):
        body = [line for line in pem.splitlines() if line and not line.startswith('-----')]
        assert len(body) > 5
        for line in body:
            assert line not in run.output
    assert 'PRIVATE KEY-----' not in run.output
    assert results['issued']['serial'] in run.output  # the output is the verbose one: the serial is there, the key is not
    assert '--- before: %s' % cert in run.output and '+    "serial": "%s"' % results['issued']['serial'] in run.output  # --diff
    assert token not in run.output


# --------------------------------------------------------------------------------------- state=revoked
def issue_in_vault(vault, lab, ttl='1h', **extra):
    """A certificate issued directly in Vault (not by the module): its serial, as Vault prints it."""
    common_name = extra.pop('common_name', 'byserial-%s.example.test' % uuid.uuid4().hex[:8])
    data = vault.secrets.pki.generate_certificate(name=lab['LAB_PKI_ROLE'], common_name=common_name,
                                                  extra_params=dict(extra, ttl=ttl), mount_point=lab['LAB_PKI_MOUNT'])['data']
    return data['serial_number'], common_name


def revocation_time(vault, serial, mount='pki'):
    return vault.secrets.pki.read_certificate(serial=serial, mount_point=mount)['data']['revocation_time']


def revoke(lab, check=False, diff=False, **args):
    result = run_module(MODULE, dict(args, state='revoked'), check=check, diff=diff, env=lab)
    no_traceback(result)
    return result


def test_revoked_puts_the_serial_on_the_crl_once(lab, vault):
    serial, common_name = issue_in_vault(vault, lab)
    # the serial as hex without separators, upper case: normalized to Vault's form
    result = revoke(lab, serial=serial.replace(':', '').upper(), diff=True)
    assert not result.get('failed'), result['msg']
    assert (result['changed'], result['reason'], result['revoked'], result['serial']) == (True, 'revoked', True, serial)
    assert result['common_name'] == common_name and result['revocation_time'].endswith('Z')
    assert serial_int(serial) in revoked_serials(vault)
    assert revocation_time(vault, serial) > 0
    assert result['diff']['after'] == {'serial': serial, 'revoked': True}
    again = revoke(lab, serial=serial)
    assert (again['changed'], again['reason'], again['revoked']) == (False, 'already_revoked', True)
    assert again['revocation_time'] == result['revocation_time']


def test_revoked_in_check_mode_revokes_nothing(lab, vault):
    serial, dummy = issue_in_vault(vault, lab)
    result = revoke(lab, serial=serial, check=True)
    assert (result['changed'], result['reason'], result['revocation_time']) == (True, 'revoked', None)
    assert result['msg'].startswith('would revoke %s' % serial)
    assert revocation_time(vault, serial) == 0 and serial_int(serial) not in revoked_serials(vault)


def test_revoked_batch_each_item_with_its_own_serial(lab, vault):
    first, dummy = issue_in_vault(vault, lab)
    second, dummy = issue_in_vault(vault, lab)
    revoke(lab, serial=second)
    result = revoke(lab, certificates=[dict(serial=first), dict(serial=second.replace(':', '-'))])
    assert not result.get('failed'), result['msg']
    assert [(r['serial'], r['reason'], r['changed']) for r in result['results']] == [
        (first, 'revoked', True), (second, 'already_revoked', False)]
    assert result['changed'] and result['reasons'] == {'revoked': 1, 'already_revoked': 1}
    assert {serial_int(first), serial_int(second)} <= revoked_serials(vault)


def test_revoked_expired_certificate_is_reported_not_failed(lab, vault):
    serial, dummy = issue_in_vault(vault, lab, ttl='2s')
    time.sleep(3)
    result = revoke(lab, serial=serial)
    assert (bool(result.get('failed')), result['changed'], result['reason'], result['revoked']) == (False, False, 'expired', False)
    assert 'refusing to add to CRL' in result['msg'] and revocation_time(vault, serial) == 0


@pytest.mark.parametrize('args, message', [
    (dict(serial='de:ad:be:ef:01'),
     'serial de:ad:be:ef:01 is not known to the PKI mount pki (no certificate at pki/cert/de:ad:be:ef:01); nothing was revoked'),
    (dict(serial='de:ad:be:ef:01', mount='no-such-pki'), 'the PKI mount no-such-pki does not exist'),
    (dict(), 'state=revoked needs serial'),
    (dict(serial='not-hex'), "serial 'not-hex' is not a certificate serial"),
    (dict(serial='00'), "serial '00' is not a certificate serial (it is zero)"),
    (dict(serial='de:ad', cert_path='/tmp/x.crt'), 'cert_path cannot be used with state=revoked'),
    (dict(serial='de:ad', key_mode='0640'), 'key_mode cannot be used with state=revoked'),
    (dict(serial='de:ad', backup=True), 'backup cannot be used with state=revoked'),
    (dict(serial='de:ad', ledger_entry='web'), 'state=revoked takes serial, not ledger_entry'),
    (dict(certificates=[dict(serial='de:ad'), dict(serial='DEAD')]), 'certificates name serial de:ad of pki more than once'),
    (dict(serial='de:ad', certificates=[dict(serial='be:ef')]), 'serial cannot be set at the top level together with certificates'),
], ids=lambda value: value if isinstance(value, str) and len(value) < 40 else None)
def test_revoked_bad_input_and_unknown_serial_fail_clearly_and_revoke_nothing(lab, vault, args, message):
    serial, dummy = issue_in_vault(vault, lab)
    result = revoke(lab, **args)
    assert result['failed'] and message in result['msg'], result['msg']
    # other tests of the shared lab may revoke their own certificates meanwhile: look at this one
    assert revocation_time(vault, serial) == 0 and serial_int(serial) not in revoked_serials(vault)


# --------------------------------------------------------------- renewal decided by a serial in Vault (not a file)
def all_serials(vault):
    return set(vault.secrets.pki.list_certificates(mount_point='pki')['data']['keys'])


def issued_for(vault, before, common_name):
    """Serials issued since ``before`` (a set of serials) for ``common_name``: other tests of the shared lab may issue
    their own certificates meanwhile, so counting serials would not tell."""
    found = []
    for new in all_serials(vault) - before:
        data = vault.secrets.pki.read_certificate(serial=new, mount_point='pki')['data']['certificate']
        if common_name in x509.load_pem_x509_certificate(data.encode()).subject.rfc4514_string():
            found.append(new)
    return found


@pytest.fixture
def by_serial(lab):
    """Run the module for a certificate named by serial/ledger_entry: no file unless ``args`` give paths; without
    cert_path the new key is returned (return_content), as the module requires."""
    def run(check=False, diff=False, **args):
        base = dict(role=lab['LAB_PKI_ROLE'], ttl='24h', renew_before='1h')
        if 'cert_path' not in args:
            base['return_content'] = True
        base.update(args)
        result = run_module(MODULE, base, check=check, diff=diff, env=lab)
        no_traceback(result)
        return result
    return run


def test_serial_due_and_not_due_by_renew_before(by_serial, vault, lab):
    serial, common_name = issue_in_vault(vault, lab, ttl='1h')
    before = all_serials(vault)
    kept = by_serial(common_name=common_name, serial=serial, renew_before='30m')
    assert not kept.get('failed'), kept['msg']
    assert (kept['changed'], kept['reason'], kept['serial'], kept['previous_serial']) == (False, 'not_due', serial, serial)
    assert 0.03 < kept['days_remaining'] < 0.05 and kept['not_after'].endswith('Z')
    assert 'serial %s in pki' % serial in kept['msg'] and kept['cert_path'] is None
    predicted = by_serial(common_name=common_name, serial=serial.replace(':', '').upper(), renew_before='2h', check=True)
    assert (predicted['changed'], predicted['reason'], predicted['previous_serial']) == (True, 'expiring', serial)
    assert predicted['msg'].startswith('would renew %s: expiring' % common_name)
    assert issued_for(vault, before, common_name) == []
    assert 'PRIVATE KEY' not in predicted.stdout
    renewed = by_serial(common_name=common_name, serial=serial, renew_before='2h', return_content=True)
    assert (renewed['changed'], renewed['reason'], renewed['previous_serial']) == (True, 'expiring', serial), renewed['msg']
    assert renewed['serial'] != serial and 0.99 < renewed['days_remaining'] <= 1.01
    cert = x509.load_pem_x509_certificate(renewed['certificate'].encode())
    key = serialization.load_pem_private_key(renewed['private_key'].encode(), password=None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()
    assert serial_int(renewed['serial']) == cert.serial_number
    assert [serial_int(s) for s in issued_for(vault, before, common_name)] == [cert.serial_number]
    assert vault.secrets.pki.read_certificate(serial=renewed['serial'], mount_point='pki')['data']['certificate'].strip() \
        == renewed['certificate'].strip()
    # the old certificate stays valid: revoking it is a later task
    assert revocation_time(vault, serial) == 0


def test_serial_check_mode_issues_nothing(by_serial, vault, lab):
    serial, common_name = issue_in_vault(vault, lab, ttl='1h')
    before = all_serials(vault)
    predicted = by_serial(common_name=common_name, serial=serial, renew_before='2h', check=True)
    assert (predicted['changed'], predicted['serial'], predicted['reason']) == (True, None, 'expiring')
    assert issued_for(vault, before, common_name) == []
    assert by_serial(common_name=common_name, serial=serial, renew_before='2h')['changed']
    assert len(issued_for(vault, before, common_name)) == 1  # the check above can see an issue


def test_serial_drift_of_sans_and_written_files(by_serial, vault, lab, certdir):
    serial, common_name = issue_in_vault(vault, lab, ttl='48h', alt_names='a.example.test', ip_sans='127.0.0.1')
    same = by_serial(common_name=common_name, serial=serial, renew_before='1h', alt_names=['a.example.test'],
                     ip_sans=['127.0.0.1'])
    assert same['reason'] == 'not_due', same['msg']
    assert not os.listdir(str(certdir))  # nothing written when not due
    paths = dict(cert_path=str(certdir / 'lb.crt'), key_path=str(certdir / 'lb.key'), chain_path=str(certdir / 'chain.pem'))
    drift = by_serial(common_name=common_name, serial=serial, renew_before='1h', alt_names=['a.example.test', 'b.example.test'],
                      ip_sans=['127.0.0.1'], diff=True, **paths)
    assert (drift['changed'], drift['reason'], drift['previous_serial']) == (True, 'drift', serial), drift['msg']
    assert 'alt_names +b.example.test' in drift['msg'] and drift['diff']['before']['serial'] == serial
    files = snapshot(certdir)
    assert sorted(files) == ['chain.pem', 'lb.crt', 'lb.key'] and files['lb.key'][2] == 0o600
    cert = x509.load_pem_x509_certificate(files['lb.crt'][3])
    key = serialization.load_pem_private_key(files['lb.key'][3], password=None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()
    assert serial_int(drift['serial']) == cert.serial_number and 'b.example.test' in drift['alt_names']
    ip = by_serial(common_name=common_name, serial=drift['serial'], renew_before='1h', alt_names=['a.example.test', 'b.example.test'],
                   ip_sans=['127.0.0.2'], check=True)
    assert (ip['reason'], 'ip_sans +127.0.0.2' in ip['msg'], 'ip_sans -127.0.0.1' in ip['msg']) == ('drift', True, True)


def test_serial_of_a_revoked_certificate_is_renewed(by_serial, vault, lab):
    serial, common_name = issue_in_vault(vault, lab, ttl='48h')
    vault.secrets.pki.revoke_certificate(serial_number=serial, mount_point='pki')
    result = by_serial(common_name=common_name, serial=serial, renew_before='1h', check=True)
    assert (result['changed'], result['reason']) == (True, 'invalid') and 'was revoked at' in result['msg']


def test_serial_unknown_fails_clearly_and_issues_nothing(by_serial, vault, certdir):
    common_name = 'unknown-%s.example.test' % uuid.uuid4().hex[:8]
    before = all_serials(vault)
    result = by_serial(common_name=common_name, serial='DEADBEEF01', force=True, cert_path=str(certdir / 'x.crt'),
                       key_path=str(certdir / 'x.key'))
    assert result['failed'] and result['msg'] == ('serial de:ad:be:ef:01 is not known to the PKI mount pki (no certificate '
                                                  'at pki/cert/de:ad:be:ef:01); nothing was issued'), result['msg']
    assert os.listdir(str(certdir)) == [] and result['serial'] is None
    assert issued_for(vault, before, common_name) == []


@pytest.fixture(scope='module')
def ledger_prefix():
    return 'rotation-pki-it-%s' % uuid.uuid4().hex[:8]


def stage_entry(lab, prefix, name, **args):
    result = run_module('rotation_state', dict(dict(prefix=prefix, action='init', name=name), **args), env=lab)
    assert not result.get('failed'), result['msg']
    return result


def test_ledger_entry_current_serial_decides(by_serial, vault, lab, ledger_prefix):
    serial, common_name = issue_in_vault(vault, lab, ttl='1h')
    name = 'lb/%s' % uuid.uuid4().hex[:6]
    stage_entry(lab, ledger_prefix, name, kind='pki', id=serial, metadata={'serial': serial, 'common_name': common_name})
    kept = by_serial(common_name=common_name, ledger_entry=name, prefix=ledger_prefix, renew_before='30m')
    assert (kept['reason'], kept['serial'], kept['previous_serial'], kept['ledger_entry']) == ('not_due', serial, serial, name), \
        kept['msg']
    due = by_serial(common_name=common_name, ledger_entry=name, prefix=ledger_prefix, renew_before='2h')
    assert (due['changed'], due['reason'], due['previous_serial']) == (True, 'expiring', serial), due['msg']
    assert due['serial'] != serial
    key = serialization.load_pem_private_key(due['private_key'].encode(), password=None)
    cert = x509.load_pem_x509_certificate(due['certificate'].encode())
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()
    assert serial_int(due['serial']) == cert.serial_number


def test_ledger_entry_of_another_kind_or_without_serial_fails_clearly(by_serial, lab, ledger_prefix):
    name = 'db-%s' % uuid.uuid4().hex[:6]
    stage_entry(lab, ledger_prefix, name, kind='db', id='lease-1', secret={'password': 'pw-ledger-test'})
    other = by_serial(common_name='x.example.test', ledger_entry=name, prefix=ledger_prefix)
    assert other['failed'] and 'ledger entry secret/%s/%s is of kind db, not pki' % (ledger_prefix, name) in other['msg']
    assert 'pw-ledger-test' not in other.stdout
    bare = 'pki-%s' % uuid.uuid4().hex[:6]
    stage_entry(lab, ledger_prefix, bare, kind='pki', id='no-serial-here')
    missing = by_serial(common_name='x.example.test', ledger_entry=bare, prefix=ledger_prefix)
    assert missing['failed'] and 'has no current.serial' in missing['msg'], missing['msg']
    absent = by_serial(common_name='x.example.test', ledger_entry='nobody-%s' % uuid.uuid4().hex[:6], prefix=ledger_prefix)
    assert absent['failed'] and 'does not exist; nothing was issued' in absent['msg'], absent['msg']


def test_batch_items_with_their_own_serials(lab, vault, certdir):
    due, due_cn = issue_in_vault(vault, lab, ttl='1h')
    fine, fine_cn = issue_in_vault(vault, lab, ttl='48h')
    args = dict(role=lab['LAB_PKI_ROLE'], ttl='24h', renew_before='2h', return_content=True, certificates=[
        dict(common_name=due_cn, serial=due), dict(common_name=fine_cn, serial=fine)])
    result = run_module(MODULE, args, env=lab)
    no_traceback(result)
    assert [(r['reason'], r['previous_serial']) for r in result['results']] == [('expiring', due), ('not_due', fine)]
    assert result['msg'] == 'renewed 1 of 2 certificates (expiring: 1); 1 not due'


@pytest.mark.parametrize('check', [False, True], ids=['run', 'check'])
def test_serial_without_files_or_return_content_or_with_revoke_previous_is_refused(by_serial, vault, lab, ledger_prefix,
                                                                                   certdir, check):
    """The new key would be thrown away (no cert_path/key_path, no return_content), or the certificate deployed
    elsewhere revoked (revoke_previous): refused before anything is read, issued or revoked - check mode too."""
    serial, common_name = issue_in_vault(vault, lab, ttl='1h')  # due with renew_before 2h
    name = 'lb/%s' % uuid.uuid4().hex[:6]
    stage_entry(lab, ledger_prefix, name, kind='pki', id=serial, metadata={'serial': serial})
    before = all_serials(vault)
    paths = dict(cert_path=str(certdir / 'lb.crt'), key_path=str(certdir / 'lb.key'))
    for args, message in [
            (dict(serial=serial, return_content=False),
             'with serial or ledger_entry, give cert_path and key_path or return_content=true'),
            (dict(ledger_entry=name, prefix=ledger_prefix, return_content=False),
             'with serial or ledger_entry, give cert_path and key_path or return_content=true'),
            (dict(serial=serial, return_content=False, revoke_previous=True),
             'with serial or ledger_entry, give cert_path and key_path or return_content=true'),
            (dict(serial=serial, revoke_previous=True), 'revoke_previous cannot be used with serial or ledger_entry'),
            (dict(ledger_entry=name, prefix=ledger_prefix, revoke_previous=True, **paths),
             'revoke_previous cannot be used with serial or ledger_entry')]:
        result = by_serial(common_name=common_name, renew_before='2h', check=check, **args)
        assert result['failed'] and message in result['msg'], result['msg']
        assert 'invalid input, nothing was changed' in result['msg'] and 'private_key' not in result
    assert issued_for(vault, before, common_name) == [] and os.listdir(str(certdir)) == []
    assert revocation_time(vault, serial) == 0
