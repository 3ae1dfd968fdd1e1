# -*- coding: utf-8 -*-
# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one AWS session factory of the collection.

Modules take the options of the ``secops.rotation.aws`` doc fragment (:func:`aws_argument_spec`) and build
an :class:`AwsConnection`: one boto3 session per task, one client per service, with botocore's own retry
configuration (standard or adaptive mode) instead of hand-written retry loops, and one place for calls that must
be sent at most once (:meth:`AwsConnection.client_once`: a retry of a call that creates a secret, after a reply that
was lost, would create a second one). Anything not set falls back to
boto3's default chain (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, shared config
and credentials files, instance roles, AWS_REGION/AWS_DEFAULT_REGION, AWS_ENDPOINT_URL[_IAM|_STS]).

The argument spec (:data:`AWS_SPEC`) is the one source of the connection defaults: :class:`AwsConnection` takes them
from it (:func:`_common.with_defaults`), so a partial ``params`` dict (a test, a script) behaves like a module's.
"""

from __future__ import annotations

import contextlib
import re
import traceback

from typing import Any, Iterator, Mapping

from ansible_collections.secops.rotation.plugins.module_utils._common import with_defaults
from ansible_collections.secops.rotation.plugins.module_utils._errors import MissingLibraryError, OperatorError

BOTO3_IMPORT_ERROR = None
try:
    import boto3
    import botocore
    import botocore.config
    import botocore.exceptions
    import botocore.utils
except ImportError:
    BOTO3_IMPORT_ERROR = traceback.format_exc()

USER_AGENT = 'secops.rotation/0.1.0'
# IAM and STS are global services; a region is still needed to sign requests.
DEFAULT_REGION = 'us-east-1'
# botocore retry settings of a client whose calls are sent once (no retry of any kind).
SINGLE_ATTEMPT = {'total_max_attempts': 1, 'mode': 'standard'}


# The connection options (keep in sync with doc_fragments/aws.py); their defaults are written here only.
AWS_SPEC: dict[str, dict[str, Any]] = dict(
    profile=dict(type='str', aliases=['aws_profile']),
    region=dict(type='str', aliases=['aws_region']),
    endpoint_url=dict(type='str', aliases=['aws_endpoint_url']),
    access_key=dict(type='str', aliases=['aws_access_key_id'], no_log=False),
    secret_key=dict(type='str', aliases=['aws_secret_access_key'], no_log=True),
    session_token=dict(type='str', aliases=['aws_session_token'], no_log=True),
    max_attempts=dict(type='int', default=5),
    retry_mode=dict(type='str', default='standard', choices=['standard', 'adaptive']),
    aws_timeout=dict(type='int', default=30),
)


def aws_argument_spec() -> dict[str, dict[str, Any]]:
    """Argument spec of the connection options: a copy of :data:`AWS_SPEC` that a module may merge and change."""
    return dict((name, dict(option)) for name, option in AWS_SPEC.items())


def valid_endpoint_url(url: str) -> bool:
    """Whether botocore takes ``url`` as an endpoint (it raises a bare ValueError otherwise, too late for a clear message)."""
    if not re.match(r'^https?://\S+$', url):
        return False
    if BOTO3_IMPORT_ERROR is not None:  # AwsConnection says what is missing
        return True
    try:
        return bool(botocore.utils.is_valid_endpoint_url(url) or botocore.utils.is_valid_ipv6_endpoint_url(url))
    except ValueError:  # e.g. "Invalid IPv6 URL" from urlsplit
        return False


class AwsClientError(OperatorError):
    """An AWS problem described for a human; the message never holds a secret."""


def describe_aws_error(exc: BaseException, action: str) -> str:
    """Turn a botocore exception into one clear sentence naming what failed."""
    if BOTO3_IMPORT_ERROR is None:
        if isinstance(exc, botocore.exceptions.ClientError):
            error = exc.response.get('Error', {})
            return '%s failed: %s: %s' % (action, error.get('Code', 'Unknown'), error.get('Message', 'no message'))
        if isinstance(exc, botocore.exceptions.NoCredentialsError):
            return ('%s failed: no AWS credentials found; set access_key/secret_key, profile, or the AWS_* environment '
                    'variables' % action)
        if isinstance(exc, botocore.exceptions.PartialCredentialsError):
            return '%s failed: incomplete AWS credentials (%s)' % (action, exc)
        if isinstance(exc, botocore.exceptions.ProfileNotFound):
            return '%s failed: AWS profile %s not found in the shared config/credentials files' % (action, exc.kwargs.get('profile'))
        if isinstance(exc, (botocore.exceptions.ConnectTimeoutError, botocore.exceptions.ReadTimeoutError)):
            return '%s failed: AWS endpoint %s timed out' % (action, exc.kwargs.get('endpoint_url'))
        if isinstance(exc, botocore.exceptions.SSLError):
            return '%s failed: TLS verification failed for AWS endpoint %s' % (action, exc.kwargs.get('endpoint_url'))
        if isinstance(exc, botocore.exceptions.EndpointConnectionError):
            return '%s failed: cannot reach AWS endpoint %s' % (action, exc.kwargs.get('endpoint_url'))
        if isinstance(exc, botocore.exceptions.ParamValidationError):
            return '%s failed: invalid parameters: %s' % (action, exc.kwargs.get('report', exc))
        if isinstance(exc, botocore.exceptions.BotoCoreError):
            return '%s failed: %s' % (action, exc)
    return '%s failed: unexpected %s' % (action, exc.__class__.__name__)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError ('' for anything else)."""
    if BOTO3_IMPORT_ERROR is None and isinstance(exc, botocore.exceptions.ClientError):
        return exc.response.get('Error', {}).get('Code', '')
    return ''


def is_aws_error(exc: BaseException) -> bool:
    """True for the exceptions botocore raises (an AWS answer or a transport problem), False for anything else (a bug)."""
    return BOTO3_IMPORT_ERROR is None and isinstance(exc, (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError))


# Server-side failures: the request may have been carried out before the error (like a timeout).
_SERVER_ERROR_CODES = ('InternalFailure', 'InternalError', 'ServiceFailure', 'ServiceUnavailable', 'RequestTimeout')


def refused(exc: BaseException) -> bool:
    """True when AWS definitely refused the request (a 4xx ClientError): nothing was done.

    False for everything else - a timeout, a dropped connection, a 5xx answer, or any other exception - after which
    the request may or may not have been carried out, and a caller that creates something must look.
    """
    if BOTO3_IMPORT_ERROR is not None or not isinstance(exc, botocore.exceptions.ClientError):
        return False
    status = (exc.response.get('ResponseMetadata') or {}).get('HTTPStatusCode')
    if isinstance(status, int):
        return 400 <= status < 500
    return bool(error_code(exc)) and error_code(exc) not in _SERVER_ERROR_CODES


@contextlib.contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """Run boto3 calls, raising :class:`AwsClientError` with a clear message on any botocore error."""
    try:
        yield
    except AwsClientError:
        raise
    except Exception as exc:  # pylint: disable=broad-except
        if BOTO3_IMPORT_ERROR is None and isinstance(exc, (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)):
            raise AwsClientError(describe_aws_error(exc, action))
        raise


class AwsConnection:
    """One boto3 session for a task, with cached clients per (service, endpoint).

    ``params``: the connection options (:data:`AWS_SPEC`; others are ignored); what is unset takes the spec's default.
    Without boto3 it raises :class:`MissingLibraryError` (a module reports it with ``missing_required_lib``).
    """

    def __init__(self, params: Mapping[str, Any]) -> None:
        if BOTO3_IMPORT_ERROR is not None:
            raise MissingLibraryError('boto3', import_error=BOTO3_IMPORT_ERROR)
        self.params = with_defaults(dict((key, params.get(key)) for key in AWS_SPEC), AWS_SPEC)
        self._validate()
        self._clients = {}
        with aws_errors('creating the AWS session'):
            self.session = boto3.session.Session(
                profile_name=self.params['profile'],
                aws_access_key_id=self.params['access_key'],
                aws_secret_access_key=self.params['secret_key'],
                aws_session_token=self.params['session_token'],
                region_name=self.params['region'],
            )
        self.region = self.session.region_name or DEFAULT_REGION
        timeout = self.params['aws_timeout']
        self.config = botocore.config.Config(
            retries={'total_max_attempts': self.params['max_attempts'], 'mode': self.params['retry_mode']},
            connect_timeout=timeout, read_timeout=timeout, user_agent_extra=USER_AGENT)
        self._single_attempt = botocore.config.Config(retries=dict(SINGLE_ATTEMPT))

    def _validate(self) -> None:
        p = self.params
        if bool(p['access_key']) != bool(p['secret_key']):
            raise AwsClientError('access_key and secret_key must be given together')
        if p['session_token'] and not p['access_key']:
            raise AwsClientError('session_token needs access_key and secret_key')
        if p['profile'] and p['access_key']:
            raise AwsClientError('profile and access_key/secret_key are mutually exclusive')
        if p['max_attempts'] < 1:
            raise AwsClientError('max_attempts must be 1 or more, got %r' % p['max_attempts'])
        if p['aws_timeout'] < 1:
            raise AwsClientError('aws_timeout must be 1 second or more, got %r' % p['aws_timeout'])
        endpoint = p['endpoint_url']
        if endpoint and not valid_endpoint_url(endpoint):
            raise AwsClientError('invalid endpoint_url %r: it must be an http:// or https:// URL with a valid host' % endpoint)

    def client(self, service: str, endpoint_url: str | None = None, config: Any = None) -> Any:
        """A boto3 client for ``service``; ``endpoint_url`` overrides the connection's (e.g. STS elsewhere)."""
        endpoint = endpoint_url or self.params['endpoint_url'] or None
        key = (service, endpoint, id(config))
        if key not in self._clients:
            with aws_errors('creating the %s client' % service):
                self._clients[key] = self.session.client(service, region_name=self.region, endpoint_url=endpoint,
                                                         config=self.config.merge(config) if config else self.config)
        return self._clients[key]

    def client_once(self, service: str, endpoint_url: str | None = None) -> Any:
        """A client of the same session whose calls are sent at most once: botocore retries nothing.

        For calls that create a secret (``CreateAccessKey``): after a timeout whose request reached AWS, a retry would
        create a second key, and the first one would stay with a secret nobody has. The caller handles the uncertain
        failure (see :func:`refused`): look whether it was carried out, and clean up.
        """
        return self.client(service, endpoint_url=endpoint_url, config=self._single_attempt)

    def client_for_keys(self, service: str, access_key: str, secret_key: str, endpoint_url: str | None = None,
                        timeout: int | None = None, single_attempt: bool = False) -> Any:
        """A client of the task's session that signs with other keys (e.g. to verify a freshly created access key).

        Same region, endpoint, user agent and retry configuration as :meth:`client`, and the session's service models
        (no new session per key: a new one loads them from disk again). The given keys win over whatever the session
        signs with (its keys, session token, profile or the environment), for this client only.
        ``timeout``: connect and read timeout of each call in seconds (default: aws_timeout); ``single_attempt``: botocore
        sends each call once (the caller retries with its own backoff). An endpoint URL botocore refuses raises ValueError.
        """
        endpoint = endpoint_url or self.params['endpoint_url'] or None
        overrides = {}
        if single_attempt:
            overrides['retries'] = dict(SINGLE_ATTEMPT)
        if timeout:
            overrides.update(connect_timeout=timeout, read_timeout=timeout)
        config = self.config.merge(botocore.config.Config(**overrides)) if overrides else self.config
        with aws_errors('creating the %s client' % service):
            return self.session.client(service, region_name=self.region, endpoint_url=endpoint, config=config,
                                       aws_access_key_id=access_key, aws_secret_access_key=secret_key, aws_session_token=None)
