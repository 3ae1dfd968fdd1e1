"""The lab really works: every server answers and is configured as the env file says."""

import stat
import subprocess
import uuid
from pathlib import Path

import boto3
import hvac
import psycopg2
import pytest
import requests

from lab import is_same_process, load_env, process_identity, stop_processes


def _vault(env, **kwargs):
    """An hvac client on the lab's plain-HTTP OpenBao."""
    return hvac.Client(url=env['VAULT_ADDR'], **kwargs)


def test_env_file(lab):
    """The env file is private, parses back to the fixture env and can be sourced by a shell."""
    path = Path(lab['LAB_DIR']) / 'env'
    if not path.is_file():
        pytest.skip('external lab without a local env file')
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_env(path) == lab
    sourced = subprocess.run(['bash', '-c', f'source {path} && echo "$PGPASSWORD"'], capture_output=True, text=True, check=True)
    assert sourced.stdout.strip() == lab['PGPASSWORD']


def test_kv_v2_roundtrip(lab):
    """secret/ is KV v2: versions and check-and-set work."""
    client = _vault(lab, token=lab['VAULT_TOKEN'])
    path = f'lab-test/{uuid.uuid4().hex}'
    client.secrets.kv.v2.create_or_update_secret(path=path, secret={'answer': '42'}, mount_point='secret')
    client.secrets.kv.v2.create_or_update_secret(path=path, secret={'answer': '43'}, cas=1, mount_point='secret')
    read = client.secrets.kv.v2.read_secret_version(path=path, mount_point='secret', raise_on_deleted_version=True)
    assert read['data']['data'] == {'answer': '43'}
    assert read['data']['metadata']['version'] == 2


def test_database_dynamic_creds_log_in(lab):
    """database/creds/<role> issues a PostgreSQL login that works."""
    client = _vault(lab, token=lab['VAULT_TOKEN'])
    creds = client.secrets.database.generate_credentials(lab['LAB_DB_ROLE'], mount_point=lab['LAB_DB_MOUNT'])
    assert creds['lease_duration'] == 3600
    with psycopg2.connect(host=lab['PGHOST'], port=lab['PGPORT'], dbname=lab['PGDATABASE'], connect_timeout=5,
                          user=creds['data']['username'], password=creds['data']['password']) as conn:
        with conn.cursor() as cur:
            cur.execute('SELECT current_user')
            assert cur.fetchone()[0] == creds['data']['username']
    conn.close()
    client.sys.revoke_lease(creds['lease_id'])


def test_pki_issues_certificate(lab):
    """pki/issue/<role> issues a certificate signed by the exported lab CA."""
    client = _vault(lab, token=lab['VAULT_TOKEN'])
    issued = client.secrets.pki.generate_certificate(
        lab['LAB_PKI_ROLE'], 'app.example.test', extra_params={'alt_names': 'localhost', 'ip_sans': '127.0.0.1', 'ttl': '24h'},
        mount_point=lab['LAB_PKI_MOUNT'])['data']
    assert issued['certificate'].startswith('-----BEGIN CERTIFICATE-----')
    assert issued['private_key'] and issued['serial_number']
    assert issued['issuing_ca'].strip() == Path(lab['LAB_PKI_CA']).read_text(encoding='utf-8').strip()


def test_approle_and_userpass_logins(lab):
    """AppRole and userpass logins with the env values get the lab policy."""
    approle = _vault(lab)
    approle.auth.approle.login(role_id=lab['LAB_APPROLE_ROLE_ID'], secret_id=lab['LAB_APPROLE_SECRET_ID'])
    assert lab['LAB_POLICY'] in approle.lookup_token()['data']['policies']
    userpass = _vault(lab)
    userpass.auth.userpass.login(username=lab['LAB_USERPASS_USERNAME'], password=lab['LAB_USERPASS_PASSWORD'])
    assert lab['LAB_POLICY'] in userpass.lookup_token()['data']['policies']
    userpass.secrets.kv.v2.create_or_update_secret(path='lab-test/userpass', secret={'ok': 'yes'}, mount_point='secret')


def test_tls_server_verifies_with_its_ca(lab):
    """The TLS server verifies with VAULT_CACERT and not with the system bundle."""
    ca_file = lab['VAULT_CACERT']
    assert requests.get(f"{lab['LAB_VAULT_TLS_ADDR']}/v1/sys/health", verify=ca_file, timeout=5).status_code == 200
    session = requests.Session()
    session.verify = ca_file
    client = hvac.Client(url=lab['LAB_VAULT_TLS_ADDR'], token=lab['VAULT_TOKEN'], verify=ca_file, session=session)
    client.secrets.kv.v2.create_or_update_secret(path='lab-test/tls', secret={'ok': 'yes'}, mount_point='secret')
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{lab['LAB_VAULT_TLS_ADDR']}/v1/sys/health", verify=True, timeout=5)


def test_moto_iam_key_and_sts(lab):
    """A new IAM access key from moto authenticates to STS GetCallerIdentity."""
    common = {'endpoint_url': lab['AWS_ENDPOINT_URL'], 'region_name': lab['AWS_DEFAULT_REGION']}
    iam = boto3.client('iam', aws_access_key_id=lab['AWS_ACCESS_KEY_ID'], aws_secret_access_key=lab['AWS_SECRET_ACCESS_KEY'], **common)
    name = f'lab-{uuid.uuid4().hex[:8]}'
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)['AccessKey']
    sts = boto3.client('sts', aws_access_key_id=key['AccessKeyId'], aws_secret_access_key=key['SecretAccessKey'], **common)
    assert sts.get_caller_identity()['Arn'].endswith(f':user/{name}')


def test_postgres_runs_unprivileged(lab):
    """The postmaster and its backends do not run as root."""
    with psycopg2.connect(host=lab['PGHOST'], port=lab['PGPORT'], user=lab['PGUSER'], password=lab['PGPASSWORD'],
                          dbname=lab['PGDATABASE'], connect_timeout=5) as conn:
        with conn.cursor() as cur:
            cur.execute('SELECT pg_backend_pid()')
            backend = cur.fetchone()[0]
            status = Path(f'/proc/{backend}/status').read_text(encoding='utf-8')
            postmaster = int(next(line for line in status.splitlines() if line.startswith('PPid:')).split()[1])
            for pid in (backend, postmaster):
                uids = next(line for line in Path(f'/proc/{pid}/status').read_text(encoding='utf-8').splitlines()
                            if line.startswith('Uid:')).split()[1:]
                assert '0' not in uids, f'postgres pid {pid} runs as root'
    conn.close()


def test_stop_never_kills_a_reused_pid():
    """stop_processes leaves a pid alone whose start identity differs from the record."""
    with subprocess.Popen(['sleep', '60'], start_new_session=True) as proc:
        rec = process_identity('sleep', proc.pid)
        stop_processes([dict(rec, start=str(int(rec['start']) + 1))], timeout=0.2)  # same pid, other process
        assert proc.poll() is None and is_same_process(rec)
        stop_processes([rec], timeout=5)
        assert proc.wait(timeout=5) is not None
        assert not is_same_process(rec)
