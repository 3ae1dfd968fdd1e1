# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Role secops.rotation.pki_certs and playbook secops.rotation.renew_certificates against the lab's OpenBao PKI.

Two hosts of an inventory (``ansible_connection: local``), each with its own certificate directory and its own
``lab.tls_app`` (a real HTTPS server on loopback that presents the files and re-reads them on SIGHUP). The playbook
runs with the real ``ansible-playbook`` by its FQCN at ``-vvvv``; the tests look at the files, at what the endpoints
serve (TLS handshakes) and at Vault (``pki/cert/<serial>``).
"""


import datetime
import json
import os
import re
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import hvac
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lab import tls_app
from lab.collection import REPO
from lab.runner import ansible_env

PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
ROLE = os.path.join(str(REPO), 'roles', 'pki_certs')
# Health checks that wait for the expected serial get a generous budget: on a loaded machine a SIGHUP'd reload can
# take seconds, and a check that matches returns at once. Only checks expected to see the wrong serial (the test
# waits for a mismatch) get a short one.
MATCH_RETRIES = {'pki_certs_health_retries': 30, 'pki_certs_health_delay': 1}
MISMATCH_RETRIES = {'pki_certs_health_retries': 4, 'pki_certs_health_delay': 0.5}
RECAP = re.compile(r'^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', re.M)
HOSTS = ('h1', 'h2')


def _serial(number_or_text):
    """Vault's colon-separated form of a serial given as plain hex (tls_app) or colon hex."""
    text = str(number_or_text).replace(':', '').lower()
    text = ('0' + text) if len(text) % 2 else text
    return ':'.join(text[i:i + 2] for i in range(0, len(text), 2))


@pytest.fixture(scope='module')
def vault(lab):
    return hvac.Client(url=lab['VAULT_ADDR'], token=lab['VAULT_TOKEN'])


class Site:
    """Two hosts h1, h2: certificate files issued with a 1h TTL (due with renew_before 2h), a tls_app each."""

    def __init__(self, lab, vault, folder):
        self.lab, self.vault, self.folder = lab, vault, Path(folder)
        self.uid = uuid.uuid4().hex[:8]
        self.outputs = []
        self.keys = []  # every private key PEM the hosts ever had (for the leak check)
        self.hosts = {}
        for name in HOSTS:
            base = self.folder / name
            tls = base / 'tls'
            tls.mkdir(parents=True)
            self.hosts[name] = {'tls': tls, 'app': base / 'app', 'cn': '%s-%s.example.test' % (name, self.uid),
                                'cert': tls / 'server.crt', 'key': tls / 'server.key', 'chain': tls / 'chain.crt'}
        self.reload_commands = {}

    def issue_initial(self, name, ttl='1h'):
        """A pair as if deployed earlier (expiring with the default ttl): key 0640, certificate and chain 0644."""
        host = self.hosts[name]
        data = self.vault.secrets.pki.generate_certificate(
            name=self.lab['LAB_PKI_ROLE'], common_name=host['cn'], extra_params={'ttl': ttl},
            mount_point=self.lab['LAB_PKI_MOUNT'])['data']
        host['cert'].write_text(data['certificate'].strip() + '\n', encoding='utf-8')
        host['key'].write_text(data['private_key'].strip() + '\n', encoding='utf-8')
        host['chain'].write_text(data['issuing_ca'].strip() + '\n', encoding='utf-8')
        os.chmod(host['key'], 0o640)
        os.chmod(host['cert'], 0o644)
        os.chmod(host['chain'], 0o644)
        self.keys.append(data['private_key'])
        return data['serial_number']

    def start(self):
        for name, host in self.hosts.items():
            info = tls_app.start(host['app'], host['cert'], host['key'])
            host['port'] = info['port']

    def stop(self):
        for host in self.hosts.values():
            tls_app.stop(host['app'])

    def served(self, name):
        return _serial(tls_app.served_serial('127.0.0.1', self.hosts[name]['port']))

    def snapshot(self, name):
        """file name -> (mode, uid, gid, bytes) of every file in the host's certificate directory."""
        tls = self.hosts[name]['tls']
        result = {}
        for entry in sorted(os.listdir(tls)):
            st = os.stat(tls / entry)
            result[entry] = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, (tls / entry).read_bytes())
        return result

    def inventory(self):
        if getattr(self, 'fixed_inventory', None):
            return self.fixed_inventory
        hosts = {}
        for name, host in self.hosts.items():
            reload_command = self.reload_commands.get(name) or [sys.executable, '-m', 'lab.tls_app', 'reload', str(host['app'])]
            hosts[name] = {
                'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
                'pki_certs_certificates': [{
                    'common_name': host['cn'], 'cert_path': str(host['cert']), 'key_path': str(host['key']),
                    'chain_path': str(host['chain']), 'reload_command': reload_command,
                    'endpoint': {'host': '127.0.0.1', 'port': host['port']}}]}
        path = self.folder / 'inventory.yml'
        path.write_text(yaml.safe_dump({'all': {'children': {'tls_hosts': {'hosts': hosts}}}}), encoding='utf-8')
        return path

    def play(self, check=False, limit=None, **extra):
        """``ansible-playbook secops.rotation.renew_certificates -vvvv``; returns (rc, output, recap)."""
        extra_vars = dict(MATCH_RETRIES, rotation_hosts='tls_hosts', pki_certs_role=self.lab['LAB_PKI_ROLE'],
                          pki_certs_mount=self.lab['LAB_PKI_MOUNT'], pki_certs_renew_before='2h')
        extra_vars.update(extra)
        argv = [PLAYBOOK, '-i', str(self.inventory()), 'secops.rotation.renew_certificates', '-e', json.dumps(extra_vars),
                '-vvvv'] + (['--check'] if check else []) + (['--limit', limit] if limit else [])
        env = ansible_env({'VAULT_ADDR': self.lab['VAULT_ADDR'], 'VAULT_TOKEN': self.lab['VAULT_TOKEN'],
                           'PYTHONPATH': str(REPO),  # the reload command runs python -m lab.tls_app
                           'ANSIBLE_PIPELINING': '1'})
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=str(self.folder), timeout=300, check=False)
        output = proc.stdout + proc.stderr
        self.outputs.append(output)
        recap = {host: (int(ok), int(changed), int(failed)) for host, ok, changed, dummy, failed in RECAP.findall(output)}
        return proc.returncode, output, recap

    def revoked(self, serial):
        data = self.vault.secrets.pki.read_certificate(serial, mount_point=self.lab['LAB_PKI_MOUNT'])['data']
        return bool(data.get('revocation_time'))

    def assert_no_private_key(self):
        """No line of any private key's PEM body (the hosts' old and new keys) in any -vvvv output."""
        keys = list(self.keys)
        for host in self.hosts.values():
            keys.append(host['key'].read_text(encoding='utf-8'))
            keys += [p.read_text(encoding='utf-8') for p in host['tls'].glob('server.key.*')]
        assert self.outputs
        for key in keys:
            body = [line for line in key.strip().splitlines() if line and not line.startswith('-----')]
            assert body
            for output in self.outputs:
                for line in body:
                    assert line not in output, 'a line of a private key appears in the ansible-playbook output'


@pytest.fixture
def site(lab, vault, tmp_path):
    made = Site(lab, vault, tmp_path)
    yield made
    made.stop()


def _task_index(output, pattern):
    match = re.search(r'^TASK \[[^\]]*%s' % pattern, output, re.M)
    assert match, 'no task matching %r in the output' % pattern
    return match.start()


# ------------------------------------------------------------------------------------------------ tests

def test_check_mode_predicts_then_expiring_certificates_are_renewed_served_revoked_then_nothing_changes(site):
    old = {name: site.issue_initial(name) for name in HOSTS}
    site.start()
    assert {name: site.served(name) for name in HOSTS} == old

    # check mode: says what would be renewed, changes nothing (files, served serials, revocations)
    before = {name: (site.snapshot(name), site.served(name)) for name in HOSTS}
    rc, output, recap = site.play(check=True, pki_certs_serial=2)
    assert rc == 0, output[-4000:]
    for name in HOSTS:
        assert recap[name][1] > 0, recap  # "changed" = would change
        assert re.search(r'would renew %s: expiring' % re.escape(site.hosts[name]['cn']), output), output[-3000:]
    assert {name: (site.snapshot(name), site.served(name)) for name in HOSTS} == before
    assert not any(site.revoked(serial) for serial in old.values())

    # the renewal, host by host
    rc, output, recap = site.play()
    assert rc == 0, output[-4000:]
    for name in HOSTS:
        assert recap[name][1] > 0 and recap[name][2] == 0, recap
        host = site.hosts[name]
        new = _serial(format(x509.load_pem_x509_certificate(host['cert'].read_bytes()).serial_number, 'x'))
        assert new != old[name]
        assert site.served(name) == new, 'the endpoint does not serve the renewed certificate'
        assert site.revoked(old[name]), 'the previous serial of %s was not revoked' % name
        assert not site.revoked(new)
        files = site.snapshot(name)
        assert sorted(files) == ['chain.crt', 'server.crt', 'server.key'], 'backups or temporary files left: %s' % sorted(files)
        assert files['server.key'][0] == 0o600 and files['server.crt'][0] == 0o644
    # the previous serial is revoked only after the health check, and after the backups are gone (task order)
    assert _task_index(output, 'Health check') < _task_index(output, 'Remove the backups of the previous')
    assert _task_index(output, 'Remove the backups of the previous') < _task_index(output, 'Revoke the previous certificate')
    assert output.count('"reason": "match"') >= 2  # served_certificate saw the expected serial on both hosts

    before = {name: (site.snapshot(name), site.served(name)) for name in HOSTS}
    rc, output, recap = site.play(pki_certs_serial=2)  # both hosts at once: only the idempotence is checked here
    assert rc == 0, output[-4000:]
    assert all(recap[name][1] == 0 and recap[name][2] == 0 for name in HOSTS), recap
    assert {name: (site.snapshot(name), site.served(name)) for name in HOSTS} == before
    site.assert_no_private_key()


@pytest.mark.parametrize('fault', ['ignored_reload', 'failing_reload_command'])
def test_failed_reload_on_the_first_host_restores_it_and_stops_the_rollout(site, fault):
    old = {name: site.issue_initial(name) for name in HOSTS}
    site.start()
    h1 = site.hosts['h1']
    if fault == 'ignored_reload':
        # the service "reloads" without loading the new files: the health check sees the old serial
        (h1['app'] / tls_app.FAULT_IGNORE_RELOAD).write_text('', encoding='utf-8')
    else:
        # the service loads the new files, but the reload command exits 3 (and does so again for the restore)
        site.reload_commands['h1'] = ['sh', '-c', '"$0" -m lab.tls_app reload "$1" && exit 3', sys.executable, str(h1['app'])]
    before = {name: site.snapshot(name) for name in HOSTS}

    # ignored_reload: the health check waits for a serial that never comes, so it gets the short budget; the check
    # after the restore sees the previous serial at once. failing_reload_command: the health check does not run, and
    # the check after the restore waits for the reloaded previous serial (the generous budget).
    budget = MISMATCH_RETRIES if fault == 'ignored_reload' else MATCH_RETRIES
    rc, output, recap = site.play(pki_certs_serial=1, **budget)
    assert rc != 0, output[-4000:]
    assert recap['h1'][2] == 1, recap
    assert recap.get('h2', (0, 0, 0))[1:] == (0, 0), 'h2 was touched after h1 failed: %s' % (recap,)
    assert 'put back' in output and 'The previous certificate was not revoked' in output
    for name in HOSTS:
        assert site.snapshot(name) == before[name], '%s: files (content, mode, owner, names) differ from before' % name
        assert site.served(name) == old[name], '%s does not serve its previous certificate' % name
        assert not site.revoked(old[name]), 'the previous serial of %s was revoked' % name
    if fault == 'failing_reload_command':
        assert 'exit 3' in output or 'non-zero return code' in output
    else:
        assert 'not the expected serial' in output
    site.assert_no_private_key()


def test_a_host_that_was_not_reloaded_after_a_renewal_is_reloaded_without_renewing(site):
    """Files renewed by a run that was killed before the reload: the certificate is not due, but the endpoint serves
    the previous one - the role reloads the service and checks it, and issues nothing."""
    old = {name: site.issue_initial(name, ttl='48h') for name in HOSTS}
    site.start()
    fresh = site.issue_initial('h1', ttl='48h')  # written to the files, not reloaded
    assert site.served('h1') == old['h1']
    files = site.snapshot('h1')

    rc, output, recap = site.play(limit='h1', pki_certs_key_mode='0640')  # the mode the files have
    assert rc == 0, output[-4000:]
    assert site.served('h1') == fresh, 'h1 was not reloaded'
    assert site.snapshot('h1') == files, 'h1 files changed: something was renewed'
    assert recap['h1'][1] > 0, recap
    assert 'served %s: reloaded, now serves %s' % (old['h1'], fresh) in output
    assert not site.revoked(old['h1'])  # the role did not renew it, so it revokes nothing
    site.assert_no_private_key()


def _self_signed(common_name, hours=1):
    """A certificate Vault never issued (another CA, before a migration): (certificate PEM, key PEM, serial)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=hours))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem, _serial(format(cert.serial_number, 'x'))


def test_a_failed_revocation_leaves_no_backup_of_the_previous_key(site):
    """The previous certificate is not Vault's (another CA): renewal, reload and health check pass, the revocation
    fails. The backups - the previous private key - must already be gone."""
    site.issue_initial('h2', ttl='48h')
    h1 = site.hosts['h1']
    cert_pem, key_pem, old = _self_signed(h1['cn'])
    h1['cert'].write_text(cert_pem, encoding='utf-8')
    h1['chain'].write_text(cert_pem, encoding='utf-8')  # its own issuer
    h1['key'].write_text(key_pem, encoding='utf-8')
    os.chmod(h1['key'], 0o600)
    site.keys.append(key_pem)
    site.start()
    assert site.served('h1') == old

    rc, output, recap = site.play(limit='h1')
    assert rc != 0 and recap['h1'][2] == 1, output[-4000:]
    assert 'is not known to the PKI mount' in output and 'nothing was revoked' in output, output[-4000:]
    new = _serial(format(x509.load_pem_x509_certificate(h1['cert'].read_bytes()).serial_number, 'x'))
    assert new != old and site.served('h1') == new  # the renewal stands
    files = sorted(site.snapshot('h1'))
    assert files == ['chain.crt', 'server.crt', 'server.key'], 'backups of the previous key left behind: %s' % files
    site.assert_no_private_key()


def test_a_host_without_certificates_is_left_alone(site):
    """pki_certs_certificates unset (the role's default []) or []: a no-op that says so, not an error."""
    hosts = {'h1': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable},
             'h2': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable, 'pki_certs_certificates': []}}
    site.fixed_inventory = site.folder / 'empty.yml'
    site.fixed_inventory.write_text(yaml.safe_dump({'all': {'children': {'tls_hosts': {'hosts': hosts}}}}), encoding='utf-8')
    rc, output, recap = site.play()
    assert rc == 0, output[-4000:]
    assert all(recap[name][1:] == (0, 0) for name in HOSTS), recap
    for name in HOSTS:
        assert 'no certificates to renew on %s: pki_certs_certificates is empty' % name in output, output[-3000:]
    assert [list(site.hosts[name]['tls'].iterdir()) for name in HOSTS] == [[], []]


def test_the_argument_spec_matches_the_defaults():
    """Every variable of defaults/main.yml is in the argument spec with the same default, and none is required (a
    variable with a default cannot be missing)."""
    with open(os.path.join(ROLE, 'meta', 'argument_specs.yml'), encoding='utf-8') as handle:
        options = yaml.safe_load(handle)['argument_specs']['main']['options']
    with open(os.path.join(ROLE, 'defaults', 'main.yml'), encoding='utf-8') as handle:
        defaults = yaml.safe_load(handle)
    assert sorted(defaults) == sorted(options)
    for name, value in defaults.items():
        assert not options[name].get('required'), '%s has a default but is required' % name
        assert options[name].get('default') == value, '%s: default %r in the spec, %r in defaults/main.yml' % (
            name, options[name].get('default'), value)
