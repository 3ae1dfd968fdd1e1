# -*- coding: utf-8 -*-
# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Safe rotation of AWS IAM access keys (the logic of the ``iam_key_rotate`` module).

* **rotated**: when the user's newest Active key is older than ``max_age`` (or there is none, or ``force``),
  make room under the 2-keys-per-user quota without ever deleting an Active key, create a new key (the request
  is sent once; after an uncertain failure the user's keys are listed and a key it created anyway is deleted),
  verify it with STS GetCallerIdentity under bounded exponential backoff (IAM is eventually consistent),
  optionally store it in Vault KV v2 with check-and-set, then - once every user of the task has its new key -
  leave the old key ``active``, make it ``inactive`` or ``deleted``. A new key that fails verification or cannot
  be stored is deleted again. A failed task returns no secret: a new key that is not stored in Vault is then
  deleted again (and its old key restored), a stored one is kept, and each user's ``msg`` says which.
* **deactivated**: deactivate given keys (or all Active keys but the newest), refusing a key last used after
  ``cutover`` (required unless ``force``); the deactivation time is recorded in an IAM user tag per key id.
* **purged**: delete Inactive keys whose recorded deactivation is older than ``grace_period`` and that were
  not used since.

The pure decisions (due-ness, quota pre-flight, purge eligibility, backoff schedule, tag parsing) are module
level functions so unit tests drive them without AWS. The argument spec (:func:`argument_spec`, built from
:data:`ITEM_SPEC` and :data:`TASK_SPEC`) is the one source of the options and their defaults; the module file only
documents them. Private to the collection.
"""

from __future__ import annotations

import datetime
import re
import time
from typing import Any, Callable, Mapping

from ansible_collections.secops.rotation.plugins.module_utils._aws import (
    AwsClientError, AwsConnection, aws_argument_spec, aws_errors, describe_aws_error, error_code, is_aws_error, refused,
    valid_endpoint_url)
from ansible_collections.secops.rotation.plugins.module_utils._common import (
    BatchRunner, MissingLibraryError, OperatorError, RotationError, backoff_delays, batch_argument_spec, describe_failures,
    expand_batch, merge_argument_specs, parse_iso, to_iso, utcnow, with_defaults)
from ansible_collections.secops.rotation.plugins.module_utils._duration import DurationError, format_duration, parse_duration
from ansible_collections.secops.rotation.plugins.module_utils._vault import (
    HVAC_IMPORT_ERROR, KvConflictError, KvV2, VaultConnectionOptions, get_vault_connection, vault_argument_spec)

# IAM user tag that records when this collection deactivated a key: one tag per key id, value UTC ISO 8601.
TAG_PREFIX = 'secops-rotation:deactivated:'
# IAM allows two access keys per user (a hard quota).
KEY_QUOTA = 2
ACCESS_KEY_ID_RE = re.compile(r'[A-Z0-9]{16,128}')  # used with fullmatch
USER_NAME_RE = re.compile(r'[\w+=,.@-]{1,64}', re.ASCII)  # used with fullmatch: IAM allows ASCII only
MOUNT_RE = re.compile(r'[^\s/]+(?:/[^\s/]+)*')  # a Vault mount path: no whitespace, no empty segment
STATES = ('rotated', 'deactivated', 'purged')
OLD_KEY_CHOICES = ('active', 'inactive', 'deleted')
# What state=rotated does with the old key when old_key is not set. Deliberately not the spec's default: old_key is
# refused with state=deactivated/purged (it would do nothing there), which needs "not set" to stay visible as None.
OLD_KEY_UNSET = 'active'
NEW_KEY_PLACEHOLDER = '(new key)'

# Bounded exponential backoff of the verification: first retry after 0.5 s, doubling, at most 8 s apart.
BACKOFF_INITIAL = 0.5
BACKOFF_FACTOR = 2.0
BACKOFF_CAP = 8.0
# IAM propagates in seconds; a longer verify_timeout is a typo (and would only delay the rollback of a bad key).
MAX_VERIFY_TIMEOUT = 3600

# Times the module accepts (now, cutover, deactivation tags, IAM's dates): far enough from datetime's limits (years 1
# and 9999) that adding or subtracting any duration (at most 100 years) cannot overflow.
TIME_MIN = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
TIME_MAX = datetime.datetime(9000, 1, 1, tzinfo=datetime.timezone.utc)  # exclusive
TIME_RANGE = 'between 1970-01-01T00:00:00Z and 8999-12-31T23:59:59Z'
TIME_HINT = 'use ISO 8601 like 2026-11-26T10:00:00Z'

# The options one user of a batch can override (``users[]``); each also is a top-level option with its default.
ITEM_SPEC: dict[str, dict[str, Any]] = dict(
    user_name=dict(type='str', aliases=['iam_user']),
    max_age=dict(type='raw', default='90d'),
    force=dict(type='bool', default=False),
    old_key=dict(type='str', choices=list(OLD_KEY_CHOICES), no_log=False),  # no default: see OLD_KEY_UNSET
    key_ids=dict(type='list', elements='str', no_log=False),
    cutover=dict(type='str'),
    grace_period=dict(type='raw', default='24h'),
    store_path=dict(type='str'),
)
# The options of the task as a whole.
TASK_SPEC: dict[str, dict[str, Any]] = dict(
    state=dict(type='str', default='rotated', choices=list(STATES)),
    verify=dict(type='bool', default=True),
    verify_timeout=dict(type='raw', default='60s'),
    sts_endpoint_url=dict(type='str'),
    store_mount=dict(type='str', default='secret'),
    return_secret=dict(type='bool', default=True, no_log=False),
    now=dict(type='str'),
)
ITEM_KEYS = tuple(ITEM_SPEC)
# AnsibleModule options of the module (the spec cannot say these).
MUTUALLY_EXCLUSIVE = [('user_name', 'users')]
REQUIRED_ONE_OF = [('user_name', 'users')]

# Options that make sense only with some states (name -> states).
STATE_ONLY = {
    'old_key': ('rotated',),
    'store_path': ('rotated',),
    'cutover': ('deactivated',),
    'key_ids': ('deactivated', 'purged'),
}


# A key as the rotator keeps it: id, status, created, last_used, deactivated_at (times are aware UTC datetimes).
Key = dict[str, Any]


def argument_spec() -> dict[str, dict[str, Any]]:
    """The module's argument spec: :data:`ITEM_SPEC` (top level and in ``users``), :data:`TASK_SPEC`, AWS and Vault."""
    own = batch_argument_spec(ITEM_SPEC, 'users', required='user_name')
    own.update((name, dict(option)) for name, option in TASK_SPEC.items())
    return merge_argument_specs(own, aws_argument_spec(), vault_argument_spec())


# --------------------------------------------------------------------------------------------------------
# Pure helpers (unit tested)
# --------------------------------------------------------------------------------------------------------

def verify_delays(timeout: float) -> list[float]:
    """The pauses between verification attempts: exponential, capped, adding up to exactly ``timeout``.

    An attempt is made at 0 and after each pause, so there are ``len(delays) + 1`` attempts at most.
    """
    return backoff_delays(BACKOFF_INITIAL, BACKOFF_CAP, BACKOFF_FACTOR, total=timeout)


def tag_key(key_id: str) -> str:
    """The user tag key that records the deactivation time of ``key_id``."""
    return TAG_PREFIX + key_id


def parse_time(value: Any, name: str, hint: str = TIME_HINT) -> datetime.datetime:
    """``value`` (ISO 8601 text or a datetime) as an aware UTC datetime within :data:`TIME_MIN` .. :data:`TIME_MAX`.

    Raises :class:`RotationError` naming ``name`` for anything else: unreadable text, an offset that moves the time
    past year 1 or 9999 (``0001-01-01T00:00:00+01:00``), or a time outside the range.
    """
    try:
        moment = parse_iso(value)
    except OverflowError:
        moment = None
    except (TypeError, ValueError) as exc:
        if not str(exc).endswith(': out of range'):  # parse_iso's word for an offset that leaves the calendar
            raise RotationError('%s: invalid time %r; %s' % (name, value, hint))
        moment = None
    if moment is None or not TIME_MIN <= moment < TIME_MAX:
        raise RotationError('%s: time %r is out of range: it must be %s' % (name, value if isinstance(value, str) else to_iso(moment), TIME_RANGE))
    return moment


def parse_tags(tags: list[dict[str, str]] | None) -> tuple[dict[str, datetime.datetime], list[str]]:
    """``(recorded, invalid)`` from a user's tags: ``{key_id: datetime}`` and the key ids whose value is unreadable.

    ``tags`` is IAM's list of ``{'Key', 'Value'}``; tags of other tools are ignored. A value that is not an ISO 8601
    time within the supported range (a tag edited by hand) is invalid.
    """
    recorded, invalid = {}, []
    for tag in tags or []:
        key = tag.get('Key', '')
        if not key.startswith(TAG_PREFIX):
            continue
        key_id = key[len(TAG_PREFIX):]
        try:
            recorded[key_id] = parse_time(tag.get('Value', ''), key)
        except RotationError:
            invalid.append(key_id)
    return recorded, invalid


def parse_time_option(value: Any, name: str, now: datetime.datetime) -> datetime.datetime | None:
    """A point in time given as ISO 8601 (``2026-11-26T10:00:00Z``) or as a duration before ``now`` (``2h``).

    The result is within :data:`TIME_MIN` .. :data:`TIME_MAX`; anything else raises :class:`RotationError` naming ``name``.
    """
    if value is None:
        return None
    hint = 'use ISO 8601 like 2026-11-26T10:00:00Z, or a duration before now like 2h'
    if isinstance(value, datetime.datetime):
        return parse_time(value, name, hint)
    text = str(value).strip()
    if re.match(r'^\d{4}-\d{2}-\d{2}', text):
        return parse_time(text, name, hint)
    try:
        seconds = parse_duration(text, name=name, allow_zero=True)
    except DurationError:
        raise RotationError('%s: invalid time %r; %s' % (name, value, hint))
    moment = now - datetime.timedelta(seconds=seconds)  # durations are at most 100 years, now is within range: no overflow
    if moment < TIME_MIN:
        raise RotationError('%s: %s before now (%s) is out of range: it must be %s' % (name, value, to_iso(now), TIME_RANGE))
    return moment


def _seconds(moment: datetime.datetime | None) -> datetime.datetime | None:
    """``moment`` to the second: IAM's last-used times have sub-second parts, the tags do not."""
    return moment.replace(microsecond=0) if moment is not None else None


def used_after(key: Key, moment: datetime.datetime | None) -> bool:
    """True when ``key`` was last used after ``moment`` (compared to the second)."""
    return key.get('last_used') is not None and moment is not None and _seconds(key['last_used']) > _seconds(moment)


def newest_active(keys: list[Key]) -> Key | None:
    """The newest Active key of a list of key dicts (``None`` without one)."""
    active = [key for key in keys if key['status'] == 'Active']
    return max(active, key=lambda key: key['created']) if active else None


def rotation_due(keys: list[Key], now: datetime.datetime, max_age: float, force: bool = False) -> tuple[bool, str, Key | None]:
    """``(due, reason, newest)``: reason is ``missing``, ``forced``, ``age`` or ``not_due``."""
    newest = newest_active(keys)
    if newest is None:
        return True, 'missing', None
    if force:
        return True, 'forced', newest
    if (now - newest['created']).total_seconds() >= max_age:
        return True, 'age', newest
    return False, 'not_due', newest


def purge_check(key: Key, now: datetime.datetime, grace: float) -> tuple[bool, str, datetime.datetime | None]:
    """Can the Inactive ``key`` be deleted? ``(ok, why, purge_after)``.

    Only if its deactivation was recorded, is older than ``grace`` seconds and the key was not used since.
    """
    if key['status'] != 'Inactive':
        return False, 'it is Active', None
    deactivated = key.get('deactivated_at')
    if deactivated is None:
        return False, 'its deactivation time is not recorded (no %s tag)' % tag_key(key['id']), None
    purge_after = deactivated + datetime.timedelta(seconds=grace)
    if used_after(key, deactivated):
        return False, ('it was used at %s, after its deactivation at %s' % (to_iso(key['last_used']), to_iso(deactivated))), None
    if now < purge_after:
        return False, ('it was deactivated at %s and the grace period of %s ends at %s'
                       % (to_iso(deactivated), format_duration(grace), to_iso(purge_after))), purge_after
    return True, 'inactive since %s, unused since' % to_iso(deactivated), purge_after


def plan_room(keys: list[Key], now: datetime.datetime, grace: float, quota: int = KEY_QUOTA) -> list[Key]:
    """Keys to delete so that one more key fits under the quota, oldest deactivation first.

    Never an Active key. Raises :class:`RotationError` naming every key and why it cannot go.
    """
    needed = len(keys) - quota + 1
    if needed <= 0:
        return []
    deletable, blocked = [], []
    for key in sorted(keys, key=lambda k: (k.get('deactivated_at') or now, k['created'])):
        ok, why, dummy = purge_check(key, now, grace)
        if ok:
            deletable.append(key)
        else:
            blocked.append('%s (%s): %s' % (key['id'], key['status'], why))
    if len(deletable) >= needed:
        return deletable[:needed]
    actives = [key for key in keys if key['status'] == 'Active']
    hint = ''
    if len(actives) >= quota:
        hint = ('; an Active key is never deleted to make room: deactivate the one nothing uses any more '
                '(state=deactivated) and purge it after the grace period (state=purged)')
    raise RotationError('cannot make room for a new access key: IAM allows %d keys per user and none of them may be removed: %s%s'
                        % (quota, '; '.join(blocked), hint))


def key_view(key: Key) -> dict[str, Any]:
    """A key as returned to the user (no secret)."""
    return dict(access_key_id=key['id'], status=key['status'], created_at=to_iso(key.get('created')),
                last_used_at=to_iso(key.get('last_used')), deactivated_at=to_iso(key.get('deactivated_at')))


def diff_view(user_name: str, keys: list[Key]) -> dict[str, Any]:
    """What diff mode shows for a user: key ids, statuses and recorded deactivation times."""
    return dict(user_name=user_name, keys=[dict(access_key_id=key['id'], status=key['status'],
                                                deactivated_at=to_iso(key.get('deactivated_at'))) for key in keys])


# --------------------------------------------------------------------------------------------------------
# The rotator
# --------------------------------------------------------------------------------------------------------

class IamKeyRotator:
    """Drive one task: validate every item, then handle each user with the same boto3 session.

    ``params`` are the module's options (what is unset takes the spec's default); ``warn`` (a callable taking a string;
    default: dropped) receives every warning (``module.warn`` in a module; a test passes ``list.append``); ``clock``
    (the current UTC time, default :func:`utcnow`) is the one time seam: a test that needs "100 days later" in a real run
    passes a clock, since the ``now`` option is for check mode only. ``aws`` (an :class:`AwsConnection`), ``vault`` (a
    ``(client, opts)`` pair), ``sleep`` and ``monotonic`` (the verification's backoff) can be injected by tests.
    """

    def __init__(self, params: Mapping[str, Any], check_mode: bool = False, diff: bool = False,
                 warn: Callable[[str], None] | None = None, clock: Callable[[], datetime.datetime] | None = None, *,
                 aws: Any = None, vault: Any = None, sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.params = with_defaults(params, argument_spec())
        self.check_mode = check_mode
        self.diff = diff
        self.warnings: list[str] = []
        self.warn = warn or self.warnings.append
        self.clock = clock or utcnow
        self._aws = aws
        self._vault = vault
        self.sleep = sleep
        self.monotonic = monotonic
        self.runner = BatchRunner('users', 'users', single=not self.params.get('users'), name=lambda thing: thing.get('user_name'))
        # Rotations whose new key exists and whose old key step is still to come (see finish()): each is undone if the
        # task fails before its secret can be returned.
        self._open = []

    # ---- input -------------------------------------------------------------------------------------------

    def validate(self) -> list[dict[str, Any]]:
        """Check every option and item before the first API call; returns the expanded items.

        The argument spec (AnsibleModule) checks types and choices; this checks what it cannot: durations, times, names,
        paths and options that do not fit the state. A batch names every bad item (:meth:`BatchRunner.check_all`).
        """
        p = self.params
        self.state = p['state']
        if self.state not in STATES:  # the spec checks it for the module; scripts and tests build the rotator without it
            raise RotationError('state must be one of %s, got %r' % (', '.join(STATES), self.state))
        self.now = self._now()
        self.verify_timeout = parse_duration(p['verify_timeout'], name='verify_timeout')
        if self.verify_timeout > MAX_VERIFY_TIMEOUT:
            raise RotationError('verify_timeout: %s is longer than the maximum of %s (IAM propagates in seconds)'
                                % (p['verify_timeout'], format_duration(MAX_VERIFY_TIMEOUT)))
        sts = p.get('sts_endpoint_url')
        if sts and not valid_endpoint_url(sts):
            raise RotationError('invalid sts_endpoint_url %r: it must be a URL like https://sts.eu-west-1.amazonaws.com' % sts)
        if self.state == 'purged' and p['force']:
            raise RotationError('force is not supported with state=purged; set grace_period to shorten the wait')
        if not p.get('user_name') and not p.get('users'):  # users: [] passes the spec's required_one_of
            raise RotationError('one of user_name or users is required (user_name is the IAM user; '
                                'username is the Vault userpass login)')
        seen = set()
        items = self.runner.check_all(expand_batch(p, 'users', ITEM_KEYS), lambda item, index: self._check_item(item, seen))
        paths = {}
        for item in items:
            if item['store']:
                path = item['store']['path']
                if path in paths:
                    raise RotationError('store_path %s is used for both %s and %s: put {user_name} in store_path so each user '
                                        'gets its own secret' % (path, paths[path], item['user_name']))
                paths[path] = item['user_name']
        if paths and self._vault is None:
            # The Vault options matter only with a store: check them (offline) before anything happens.
            if HVAC_IMPORT_ERROR is not None:
                raise MissingLibraryError('hvac', import_error=HVAC_IMPORT_ERROR, reason='store_path')
            VaultConnectionOptions(self.params)
        return items

    def _now(self) -> datetime.datetime:
        """The time every decision takes: the ``now`` option (check mode only), else the clock."""
        if not self.params.get('now'):
            return parse_time(self.clock(), 'the current time')
        moment = parse_time(self.params['now'], 'now')
        if not self.check_mode:
            raise RotationError('now: only allowed in check mode (a what-if run with --check or check_mode: true); a real run '
                                'always uses the current time, so that no grace period is cut short and no false time is '
                                'recorded in a deactivation tag')
        return moment

    def _check_item(self, item: dict[str, Any], seen: set[str]) -> dict[str, Any]:
        """Check one item (a user) and add what the run needs (``_max_age``, ``_grace``, ``_cutover``, ``store``).

        Messages name the option; a batch's :meth:`BatchRunner.check_all` adds the item (``users[1] (svc-b): ...``),
        a single user's say ``user svc-a: ...`` where the option alone would not say whose it is.
        """
        name = item.get('user_name')
        if not isinstance(name, str) or not USER_NAME_RE.fullmatch(name):
            raise RotationError('user_name: invalid IAM user name %r: 1 to 64 letters, digits and +=,.@_-' % name)
        whose = 'user %s: ' % name if self.runner.single else ''
        if item.get('old_key') not in (None, ) + OLD_KEY_CHOICES:
            raise RotationError('%sold_key must be one of %s, got %r' % (whose, ', '.join(OLD_KEY_CHOICES), item['old_key']))
        if name in seen:
            raise RotationError('user %s is given more than once' % name)
        seen.add(name)
        for option, states in STATE_ONLY.items():
            if item.get(option) not in (None, []) and self.state not in states:
                raise RotationError('%s%s is only used with state=%s, not state=%s'
                                    % (whose, option, ' or state='.join(states), self.state))
        item['_max_age'] = parse_duration(item['max_age'], name='max_age')
        item['_grace'] = parse_duration(item['grace_period'], name='grace_period', allow_zero=True)
        item['old_key'] = item.get('old_key') or OLD_KEY_UNSET
        key_ids = item.get('key_ids') or []
        for key_id in key_ids:
            if not ACCESS_KEY_ID_RE.fullmatch(key_id):
                raise RotationError('%sinvalid access key id %r in key_ids (16 to 128 upper-case letters and digits, like '
                                    'AKIAIOSFODNN7EXAMPLE)' % (whose, key_id))
        item['key_ids'] = list(dict.fromkeys(key_ids))  # without duplicates, in the order given
        item['_cutover'] = self._check_cutover(item.get('cutover'), item['force'], whose)
        item['store'] = self._check_store(item, name, whose)
        if self.state == 'rotated' and not item['store'] and not self.params['return_secret']:
            raise RotationError('%sreturn_secret=false needs store_path: the new secret access key would go nowhere, and a key '
                                'whose secret nobody has blocks the next rotation' % whose)
        return item

    def _check_cutover(self, cutover: str | None, force: bool, whose: str) -> datetime.datetime | None:
        if isinstance(cutover, str) and not cutover.strip():
            cutover = None  # e.g. a template that rendered to nothing
        if self.state == 'deactivated' and cutover is None and not force:
            raise RotationError('%sstate=deactivated needs cutover (the time after which nothing may have used the keys: ISO 8601 '
                                'like 2026-11-26T10:00:00Z, e.g. the moment every application had switched to the new key, or a '
                                'duration before now like 15m; a key used after it is not deactivated), or force=true to '
                                'deactivate without looking at the last use' % whose)
        moment = parse_time_option(cutover, 'cutover', self.now)
        if moment is not None and moment > self.now:
            raise RotationError('cutover: %s is after now (%s): no key can have been used after it yet, so the check would prove '
                                'nothing; give the moment the applications stopped using the old keys'
                                % (to_iso(moment), to_iso(self.now)))
        return moment

    def _check_store(self, item: dict[str, Any], name: str, whose: str) -> dict[str, str] | None:
        if not item.get('store_path'):
            return None
        path = str(item['store_path']).replace('{user_name}', name).strip('/')
        if not path or '//' in path or '{' in path or '}' in path:
            raise RotationError('%sinvalid store_path %r: a KV v2 secret path like aws/{user_name}' % (whose, item['store_path']))
        mount = self.params['store_mount'].strip().strip('/')
        if not MOUNT_RE.fullmatch(mount):
            raise RotationError('invalid store_mount %r: the path of a KV v2 mount like secret or team/kv' % self.params['store_mount'])
        return dict(mount=mount, path=path)

    # ---- connections -------------------------------------------------------------------------------------

    @property
    def aws(self) -> AwsConnection:
        if self._aws is None:
            self._aws = AwsConnection(self.params)
        return self._aws

    @property
    def iam(self) -> Any:
        return self.aws.client('iam')

    def vault(self) -> tuple[Any, VaultConnectionOptions]:
        if self._vault is None:
            self._vault = get_vault_connection(self.params)
        return self._vault

    # ---- reading a user ----------------------------------------------------------------------------------

    def load_user(self, name: str) -> tuple[str, list[Key], list[str]]:
        """``(arn, keys, invalid_tags)``: the user's keys with creation, last use and recorded deactivation."""
        iam = self.iam
        with aws_errors('reading IAM user %s' % name):
            try:
                arn = (iam.get_user(UserName=name).get('User') or {}).get('Arn')
            except Exception as exc:  # pylint: disable=broad-except
                if error_code(exc) == 'NoSuchEntity':
                    raise RotationError('IAM user %s not found' % name)
                raise
        if not isinstance(arn, str) or not arn:
            raise RotationError('IAM returned no ARN for user %s' % name)
        with aws_errors('listing the access keys of %s' % name):
            listed = iam.list_access_keys(UserName=name).get('AccessKeyMetadata') or []
        with aws_errors('reading the tags of %s' % name):
            tags = []
            for page in iam.get_paginator('list_user_tags').paginate(UserName=name):
                tags.extend(page.get('Tags', []))
        recorded, invalid = parse_tags(tags)
        keys = []
        for meta in listed:
            key_id, status = meta.get('AccessKeyId'), meta.get('Status')
            if not isinstance(key_id, str) or status not in ('Active', 'Inactive'):
                raise RotationError('IAM listed an access key of %s without a usable id and status (%r, %r)' % (name, key_id, status))
            key = dict(id=key_id, status=status, created=self._iam_time(meta.get('CreateDate'), 'CreateDate', key_id, name),
                       last_used=None, deactivated_at=recorded.get(key_id) if status == 'Inactive' else None)
            with aws_errors('reading when %s of %s was last used' % (key['id'], name)):
                used = iam.get_access_key_last_used(AccessKeyId=key['id']).get('AccessKeyLastUsed', {})
            if used.get('LastUsedDate'):
                key['last_used'] = self._iam_time(used['LastUsedDate'], 'LastUsedDate', key_id, name)
            keys.append(key)
        keys.sort(key=lambda k: k['created'])
        existing = set(k['id'] for k in keys)
        active = set(k['id'] for k in keys if k['status'] == 'Active')
        # Tags of keys that are gone or Active again say nothing true any more.
        stale = sorted(key_id for key_id in set(recorded) | set(invalid) if key_id not in existing or key_id in active)
        values = dict((tag.get('Key'), tag.get('Value')) for tag in tags)
        for key_id in invalid:
            value = values.get(tag_key(key_id))
            self.warn('user %s: the tag %s holds %r, not a UTC time %s in ISO 8601 (edited by hand?); it is ignored: '
                      'the key counts as deactivated without a record' % (
                          name, tag_key(key_id), value[:64] if isinstance(value, str) else value, TIME_RANGE))
        return arn, keys, stale

    @staticmethod
    def _iam_time(value, field, key_id, name):
        """A time IAM returned (``CreateDate``, ``LastUsedDate``), or a clear error naming the field and the key."""
        try:
            return parse_time(value, field)
        except RotationError:
            raise RotationError('IAM returned an unreadable %s %r for access key %s of %s (not an ISO 8601 time %s)'
                                % (field, value if isinstance(value, str) else str(value), key_id, name, TIME_RANGE))

    def load_item(self, item: dict[str, Any], result: dict[str, Any]) -> tuple[list[Key], list[Key], list[Key], list[str]]:
        """``(keys, before, chosen, stale)`` of the item's user; ``chosen``: its ``key_ids`` (all must exist) as keys.

        ``before`` is a copy of ``keys`` for the diff; ``stale``: key ids whose deactivation tag says nothing true any more.
        """
        name = item['user_name']
        arn, keys, stale = self.load_user(name)
        result['user_arn'] = arn
        by_id = dict((key['id'], key) for key in keys)
        unknown = [key_id for key_id in item['key_ids'] if key_id not in by_id]
        if unknown:
            raise RotationError('user %s has no access key %s (its keys: %s)' % (name, ', '.join(unknown), ', '.join(by_id) or 'none'))
        return keys, [dict(key) for key in keys], [by_id[key_id] for key_id in item['key_ids']], stale

    # ---- writes ------------------------------------------------------------------------------------------

    def _deactivate(self, name, key):
        """Deactivate ``key`` and record the time. The record is written first: if tagging is refused, nothing changed;
        if the deactivation is refused, the record is removed again (the key stays Active)."""
        self._record(name, key)
        if key['status'] == 'Inactive':
            return
        try:
            with aws_errors('deactivating access key %s of %s' % (key['id'], name)):
                self.iam.update_access_key(UserName=name, AccessKeyId=key['id'], Status='Inactive')
        except OperatorError:
            key['deactivated_at'] = None
            self._untag_quietly(name, [key['id']])
            raise
        key['status'] = 'Inactive'

    def _reactivate(self, name, key):
        """Undo :meth:`_deactivate` (a rollback): the key Active again, its record removed."""
        with aws_errors('setting access key %s of %s Active again' % (key['id'], name)):
            self.iam.update_access_key(UserName=name, AccessKeyId=key['id'], Status='Active')
        key.update(status='Active', deactivated_at=None)
        self._untag_quietly(name, [key['id']])

    def _record(self, name, key):
        with aws_errors('recording the deactivation time of %s in a tag of %s' % (key['id'], name)):
            self.iam.tag_user(UserName=name, Tags=[{'Key': tag_key(key['id']), 'Value': to_iso(self.now)}])
        key['deactivated_at'] = self.now

    def _delete(self, name, key_id, untag=True):
        """Delete a key; one that is gone already (e.g. a retried delete whose first reply was lost) counts as deleted."""
        with aws_errors('deleting access key %s of %s' % (key_id, name)):
            try:
                self.iam.delete_access_key(UserName=name, AccessKeyId=key_id)
            except Exception as exc:  # pylint: disable=broad-except
                if error_code(exc) != 'NoSuchEntity':
                    raise
        if untag:
            self._untag(name, [key_id])

    def _untag(self, name, key_ids):
        if key_ids:
            with aws_errors('removing the deactivation tags of %s from %s' % (', '.join(key_ids), name)):
                self.iam.untag_user(UserName=name, TagKeys=[tag_key(key_id) for key_id in key_ids])

    def _untag_quietly(self, name, key_ids):
        """Remove deactivation tags during a rollback; a failure is a warning (state=purged removes stale tags)."""
        try:
            self._untag(name, key_ids)
        except OperatorError as exc:
            self.warn('user %s: %s; state=purged removes the stale tag later' % (name, exc))

    def _create(self, name, known):
        """Create a new access key with one request (no retry); ``(key_id, secret, create_date)``.

        ``known``: the user's key ids before the request. After a failure that is not a definite refusal (a timeout,
        a dropped connection, a 5xx, an unusable reply) the request may have created a key whose secret is lost: the
        keys are listed and such a key is deleted (see :meth:`_look_for_created_key`), and the error says what was found.
        """
        action = 'creating an access key for %s' % name
        try:
            reply = self.aws.client_once('iam').create_access_key(UserName=name)
        except Exception as exc:  # pylint: disable=broad-except
            if refused(exc):
                raise AwsClientError(describe_aws_error(exc, action))
            found = self._look_for_created_key(name, known)
            if not is_aws_error(exc):
                raise  # a bug: it shows (after the clean-up)
            raise RotationError('%s; %s' % (describe_aws_error(exc, action), found))
        access = reply.get('AccessKey') if isinstance(reply, dict) else None
        access = access if isinstance(access, dict) else {}
        key_id, secret = access.get('AccessKeyId'), access.get('SecretAccessKey')
        if not (isinstance(key_id, str) and ACCESS_KEY_ID_RE.fullmatch(key_id)) or not isinstance(secret, str) or not secret:
            raise RotationError('IAM answered CreateAccessKey for %s without a usable access key id and secret; %s'
                                % (name, self._look_for_created_key(name, known)))
        return key_id, secret, access.get('CreateDate')

    def _look_for_created_key(self, name, known):
        """After an uncertain CreateAccessKey: delete the key it created anyway (its secret was lost), or say what to do."""
        try:
            with aws_errors('listing the access keys of %s' % name):
                listed = self.iam.list_access_keys(UserName=name).get('AccessKeyMetadata') or []
        except OperatorError as exc:
            return ('whether it created a key is unknown: %s; if %s has a key besides %s, delete it: this request created it '
                    'and its secret was lost with the reply' % (exc, name, ', '.join(known) if known else 'none'))
        appeared = [meta.get('AccessKeyId') for meta in listed if meta.get('AccessKeyId') not in known]
        if not appeared:
            return 'no key was created'
        if len(appeared) > 1:
            return ('keys %s appeared meanwhile (is another rotation of %s running?); none was deleted: delete the one whose '
                    'secret nobody has' % (', '.join(appeared), name))
        try:
            self._delete(name, appeared[0], untag=False)
        except OperatorError as exc:
            return ('the request created key %s anyway and its secret was lost with the reply; deleting it failed: %s: delete '
                    'it by hand' % (appeared[0], exc))
        return 'the request created key %s anyway; its secret was lost with the reply, so it was deleted again' % appeared[0]

    def verify_key(self, name: str, arn: str, key_id: str, secret: str) -> tuple[int, float]:
        """Call STS GetCallerIdentity with the new key until it answers with the user's ARN or the timeout ends.

        Returns ``(attempts, seconds)``; raises :class:`RotationError` with the last problem otherwise.
        """
        timeout = self.verify_timeout
        per_call = max(1, min(int(self.params['aws_timeout']), int(timeout)))
        try:
            sts = self.aws.client_for_keys('sts', key_id, secret, endpoint_url=self.params.get('sts_endpoint_url'), timeout=per_call,
                                           single_attempt=True)
        except ValueError as exc:  # botocore refuses the endpoint URL: a clear error, so that the new key is rolled back
            raise RotationError('cannot create the STS client to verify the new access key %s of %s: %s' % (key_id, name, exc))
        start = self.monotonic()
        deadline = start + timeout
        delays = verify_delays(timeout)
        attempts, problem = 0, None
        while True:
            attempts += 1
            try:
                identity = sts.get_caller_identity()
                if identity.get('Arn') == arn:
                    return attempts, round(self.monotonic() - start, 3)
                problem = 'STS answered with %s instead of %s' % (identity.get('Arn'), arn)
            except Exception as exc:  # pylint: disable=broad-except
                if not is_aws_error(exc):
                    raise
                problem = describe_aws_error(exc, 'STS GetCallerIdentity')
            remaining = deadline - self.monotonic()
            if not delays or remaining <= 0:
                break
            self.sleep(max(0.0, min(delays.pop(0), remaining)))
        raise RotationError('the new access key %s of %s did not verify within %s (%d attempts): %s'
                            % (key_id, name, format_duration(timeout), attempts, problem))

    def _kv(self, item):
        client, opts = self.vault()
        return KvV2(client, opts, item['store']['mount'], option='store_mount', purpose='store_path')

    def store_version(self, item: dict[str, Any]) -> int:
        """Log in to Vault, check that the store's mount is KV v2 and return the secret's current version (0: none).

        Called before the first change (and in check mode): a Vault problem fails with nothing created, and the
        check-and-set write of :meth:`store` fails if anything else wrote the secret since this read.
        """
        kv = self._kv(item)
        kv.check_mount()
        return kv.current_version(item['store']['path'])

    def store(self, item: dict[str, Any], version: int, name: str, arn: str, new: Key, secret: str,
              previous_id: str | None) -> dict[str, Any]:
        """Write the new key to Vault KV v2 with check-and-set on ``version`` (read by :meth:`store_version`)."""
        mount, path = item['store']['mount'], item['store']['path']
        data = dict(user_name=name, user_arn=arn, access_key_id=new['id'], secret_access_key=secret,
                    previous_access_key_id=previous_id, created_at=to_iso(new['created']))
        kv = self._kv(item)
        try:
            written = kv.write(path, data, version)
        except OperatorError as exc:
            conflict = isinstance(exc, KvConflictError)
            if not conflict and not getattr(exc, 'uncertain', True):
                raise  # Vault answered: nothing was written
            # The write may have reached Vault although its answer was lost (or a retry of it conflicted with itself):
            # look before the caller deletes a key that Vault may be handing out already.
            try:
                current, at = kv.read(path)
            except OperatorError as again:
                raise RotationError('%s; whether the write arrived is unknown: re-reading it failed too: %s; if %s/%s holds %s, '
                                    'that key no longer exists after this failure: rotate again' % (exc, again, mount, path, new['id']))
            if at == version + 1 and isinstance(current, dict) and current.get('access_key_id') == new['id']:
                self.warn('user %s: Vault did not confirm the write of %s/%s (%s), but re-reading it shows version %d '
                          'with the new key %s: it is stored' % (name, mount, path, exc, at, new['id']))
                return dict(mount=mount, path=path, version=at)
            if conflict:
                raise RotationError('KV v2 secret %s/%s changed while the key was rotated (check-and-set on version %d failed): '
                                    'is another rotation running?' % (mount, path, version))
            raise
        return dict(mount=mount, path=path, version=written)

    # ---- states ------------------------------------------------------------------------------------------

    def rotate(self, item: dict[str, Any], result: dict[str, Any]) -> tuple[list[Key], list[Key]]:
        """``state=rotated`` for one user: :meth:`_plan_rotation` (is it due, which keys make room, the steps), then
        :meth:`_predict_rotation` (check mode) or :meth:`_apply_rotation` (delete, create, verify, store; on failure
        :meth:`_roll_back`). The old key is changed later, in :meth:`finish`. Returns the keys ``(before, after)``."""
        plan = self._plan_rotation(item, result)
        if not plan['due']:
            return plan['before'], plan['keys']
        if self.check_mode:
            return plan['before'], self._predict_rotation(plan, result)
        return plan['before'], self._apply_rotation(plan, result)

    def _plan_rotation(self, item: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
        """Read the user and decide: not due (``due`` false, ``msg`` says why), or the keys that make room and the
        steps as ``(what check mode says, what the result says)``. Reads the store's version before the first change."""
        name = item['user_name']
        keys, before, dummy, dummy = self.load_item(item, result)
        due, reason, old = rotation_due(keys, self.now, item['_max_age'], item['force'])
        result['reason'] = reason
        plan = dict(item=item, name=name, arn=result['user_arn'], keys=keys, before=before, due=due, old=old)
        if not due:
            age = format_duration(max(0, int((self.now - old['created']).total_seconds())))  # 0 for a key "from the future" (clock skew)
            result['msg'] = 'user %s: key %s is %s old, below max_age %s' % (name, old['id'], age, format_duration(item['_max_age']))
            return plan
        room = plan_room(keys, self.now, item['_grace'])
        steps = [('delete Inactive key %s (past the grace period, unused)' % key['id'],
                  'deleted Inactive key %s (past the grace period, unused)' % key['id']) for key in room]
        plan['create_step'] = len(steps)
        steps.append(('create and verify a new key', 'created and verified a new key'))
        if item['store']:
            where = '%s/%s' % (item['store']['mount'], item['store']['path'])
            steps.append(('store it at %s' % where, 'stored it at %s' % where))
        if old is not None:
            steps.append({'active': ('keep old key %s active' % old['id'], 'kept old key %s active' % old['id']),
                          'inactive': ('deactivate old key %s' % old['id'], 'deactivated old key %s' % old['id']),
                          'deleted': ('delete old key %s' % old['id'], 'deleted old key %s' % old['id'])}[item['old_key']])
        plan.update(room=room, steps=steps, why={
            'missing': 'no Active key', 'forced': 'forced',
            'age': 'key %s is older than %s' % (old['id'] if old else '', format_duration(item['_max_age']))}[reason])
        # Log in to Vault and read the secret's version before the first change (in check mode too: it only reads).
        plan['store_version'] = self.store_version(item) if item['store'] else None
        result.update(changed=True, deleted_key_ids=[key['id'] for key in room], old_access_key_id=old['id'] if old else None,
                      old_key=item['old_key'] if old else None)
        return plan

    def _predict_rotation(self, plan: dict[str, Any], result: dict[str, Any]) -> list[Key]:
        """Check mode: what the rotation would do, and the keys it would leave (the new one as a placeholder)."""
        old, mode = plan['old'], plan['item']['old_key']
        after = [key for key in plan['keys'] if key not in plan['room']]
        if old is not None and mode == 'inactive':
            old = dict(old, status='Inactive', deactivated_at=self.now)
            after = [old if key['id'] == old['id'] else key for key in after]
        elif old is not None and mode == 'deleted':
            after = [key for key in after if key['id'] != old['id']]
        result['msg'] = 'would rotate the access key of %s (%s): %s' % (plan['name'], plan['why'], ', '.join(step[0] for step in plan['steps']))
        return after + [dict(id=NEW_KEY_PLACEHOLDER, status='Active', created=self.now, last_used=None, deactivated_at=None)]

    def _apply_rotation(self, plan: dict[str, Any], result: dict[str, Any]) -> list[Key]:
        """Make room, create the new key, verify and store it; anything failing after the creation rolls it back."""
        name, room = plan['name'], plan['room']
        # Make room: only Inactive keys past the grace period and unused since their deactivation.
        result['changed'] = bool(room)
        for key in room:
            self._delete(name, key['id'])
        kept = [key for key in plan['keys'] if key not in room]
        new_id, secret, created = self._create(name, [key['id'] for key in kept])
        result['changed'] = True
        result['access_key_id'] = new_id
        op = dict(name=name, item=plan['item'], result=result, new_id=new_id, secret=secret, old=plan['old'], stored=None,
                  old_done=False, room=room, before=plan['before'], kept=kept, new=None)
        self._open.append(op)  # from here on, an unexpected error anywhere rolls it back (run)
        try:
            self._verify_and_store(op, plan, created)
        except OperatorError as exc:
            raise RotationError('%s; %s' % (exc, self._roll_back(op)))
        # The old key is changed in finish(), once every user of the task has its new key: until then a failure anywhere
        # can still be undone without losing a secret.
        steps = list(plan['steps'])
        steps[plan['create_step']] = (None, '%s %s' % ('created and verified' if result['verified'] else 'created (not verified)', new_id))
        result['msg'] = 'rotated the access key of %s (%s): %s' % (name, plan['why'], ', '.join(past for dummy, past in steps))
        return self._keys_after(op, done=True)

    def _verify_and_store(self, op: dict[str, Any], plan: dict[str, Any], created: Any) -> None:
        """The new key of ``op``: read its creation time, verify it (unless ``verify=false``), store it (``store_path``)."""
        name, new_id, result, item, old = op['name'], op['new_id'], op['result'], op['item'], op['old']
        new = dict(id=new_id, status='Active', created=self._iam_time(created, 'CreateDate', new_id, name), last_used=None,
                   deactivated_at=None)
        op['new'] = new
        result['created_at'] = to_iso(new['created'])
        if self.params['verify']:
            attempts, seconds = self.verify_key(name, plan['arn'], new_id, op['secret'])
            result.update(verified=True, verify_attempts=attempts, verify_seconds=seconds)
        else:
            result['verified'] = False
        if item['store']:
            result['stored'] = op['stored'] = self.store(item, plan['store_version'], name, plan['arn'], new, op['secret'],
                                                         old['id'] if old else None)

    # ---- the second phase of rotations, and their rollback ----------------------------------------------------

    def _keys_after(self, op, done):
        """The user's keys after the rotation ``op``: ``done`` (completed, or about to be), else rolled back."""
        old, mode = op['old'], op['item']['old_key']
        keys = [dict(key) for key in op['kept']]  # the old key's dict follows what _deactivate/_reactivate did to it
        if old is not None and (done or op['old_done']):
            if mode == 'deleted':
                keys = [key for key in keys if key['id'] != old['id']]
            elif mode == 'inactive' and done:
                keys = [dict(key, status='Inactive', deactivated_at=key['deactivated_at'] or self.now) if key['id'] == old['id']
                        else key for key in keys]
        if done or op['stored']:
            keys.append(op['new'])
        return keys

    def _show(self, result, before, after):
        result['keys'] = [key_view(key) for key in after]
        result.pop('diff', None)
        if self.diff and result['changed']:
            name = result['user_name']
            result['diff'] = dict(before_header='IAM user %s' % name, after_header='IAM user %s' % name,
                                  before=diff_view(name, before), after=diff_view(name, after))

    def _old_key_step(self, op):
        """What ``old_key`` asks for: nothing (active), deactivate and record (inactive), or delete (deleted)."""
        old, mode, name = op['old'], op['item']['old_key'], op['name']
        if old is None or mode == 'active':
            return
        if mode == 'inactive':
            self._deactivate(name, old)  # if it fails, the old key is still Active (and untagged)
        else:
            self._delete(name, old['id'], untag=False)
        op['old_done'] = True

    def _roll_back(self, op):
        """Undo a rotation whose new key is not stored in Vault: the old key as it was, the new key deleted.

        Returns what happened, for the message (never a secret).
        """
        if op in self._open:
            self._open.remove(op)
        name, old, result = op['name'], op['old'], op['result']
        notes = []
        try:
            self._delete(name, op['new_id'], untag=False)
        except OperatorError as exc:
            notes.append('deleting the new key %s failed too: %s: delete it by hand (its secret is not returned)' % (op['new_id'], exc))
        else:
            notes.append('the new key %s was deleted again' % op['new_id'])
            result['access_key_id'] = None
            result['rolled_back_key_id'] = op['new_id']
        gone = False
        if old is not None:
            if op['old_done'] and op['item']['old_key'] == 'deleted':
                gone = True
                notes.append('the old key %s had been deleted already, so %s has no access key now: rotate again (with '
                             'store_path, a new key is never only in a task result)' % (old['id'], name))
            elif op['old_done'] and op['item']['old_key'] == 'inactive':
                try:
                    self._reactivate(name, old)
                    op['old_done'] = False
                    notes.append('the old key %s is Active again' % old['id'])
                except OperatorError as exc:
                    notes.append('setting the old key %s Active again failed: %s' % (old['id'], exc))
            else:
                notes.append('the old key %s is still Active' % old['id'])
        result['changed'] = bool(op['room']) or gone or op['old_done']
        result.pop('secret_access_key', None)
        if op['new'] is not None:
            self._show(result, op['before'], self._keys_after(op, done=False))
        return '; '.join(notes)

    def finish(self, results: list[dict[str, Any]]) -> None:
        """Second phase of the rotations, once every user was handled: change the old keys, then return the secrets.

        A failed task returns no secret (it would be printed). So when any user failed, every new key that is not
        stored in Vault is deleted again and its old key restored (their ``reason`` is ``rolled_back``); stored ones
        are kept and their old key step is done, as asked.
        """
        failed = [r['user_name'] for r in results if r['failed']]
        # Irreversible steps last: stored keys (kept whatever happens), then deactivations (undone by reactivating),
        # then deletions of old keys whose new key is only in this result.
        order = {'active': 0, 'inactive': 1, 'deleted': 2}
        for op in sorted(self._open, key=lambda op: (op['stored'] is None, order[op['item']['old_key']])):
            if failed and not op['stored']:
                continue  # rolled back below
            try:
                self._old_key_step(op)
                self._show(op['result'], op['before'], self._keys_after(op, done=True))
            except OperatorError as exc:
                failed.append(op['name'])
                self._open.remove(op)
                result = op['result']
                result['failed'] = True
                if op['stored']:
                    stored = op['stored']
                    result['msg'] = ('%s; the new key %s was kept: it is stored in %s/%s (version %d); the old key %s is still '
                                     'Active' % (exc, op['new_id'], stored['mount'], stored['path'], stored['version'], op['old']['id']))
                    self._show(result, op['before'], op['kept'] + [op['new']])
                else:
                    result['msg'] = '%s; %s' % (exc, self._roll_back(op))
        if failed:
            for op in [op for op in self._open if not op['stored']]:
                note = self._roll_back(op)
                op['result'].update(failed=True, reason='rolled_back', msg='not rotated: the task failed for %s, and a failed task '
                                    'returns no secret: %s' % (', '.join(failed), note))
        for op in self._open:
            if self.params['return_secret']:
                if failed:
                    op['result']['msg'] += ' (its secret is only in Vault: a failed task returns no secret)'
                else:
                    op['result']['secret_access_key'] = op['secret']
        self._open = []

    def _abandon(self):
        """An unexpected error (a bug): roll back every rotation whose new key is not stored, before the error shows."""
        for op in list(self._open):
            if op['stored']:
                continue
            try:
                self._roll_back(op)
            except Exception:  # pylint: disable=broad-except  # the original error is the one to show
                pass
        self._open = []

    def deactivate(self, item: dict[str, Any], result: dict[str, Any]) -> tuple[list[Key], list[Key]]:
        name = item['user_name']
        keys, before, chosen, dummy = self.load_item(item, result)
        newest = newest_active(keys)
        targets = chosen or [key for key in keys if key['status'] == 'Active' and key is not newest]
        refused = []
        cutover = item['_cutover']
        for key in targets:
            if key['status'] == 'Active' and used_after(key, cutover) and not item['force']:
                refused.append('%s was last used at %s, after the cutover %s: it is still in use somewhere'
                               % (key['id'], to_iso(key['last_used']), to_iso(cutover)))
        remaining = [key for key in keys if key['status'] == 'Active' and key not in targets]
        if keys and not remaining and [key for key in targets if key['status'] == 'Active'] and not item['force']:
            refused.append('that would leave %s without an Active key' % name)
        if refused:
            result['reason'] = 'in_use'
            raise RotationError('refusing to deactivate keys of %s: %s; nothing was changed (force=true overrides)'
                                % (name, '; '.join(refused)))
        to_deactivate = [key for key in targets if key['status'] == 'Active']
        to_record = [key for key in targets if key['status'] == 'Inactive' and (key['deactivated_at'] is None or item['force'])]
        result['deactivated_key_ids'] = [key['id'] for key in to_deactivate]
        result['recorded_key_ids'] = [key['id'] for key in to_record]
        if not to_deactivate and not to_record:
            result['reason'] = 'not_due'
            result['msg'] = 'user %s: nothing to deactivate (%s)' % (
                name, 'keys %s are already inactive' % ', '.join(key['id'] for key in targets) if targets else 'no Active key besides the newest')
            return before, keys
        result['changed'] = True
        result['reason'] = 'forced' if item['force'] else 'deactivated'
        parts = []
        if to_deactivate:
            parts.append('deactivate %s' % ', '.join(key['id'] for key in to_deactivate))
        if to_record:
            parts.append('record the deactivation time of %s' % ', '.join(key['id'] for key in to_record))
        after = [dict(key) for key in keys]
        for key in after:
            if key['id'] in result['deactivated_key_ids'] + result['recorded_key_ids']:
                key.update(status='Inactive', deactivated_at=self.now)
        if self.check_mode:
            result['msg'] = 'would %s of %s' % (' and '.join(parts), name)
            return before, after
        done = []
        try:
            for key in to_deactivate:
                self._deactivate(name, key)
                done.append('deactivated %s' % key['id'])
            for key in to_record:
                self._record(name, key)
                done.append('recorded the deactivation time of %s' % key['id'])
        except OperatorError as exc:
            result['changed'] = bool(done)
            raise RotationError('%s; %s' % (exc, 'already done: %s' % ', '.join(done) if done else 'nothing was changed'))
        result['msg'] = '%s of %s' % (' and '.join(parts).replace('deactivate ', 'deactivated ').replace('record ', 'recorded '), name)
        return before, after

    def purge(self, item: dict[str, Any], result: dict[str, Any]) -> tuple[list[Key], list[Key]]:
        name = item['user_name']
        keys, before, chosen, stale = self.load_item(item, result)
        candidates = [key for key in chosen or keys if key['status'] == 'Inactive']
        deleted, waiting, record = [], [], []
        for key in candidates:
            if key['deactivated_at'] is None:
                record.append(key)
                waiting.append(dict(access_key_id=key['id'], deactivated_at=to_iso(self.now),
                                    purge_after=to_iso(self.now + datetime.timedelta(seconds=item['_grace'])),
                                    last_used_at=to_iso(key['last_used']),
                                    why='its deactivation time was not recorded: recorded now, the grace period starts now'))
                continue
            ok, why, purge_after = purge_check(key, self.now, item['_grace'])
            if ok:
                deleted.append(key)
            else:
                waiting.append(dict(access_key_id=key['id'], deactivated_at=to_iso(key['deactivated_at']),
                                    purge_after=to_iso(purge_after), last_used_at=to_iso(key['last_used']), why=why))
        result['deleted_key_ids'] = [key['id'] for key in deleted]
        result['recorded_key_ids'] = [key['id'] for key in record]
        result['waiting'] = waiting
        result['removed_tags'] = stale
        after = [dict(key) for key in keys if key not in deleted]
        for key in after:
            if key['id'] in result['recorded_key_ids']:
                key['deactivated_at'] = self.now
        result['changed'] = bool(deleted or record or stale)
        result['reason'] = 'purged' if deleted else ('waiting' if waiting else 'not_due')
        summary = []
        if deleted:
            summary.append('delete %s' % ', '.join(key['id'] for key in deleted))
        if record:
            summary.append('record the deactivation time of %s' % ', '.join(key['id'] for key in record))
        if stale:
            summary.append('remove stale deactivation tags of %s' % ', '.join(stale))
        wait_text = '; waiting: %s' % '; '.join('%s (%s)' % (w['access_key_id'], w['why']) for w in waiting
                                                if w['access_key_id'] not in result['recorded_key_ids']) if waiting else ''
        if not result['changed']:
            result['msg'] = 'user %s: nothing to purge%s' % (name, wait_text or ' (no Inactive key)')
            return before, after
        if self.check_mode:
            result['msg'] = 'would %s of %s%s' % (' and '.join(summary), name, wait_text)
            return before, after
        for key in deleted:
            self._delete(name, key['id'], untag=False)
        self._untag(name, [key['id'] for key in deleted] + stale)
        for key in record:
            self._record(name, key)
        text = ' and '.join(summary).replace('delete ', 'deleted ').replace('record ', 'recorded ').replace('remove ', 'removed ')
        result['msg'] = '%s of %s%s' % (text, name, wait_text)
        return before, after

    # ---- the task ----------------------------------------------------------------------------------------

    STATE_METHODS = {'rotated': 'rotate', 'deactivated': 'deactivate', 'purged': 'purge'}
    SUMMARY_VERBS = {'rotated': 'rotated', 'deactivated': 'changed', 'purged': 'purged'}

    def run_item(self, item: dict[str, Any]) -> dict[str, Any]:
        """Handle one user (:meth:`rotate`, :meth:`deactivate` or :meth:`purge`); its result, with ``keys`` and ``diff``.

        The result is started in ``item['_result']`` so that a failure keeps what was learnt (see :meth:`_item_failed`).
        """
        result = item['_result'] = dict(user_name=item['user_name'], changed=False, failed=False, reason=None, msg='',
                                        access_key_id=None)
        if self.state == 'rotated':
            result.update(verified=None, deleted_key_ids=[], old_access_key_id=None, old_key=None, stored=None)
        before, after = getattr(self, self.STATE_METHODS[self.state])(item, result)
        self._show(result, before, after)
        return result

    @staticmethod
    def _item_failed(item: dict[str, Any], exc: OperatorError) -> dict[str, Any]:
        """The result of a user that failed: what it had so far, ``failed``, the error as ``msg``, its reason or ``error``."""
        result = item['_result']
        result.update(failed=True, msg=str(exc), reason=result.get('reason') or 'error')
        return result

    def run(self) -> dict[str, Any]:
        """The task: validate everything, handle each user (then :meth:`finish` the rotations), build the result
        (docs/results.md: one shape for one user or a batch)."""
        items = self.validate()
        self.aws  # pylint: disable=pointless-statement  # one session for the task; bad options fail here, before any call
        self._open = []
        try:
            results = self.runner.act_each(items, self.run_item, self._item_failed)
            if self.state == 'rotated':
                self.finish(results)
        except BaseException:
            self._abandon()
            raise
        return self._task_result(results)

    def _task_result(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        """The summary (``[would have ]rotated 2 of 3 users``), the failures of the users that failed themselves, and a
        note naming the users rolled back because of them; :meth:`BatchRunner.result` puts them together."""
        failed = [res for res in results if res['failed']]
        own = [res for res in failed if res['reason'] != 'rolled_back']
        rolled = [res['user_name'] for res in failed if res['reason'] == 'rolled_back']
        notes = ['rolled back %s (a failed task returns no secret, so their new keys were deleted again)' % ', '.join(rolled)] if rolled else []
        summary = '%s%s %d of %d users' % ('would have ' if self.check_mode else '', self.SUMMARY_VERBS[self.state],
                                           len([res for res in results if res['changed']]), len(results))
        failure = describe_failures(own, len(results), self.runner.what, self.runner.name) if own else None
        return self.runner.result(results, summary, notes=notes, want_diff=self.diff, failure=failure)
