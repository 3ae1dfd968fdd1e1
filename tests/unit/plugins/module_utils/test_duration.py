# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


import pytest

from ansible_collections.secops.rotation.plugins.module_utils._duration import (
    MAX_DURATION,
    DurationError,
    format_duration,
    parse_duration,
)

DAY = 86400


@pytest.mark.parametrize('value, expected', [
    (3600, 3600),
    (1, 1),
    ('3600', 3600),
    ('007', 7),
    ('90d', 90 * DAY),
    ('2160h', 90 * DAY),
    ('1h30m', 5400),
    ('15m', 900),
    ('30s', 30),
    ('1w2d', 9 * DAY),
    ('1d12h', 36 * 3600),
    ('1w1d1h1m1s', 7 * DAY + DAY + 3600 + 60 + 1),
    ('  15m\n', 900),
    ('1H30M', 5400),
    ('36500d', MAX_DURATION),
])
def test_parse_good(value, expected):
    assert parse_duration(value) == expected


@pytest.mark.parametrize('value', [
    None, True, False, 1.5, 3600.0, -5, [], {'h': 1},
    '-5', '+5', '', '  ', 'abc', '5x', 'h', '1h1h', '30m1h', '1.5h', '10d5', '1 h 30 m', '1h 30m',
    '1d-2h', '0x10', '\u0663\u0660', '²', '36501d', MAX_DURATION + 1, '9' * 5000,
])
def test_parse_bad(value):
    with pytest.raises(DurationError) as excinfo:
        parse_duration(value, name='lease_threshold')
    message = str(excinfo.value)
    assert message.startswith('lease_threshold: invalid duration ')
    assert repr(value) in message
    assert isinstance(excinfo.value, ValueError)


def test_error_message_shows_accepted_format():
    with pytest.raises(DurationError, match=r"^lease_threshold: invalid duration 'abc'; use seconds or a combination like 90d, 2160h, 1h30m, 15m, 30s$"):
        parse_duration('abc', name='lease_threshold')


def test_default_name():
    with pytest.raises(DurationError, match=r"^duration: invalid duration 'x'"):
        parse_duration('x')


@pytest.mark.parametrize('value', [0, '0', '0s', '0h0m', ' 0 '])
def test_zero(value):
    with pytest.raises(DurationError, match='must be greater than zero'):
        parse_duration(value, name='ttl')
    assert parse_duration(value, name='ttl', allow_zero=True) == 0


@pytest.mark.parametrize('seconds, expected', [
    (0, '0s'), (1, '1s'), (59, '59s'), (60, '1m'), (5400, '1h30m'), (90 * DAY, '90d'), (7 * DAY, '7d'),
    (DAY + 1, '1d1s'), (DAY + 3661, '1d1h1m1s'),
])
def test_format(seconds, expected):
    assert format_duration(seconds) == expected


@pytest.mark.parametrize('seconds', list(range(0, 200000, 997)) + [DAY - 1, 90 * DAY, 90 * DAY + 1, MAX_DURATION])
def test_round_trip(seconds):
    assert parse_duration(format_duration(seconds), allow_zero=True) == seconds


@pytest.mark.parametrize('value, exc', [(-1, ValueError), (True, TypeError), (1.5, TypeError), ('60', TypeError)])
def test_format_bad(value, exc):
    with pytest.raises(exc):
        format_duration(value)
