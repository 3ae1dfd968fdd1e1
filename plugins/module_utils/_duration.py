# -*- coding: utf-8 -*-
# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse and format the durations that rotation options take (``lease_threshold: 15m``, ``ttl: 90d``).

Accepted input for :func:`parse_duration`:

* an ``int`` (not a ``bool``): seconds;
* a string of ASCII digits: seconds (``"3600"``);
* a string of ``<number><unit>`` parts with units ``w`` (7 days), ``d``, ``h``, ``m``, ``s``, each unit at
  most once and in that (descending) order: ``"90d"``, ``"2160h"``, ``"1h30m"``, ``"1w2d"``, ``"1d12h"``.
  Units are case-insensitive and surrounding whitespace is ignored, but spaces *inside* the value
  (``"1h 30m"``) are rejected so that a value has exactly one spelling.

Deliberately rejected: floats (even whole ones such as ``3600.0``: a duration is a count of seconds and a
float usually means a unit mistake), fractions (``"1.5h"``; write ``"1h30m"``), signs, negative values,
zero (unless ``allow_zero=True``) and anything longer than 100 years (36500 days), which is always a typo.

:func:`format_duration` returns the compact form using ``d``, ``h``, ``m`` and ``s`` (never ``w``, so
90 days is ``"90d"`` rather than ``"12w6d"``), and ``parse_duration(format_duration(x)) == x``.

Private to the collection: the leading underscore means no compatibility promise to other collections.
"""

from __future__ import annotations

import re

from ansible_collections.secops.rotation.plugins.module_utils._errors import OperatorError

MAX_DURATION = 36500 * 86400  # 100 years of 365 days

_UNITS = (('w', 7 * 86400), ('d', 86400), ('h', 3600), ('m', 60), ('s', 1))
_FORMAT_UNITS = _UNITS[1:]  # format without weeks: "90d" reads better than "12w6d"
_DURATION_RE = re.compile(''.join(r'(?:(?P<%s>[0-9]+)%s)?' % (unit, unit) for unit, dummy in _UNITS), re.IGNORECASE)
_HINT = 'use seconds or a combination like 90d, 2160h, 1h30m, 15m, 30s'


class DurationError(OperatorError, ValueError):
    """A duration option has an invalid value; the message names the option and the value."""


def parse_duration(value: int | str, name: str = 'duration', allow_zero: bool = False) -> int:
    """Return ``value`` as a number of seconds (``int``), or raise :class:`DurationError`.

    ``name`` is the option name used in error messages.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str):
        text = value.strip()
        match = _DURATION_RE.fullmatch(text)
        # len() guard: int() refuses huge digit strings (Python >= 3.11), and they are over the maximum anyway
        if not text or len(text) > 40 or (match is None and not (text.isdigit() and text.isascii())):
            raise DurationError('%s: invalid duration %r; %s' % (name, value, _HINT))
        if match is None:
            seconds = int(text)
        else:
            seconds = sum(int(match.group(unit) or 0) * factor for unit, factor in _UNITS)
    else:
        raise DurationError('%s: invalid duration %r (a %s); %s' % (name, value, type(value).__name__, _HINT))

    if seconds < 0:
        raise DurationError('%s: invalid duration %r: must not be negative; %s' % (name, value, _HINT))
    if seconds == 0 and not allow_zero:
        raise DurationError('%s: invalid duration %r: must be greater than zero; %s' % (name, value, _HINT))
    if seconds > MAX_DURATION:
        raise DurationError('%s: invalid duration %r: longer than the maximum of 100 years (36500d)' % (name, value))
    return seconds


def format_duration(seconds: int) -> str:
    """Return the compact form of a number of seconds: ``5400 -> "1h30m"``, ``7776000 -> "90d"``, ``0 -> "0s"``."""
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise TypeError('format_duration() needs an int number of seconds, got %r' % (seconds,))
    if seconds < 0:
        raise ValueError('format_duration() needs a non-negative number of seconds, got %r' % (seconds,))
    parts = []
    for unit, factor in _FORMAT_UNITS:
        count, seconds = divmod(seconds, factor)
        if count:
            parts.append('%d%s' % (count, unit))
    return ''.join(parts) or '0s'
