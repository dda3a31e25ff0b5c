"""Decoding audit lines: the timestamp rules, and garbage sorted into parse errors and invalid
events the same way on the fast path and the careful one."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel.auditlog import AuditRecord, RecordDecoder
from watcher import Counters
from watcher._timefmt import EPOCH, format_us, from_us, to_us


def us(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
       micro: int = 0) -> int:
    return to_us(datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC) - EPOCH)


def line_with(ts: object, **extra: object) -> bytes:
    return orjson.dumps({"ts": ts, "event": "AUTH_FAILURE", "client": "10.0.0.7", **extra})


def decode(line: bytes) -> tuple[int | None, Counters]:
    """What the engine makes of one line: its time in us (None if none) and what was counted."""
    counters = Counters()
    decoder = RecordDecoder(["client"], counters)
    try:
        record = decoder.decode(line) if line.isascii() else decoder.careful(line)
    except (msgspec.DecodeError, RecursionError):
        record = decoder.careful(line)
    return (None if record is None else to_us(record.ts - EPOCH)), counters


def time_of(text: str) -> int | None:
    got, counters = decode(line_with(text))
    assert counters.parse_errors == 0
    assert counters.invalid_events == (1 if got is None else 0)
    return got


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-29T10:15:02.123456Z", us(2026, 11, 29, 10, 15, 2, 123456)),
    ("2024-02-29T12:00:00.000001Z", us(2024, 2, 29, 12, 0, 0, 1)),  # leap year
    ("2000-02-29T00:00:00.000000Z", us(2000, 2, 29)),  # a century that is a leap year
    ("2026-12-31T23:59:59.999999Z", us(2027, 1, 1) - 1),  # the last microsecond of a year
    ("1970-01-01T00:00:00.000000Z", 0),
    ("1969-12-31T23:59:59.999999Z", -1),  # before the epoch: floor, not truncation
    ("2026-11-29T10:15:02.123456+00:00", us(2026, 11, 29, 10, 15, 2, 123456)),
    ("2026-11-29T10:15:02.123456+01:00", us(2026, 11, 29, 9, 15, 2, 123456)),
    ("2026-11-29T00:15:02.123456-05:30", us(2026, 11, 29, 5, 45, 2, 123456)),
    ("2026-11-29T10:15:02.5Z", us(2026, 11, 29, 10, 15, 2, 500000)),
    ("2026-11-29T10:15:02Z", us(2026, 11, 29, 10, 15, 2)),
    ("2026-11-29 10:15:02.123456Z", us(2026, 11, 29, 10, 15, 2, 123456)),  # RFC 3339 allows
    ("2026-11-29T10:15:02.1234564Z", us(2026, 11, 29, 10, 15, 2, 123456)),  # rounded...
    ("2026-11-29T10:15:02.1234565Z", us(2026, 11, 29, 10, 15, 2, 123457)),
    ("2026-12-31T23:59:59.9999996Z", us(2027, 1, 1)),  # ...across the year if need be
])
def test_valid_timestamps_are_exact(text: str, expected: int) -> None:
    assert time_of(text) == expected


@pytest.mark.parametrize("text", [
    "2023-02-29T12:00:00.000000Z",  # not a leap year
    "1900-02-29T12:00:00.000000Z",  # a century that is not
    "2026-13-01T00:00:00.000000Z",
    "2026-11-31T00:00:00.000000Z",
    "2026-11-29T24:00:00.000000Z",
    "2026-11-29T10:60:00.000000Z",
    "2026-11-29T10:15:60.000000Z",  # no leap seconds
    "2026-11-29T10:15:02.123456",  # no zone: the hub always writes one
    "2026-11-29",
    "2026-11-29T10:15Z",
    "2026-11-29T10:15:0a.000000Z",
    "2026-11-29T10:15:02.12345aZ",
    "2026-11-29T10:15:02.\u0661\u0662\u0663\u0664\u0665\u0666Z",  # digits, but not ASCII ones
    "2026-11-29T10:15:\u0660\u0662.123456Z",
    "2026-11-29T10:15:02.²²²²²²Z",
    "2026-11-29T10:15:02. 12345Z",
    "2026-11-29T10:15:02.+12345Z",
    "2026-11-29T10:15:02.Z",
    "2026-11-29T10:15:02.123456ZZ",
    "2026/11/29T10:15:02.123456Z",
    "yesterday",
    "",
])
def test_invalid_timestamps_make_an_invalid_event(text: str) -> None:
    assert time_of(text) is None


@pytest.mark.parametrize("ts", [1_764_411_302, 1.5, None, True, ["2026-11-29T10:15:02Z"]])
def test_a_timestamp_that_is_no_string_makes_an_invalid_event(ts: object) -> None:
    got, counters = decode(line_with(ts))
    assert got is None and counters.invalid_events == 1 and counters.parse_errors == 0


_STRICT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)", re.ASCII)
_ALPHABET = st.sampled_from("0123456789-:.TZ +z/\u0663²_t")


def reference(text: str) -> int | None:
    """The standard library's reading of an RFC 3339 timestamp with a zone, or None."""
    try:
        moment = datetime.fromisoformat(text.upper().replace(" ", "T"))
    except ValueError:
        return None
    return None if moment.tzinfo is None else to_us(moment - EPOCH)


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=us(1900, 1, 1), max_value=us(2200, 1, 1)),
       st.lists(st.tuples(st.integers(0, 26), _ALPHABET), max_size=3))
def test_timestamps_agree_with_the_standard_library(moment_us: int,
                                                    edits: list[tuple[int, str]]) -> None:
    chars = list(format_us(moment_us))
    for index, char in edits:
        chars[index] = char
    text = "".join(chars)
    got = time_of(text)
    if _STRICT.fullmatch(text) or got is not None:  # the hub's own shape, and any RFC 3339 like it
        assert got == reference(text)


@pytest.mark.parametrize(("epoch_us", "text"), [
    (0, "1970-01-01T00:00:00.000000Z"),  # a fraction of zero is written out too
    (1, "1970-01-01T00:00:00.000001Z"),
    (-1, "1969-12-31T23:59:59.999999Z"),
    (us(2026, 11, 29, 10, 15, 2, 123456), "2026-11-29T10:15:02.123456Z"),
    (us(2026, 11, 29, 10, 15, 2), "2026-11-29T10:15:02.000000Z"),
    (us(1, 1, 1), "0001-01-01T00:00:00.000000Z"),  # four-digit years, as RFC 3339 has them
    (us(9999, 12, 31, 23, 59, 59, 999999), "9999-12-31T23:59:59.999999Z"),
])
def test_times_are_written_the_way_the_hub_writes_them(epoch_us: int, text: str) -> None:
    assert format_us(epoch_us) == text
    assert format_us(epoch_us) == text  # and again, from the cache
    assert time_of(text) == epoch_us


def test_the_round_trip_through_engine_time_is_exact() -> None:
    for epoch_us in (0, -1, 1, us(2026, 11, 29, 10, 15, 2, 123456), -(1 << 62), 1 << 50):
        assert to_us(from_us(epoch_us)) == epoch_us


_VALID = line_with("2026-11-29T10:15:02.123456Z")


@pytest.mark.parametrize(("line", "parse_errors", "invalid"), [
    (_VALID, 0, 0),
    (b"", 0, 0),  # blank lines are neither
    (b"  \t\r", 0, 0),
    (b"\x00\xff\xfe garbage", 1, 0),
    (b'{"ts": "2026-11-29T10:15:02Z", "event": "A"', 1, 0),  # cut off
    (b"[1, 2]", 1, 0),  # JSON, but no object
    (b'"a string"', 1, 0),
    (b"42", 1, 0),
    (b"\xef\xbb\xbf" + _VALID, 1, 0),  # a byte order mark is not JSON
    (_VALID[:-1] + b',"x":"\xff"}', 1, 0),  # bad UTF-8 in a field the rules never read
    (_VALID[:-1] + b',"x":"\\ud800"}', 1, 0),  # a lone surrogate
    (_VALID[:-1] + b',"x":NaN}', 1, 0),
    (_VALID[:-1] + b',"x":1e400}', 0, 0),  # JSON puts no bound on numbers...
    (_VALID[:-1] + b',"x":1e400,"path":"/n\xc3\xb6des"}', 0, 0),  # ...ASCII or not
    (_VALID[:-1] + b',"x":' + b"9" * 5000 + b"}", 0, 0),
    (_VALID[:-1] + b',"x":' + b"9" * 5000 + b',"path":"/n\xc3\xb6des"}', 0, 0),
    (b'{"ts":"2026-11-29T10:15:02Z","event":"A","client":' + b"9" * 5000 + b"}", 0, 1),
    (_VALID[:-1] + b',"x":' + b"[" * 5000 + b"]" * 5000 + b"}", 1, 0),  # too deep
    (_VALID + b" {}", 1, 0),  # two values on one line
    (b'{"ts":5,"event":"A","x":tru}', 1, 0),  # the type is wrong early, the JSON late
    (b'{"event": "AUTH_FAILURE"}', 0, 1),  # no ts
    (b'{"ts": "2026-11-29T10:15:02Z"}', 0, 1),  # no event
    (line_with("2026-11-29T10:15:02Z", event=["AUTH_FAILURE"]), 0, 1),  # no string
    (line_with("2026-11-29T10:15:02Z", event=7), 0, 1),
    ("{\"ts\":\"2026-11-29T10:15:02Z\",\"event\":\"A\",\"path\":\"/n\u00f6des\"}".encode(), 0, 0),
    ("{\"ts\":\"2026-11-29T10:15:02Z\",\"event\":\"A\",\"client\":\"\u00e9\"}".encode(), 0, 0),
    ("{\"ts\":\"2026-11-29T10:15:02\u00e9Z\",\"event\":\"A\"}".encode(), 0, 1),
])
def test_lines_are_sorted_into_events_parse_errors_and_invalid_events(
        line: bytes, parse_errors: int, invalid: int) -> None:
    got, counters = decode(line)
    assert (counters.parse_errors, counters.invalid_events) == (parse_errors, invalid)
    assert (got is not None) == (line.strip() != b"" and parse_errors + invalid == 0)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["ts", "event", "client", "path", "x"]), _JSON),
       st.booleans(), st.booleans())
def test_the_fast_and_the_careful_path_agree(obj: dict[str, object], hub_ts: bool,
                                             ascii_only: bool) -> None:
    if hub_ts:
        obj["ts"] = "2026-11-29T10:15:02.123456Z"
    # The standard library writes big integers and lone surrogates, which orjson refuses;
    # without ensure_ascii a surrogate becomes bytes that are no UTF-8.
    line = json.dumps(obj, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    fast_counts = Counters()
    decoder = RecordDecoder(["client", "path"], fast_counts)
    fast: AuditRecord | None
    try:
        fast = decoder.decode(line)
    except (msgspec.DecodeError, RecursionError):
        fast = decoder.careful(line)
    careful_counts = Counters()
    careful = RecordDecoder(["client", "path"], careful_counts).careful(line)
    assert fast_counts == careful_counts
    assert (fast is None) == (careful is None)
    if fast is not None and careful is not None:
        assert (fast.ts, fast.event) == (careful.ts, careful.event)
        # AuditRecord is the protocol; both paths decode into msgspec structs
        assert isinstance(fast, msgspec.Struct) and isinstance(careful, msgspec.Struct)
        assert msgspec.structs.asdict(fast) == msgspec.structs.asdict(careful)
