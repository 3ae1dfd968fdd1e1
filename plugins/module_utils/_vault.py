# -*- coding: utf-8 -*-
# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one Vault/OpenBao client factory of the collection.

Every module that talks to Vault takes the options of the ``secops.rotation.vault`` doc fragment
(:func:`vault_argument_spec`), and builds its client with :func:`get_vault_client`. Errors from hvac
and requests are turned into :class:`VaultClientError` whose message names what went wrong (unreachable,
TLS verification, permission denied, path not found, sealed, ...) and never contains a secret.

A host without hvac/requests gets :class:`MissingLibraryError` from :func:`get_vault_connection` (or
:func:`require_hvac`), which ``run_module`` reports with Ansible's ``missing_required_lib`` message.

Private to the collection: the leading underscore means no compatibility promise to other collections.
"""

from __future__ import annotations

import contextlib
import os
import re
import traceback
from typing import Any, Iterator, Mapping
from urllib.parse import urlparse

from ansible_collections.secops.rotation.plugins.module_utils._common import with_defaults
from ansible_collections.secops.rotation.plugins.module_utils._errors import MissingLibraryError, OperatorError

HVAC_IMPORT_ERROR = None
try:
    import hvac
    import hvac.exceptions
    import requests
    import requests.exceptions
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry
except ImportError:
    HVAC_IMPORT_ERROR = traceback.format_exc()

# Option name -> environment variables consulted, in order, when the option is not set.
ENV_FALLBACKS = {
    'url': ('VAULT_ADDR', 'BAO_ADDR'),
    'token': ('VAULT_TOKEN', 'BAO_TOKEN'),
    'namespace': ('VAULT_NAMESPACE', 'BAO_NAMESPACE'),
    'ca_cert': ('VAULT_CACERT', 'BAO_CACERT'),
}

# HTTP statuses worth retrying: Vault's performance-standby consistency (412), rate limit (429),
# and transient server/proxy errors. Only idempotent methods are retried on these; a request that
# never reached the server (connection refused, DNS) is retried for every method. A read that creates
# a secret (GET <mount>/creds/<role>) is not idempotent: send it inside send_once().
RETRY_STATUSES = (412, 429, 500, 502, 503, 504)
RETRY_METHODS = frozenset(['GET', 'HEAD', 'LIST', 'OPTIONS'])
MAX_TIMEOUT, MAX_RETRIES = 3600, 10


def vault_argument_spec() -> dict[str, dict[str, Any]]:
    """Argument spec of the connection options, and the one place their defaults are written (the doc fragment
    doc_fragments/vault.py documents the same, a unit test compares them; :class:`VaultConnectionOptions` takes its
    defaults from here)."""
    return dict(
        url=dict(type='str', aliases=['vault_addr']),
        token=dict(type='str', no_log=True),
        namespace=dict(type='str'),
        ca_cert=dict(type='path', aliases=['cacert']),
        validate_certs=dict(type='bool', default=True),
        timeout=dict(type='int', default=30),
        retries=dict(type='int', default=3),
        auth_method=dict(type='str', default='token', choices=list(AUTH_METHODS)),
        auth_mount_point=dict(type='str'),
        role_id=dict(type='str'),
        secret_id=dict(type='str', no_log=True),
        username=dict(type='str'),
        password=dict(type='str', no_log=True),
    )


class VaultClientError(OperatorError):
    """A Vault problem described for a human; the message never holds a secret.

    ``uncertain``: the request may have reached Vault and been carried out although it failed (a read timeout, a
    connection lost after sending, a 5xx from Vault or a proxy in front of it); a caller whose request creates a
    secret must then look for what it created. ``answered``: an answer came back (a 5xx), so Vault is done with it.
    """

    uncertain = False
    answered = False


class VaultNotFoundError(VaultClientError):
    """Vault answered 404 (raised by :func:`vault_errors`): nothing at the path, or ``missing_mount`` - no secrets
    engine is mounted there (Vault's "no handler for route")."""

    missing_mount = False


def require_hvac() -> None:
    """Raise :class:`MissingLibraryError` (reported with ``missing_required_lib``) when hvac/requests do not import."""
    if HVAC_IMPORT_ERROR is not None:
        raise MissingLibraryError('hvac', import_error=HVAC_IMPORT_ERROR)


def _first_env(names, environ):
    for name in names:
        value = environ.get(name)
        if value:
            return value
    return None


def _short_reason(exc):
    """The useful tail of a requests/urllib3 error, without the object reprs."""
    text = str(exc)
    for pattern in (r'certificate verify failed: ([^(\')"]+)', r'(Connection refused)', r'(Name or service not known)',
                    r'(Temporary failure in name resolution)', r'(No route to host)', r'(Network is unreachable)',
                    r'(timed out)', r'(hostname \S+ doesn\'t match[^(\'"]*)'):
        match = re.search(pattern, text)
        if match:
            return match.group(1).strip().rstrip('.')
    return exc.__class__.__name__


def _path_of(url):
    if not url:
        return None
    path = urlparse(url).path
    return path[len('/v1/'):] if path.startswith('/v1/') else path


def describe_vault_error(exc: BaseException, action: str, url: str | None = None, timeout: int | None = None) -> str:
    """Turn an hvac/requests exception into one clear sentence.

    ``action`` says what we were doing ("reading database/creds/app", "logging in with approle").
    """
    if HVAC_IMPORT_ERROR is None:
        errors = getattr(exc, 'errors', None) or []
        # Vault's own text can be multi-line ("1 error occurred:\n\t* ..."): keep messages on one line.
        detail = ' '.join('; '.join(str(e) for e in errors).split()) if errors else ''
        path = _path_of(getattr(exc, 'url', None))
        where = ' (path %s)' % path if path else ''
        if isinstance(exc, requests.exceptions.SSLError):
            return ('TLS certificate verification failed for Vault at %s while %s: %s. Set ca_cert (or VAULT_CACERT) to the CA '
                    'that signed the server certificate, or validate_certs=false for a lab only' % (url, action, _short_reason(exc)))
        if isinstance(exc, requests.exceptions.Timeout):
            return 'Vault at %s did not answer within %ss while %s' % (url, timeout, action)
        if isinstance(exc, requests.exceptions.ConnectionError):
            return 'cannot reach Vault at %s while %s: %s' % (url, action, _short_reason(exc))
        if isinstance(exc, requests.exceptions.InvalidURL) or isinstance(exc, requests.exceptions.MissingSchema):
            return 'invalid Vault url %r: %s' % (url, exc)
        if isinstance(exc, hvac.exceptions.Forbidden):
            return ('permission denied while %s%s: the token is invalid or expired, or its policies do not allow this path'
                    % (action, where))
        if isinstance(exc, hvac.exceptions.Unauthorized):
            return 'unauthorized while %s%s: %s' % (action, where, detail or 'authentication required')
        if isinstance(exc, hvac.exceptions.InvalidPath):
            return ('path not found while %s%s: check the mount point and the name (is the secrets engine mounted there?)%s'
                    % (action, where, ' - Vault said: ' + detail if detail else ''))
        if isinstance(exc, hvac.exceptions.VaultDown):
            return 'Vault at %s is sealed or unavailable (503) while %s%s' % (url, action, ': ' + detail if detail else '')
        if isinstance(exc, hvac.exceptions.VaultNotInitialized):
            return 'Vault at %s is not initialized (501) while %s' % (url, action)
        if isinstance(exc, hvac.exceptions.RateLimitExceeded):
            return 'Vault rate limit exceeded (429) while %s%s' % (action, where)
        if isinstance(exc, hvac.exceptions.InvalidRequest):
            return 'Vault rejected the request while %s%s: %s' % (action, where, detail or 'invalid request')
        if isinstance(exc, hvac.exceptions.InternalServerError):
            return 'Vault internal error while %s%s: %s' % (action, where, detail or 'no detail')
        if isinstance(exc, hvac.exceptions.UnexpectedError):
            text = ' '.join(re.sub(r'<[^>]*>', ' ', str(exc.args[0] if exc.args and exc.args[0] else '')).split())[:200]
            return 'unexpected answer from Vault (or a proxy in front of it) while %s%s%s' % (action, where, ': ' + text if text else '')
        if isinstance(exc, hvac.exceptions.VaultError):
            return 'Vault error while %s%s: %s' % (action, where, detail or exc.__class__.__name__)
        if isinstance(exc, requests.exceptions.RequestException):
            return 'request to Vault at %s failed while %s: %s' % (url, action, _short_reason(exc))
    return 'unexpected %s while %s' % (exc.__class__.__name__, action)


class VaultConnectionOptions:
    """Connection options after environment fallbacks and validation; an option left unset (``None``) takes the
    default of :func:`vault_argument_spec`."""

    def __init__(self, params: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        spec = vault_argument_spec()
        values = with_defaults(dict((key, params.get(key)) for key in spec), spec)
        for key, names in ENV_FALLBACKS.items():
            if not values.get(key):
                values[key] = _first_env(names, environ)
        self.url = (values['url'] or '').rstrip('/')
        self.token = values['token']
        self.namespace = values['namespace']
        self.ca_cert = values['ca_cert']
        self.validate_certs = bool(values['validate_certs'])
        self.timeout = values['timeout']
        self.retries = values['retries']
        self.auth_method = values['auth_method']
        self.auth_mount_point = values['auth_mount_point']
        self.role_id = values['role_id']
        self.secret_id = values['secret_id']
        self.username = values['username']
        self.password = values['password']
        self.validate()

    def validate(self) -> None:
        if not self.url:
            raise VaultClientError('no Vault address: set the url option or VAULT_ADDR (BAO_ADDR for OpenBao)')
        if not re.match(r'^https?://[^/\s]+', self.url):
            raise VaultClientError('invalid Vault url %r: it must start with http:// or https:// followed by a host' % self.url)
        if not isinstance(self.timeout, int) or self.timeout <= 0:
            raise VaultClientError('timeout must be a positive number of seconds, got %r' % (self.timeout,))
        if self.timeout > MAX_TIMEOUT:  # a socket timeout beyond the platform's time_t would be an OverflowError
            raise VaultClientError('timeout must be at most %d seconds, got %r' % (MAX_TIMEOUT, self.timeout))
        if not isinstance(self.retries, int) or self.retries < 0:
            raise VaultClientError('retries must be 0 or more, got %r' % (self.retries,))
        if self.retries > MAX_RETRIES:
            raise VaultClientError('retries must be at most %d, got %r' % (MAX_RETRIES, self.retries))
        if self.auth_method not in AUTH_METHODS:
            raise VaultClientError('unknown auth_method %r; use one of %s' % (self.auth_method, ', '.join(AUTH_METHODS)))
        AUTH_METHODS[self.auth_method].check(self)
        if self.validate_certs and self.ca_cert and not os.path.isfile(self.ca_cert):
            raise VaultClientError('ca_cert %s does not exist or is not a file' % self.ca_cert)

    @property
    def verify(self) -> bool | str:
        """The ``verify`` argument for requests."""
        if not self.validate_certs:
            return False
        return self.ca_cert or True


class TokenAuth:
    """Use a token as it is; checked once with lookup-self so a bad token fails early and clearly."""

    name = 'token'

    @staticmethod
    def check(opts: VaultConnectionOptions) -> None:
        if not opts.token:
            raise VaultClientError('auth_method=token needs a token: set the token option or VAULT_TOKEN (BAO_TOKEN for OpenBao)')

    @staticmethod
    def login(client: Any, opts: VaultConnectionOptions) -> None:
        client.token = opts.token
        try:
            client.auth.token.lookup_self()
        except hvac.exceptions.Forbidden:
            raise VaultClientError('the Vault token was rejected (permission denied on auth/token/lookup-self): '
                                   'it is invalid, expired or revoked')


class AppRoleAuth:
    """AppRole login with role_id and (unless the role does not bind one) secret_id."""

    name = 'approle'

    @staticmethod
    def check(opts: VaultConnectionOptions) -> None:
        if not opts.role_id:
            raise VaultClientError('auth_method=approle needs role_id')

    @staticmethod
    def login(client: Any, opts: VaultConnectionOptions) -> None:
        client.auth.approle.login(role_id=opts.role_id, secret_id=opts.secret_id, mount_point=opts.auth_mount_point or 'approle')


class UserpassAuth:
    """Userpass login with username and password."""

    name = 'userpass'

    @staticmethod
    def check(opts: VaultConnectionOptions) -> None:
        missing = [key for key in ('username', 'password') if not getattr(opts, key)]
        if missing:
            raise VaultClientError('auth_method=userpass needs %s' % ' and '.join(missing))

    @staticmethod
    def login(client: Any, opts: VaultConnectionOptions) -> None:
        client.auth.userpass.login(username=opts.username, password=opts.password, mount_point=opts.auth_mount_point or 'userpass')


AUTH_METHODS = dict((cls.name, cls) for cls in (TokenAuth, AppRoleAuth, UserpassAuth))


def _session(opts):
    session = requests.Session()
    # hvac hands its own ``verify`` to requests per call, but requests prefers a session's truthy ``verify``
    # over it; set it on the session too so a CA file (or validate_certs=false) always takes effect.
    session.verify = opts.verify
    retries = opts.retries
    retry = Retry(total=retries, connect=retries, read=retries, status=retries, backoff_factor=0.3,
                  status_forcelist=RETRY_STATUSES, allowed_methods=RETRY_METHODS, raise_on_status=False)
    adapter = HTTPAdapter(max_retries=retry)
    session.mount('http://', adapter)
    session.mount('https://', adapter)
    return session


def request_outcome(exc: BaseException) -> tuple[bool, bool]:
    """``(uncertain, answered)`` of a failed request (see :class:`VaultClientError`).

    Certain (nothing was done): refused before anything was sent, or an answer saying so (4xx, 501 not initialized).
    """
    if HVAC_IMPORT_ERROR is not None:
        return False, False
    if isinstance(exc, (hvac.exceptions.InternalServerError, hvac.exceptions.BadGateway, hvac.exceptions.VaultDown,
                        hvac.exceptions.UnexpectedError)):
        return True, True
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.SSLError, requests.exceptions.InvalidURL,
                        requests.exceptions.MissingSchema)):
        return False, False
    if isinstance(exc, requests.exceptions.Timeout):
        return True, False
    if isinstance(exc, requests.exceptions.ConnectionError):
        # Refused, unknown host, no route: nothing was sent. Anything else (reset, closed without an answer) was sent.
        reason = _short_reason(exc)
        return reason not in ('Connection refused', 'Name or service not known', 'Temporary failure in name resolution',
                              'No route to host', 'Network is unreachable'), False
    return False, False


@contextlib.contextmanager
def send_once(client: Any) -> Iterator[None]:
    """Within this block, a request of ``client`` that may have reached Vault is never sent again.

    The one place for calls that create a secret (``GET <mount>/creds/<role>`` is a read for HTTP, so the session
    would retry it on a read timeout or a 5xx: every retry would create another database user, of which only the
    last is returned). Inside, every method is treated like a write: only failures before anything was sent
    (connection refused, DNS) are retried. After an uncertain failure (:attr:`VaultClientError.uncertain`) the caller
    looks for what the request created and cleans it up, or fails naming it.
    """
    session = getattr(getattr(client, 'adapter', None), 'session', None)
    saved = []
    for adapter in (getattr(session, 'adapters', None) or {}).values():
        retry = getattr(adapter, 'max_retries', None)
        if retry is not None and hasattr(retry, 'new') and all(adapter is not done for done, dummy in saved):
            saved.append((adapter, retry))
    try:
        for adapter, retry in saved:
            # read=False: a read error (timeout, connection lost after sending) is raised, not retried; status=0: a 5xx
            # is returned as it is. Connection failures (nothing sent) keep their retries.
            adapter.max_retries = retry.new(read=False, status=0, other=0, status_forcelist=frozenset(),
                                            respect_retry_after_header=False)
        yield
    finally:
        for adapter, retry in saved:
            adapter.max_retries = retry


@contextlib.contextmanager
def vault_errors(action: str, opts: VaultConnectionOptions | None = None) -> Iterator[None]:
    """Run Vault calls, raising :class:`VaultClientError` with a clear message on any hvac/requests error."""
    try:
        yield
    except VaultClientError:
        raise
    except Exception as exc:  # pylint: disable=broad-except
        if HVAC_IMPORT_ERROR is None and isinstance(exc, (hvac.exceptions.VaultError, requests.exceptions.RequestException)):
            not_found = isinstance(exc, hvac.exceptions.InvalidPath)
            error = (VaultNotFoundError if not_found else VaultClientError)(describe_vault_error(
                exc, action, url=getattr(opts, 'url', None), timeout=getattr(opts, 'timeout', None)))
            error.uncertain, error.answered = request_outcome(exc)
            if not_found:
                error.missing_mount = 'no handler for route' in ' '.join(str(e) for e in (getattr(exc, 'errors', None) or []))
            raise error
        raise


def get_vault_connection(params: Mapping[str, Any],
                         environ: Mapping[str, str] | None = None) -> tuple[Any, VaultConnectionOptions]:
    """Return ``(client, opts)``: an authenticated ``hvac.Client`` and the resolved connection options.

    Raises :class:`VaultClientError` with a clear message on bad options or when login fails, and
    :class:`MissingLibraryError` when hvac/requests are not installed.
    """
    require_hvac()
    opts = VaultConnectionOptions(params, environ)
    # Pass everything explicitly: hvac would otherwise read VAULT_* and ~/.vault-token by itself.
    client = hvac.Client(url=opts.url, token='', verify=opts.verify, timeout=opts.timeout,
                         namespace=opts.namespace, session=_session(opts))
    with vault_errors('logging in with auth_method=%s' % opts.auth_method, opts):
        AUTH_METHODS[opts.auth_method].login(client, opts)
    return client, opts


def get_vault_client(params: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Any:
    """Return an authenticated ``hvac.Client`` for the module params (connection options + env fallbacks)."""
    return get_vault_connection(params, environ)[0]


class KvConflictError(VaultClientError):
    """A KV v2 check-and-set write found the secret at another version than the one read."""


class KvV2:
    """KV version 2 reads, lists and check-and-set writes: the one place the collection talks to KV v2.

    ``option`` names the module option that chose the mount and ``purpose`` what needs it, for messages such as
    ``kv_mount secret is a kv mount of version 1, but the ledger needs a KV version 2 mount``; ``label`` names
    what is stored (``ledger entry``, ``KV v2 secret``) in messages about a path.
    """

    def __init__(self, client: Any, opts: VaultConnectionOptions | None, mount: str, option: str = 'kv_mount',
                 purpose: str = 'this module', label: str = 'KV v2 secret') -> None:
        self.client, self.opts, self.mount = client, opts, mount
        self.option, self.purpose, self.label = option, purpose, label
        self.api = client.secrets.kv.v2

    def where(self, path: str) -> str:
        return '%s %s/%s' % (self.label, self.mount, path)

    def check_mount(self) -> None:
        """Fail clearly when the mount is KV version 1 or not KV at all (best effort: what ``bao kv`` asks first)."""
        try:
            info = self.client.adapter.get('/v1/sys/internal/ui/mounts/%s' % self.mount)
        except Exception:  # pylint: disable=broad-except  # not allowed or not there: the first read will tell
            return
        data = (info.get('data') if isinstance(info, dict) else None) or {}
        kind = data.get('type')
        if not kind:
            return
        version = str((data.get('options') or {}).get('version') or 1)
        if kind not in ('kv', 'generic') or version != '2':
            raise VaultClientError('%s %s is a %s mount%s, but %s needs a KV version 2 mount' % (
                self.option, self.mount, kind, ' of version %s' % version if kind in ('kv', 'generic') else '', self.purpose))

    def _missing_mount(self, exc):
        """Raise if a 404 means the mount itself is missing (not just the secret)."""
        if 'no handler for route' in ' '.join(str(e) for e in (getattr(exc, 'errors', None) or [str(exc)])):
            raise VaultClientError('%s %s does not exist (no secrets engine is mounted there)' % (self.option, self.mount))

    def read(self, path: str) -> tuple[dict[str, Any] | None, int]:
        """``(data, version)``; ``(None, 0)`` for a missing secret, ``(None, n)`` for a deleted latest version."""
        with vault_errors('reading %s' % self.where(path), self.opts):
            try:
                response = self.api.read_secret_version(path=path, mount_point=self.mount, raise_on_deleted_version=False)
            except hvac.exceptions.InvalidPath as exc:
                self._missing_mount(exc)
                return None, 0
        body = (response or {}).get('data') or {}
        return body.get('data'), int((body.get('metadata') or {}).get('version') or 0)

    def metadata(self, path: str) -> dict[str, Any]:
        """The secret's KV metadata (``current_version``, ``versions``, ...); ``{}`` for a missing secret."""
        with vault_errors('reading the metadata of %s' % self.where(path), self.opts):
            try:
                response = self.api.read_secret_metadata(path=path, mount_point=self.mount)
            except hvac.exceptions.InvalidPath as exc:
                self._missing_mount(exc)
                return {}
        return (response.get('data') if isinstance(response, dict) else None) or {}

    def current_version(self, path: str) -> int:
        """The version a check-and-set write must name: 0 for a secret that does not exist yet."""
        meta = self.metadata(path)
        if not meta:
            return 0
        version = meta.get('current_version')
        if not isinstance(version, int):
            raise VaultClientError('reading the metadata of %s gave no current_version: is %s a KV version 2 mount?'
                                   % (self.where(path), self.mount))
        return version

    def write(self, path: str, data: dict[str, Any], cas: int) -> int:
        """Write ``data`` only if the secret is still at version ``cas`` (0: must not exist); return the new version.

        Raises :class:`KvConflictError` when someone else wrote it since.
        """
        with vault_errors('writing %s' % self.where(path), self.opts):
            try:
                response = self.api.create_or_update_secret(path=path, secret=data, cas=cas, mount_point=self.mount)
            except hvac.exceptions.InvalidRequest as exc:
                if 'check-and-set' in ' '.join(str(e) for e in (getattr(exc, 'errors', None) or [str(exc)])):
                    raise KvConflictError('%s changed after it was read at version %d (check-and-set failed)' % (self.where(path), cas))
                raise
        version = ((response if isinstance(response, dict) else {}).get('data') or {}).get('version')
        return version if isinstance(version, int) else cas + 1

    def list(self, path: str) -> list[str]:
        """Keys directly under ``path`` (folders end with ``/``); ``[]`` when there is nothing."""
        with vault_errors('listing %ss under %s/%s' % (self.label, self.mount, path), self.opts):
            try:
                response = self.api.list_secrets(path=path, mount_point=self.mount)
            except hvac.exceptions.InvalidPath as exc:
                self._missing_mount(exc)
                return []
        return ((response or {}).get('data') or {}).get('keys') or []
