# -*- coding: utf-8 -*-
# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rotation ledger: one Vault/OpenBao KV v2 secret per managed secret, with staging slots.

Layout of the KV v2 secret at ``<kv_mount>/<prefix>/<name>`` (see docs/ledger.md)::

    kind:        db | iam | pki | generic
    current:     {id, created_at, <metadata>..., <secret fields>...} | null   what apps use as primary
    pending:     {id, created_at, ...} | null          staged (B), not yet promoted
    previous:    {id, created_at, retired_at, ...} | null   the old one (A), valid until retired
    phase:       idle | staged | promoted
    rotation_id: id of the last staged rotation (uuid4 unless given)
    updated_at:  time of the last write (UTC, ISO 8601 with Z)
    history:     [{version, action, rotation_id, from_id, to_id, at}]   bounded, oldest first

Keys of a slot are either *metadata* (:data:`METADATA_KEYS`: ids, dates, serials, user names, key ids,
lease ids) or *secret* (everything else: passwords, secret keys, private keys, certificates). Metadata is shown
in results, diffs and the report; secret fields are returned only in ``ledger`` (documented as secret).

Every write is a KV v2 check-and-set on the version that was read, so of two concurrent rotations of one name
exactly one write lands and the other fails with :data:`IN_PROGRESS` without changing anything.

The transitions (:func:`plan`, one handler per action) and the report (:func:`compute_report`,
:func:`report_markdown`) are pure functions that unit tests drive without a server; :class:`LedgerStore` is the KV v2
access and :class:`Ledger` runs a module task. The module's options are :func:`argument_spec` (built from
:data:`ITEM_SPEC`, :data:`TASK_SPEC` and the Vault connection options): the one place their defaults are written.

Private to the collection: the leading underscore means no compatibility promise to other collections.
"""

from __future__ import annotations

import copy
import datetime
import re
import uuid
from typing import Any, Callable

from ansible_collections.secops.rotation.plugins.module_utils._common import (
    BatchRunner, RotationError, batch_argument_spec, expand_batch, merge_argument_specs, parse_iso, to_iso,
    utcnow, with_defaults)
from ansible_collections.secops.rotation.plugins.module_utils._duration import format_duration, parse_duration
from ansible_collections.secops.rotation.plugins.module_utils._vault import (
    KvConflictError, KvV2, get_vault_connection, vault_argument_spec)

ACTIONS = ('read', 'stage', 'promote', 'retire', 'abort', 'init', 'report')
WRITE_ACTIONS = ('stage', 'promote', 'retire', 'abort', 'init')
KINDS = ('db', 'iam', 'pki', 'generic')
PHASES = ('idle', 'staged', 'promoted')
SLOTS = ('current', 'pending', 'previous')

# The options of one ledger entry: given at the top level (one entry) or per element of ``items``, where an unset one
# falls back to the task's value.
ITEM_SPEC = dict(
    name=dict(type='str'),
    kind=dict(type='str', choices=list(KINDS)),
    id=dict(type='str'),
    secret=dict(type='dict', no_log=True),
    metadata=dict(type='dict'),
    rotation_id=dict(type='str'),
)
ITEM_KEYS = tuple(ITEM_SPEC)

# The options of the task as a whole.
TASK_SPEC = dict(
    action=dict(type='str', default='read', choices=list(ACTIONS)),
    allow_unretired=dict(type='bool', default=False),
    force=dict(type='bool', default=False),
    kv_mount=dict(type='str', default='secret'),
    prefix=dict(type='str', default='rotation'),
    history_limit=dict(type='int', default=20),
    names=dict(type='list', elements='str'),
    policy=dict(type='dict'),
    stuck_after=dict(type='raw', default='1d'),
    history_entries=dict(type='int', default=5),
)


def argument_spec() -> dict[str, dict[str, Any]]:
    """The argument spec of ``rotation_state``: the item options (top level and ``items``), the task options and the
    Vault connection options. A fresh copy on each call."""
    return copy.deepcopy(merge_argument_specs(batch_argument_spec(ITEM_SPEC, 'items', required='name'), TASK_SPEC,
                                              vault_argument_spec()))


# Slot keys the ledger sets itself.
SYSTEM_KEYS = ('id', 'created_at', 'retired_at')
# Slot keys a caller may set with the ``metadata`` option: not secret, shown in results, diff and report.
USER_METADATA_KEYS = ('username', 'access_key_id', 'lease_id', 'lease_duration', 'serial', 'common_name',
                      'not_before', 'not_after', 'expires_at', 'role', 'description')
METADATA_KEYS = SYSTEM_KEYS + USER_METADATA_KEYS
TIME_KEYS = ('created_at', 'retired_at', 'not_before', 'not_after', 'expires_at')

IN_PROGRESS = 'another rotation is in progress'

DEFAULT_POLICY = {
    'db': {'max_age': 86400},
    'iam': {'max_age': 90 * 86400},
    'pki': {'renew_before': 30 * 86400},
    'generic': {'max_age': 90 * 86400},
}
POLICY_KEYS = ('max_age', 'renew_before')

# Entry names, kv_mount and prefix: letters, digits, ``._-``, and ``/`` between segments.
_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$')
MAX_NAME = 200
MAX_FUTURE_SKEW = 300  # seconds a created_at may lie in the future (clock skew)
MAX_REPORT_DEPTH = 8
# Times outside these years are typos (and would not survive the round trip through ISO 8601 text).
MIN_YEAR, MAX_YEAR = 1970, 9998

Warn = Callable[[str], None]


class ConcurrentRotationError(RotationError):
    """The ledger entry changed between our read and our write (KV v2 check-and-set refused the write)."""


# --------------------------------------------------------------------------------------------- validation

def check_name(name: Any, what: str = 'name') -> str:
    """Validate a ledger name (letters, digits, ``._-``, ``/`` between segments)."""
    if not isinstance(name, str) or not name:
        raise RotationError('%s is required' % what)
    if len(name) > MAX_NAME or not _NAME_RE.match(name) or '..' in name.split('/'):
        raise RotationError('invalid %s %r: use letters, digits, ".", "_", "-" and "/" between segments '
                            '(no leading/trailing "/", at most %d characters)' % (what, name, MAX_NAME))
    return name


def check_path_option(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip('/') or not _NAME_RE.match(value.strip('/')):
        raise RotationError('invalid %s %r: use letters, digits, ".", "_", "-" and "/" between segments' % (what, value))
    return value.strip('/')


def _time(value):
    """An ISO 8601 time as an aware UTC datetime to the second (no offset: UTC), or ``None`` if it is not one."""
    if not value or isinstance(value, bool):
        return None
    try:
        moment = parse_iso(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return moment.replace(microsecond=0) if MIN_YEAR <= moment.year <= MAX_YEAR else None


def _iso_option(value, what):
    moment = _time(value)
    if moment is None:
        raise RotationError('%s: invalid time %r; use ISO 8601 such as 2026-11-26T11:00:00Z (UTC when it has no offset), '
                            'between the years %d and %d' % (what, value, MIN_YEAR, MAX_YEAR))
    return to_iso(moment)


def make_slot(secret_id: Any, secret: Any, metadata: dict[str, Any] | None, now: datetime.datetime, where: str,
              kind: str | None = None) -> dict[str, Any]:
    """Build a slot from the options, validating them. ``where`` names the item in messages.

    A ``pki`` slot may hold metadata only (serial, not_after): a host's private key normally never leaves it.
    """
    if not secret_id or not isinstance(secret_id, str):
        raise RotationError('%s: id is required (the id of the new secret: lease id, user name, access key id, '
                            'serial, ...)' % where)
    if len(secret_id) > 512:
        raise RotationError('%s: id is longer than 512 characters' % where)
    if kind == 'pki' and secret in (None, {}):
        secret = {}
    elif not isinstance(secret, dict) or not secret:
        raise RotationError('%s: secret is required: a dict of the secret fields (password, secret_access_key, '
                            'private_key, ...)' % where)
    slot = {'id': secret_id, 'created_at': to_iso(now)}
    for key, value in (metadata or {}).items():
        if key in ('id', 'retired_at'):
            raise RotationError('%s: metadata.%s is set by the ledger (the id comes from the id option)' % (where, key))
        if key not in METADATA_KEYS:
            raise RotationError('%s: unknown metadata key %r; metadata keys are %s (anything else is secret: put it in '
                                'secret)' % (where, key, ', '.join(METADATA_KEYS[1:2] + USER_METADATA_KEYS)))
        if value is None:
            continue
        if isinstance(value, (dict, list)):
            raise RotationError('%s: metadata.%s must be a string or a number, not a %s' % (where, key, type(value).__name__))
        if key in TIME_KEYS:
            value = _iso_option(value, '%s: metadata.%s' % (where, key))
        slot[key] = value
    if parse_iso(slot['created_at']) > now + datetime.timedelta(seconds=MAX_FUTURE_SKEW):
        raise RotationError('%s: metadata.created_at %s is in the future' % (where, slot['created_at']))
    for key, value in secret.items():
        if not isinstance(key, str) or not key:
            raise RotationError('%s: secret keys must be non-empty strings' % where)
        if key in METADATA_KEYS:
            raise RotationError('%s: secret.%s is a metadata key, not a secret field: pass it in metadata (or as the id '
                                'option for id)' % (where, key))
        if value is None:
            raise RotationError('%s: secret.%s has no value (null)' % (where, key))
    slot.update(secret)
    return slot


def public_slot(slot: Any) -> dict[str, Any] | None:
    """The metadata of a slot (ids, dates, ...) without any secret field; ``None`` stays ``None``."""
    if not isinstance(slot, dict):
        return None
    return dict((key, slot[key]) for key in METADATA_KEYS if key in slot)


def secret_fields(slot: dict[str, Any] | None) -> list[str]:
    """Names of the secret fields of a slot."""
    return sorted(key for key in (slot or {}) if key not in METADATA_KEYS)


def history_records(data: Any) -> list[dict[str, Any]]:
    """The history records of a stored entry that are records (dicts); [] when it has no readable history."""
    history = data.get('history') if isinstance(data, dict) else None
    return [entry for entry in history if isinstance(entry, dict)] if isinstance(history, list) else []


def public_view(data: Any, name: str | None = None, path: str | None = None, version: int | None = None,
                history: bool = True) -> dict[str, Any] | None:
    """The ledger entry without secret fields: what results, diffs and reports may show (also of an entry that is
    not a valid ledger entry: what is not a slot or a record is left out)."""
    if data is None:
        return None
    data = data if isinstance(data, dict) else {}
    view = {'kind': data.get('kind'), 'phase': data.get('phase'), 'rotation_id': data.get('rotation_id'),
            'updated_at': data.get('updated_at')}
    for slot in SLOTS:
        view[slot] = public_slot(data.get(slot))
    if history:
        view['history'] = history_records(data)
    if name is not None:
        view['name'] = name
    if path is not None:
        view['path'] = path
    if version is not None:
        view['version'] = version
    return view


def expected_phase(data: dict[str, Any]) -> str:
    if data.get('pending'):
        return 'staged'
    if data.get('previous'):
        return 'promoted'
    return 'idle'


def check_entry(data: Any) -> list[str]:
    """Consistency problems of a stored entry (empty list when it is a valid ledger entry)."""
    if not isinstance(data, dict):
        return ['not a dict']
    problems = []
    if data.get('kind') not in KINDS:
        problems.append('kind %r is not one of %s' % (data.get('kind'), ', '.join(KINDS)))
    if data.get('phase') not in PHASES:
        problems.append('phase %r is not one of %s' % (data.get('phase'), ', '.join(PHASES)))
    ids = []
    for slot in SLOTS:
        value = data.get(slot)
        if value is None:
            continue
        if not isinstance(value, dict) or not isinstance(value.get('id'), str) or not value.get('id'):
            problems.append('%s has no id' % slot)
            continue
        ids.append(value['id'])
        for key in ('created_at',) + (('retired_at',) if slot == 'previous' else ()):
            if key in value and _time(value[key]) is None:
                problems.append('%s.%s is not a time' % (slot, key))
    if len(ids) != len(set(ids)):
        problems.append('the same id is in two slots')
    if data.get('phase') in PHASES and data.get('phase') != expected_phase(data):
        problems.append('phase %s does not match the slots (expected %s)' % (data.get('phase'), expected_phase(data)))
    history = data.get('history')
    if not isinstance(history, list):
        problems.append('history is not a list')
    else:
        versions = [entry.get('version') for entry in history if isinstance(entry, dict)]
        if len(versions) != len(history):
            problems.append('history has entries that are not dicts')
        elif any(not isinstance(v, int) for v in versions) or any(b < a for a, b in zip(versions, versions[1:])):
            problems.append('history versions are not increasing')
    return problems


# --------------------------------------------------------------------------------------------- transitions

class Request:
    """What one item of a task asks for (the item's options, validated for the action)."""

    def __init__(self, action: str, name: Any, kind: str | None = None, secret_id: str | None = None,
                 secret: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None,
                 rotation_id: str | None = None, allow_unretired: bool = False, force: bool = False) -> None:
        self.action, self.name, self.kind = action, name, kind
        self.secret_id, self.secret, self.metadata, self.rotation_id = secret_id, secret, metadata, rotation_id
        self.allow_unretired, self.force = allow_unretired, force

    def validate(self) -> Request:
        where = self.name if self.name else 'item'
        check_name(self.name)
        if self.kind is not None and self.kind not in KINDS:
            raise RotationError('%s: invalid kind %r; use one of %s' % (where, self.kind, ', '.join(KINDS)))
        if self.action not in ('stage', 'init'):
            for option in ('secret', 'metadata'):
                if getattr(self, option):
                    raise RotationError('%s: %s is only used with action=stage or action=init, not %s' % (where, option, self.action))
        if self.metadata is not None and not isinstance(self.metadata, dict):
            raise RotationError('%s: metadata must be a dict' % where)
        if self.rotation_id is not None and (not isinstance(self.rotation_id, str) or not self.rotation_id
                                             or len(self.rotation_id) > 128):
            raise RotationError('%s: rotation_id must be a non-empty string of at most 128 characters' % where)
        return self


def _history_entry(action, rotation_id, from_id, to_id, now):
    return {'action': action, 'rotation_id': rotation_id, 'from_id': from_id, 'to_id': to_id, 'at': to_iso(now)}


def _slot_id(data, slot):
    value = (data or {}).get(slot)
    return value.get('id') if isinstance(value, dict) else None


def _new_entry(kind: str | None, rotation_id: str | None = None) -> dict[str, Any]:
    return {'kind': kind or 'generic', 'current': None, 'pending': None, 'previous': None, 'phase': 'idle',
            'rotation_id': rotation_id, 'history': []}


def _plan_read(data, request, now, warn):
    name = request.name
    if data is None:
        return None, 'missing', '%s has no ledger entry' % name, {}
    return None, 'read', 'read %s' % name, {}


def _plan_init(data, request, now, warn):
    """Adopt an existing secret as ``current``: of a new entry, of an entry without current, or (force) over it."""
    name = request.name
    cur, pend = _slot_id(data, 'current'), _slot_id(data, 'pending')
    slot = make_slot(request.secret_id, request.secret, request.metadata, now, name, request.kind or (data or {}).get('kind'))
    if data is None:
        new = _new_entry(request.kind, request.rotation_id)
        new['current'] = slot
        new['history'].append(_history_entry('init', request.rotation_id, None, slot['id'], now))
        return new, 'adopted', 'adopted %s as current of %s' % (slot['id'], name), {}
    secret = request.secret or {}  # a pki slot may hold metadata only
    same = cur == slot['id'] and all(data['current'].get(k) == v for k, v in secret.items()) and \
        secret_fields(data['current']) == secret_fields(slot)
    if same:
        return None, 'already_adopted', '%s already has %s as current' % (name, cur), {}
    new = copy.deepcopy(data)
    if cur is None:
        new['current'] = slot
        new['phase'] = expected_phase(new)
        new['history'].append(_history_entry('init', request.rotation_id or data.get('rotation_id'), None, slot['id'], now))
        return new, 'adopted', 'adopted %s as current of %s' % (slot['id'], name), {}
    if not request.force:
        if cur == slot['id']:
            raise RotationError('%s already has current id %s with other secret values; set force: true to overwrite '
                                'them' % (name, cur))
        raise RotationError('%s already has current id %s: init only adopts a secret into a new entry; rotate with '
                            'stage and promote, or set force: true to overwrite current' % (name, cur))
    if pend:
        raise RotationError('%s has pending %s staged: abort it before forcing init' % (name, pend))
    new['current'] = slot
    new['history'].append(_history_entry('init', request.rotation_id or data.get('rotation_id'), cur, slot['id'], now))
    return new, 'forced', 'replaced current %s of %s with %s (force)' % (cur, name, slot['id']), {}


def _plan_stage(data, request, now, warn):
    """Record the new secret as ``pending``, or resume the pending one (a re-run never creates a second)."""
    name = request.name
    cur, pend, prev = _slot_id(data, 'current'), _slot_id(data, 'pending'), _slot_id(data, 'previous')
    if pend:
        if request.secret_id and request.secret_id != pend:
            warn('%s already has pending %s (staged %s); the given id %s was not recorded: finish or abort that rotation '
                 'first' % (name, pend, data['pending'].get('created_at'), request.secret_id))
        return None, 'resumed', 'resumed the staged rotation of %s: pending %s' % (name, pend), {'resumed': True}
    if prev and not request.allow_unretired:
        raise RotationError('%s is promoted but previous %s is not retired yet (phase promoted): retire it before staging '
                            'a new rotation, or set allow_unretired: true' % (name, prev))
    slot = make_slot(request.secret_id, request.secret, request.metadata, now, name, request.kind or (data or {}).get('kind'))
    if slot['id'] in (cur, prev):
        raise RotationError('%s: id %s is already the %s secret; a rotation needs a new id'
                            % (name, slot['id'], 'current' if slot['id'] == cur else 'previous'))
    new = copy.deepcopy(data) if data is not None else _new_entry(request.kind)
    new['pending'] = slot
    new['phase'] = 'staged'
    new['rotation_id'] = request.rotation_id or str(uuid.uuid4())
    new['history'].append(_history_entry('stage', new['rotation_id'], cur, slot['id'], now))
    return new, 'staged', 'staged %s for %s' % (slot['id'], name), {}


def _already_promoted(data, request):
    """``(reason, msg)`` when nothing is pending because the rotation asked for is already promoted; else raise."""
    name, cur, prev = request.name, _slot_id(data, 'current'), _slot_id(data, 'previous')
    if request.secret_id:
        if request.secret_id == cur:
            return 'already_promoted', '%s already has %s as current' % (name, cur)
        raise RotationError('%s has nothing staged to promote and current is %s, not %s' % (name, cur, request.secret_id))
    if request.rotation_id and request.rotation_id == data.get('rotation_id') and cur:
        return 'already_promoted', 'rotation %s of %s is already promoted (current %s)' % (request.rotation_id, name, cur)
    last = (data.get('history') or [{}])[-1]
    if cur and last.get('action') == 'promote' and last.get('to_id') == cur:
        return 'already_promoted', '%s is already promoted to %s' % (name, cur)
    if data['phase'] == 'promoted':
        return 'already_promoted', '%s is already promoted to %s; previous %s awaits retire' % (name, cur, prev)
    raise RotationError('%s has nothing staged to promote (phase %s, current %s): stage a new secret first'
                        % (name, data['phase'], cur or 'none'))


def _plan_promote(data, request, now, warn):
    """previous <- current, current <- pending (an unretired previous is dropped, with a warning)."""
    name = request.name
    cur, pend, prev = _slot_id(data, 'current'), _slot_id(data, 'pending'), _slot_id(data, 'previous')
    if not pend:
        return (None,) + _already_promoted(data, request) + ({},)
    if request.secret_id and request.secret_id != pend:
        raise RotationError('%s: pending is %s, not %s; nothing was promoted' % (name, pend, request.secret_id))
    if request.rotation_id and request.rotation_id != data.get('rotation_id'):
        raise RotationError('%s: the staged rotation is %s, not %s; nothing was promoted' % (name, data.get('rotation_id'),
                                                                                             request.rotation_id))
    new = copy.deepcopy(data)
    if prev:
        new['history'].append(_history_entry('retire', data.get('rotation_id'), prev, None, now))
        warn('%s: previous %s was dropped from the ledger by this promotion (allow_unretired); make sure it is revoked'
             % (name, prev))
    new['previous'] = dict(data['current'], retired_at=to_iso(now)) if data.get('current') else None
    new['current'] = data['pending']
    new['pending'] = None
    new['phase'] = expected_phase(new)
    new['history'].append(_history_entry('promote', data.get('rotation_id'), cur, pend, now))
    return new, 'promoted', 'promoted %s to current of %s%s' % (pend, name, ' (previous %s)' % cur if cur else ''), {}


def _plan_retire(data, request, now, warn):
    """Drop ``previous`` (it was revoked); its metadata is returned as ``retired``."""
    name = request.name
    cur, pend, prev = _slot_id(data, 'current'), _slot_id(data, 'pending'), _slot_id(data, 'previous')
    if not prev:
        if request.secret_id and request.secret_id in (cur, pend):
            raise RotationError('%s: %s is the %s secret, it cannot be retired' % (
                name, request.secret_id, 'current' if request.secret_id == cur else 'pending'))
        return None, 'nothing_to_retire', '%s has no previous secret to retire' % name, {}
    if request.secret_id and request.secret_id != prev:
        raise RotationError('%s: previous is %s, not %s; nothing was retired' % (name, prev, request.secret_id))
    new = copy.deepcopy(data)
    new['previous'] = None
    new['phase'] = expected_phase(new)
    new['history'].append(_history_entry('retire', data.get('rotation_id'), prev, None, now))
    return new, 'retired', 'retired previous %s of %s' % (prev, name), {'retired': public_slot(data['previous'])}


def _plan_abort(data, request, now, warn):
    """Drop ``pending``; its metadata is returned as ``aborted`` so that the caller can revoke it."""
    name, pend = request.name, _slot_id(data, 'pending')
    if not pend:
        return None, 'nothing_pending', '%s has no pending secret to abort' % name, {}
    if request.secret_id and request.secret_id != pend:
        raise RotationError('%s: pending is %s, not %s; nothing was aborted' % (name, pend, request.secret_id))
    new = copy.deepcopy(data)
    new['pending'] = None
    new['phase'] = expected_phase(new)
    new['history'].append(_history_entry('abort', data.get('rotation_id'), pend, None, now))
    return new, 'aborted', 'aborted pending %s of %s (revoke it if it is still valid)' % (pend, name), {
        'aborted': public_slot(data['pending'])}


# action -> handler(data, request, now, warn) -> (new_data or None, reason, msg, extra)
PLANNERS = {
    'read': _plan_read,
    'init': _plan_init,
    'stage': _plan_stage,
    'promote': _plan_promote,
    'retire': _plan_retire,
    'abort': _plan_abort,
}
# These act on an existing entry only.
_NEEDS_ENTRY = ('promote', 'retire', 'abort')


def plan(data: dict[str, Any] | None, request: Request, now: datetime.datetime,
         warn: Warn | None = None) -> tuple[dict[str, Any] | None, str, str, dict[str, Any]]:
    """Decide what ``request`` does to the stored entry ``data`` (``None`` when missing).

    Returns ``(new_data, reason, msg, extra)``: ``new_data`` is ``None`` when nothing changes; ``extra`` holds
    result fields (``resumed``, ``aborted``, ``retired``). What the operator must know although the action goes on
    (a pending secret kept instead of the given one, an unretired previous secret dropped) goes to ``warn``.
    Raises :class:`RotationError` for illegal transitions. The stored entry is never modified in place.
    """
    name = request.name
    planner = PLANNERS.get(request.action)
    if planner is None:
        raise RotationError('unknown action %r; use one of %s' % (request.action, ', '.join(ACTIONS)))
    if data is not None:
        problems = check_entry(data)
        if problems:
            raise RotationError('%s is not a valid ledger entry (%s); fix or delete it by hand' % (name, '; '.join(problems)))
        if request.kind and data['kind'] != request.kind:
            raise RotationError('%s is a ledger entry of kind %s, not %s' % (name, data['kind'], request.kind))
    elif request.action in _NEEDS_ENTRY:
        raise RotationError('%s has no ledger entry: nothing to %s (stage or init it first)' % (name, request.action))
    return planner(data, request, now, warn or _drop)


def _drop(message: str) -> None:
    """The default ``warn``: a caller that passes none does not want the warnings."""


def finish_write(new: dict[str, Any], version: int, history_limit: int, now: datetime.datetime) -> dict[str, Any]:
    """Stamp ``new`` for writing over ``version`` (0 when missing): updated_at, history version, bound."""
    new['updated_at'] = to_iso(now)
    for entry in new['history']:  # the records this write added (promote may add two) have no version yet
        entry.setdefault('version', version + 1)
    if len(new['history']) > history_limit:
        del new['history'][:len(new['history']) - history_limit]
    return new


# --------------------------------------------------------------------------------------------- report

def normalize_policy(policy: Any) -> dict[str, dict[str, int]]:
    """The per-kind policy in seconds: the defaults, with each kind given in ``policy`` replacing its default.

    A kind's value is a dict with ``max_age`` and/or ``renew_before`` (durations), or a duration string,
    shorthand for ``{max_age: ...}``.
    """
    result = copy.deepcopy(DEFAULT_POLICY)
    if policy is None:
        return result
    if not isinstance(policy, dict):
        raise RotationError('policy must be a dict of kind -> {max_age, renew_before}')
    for kind, rule in policy.items():
        if kind not in KINDS:
            raise RotationError('policy: unknown kind %r; use %s' % (kind, ', '.join(KINDS)))
        if not isinstance(rule, dict):
            rule = {'max_age': rule}
        unknown = sorted(set(rule) - set(POLICY_KEYS))
        if unknown:
            raise RotationError('policy.%s: unknown key %s; use max_age and/or renew_before' % (kind, ', '.join(unknown)))
        parsed = dict((key, parse_duration(value, name='policy.%s.%s' % (kind, key)))
                      for key, value in rule.items() if value is not None)
        if not parsed:
            raise RotationError('policy.%s: give max_age and/or renew_before' % kind)
        result[kind] = parsed
    return result


def _seconds(later, earlier):
    return int((later - earlier).total_seconds())


def _human(seconds):
    if seconds is None:
        return None
    return ('-' if seconds < 0 else '') + format_duration(abs(seconds))


def report_entry(name: str, path: str, data: Any, version: int, kv_versions: Any, policy: dict[str, dict[str, int]],
                 stuck_after: int, history_entries: int, now: datetime.datetime) -> dict[str, Any]:
    """One line of the report for the entry ``data`` (may be invalid) with KV version metadata ``kv_versions``."""
    if data is None:
        problems = ['the latest version is deleted'] if version else ['there is no ledger entry']
    else:
        problems = check_entry(data)
    data = data if isinstance(data, dict) else {}
    current, pending, previous = [data.get(slot) if isinstance(data.get(slot), dict) else None for slot in SLOTS]
    entry = {'name': name, 'path': path, 'kind': data.get('kind'), 'phase': data.get('phase'), 'version': version,
             'updated_at': data.get('updated_at'), 'rotation_id': data.get('rotation_id'),
             'current_id': (current or {}).get('id'), 'created_at': (current or {}).get('created_at'),
             'rotated_at': None, 'age': None, 'age_human': None, 'expires_at': None, 'next_due': None,
             'due_in': None, 'due_in_human': None, 'overdue': False,
             'pending': pending is not None, 'pending_id': (pending or {}).get('id'),
             'pending_since': (pending or {}).get('created_at'), 'pending_age': None, 'stuck': False,
             'previous': previous is not None, 'previous_id': (previous or {}).get('id'),
             'previous_since': (previous or {}).get('retired_at'),
             'problems': problems, 'flags': [], 'history': []}
    promotes = [h for h in history_records(data) if h.get('action') in ('promote', 'init') and h.get('to_id') == entry['current_id']]
    entry['rotated_at'] = promotes[-1].get('at') if promotes else entry['created_at']
    has_due = _report_due(entry, current, policy, now)
    pending_since = _time(entry['pending_since'])
    if pending_since:
        entry['pending_age'] = _seconds(now, pending_since)
        entry['stuck'] = entry['pending_age'] > stuck_after  # strictly older than the limit
    oldest = _report_history(entry, data, kv_versions, history_entries)
    _report_flags(entry, current, has_due, oldest)
    return entry


def _report_due(entry, current, policy, now):
    """Fill age, expiry and the next due date (the earlier of max_age and renew_before); whether there is one."""
    created = _time(entry['created_at'])
    if created:
        entry['age'] = _seconds(now, created)
        entry['age_human'] = _human(entry['age'])
    expires = _time((current or {}).get('not_after') or (current or {}).get('expires_at'))
    entry['expires_at'] = to_iso(expires)
    rule = (policy.get(entry['kind']) or {}) if entry['kind'] in KINDS else {}
    candidates = []
    try:
        if created and rule.get('max_age'):
            candidates.append(created + datetime.timedelta(seconds=rule['max_age']))
        if expires and rule.get('renew_before'):
            candidates.append(expires - datetime.timedelta(seconds=rule['renew_before']))
    except OverflowError:  # a created_at near the year 9999, written by hand: no due date
        candidates = []
    if candidates:
        due = min(candidates)
        entry['next_due'] = to_iso(due)
        entry['due_in'] = _seconds(due, now)
        entry['due_in_human'] = _human(entry['due_in'])
        entry['overdue'] = due <= now  # due now counts as overdue
    return bool(candidates)


def _report_history(entry, data, kv_versions, history_entries):
    """The last N KV versions, each joined with the ledger's own record of that write; returns the oldest version the
    ledger has a record of (``None`` without records)."""
    by_version = dict((h['version'], h) for h in history_records(data) if isinstance(h.get('version'), int))
    kv_versions = kv_versions if isinstance(kv_versions, dict) else {}
    numbers = sorted((int(v) for v in kv_versions if str(v).isdigit()), reverse=True)[:history_entries]
    for number in numbers:
        meta = kv_versions.get(str(number)) or kv_versions.get(number) or {}
        meta = meta if isinstance(meta, dict) else {}
        record = by_version.get(number) or {}
        entry['history'].append({'version': number, 'created_time': to_iso(_time(meta.get('created_time'))),
                                 'deleted': bool(meta.get('deletion_time')), 'destroyed': bool(meta.get('destroyed')),
                                 'action': record.get('action'), 'rotation_id': record.get('rotation_id'),
                                 'from_id': record.get('from_id'), 'to_id': record.get('to_id'), 'at': record.get('at')})
    return min(by_version) if by_version else None


def _report_flags(entry, current, has_due, oldest):
    flags, problems = entry['flags'], entry['problems']
    if problems:
        flags.append('invalid')
    if entry['overdue']:
        flags.append('overdue')
    if entry['stuck']:
        flags.append('stuck')
    if current is None and not problems:
        flags.append('no_current')
    if current is not None and not has_due:
        flags.append('no_due_date')
    if not problems and any(h['action'] is None and (oldest is None or h['version'] > oldest) for h in entry['history']):
        flags.append('unrecorded_write')


def compute_report(raw_entries: list[tuple[str, str, Any, int, Any]], policy: dict[str, dict[str, int]], stuck_after: int,
                   history_entries: int, now: datetime.datetime, kv_mount: str | None = None,
                   prefix: str | None = None) -> dict[str, Any]:
    """The report over ``raw_entries``: a list of ``(name, path, data, version, kv_versions)``."""
    entries = [report_entry(name, path, data, version, kv_versions, policy, stuck_after, history_entries, now)
               for name, path, data, version, kv_versions in raw_entries]
    by_kind = {}
    for entry in entries:
        kind = entry['kind'] if entry['kind'] in KINDS else 'unknown'
        by_kind[kind] = by_kind.get(kind, 0) + 1
    summary = {'total': len(entries), 'overdue': sum(e['overdue'] for e in entries), 'stuck': sum(e['stuck'] for e in entries),
               'pending': sum(e['pending'] for e in entries), 'previous': sum(e['previous'] for e in entries),
               'invalid': sum(bool(e['problems']) for e in entries), 'by_kind': by_kind,
               'overdue_names': [e['name'] for e in entries if e['overdue']],
               'stuck_names': [e['name'] for e in entries if e['stuck']]}
    return {'generated_at': to_iso(now), 'kv_mount': kv_mount, 'prefix': prefix,
            'policy': dict((kind, dict((key, format_duration(value)) for key, value in rule.items()))
                           for kind, rule in sorted(policy.items())),
            'stuck_after': format_duration(stuck_after), 'summary': summary, 'entries': entries}


def _cell(value):
    text = '' if value is None else str(value)
    return text.replace('\\', '\\\\').replace('|', '\\|').replace('\n', ' ')


def report_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: a header, the summary and one table row per entry (no secret is in a report)."""
    summary = report['summary']
    lines = ['# Rotation report', '',
             'Generated %s from `%s/%s`. Policy: %s; pending is stuck after %s.' % (
                 report['generated_at'], report.get('kv_mount'), report.get('prefix'),
                 ', '.join('%s %s' % (kind, ' '.join('%s=%s' % (k, v) for k, v in sorted(rule.items())))
                           for kind, rule in sorted(report['policy'].items())), report['stuck_after']),
             '',
             '%d %s: %d overdue, %d stuck, %d with pending, %d with previous, %d invalid.' % (
                 summary['total'], 'entry' if summary['total'] == 1 else 'entries', summary['overdue'], summary['stuck'],
                 summary['pending'], summary['previous'],
                 summary['invalid']),
             '',
             '| Name | Kind | Phase | Current | Created | Age | Next due | Pending | Previous | Flags | Last change |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for e in report['entries']:
        last = e['history'][0] if e['history'] else {}
        last_text = 'v%s %s %s' % (last.get('version'), last.get('action') or 'unrecorded',
                                   last.get('created_time') or '') if last else ''
        pending = '%s (%s)' % (e['pending_id'], _human(e['pending_age'])) if e['pending'] else ''
        previous = e['previous_id'] if e['previous'] else ''
        lines.append('| ' + ' | '.join(_cell(v) for v in (
            e['name'], e['kind'], e['phase'], e['current_id'], e['created_at'], e['age_human'],
            ('%s (%s)' % (e['next_due'], e['due_in_human'])) if e['next_due'] else '', pending, previous,
            ', '.join(e['flags']), last_text.strip())) + ' |')
    return '\n'.join(lines) + '\n'


# --------------------------------------------------------------------------------------------- KV v2 store

class LedgerStore:
    """Ledger entries under ``<kv_mount>/<prefix>/`` through the shared KV v2 helper (check-and-set writes)."""

    def __init__(self, client: Any, opts: Any, kv_mount: str, prefix: str) -> None:
        self.kv_mount, self.prefix = kv_mount, prefix
        self.kv = KvV2(client, opts, kv_mount, option='kv_mount', purpose='the ledger', label='ledger entry')

    def path(self, name: str) -> str:
        return '%s/%s' % (self.prefix, name)

    def full_path(self, name: str) -> str:
        return '%s/%s' % (self.kv_mount, self.path(name))

    def check_mount(self) -> None:
        """Fail clearly when kv_mount is a KV version 1 mount or not KV at all (best effort, needs no extra policy)."""
        self.kv.check_mount()

    def read(self, name: str) -> tuple[dict[str, Any] | None, int]:
        """Return ``(data, version)``: ``data`` is ``None`` for a missing entry (version 0) or a deleted latest version."""
        return self.kv.read(self.path(name))

    def write(self, name: str, data: dict[str, Any], cas: int) -> int:
        """Write ``data`` only if the entry is still at version ``cas``; return the new version."""
        try:
            return self.kv.write(self.path(name), data, cas)
        except KvConflictError:
            raise ConcurrentRotationError(
                '%s: %s - ledger entry %s changed after it was read at version %d; nothing was changed, '
                'run again when the other rotation has finished' % (name, IN_PROGRESS, self.full_path(name), cas))

    def versions(self, name: str) -> dict[str, Any]:
        """KV version metadata of an entry: ``{"3": {created_time, deletion_time, destroyed}, ...}``."""
        return self.kv.metadata(self.path(name)).get('versions') or {}

    def names(self) -> list[str]:
        """Every entry name under the prefix (sub-folders included), sorted."""
        found, folders = [], ['']
        depth = 0
        while folders and depth < MAX_REPORT_DEPTH:
            depth += 1
            next_folders = []
            for folder in folders:
                for key in self.kv.list(self.prefix + ('/' + folder.rstrip('/') if folder else '')):
                    if key.endswith('/'):
                        next_folders.append(folder + key)
                    else:
                        found.append(folder + key)
            folders = next_folders
        return sorted(found)


# --------------------------------------------------------------------------------------------- module runner

_PRESENT = {'staged': 'stage', 'promoted': 'promote', 'retired': 'retire', 'aborted': 'abort', 'adopted': 'adopt',
            'replaced': 'replace'}


def _would(msg):
    """``promoted B to ...`` -> ``would promote B to ...`` (check mode)."""
    verb, _sep, rest = msg.partition(' ')
    return 'would %s %s' % (_PRESENT.get(verb, verb), rest)


def _item_name(thing: dict[str, Any]) -> str:
    """Names an item (its options) or its result in batch messages and diff headers."""
    return thing.get('name') or 'unnamed'


class Ledger:
    """Run one ``rotation_state`` task: validate everything, then read/plan/write each item with check-and-set.

    ``warn`` takes the warnings (default: collected in :attr:`warnings`); ``clock()`` is the current UTC time (tests).
    Seams: ``client``/``opts`` (else they come from the connection options in ``params``), ``store`` (a
    :class:`LedgerStore` stand-in), ``before_write`` (called after the read and before the write of each item; tests
    use it to line up concurrent writers).
    """

    def __init__(self, params: dict[str, Any], check_mode: bool = False, diff: bool = False, warn: Warn | None = None,
                 clock: Callable[[], datetime.datetime] | None = None, *, client: Any = None, opts: Any = None,
                 store: LedgerStore | None = None, before_write: Callable[[], None] | None = None) -> None:
        self.params = with_defaults(params, argument_spec())
        self.check_mode, self.diff = check_mode, diff
        self.warnings: list[str] = []
        self.warn = warn or self.warnings.append
        self.clock = clock or utcnow
        self.client, self.opts, self.store, self.before_write = client, opts, store, before_write
        self.single = not self.params.get('items')
        self.runner = BatchRunner('items', 'ledger entries', self.single, _item_name)

    # -- input
    def _task_options(self):
        p = self.params
        self.action = p['action']
        self.kv_mount = check_path_option(p['kv_mount'], 'kv_mount')
        self.prefix = check_path_option(p['prefix'], 'prefix')
        self.history_limit = p['history_limit']
        if not isinstance(self.history_limit, int) or not 1 <= self.history_limit <= 1000:
            raise RotationError('history_limit must be between 1 and 1000, got %r' % (self.history_limit,))
        self.history_entries = p['history_entries']
        if not isinstance(self.history_entries, int) or not 0 <= self.history_entries <= 100:
            raise RotationError('history_entries must be between 0 and 100, got %r' % (self.history_entries,))
        self.policy = normalize_policy(p.get('policy'))
        self.stuck_after = parse_duration(p['stuck_after'], name='stuck_after')

    def _options(self):
        """The task's requests, every item validated (nothing is read or written before); [] for a read of every entry
        and for the report."""
        self._task_options()
        p, action, items = self.params, self.action, self.params.get('items')
        self.names_filter = []
        if action == 'report' or (action == 'read' and not items and not p.get('name')):
            if action == 'report' and items:
                raise RotationError('action=report reads every entry under the prefix; it takes no items (use names)')
            self.names_filter = [check_name(n, 'names entry') for n in (p.get('names') or [])]
            return []
        if p.get('names'):
            raise RotationError('names is only used with action=report')
        if items is not None and not items:
            raise RotationError('items is empty')
        if not items and not p.get('name'):
            raise RotationError('name is required for action=%s (or give items)' % action)
        requests = self.runner.check_all(expand_batch(p, 'items', ITEM_KEYS), self._request)
        names = [r.name for r in requests]
        duplicates = sorted(set(n for n in names if names.count(n) > 1))
        if duplicates:
            raise RotationError('items name the same entry twice: %s' % ', '.join(duplicates))
        return requests

    def _request(self, values, index):
        request = Request(self.action, values['name'], values['kind'], values['id'], values['secret'], values['metadata'],
                          values['rotation_id'], bool(self.params['allow_unretired']), bool(self.params['force'])).validate()
        if self.action in ('stage', 'init'):
            # Validate the slot now, so that bad input in any item fails before the first write.
            make_slot(request.secret_id, request.secret, request.metadata, self.clock(), request.name, request.kind or 'pki')
        return request

    def _connect(self):
        if self.store is None:
            if self.client is None:
                self.client, self.opts = get_vault_connection(self.params)
            self.store = LedgerStore(self.client, self.opts, self.kv_mount, self.prefix)
        self.store.check_mount()

    # -- run
    def run(self) -> dict[str, Any]:
        """The task result: docs/results.md's shape for the entries named (``name`` or ``items``); ``entries`` for a
        read of every entry, ``report`` for the report."""
        requests = self._options()
        self._connect()
        if not requests:
            return self._report() if self.action == 'report' else self._read_all()
        results = self.runner.act_each(requests, self._one, self._failed)
        done = sum(1 for r in results if r['changed'])
        summary = '%s %d of %d ledger entries' % ('would change' if self.check_mode else 'changed', done, len(results))
        return self.runner.result(results, summary, want_diff=self.diff)

    def _failed(self, request, exc):
        """The result of an item that failed (nothing was written for it); the other items go on."""
        return {'name': request.name, 'path': self.store.full_path(request.name), 'changed': False, 'failed': True,
                'reason': 'in_progress' if isinstance(exc, ConcurrentRotationError) else 'error', 'msg': str(exc)}

    def _one(self, request):
        data, version = self.store.read(request.name)
        now = self.clock()
        warnings = []
        new, reason, msg, extra = plan(data, request, now, warnings.append)
        path = self.store.full_path(request.name)
        result = {'name': request.name, 'path': path, 'changed': new is not None, 'failed': False, 'reason': reason,
                  'resumed': bool(extra.pop('resumed', False)), 'exists': data is not None, 'version': version}
        result.update(extra)
        after, after_version = data, version
        if new is not None:
            finish_write(new, version, self.history_limit, now)
            if self.check_mode:
                msg, after_version = _would(msg), version + 1
            else:
                if self.before_write:
                    self.before_write()
                after_version = self.store.write(request.name, new, version)
            after = new
            result['exists'] = True
        for warning in warnings:  # only once the write landed: a lost race warns of nothing
            self.warn(warning)
        result.update(msg=msg, version=after_version, entry=public_view(after, request.name, path, after_version))
        if self.action in ('read', 'stage'):
            result['ledger'] = copy.deepcopy(after)
        if self.diff:
            result['diff'] = {'before': public_view(data, history=False) or {}, 'after': public_view(after, history=False) or {},
                              'before_header': path, 'after_header': path}
        return result

    def _names(self):
        # Given names are read directly (no LIST permission needed); a missing one shows up as invalid.
        if self.names_filter:
            return sorted(set(self.names_filter))
        return self.store.names()

    def _read_all(self):
        entries = []
        for name in self._names():
            data, version = self.store.read(name)
            if data is None:
                entries.append({'name': name, 'path': self.store.full_path(name), 'version': version, 'deleted': version > 0})
                continue
            entry = public_view(data, name, self.store.full_path(name), version)
            problems = check_entry(data)
            if problems:  # written by hand or by another tool: shown as far as it can be read, with what is wrong
                entry['problems'] = problems
            entries.append(entry)
        return {'changed': False, 'reason': 'read', 'entries': entries,
                'msg': 'read %d ledger entries under %s/%s' % (len(entries), self.kv_mount, self.prefix)}

    def _report(self):
        raw = []
        for name in self._names():
            data, version = self.store.read(name)
            raw.append((name, self.store.full_path(name), data, version, self.store.versions(name)))
        report = compute_report(raw, self.policy, self.stuck_after, self.history_entries, self.clock(),
                                self.kv_mount, self.prefix)
        s = report['summary']
        return {'changed': False, 'reason': 'report', 'report': report, 'report_markdown': report_markdown(report),
                'msg': 'report of %d ledger %s under %s/%s: %d overdue, %d stuck' % (
                    s['total'], 'entry' if s['total'] == 1 else 'entries', self.kv_mount, self.prefix, s['overdue'], s['stuck'])}
