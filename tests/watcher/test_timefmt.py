"""Timestamp parsing: the per-minute fast path agrees exactly with the general ISO parser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watcher._timefmt import TimestampParser, format_us

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def reference(text: str) -> int | None:
    """What the general parser makes of ``text``: microseconds since the epoch, or None."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def us(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
       micro: int = 0) -> int:
    moment = datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1)


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-29T10:15:02.123456Z", us(2026, 11, 29, 10, 15, 2, 123456)),
    ("2024-02-29T12:00:00.000001Z", us(2024, 2, 29, 12, 0, 0, 1)),  # leap year
    ("2000-02-29T00:00:00.000000Z", us(2000, 2, 29)),  # a century that is a leap year
    ("2026-12-31T23:59:59.999999Z", us(2027, 1, 1) - 1),  # the last microsecond of a year
    ("2027-01-01T00:00:00.000000Z", us(2027, 1, 1)),
    ("1970-01-01T00:00:00.000000Z", 0),
    ("1969-12-31T23:59:59.999999Z", -1),  # before the epoch: floor, not truncation
    ("2026-11-29T10:15:02.123456+00:00", us(2026, 11, 29, 10, 15, 2, 123456)),
    ("2026-11-29T10:15:02.123456+01:00", us(2026, 11, 29, 9, 15, 2, 123456)),
    ("2026-11-29T00:15:02.123456-05:30", us(2026, 11, 29, 5, 45, 2, 123456)),
    ("2026-11-29T10:15:02.123456", us(2026, 11, 29, 10, 15, 2, 123456)),  # naive is UTC
    ("2026-11-29T10:15:02.5Z", us(2026, 11, 29, 10, 15, 2, 500000)),
    ("2026-11-29T10:15:02.1234567Z", us(2026, 11, 29, 10, 15, 2, 123456)),
    ("2026-11-29T10:15:02Z", us(2026, 11, 29, 10, 15, 2)),
    ("2026-11-29 10:15:02.123456Z", us(2026, 11, 29, 10, 15, 2, 123456)),
])
def test_valid_timestamps_are_exact(text: str, expected: int) -> None:
    parser = TimestampParser()
    assert parser.parse(text) == expected
    assert parser.parse(text) == expected  # again, from the cache
    assert reference(text) == expected


@pytest.mark.parametrize("text", [
    "2023-02-29T12:00:00.000000Z",  # not a leap year
    "1900-02-29T12:00:00.000000Z",  # a century that is not
    "2026-13-01T00:00:00.000000Z",
    "2026-11-31T00:00:00.000000Z",
    "2026-11-29T24:00:00.000000Z",
    "2026-11-29T10:60:00.000000Z",
    "2026-11-29T10:15:60.000000Z",  # no leap seconds
    "2026-11-29T10:15:0a.000000Z",
    "2026-11-29T10:15:02.12345aZ",
    "2026-11-29T10:15:02.\u0661\u0662\u0663\u0664\u0665\u0666Z",  # digits, but not ASCII ones
    "2026-11-29T10:15:\u0660\u0662.123456Z",
    "2026-11-29T10:1\u0665:02.123456Z",
    "2026-11-29T10:15:02.²²²²²²Z",
    "2026-11-29T10:15:02. 12345Z",
    "2026-11-29T10:15:02.+12345Z",
    "2026-11-29T10:15:02.-12345Z",
    "2026-11-29T10:15:02.1_2345Z",
    "2026-11-29T10:15:02.123456z",
    "2026-11-29T10:15:02.123456ZZ",
    "2026/11/29T10:15:02.123456Z",
    "yesterday",
    "",
])
def test_invalid_timestamps_are_rejected_even_when_their_minute_is_cached(text: str) -> None:
    parser = TimestampParser()
    for warm in ("2026-11-29T10:15:02.000000Z", "2023-02-28T12:00:00.000000Z",
                 "2026-11-29T10:15:59.999999Z"):
        assert parser.parse(warm) is not None
    assert parser.parse(text) is None
    assert reference(text) is None


_HUB_ALPHABET = st.sampled_from("0123456789-:.TZ +z/\u0663²_")


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=us(1900, 1, 1), max_value=us(2200, 1, 1)),
       st.lists(st.tuples(st.integers(0, 26), _HUB_ALPHABET), max_size=3))
def test_the_fast_path_agrees_with_the_general_parser(moment_us: int,
                                                      edits: list[tuple[int, str]]) -> None:
    text = list(format_us(moment_us))
    for index, char in edits:
        text[index] = char
    mutated = "".join(text)
    cold = TimestampParser()
    warm = TimestampParser()
    warm.parse(format_us(moment_us))  # the minute (and second) of the original is cached
    assert cold.parse(mutated) == reference(mutated)
    assert warm.parse(mutated) == reference(mutated)


def test_the_minute_cache_is_bounded() -> None:
    parser = TimestampParser()
    for minute in range(10_000):
        parser.parse(format_us(minute * 60_000_000))
    assert 0 < len(parser.minutes) <= 4096
    assert parser.parse(format_us(5 * 60_000_000 + 7)) == 5 * 60_000_000 + 7
