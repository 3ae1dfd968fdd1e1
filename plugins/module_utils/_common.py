# -*- coding: utf-8 -*-
# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module of the collection shares: running the module's action (an :class:`OperatorError` becomes
``fail_json(msg=...)``, secrets never reach a failed result), batch expansion (a list of items, each falling back
to the task's top-level options), the one batch result shape (docs/results.md), spec defaults and UTC time helpers.

Private to the collection: the leading underscore means no compatibility promise to other collections.
"""

from __future__ import annotations

import datetime
from typing import Any, Callable, Container, Iterable

from ansible.module_utils.basic import missing_required_lib

# RotationError is re-exported: the logic modules and their tests take it from here.
from ansible_collections.secops.rotation.plugins.module_utils._errors import (  # noqa: F401  pylint: disable=unused-import
    MissingLibraryError, OperatorError, RotationError)


# Result keys that hold a secret in any module of the collection. A failed result never carries them (see
# run_module); a module names its own further secret keys with ``secret_keys``.
SECRET_RESULT_KEYS = ('password', 'secret_access_key', 'session_token', 'private_key')


def strip_secrets(value: Any, keys: Container[str]) -> Any:
    """Remove every dict key in ``keys`` from ``value`` (dicts and lists, at any depth), in place; returns ``value``."""
    if isinstance(value, dict):
        for key in [key for key in value if key in keys]:
            del value[key]
        for inner in value.values():
            strip_secrets(inner, keys)
    elif isinstance(value, list):
        for inner in value:
            strip_secrets(inner, keys)
    return value


def _pop_warnings(result: dict) -> list[str]:
    """The warnings of the result and of its ``results`` entries, removed from them, in order, each once."""
    found = []
    for holder in [result] + [entry for entry in result.get('results') or [] if isinstance(entry, dict)]:
        warnings = holder.pop('warnings', None) or []
        for warning in warnings if isinstance(warnings, list) else [warnings]:
            if warning not in found:
                found.append(warning)
    return found


def run_module(module: Any, action: Callable[[], dict], secret_keys: Iterable[str] = (), **fail_extra: Any) -> None:
    """Call ``action()`` and exit the module with the result dict it returns, or fail with a clear ``msg``.

    A result with ``failed: True`` (e.g. a batch where one item failed) is reported with ``fail_json``, **without its
    secrets**: a task that fails prints its whole result, whether it is registered or not, so every key of
    :data:`SECRET_RESULT_KEYS` and ``secret_keys`` (the module's own secret return values, e.g. ``ledger``) is removed
    from it at any depth (top level, ``results`` entries, nested dicts). A failure result carries ids and reasons;
    a module whose new secret must not be lost stores it in Vault or revokes it before failing, and says which.

    ``warnings`` of the result and of its ``results`` entries go to ``module.warn`` (ansible-core 2.19 deprecates
    ``warnings`` passed to ``exit_json``/``fail_json``). A :class:`MissingLibraryError` is reported with Ansible's
    ``missing_required_lib`` message. Anything else than an :class:`OperatorError` is a bug and lets Ansible show the
    traceback.
    """
    try:
        result = action()
    except MissingLibraryError as exc:
        module.fail_json(msg=missing_required_lib(exc.library, reason='for %s' % exc.reason if exc.reason else None), exception=exc.import_error, **fail_extra)
    except OperatorError as exc:
        result = dict(fail_extra, failed=True, msg=str(exc))
    for warning in _pop_warnings(result):
        module.warn(warning)
    if result.get('failed'):
        strip_secrets(result, frozenset(SECRET_RESULT_KEYS) | frozenset(secret_keys))
    if getattr(module, 'no_log', False) and isinstance(result.get('results'), list):
        # ansible-core takes a ``results`` list for loop results: under ``no_log: true`` it censors only the entries
        # that carry ``_ansible_no_log`` and prints the others at -v, secrets included. Mark every entry.
        for entry in result['results']:
            if isinstance(entry, dict):
                entry['_ansible_no_log'] = True
    if result.get('failed'):
        result.pop('failed')
        module.fail_json(**result)
    module.exit_json(**result)


def merge_argument_specs(*specs: dict) -> dict:
    """One argument spec from several (module options + connection options); a name defined twice is a bug."""
    merged = {}
    for spec in specs:
        for name, option in spec.items():
            if name in merged:
                raise ValueError('option %s is defined twice' % name)
            merged[name] = option
    return merged


def batch_argument_spec(item_options: dict, list_key: str, required: str | None = None) -> dict:
    """Argument spec of a batch module's per-item options, the counterpart of :func:`expand_batch`.

    Every option of ``item_options`` is a top-level option (with its default), and ``list_key`` is a list of
    dicts taking the same options without their defaults, so that an item falls back to the task's value for
    what it leaves unset. ``required`` names the option each item must set (not required at the top level,
    where the list may be used instead).
    """
    spec, items = {}, {}
    for name, option in item_options.items():
        spec[name] = dict(option)
        items[name] = dict((key, value) for key, value in option.items() if key != 'default')
        if name == required:
            items[name]['required'] = True
    spec[list_key] = dict(type='list', elements='dict', options=items)
    return spec


def expand_batch(params: dict, list_key: str, keys: Iterable[str]) -> list[dict]:
    """Return the work items of a task: ``params[list_key]`` if given, else one item from the top-level options.

    Each item takes, for every name in ``keys`` it leaves unset (``None``), the task's top-level value, so
    common settings are written once and items override them.
    """
    items = params.get(list_key)
    if not items:
        return [dict((key, params.get(key)) for key in keys)]
    expanded = []
    for item in items:
        merged = dict((key, params.get(key)) for key in keys)
        merged.update(dict((key, value) for key, value in item.items() if value is not None))
        expanded.append(merged)
    return expanded


def spec_defaults(spec: dict) -> dict:
    """``{option: default}`` for every option of an argument spec that has a default (the spec is the one source)."""
    return dict((name, option['default']) for name, option in spec.items() if option.get('default') is not None)


def with_defaults(params: dict, spec: dict) -> dict:
    """A copy of ``params`` where every option the spec gives a default and ``params`` leaves unset (missing or
    ``None``) takes that default: what AnsibleModule does, for logic classes built from partial params in tests."""
    filled = dict(params)
    for name, default in spec_defaults(spec).items():
        if filled.get(name) is None:
            filled[name] = default
    return filled


# ----------------------------------------------------------------------------------------------- batch results

def count_reasons(results: Iterable[dict]) -> dict[str, int]:
    """``{reason: number of items}`` over the items' results."""
    counts = {}
    for res in results:
        counts[res.get('reason')] = counts.get(res.get('reason'), 0) + 1
    return counts


def common_reason(results: Iterable[dict]) -> str | None:
    """The reason every item has, else ``mixed`` (``None`` for no item)."""
    reasons = set(res.get('reason') for res in results)
    if not reasons:
        return None
    return reasons.pop() if len(reasons) == 1 else 'mixed'


def _diff_with_headers(diff: dict, name: str | None) -> dict:
    diff = dict(diff)
    if name is not None:
        diff.setdefault('before_header', name)
        diff.setdefault('after_header', name)
    return diff


def batch_result(results: list[dict], single: bool, summary: str, failure: str | None = None, notes: Iterable[str] = (),
                 want_diff: bool = False, name: Callable[[dict], str] | None = None) -> dict:
    """The task result of a module that works on one item or a list of them: the one shape of docs/results.md.

    ``results`` are the per-item dicts (each with ``changed``, ``failed``, ``reason``, ``msg`` and the module's item
    fields, optionally a ``diff``, which is taken out of them). ``single``: no list was given. ``summary``: the
    batch's one-line account (ignored for a single item, whose ``msg`` is the task's); ``failure``: the sentence that
    names the failed items (batch only, when one failed); ``notes``: what else the operator must know (roll backs,
    withheld content), appended in order. ``name(result)`` names an item in the headers of a batch's diffs.

    * ``changed``: any item changed; ``failed``: any item failed (``run_module`` then calls ``fail_json``).
    * ``reason``: the items' common reason, else ``mixed``; ``reasons``: ``{reason: count}``.
    * ``msg``: single: the item's; batch: ``<failure>; <notes>; <summary>``.
    * ``diff`` (only when ``want_diff``): single: the item's ``{before, after, ...}``; batch: a list of the items'
      diffs in item order, each headed by the item's name.
    * single: the item's fields are also at the top level (not ``failed``, not ``diff``).
    """
    diffs = [(res, res.pop('diff')) for res in results if res.get('diff') is not None]
    failed = [res for res in results if res.get('failed')]
    result = {}
    if single and results:
        result.update((key, value) for key, value in results[0].items() if key != 'failed')
        msg = '; '.join([str(results[0].get('msg') or '')] + list(notes))
    else:
        parts = ([failure] if failed and failure else []) + list(notes) + [summary]
        msg = '; '.join(part for part in parts if part)
    result.update(changed=any(res.get('changed') for res in results), failed=bool(failed),
                  reason=common_reason(results), reasons=count_reasons(results), msg=msg, results=results)
    if want_diff and diffs:
        if single:
            result['diff'] = diffs[0][1]
        else:
            result['diff'] = [_diff_with_headers(diff, name(res) if name else None) for res, diff in diffs]
    return result


def describe_failures(failed: list[dict], total: int, what: str, name: Callable[[dict], str]) -> str:
    """``2 of 5 users failed: alice: <msg>; bob: <msg>`` (a message that already starts with the name is kept)."""
    parts = []
    for res in failed:
        label, msg = name(res), str(res.get('msg'))
        parts.append(msg if msg.startswith('%s: ' % label) else '%s: %s' % (label, msg))
    return '%d of %d %s failed: %s' % (len(failed), total, what, '; '.join(parts))


class BatchRunner:
    """The steps every batch module takes, in order: validate every item before anything is changed (one error names
    each bad item), act on each item (an :class:`OperatorError` fails that item only; the others go on), let the
    module roll back what a failed batch must not keep, and build the result with :func:`batch_result`.

    ``list_key`` is the option that takes the list (``users``, ``roles``, ...), ``what`` the plural noun for messages,
    ``name(thing)`` names an item or a result (``alice``, ``database/creds/app``).
    """

    def __init__(self, list_key: str, what: str, single: bool, name: Callable[[Any], str]) -> None:
        self.list_key = list_key
        self.what = what
        self.single = single
        self.name = name

    def check_all(self, things: Iterable[Any], check: Callable[[Any, int], Any]) -> list:
        """``[check(thing, index) ...]``; if any raises an :class:`OperatorError`, one :class:`RotationError` names every
        failed item and says that nothing was changed."""
        done, errors = [], []
        for index, thing in enumerate(things):
            try:
                done.append(check(thing, index))
            except MissingLibraryError:
                raise  # the host lacks a library: the task's error (missing_required_lib), not an item's
            except OperatorError as exc:
                errors.append(str(exc) if self.single else '%s[%d] (%s): %s' % (self.list_key, index, self.name(thing), exc))
        if errors:
            raise RotationError('; '.join(errors) + ('' if self.single else ' - nothing was changed'))
        return done

    def act_each(self, plans: Iterable[Any], act: Callable[[Any], dict],
                 failed_result: Callable[[Any, OperatorError], dict]) -> list[dict]:
        """``act(plan)`` for each plan, in order; an :class:`OperatorError` becomes ``failed_result(plan, exc)``."""
        results = []
        for plan in plans:
            try:
                results.append(act(plan))
            except MissingLibraryError:
                raise  # the host lacks a library: the task's error (missing_required_lib), not an item's
            except OperatorError as exc:
                results.append(failed_result(plan, exc))
        return results

    def result(self, results: list[dict], summary: str, notes: Iterable[str] = (), want_diff: bool = False,
               failure: str | None = None) -> dict:
        """The task result (:func:`batch_result`); the failure sentence defaults to :func:`describe_failures`."""
        failed = [res for res in results if res.get('failed')]
        if failed and failure is None and not self.single:
            failure = describe_failures(failed, len(results), self.what, self.name)
        return batch_result(results, self.single, summary, failure=failure, notes=notes, want_diff=want_diff,
                            name=self.name)


def backoff_delays(initial: float, cap: float, factor: float = 2.0, count: int | None = None,
                   total: float | None = None) -> list[float]:
    """Pauses between retries: ``initial``, ``initial * factor``, ... each at most ``cap``.

    At most ``count`` pauses, and/or pauses adding up to exactly ``total`` seconds (the last one shortened).
    """
    if count is None and total is None:
        raise ValueError('backoff_delays needs count or total')
    delays, spent, delay = [], 0.0, float(initial)
    while (count is None or len(delays) < count) and (total is None or spent < total):
        step = min(delay, cap) if total is None else min(delay, cap, total - spent)
        delays.append(step)
        spent += step
        delay *= factor
    return delays


def utcnow() -> datetime.datetime:
    """The current time, timezone-aware UTC, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def to_iso(moment: datetime.datetime | None) -> str | None:
    """UTC ISO 8601 with a ``Z``: ``2026-11-26T11:00:00Z`` (``None`` stays ``None``)."""
    if moment is None:
        return None
    # isoformat, not strftime('%Y'): glibc does not zero-pad years before 1000, which parse_iso could not read back.
    return moment.astimezone(datetime.timezone.utc).replace(microsecond=0, tzinfo=None).isoformat() + 'Z'


def parse_iso(text: str | datetime.datetime) -> datetime.datetime:
    """Parse an ISO 8601 time as Vault, AWS and this collection write it; naive times are taken as UTC.

    Raises ``ValueError`` (never ``OverflowError``) for what is no time, and for a time whose UTC value falls outside
    the calendar (``0001-01-01T00:00:00+01:00``); callers turn it into a message naming the field.
    """
    try:
        if isinstance(text, datetime.datetime):
            moment = text
        else:
            value = str(text).strip()
            if value.endswith('Z'):
                value = value[:-1] + '+00:00'
            # Vault writes nanoseconds; datetime takes at most microseconds.
            if '.' in value:
                head, tail = value.split('.', 1)
                count = len(tail) - len(tail.lstrip('0123456789'))
                digits, zone = tail[:count], tail[count:]
                value = '%s.%s%s' % (head, digits[:6].ljust(6, '0'), zone)
            moment = datetime.datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.timezone.utc)
        return moment.astimezone(datetime.timezone.utc)
    except (ValueError, OverflowError) as exc:
        raise ValueError('invalid time %r: %s' % (text, 'out of range' if isinstance(exc, OverflowError) else exc))
