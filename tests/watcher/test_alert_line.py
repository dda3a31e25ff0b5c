"""An alert line is its ``to_dict`` as JSON, byte for byte, however its times are written."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from otel import terminal_safe_json
from watcher._alert import Alert, AlertState
from watcher._timefmt import MAX_TIME, MIN_TIME, to_us

_US = st.one_of(st.integers(to_us(MIN_TIME), to_us(MAX_TIME)),
                st.integers(to_us(MIN_TIME) // 1_000_000, to_us(MAX_TIME) // 1_000_000).map(
                    lambda s: s * 1_000_000),  # whole seconds
                st.sampled_from([0, -1, 1, 999_999, 1_000_000, to_us(MIN_TIME), to_us(MAX_TIME)]))
_VALUES = st.one_of(st.text(max_size=20), st.integers(-(1 << 63), (1 << 63) - 1), st.none())


@settings(max_examples=2000)
@given(ts=_US, first=_US, last=_US, state=st.sampled_from(AlertState),
       window_us=st.integers(1, 7 * 86_400_000_000),
       group=st.lists(st.tuples(st.sampled_from(["client", "path", "port"]), _VALUES),
                      max_size=3))
def test_the_line_is_the_dict_as_json(ts: int, first: int, last: int, state: AlertState,
                                      window_us: int,
                                      group: list[tuple[str, str | int | None]]) -> None:
    alert = Alert(ts_us=ts, alert_id="a" * 24, rule="r", event="AUTH_FAILURE", state=state,
                  severity="warning", count=11, threshold=10, window_us=window_us,
                  group=tuple(group), first_seen_us=first, last_seen_us=last)
    line = alert.to_line()
    # The dict as JSON, a C1 control or bidi override in a group value as an escape.
    assert line == terminal_safe_json(msgspec.json.encode(alert.to_dict()) + b"\n")
    assert msgspec.json.decode(line) == alert.to_dict()


def test_a_whole_second_keeps_its_fraction() -> None:
    alert = Alert(ts_us=1_735_689_600_000_000, alert_id="a" * 24, rule="r", event="E",
                  state=AlertState.RESOLVED, severity="info", count=1, threshold=0,
                  window_us=60_000_000, group=(), first_seen_us=-62_135_596_800_000_000,
                  last_seen_us=1_735_689_600_000_001)
    assert alert.to_line() == (
        b'{"ts":"2025-01-01T00:00:00.000000Z","alert_id":"' + b"a" * 24 + b'","rule":"r",'
        b'"event":"E","state":"resolved","severity":"info","count":1,"threshold":0,'
        b'"window_s":60,"group":{},"first_seen":"0001-01-01T00:00:00.000000Z",'
        b'"last_seen":"2025-01-01T00:00:00.000001Z"}\n')
