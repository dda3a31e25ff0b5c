"""The frame, drawn into a recording console: text and styles, never a live terminal."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from sheratan_ops.top.model import AlertsTail, AlertState, PlaneReading, WatcherStatus
from sheratan_ops.top.render import render
from tests.top.conftest import (
    CALM_CONTROL,
    CALM_DATA,
    NOW,
    alert,
    draw,
    line_segments,
    snap,
    style_of,
    watcher_ok,
)


def _row(text: str, key: str) -> str:
    """The first line inside a panel that holds ``key`` (not the summary under the verdict)."""
    return next(line for line in text.splitlines() if key in line and "│" in line)


def test_a_calm_hub_reads_ok_and_shows_both_planes_numbers() -> None:
    text = draw(render(snap({**CALM_CONTROL, "nodes_online": 6}, {**CALM_DATA, "queue_depth": 4})))
    assert " OK " in text
    assert "6" in _row(text, "nodes_online")
    assert "4" in _row(text, "queue_depth")
    assert "unreachable" not in text and "over" not in text


def test_an_unreachable_plane_is_one_clear_line_and_the_other_plane_still_shows() -> None:
    frame = render(snap("hub unreachable: connection refused", CALM_DATA))
    text = draw(frame)
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "✗ hub unreachable" in line)
    assert "connection refused" in lines[at + 1]  # the reason right under the verdict
    headline = style_of(line_segments(frame, "✗ hub unreachable"), "hub unreachable")
    assert headline.bold and headline.color is not None and headline.color.name == "red"
    assert "control plane unreachable" in text  # the summary under the verdict
    assert " ALERT " in text
    assert "queue_depth" in text and "nodes_online" not in text


def test_both_planes_unreachable_says_so_at_the_top() -> None:
    down = "hub unreachable: no answer within the timeout"
    text = draw(render(snap(down, down)))
    assert "HUB UNREACHABLE" in text
    assert text.count("✗ hub unreachable") == 2
    assert text.count("no answer within the timeout") == 2


def test_metrics_unavailable_for_another_reason_is_not_called_unreachable() -> None:
    error = "metrics unavailable (HTTP 503: metrics_unavailable collect_failed)"
    text = draw(render(snap(error)), width=160)
    assert f"✗ {error}" in text and "unreachable" not in text
    assert "control plane no metrics" in text


def test_a_hub_with_metrics_disabled_is_up_not_unreachable() -> None:
    planes = [PlaneReading(plane, f"http://127.0.0.1:{port}", metrics_off="disabled",
                           error="hub up, metrics disabled (disabled)")
              for plane, port in (("control", 8787), ("data", 8788))]
    frame = render(dataclasses.replace(snap(), control=planes[0], data=planes[1]))
    text = draw(frame, width=160)
    assert "UNREACHABLE" not in text and "unreachable" not in text and " ATTENTION " in text
    assert text.count("✓ hub up · metrics disabled") == 2
    assert text.count("reason: disabled (OTEL_SDK_DISABLED=true on the hub)") == 2
    assert "control plane up, metrics disabled" in text


def test_stale_nodes_stand_out_in_yellow_and_dead_nodes_in_red() -> None:
    frame = render(snap({**CALM_CONTROL, "nodes_stale": 2, "nodes_dead": 1}))
    stale = style_of(line_segments(frame, "nodes_stale"), "2")
    dead = style_of(line_segments(frame, "nodes_dead"), "1")
    online = style_of(line_segments(frame, "nodes_online"), "3")
    assert stale.bold and stale.color is not None and stale.color.name == "yellow"
    assert dead.bold and dead.color is not None and dead.color.name == "red"
    assert online.color is None  # a healthy number is not coloured
    text = draw(frame)
    assert "1 node dead" in text and "2 nodes stale" in text


def test_zero_stale_and_dead_nodes_are_not_highlighted() -> None:
    frame = render(snap(CALM_CONTROL))
    assert style_of(line_segments(frame, "nodes_stale"), "0").color is None
    assert style_of(line_segments(frame, "nodes_dead"), "0").color is None


@pytest.mark.parametrize(("key", "limit"), [("auth_fail_rate_1m", 10),
                                            ("port_mismatch_rate_1m", 5)])
def test_a_rate_above_the_watchers_default_threshold_is_red(key: str, limit: int) -> None:
    at_limit = render(snap({**CALM_CONTROL, key: limit}))
    above = render(snap({**CALM_CONTROL, key: limit + 1}))
    # The watcher fires on a count greater than the threshold, so the limit itself is calm.
    assert style_of(line_segments(at_limit, key), str(limit)).color is None
    assert f"limit {limit}" in _row(draw(at_limit), key)
    style = style_of(line_segments(above, key), str(limit + 1))
    assert style.bold and style.color is not None and style.color.name == "red"
    assert f"over {limit}" in _row(draw(above), key)
    assert f"{key} > {limit}" in draw(above)


def test_arrows_compare_with_the_previous_refresh() -> None:
    before = snap({**CALM_CONTROL, "auth_fail_rate_1m": 3, "nodes_online": 3},
                  {**CALM_DATA, "retry_rate_1m": 5, "queue_depth": 2})
    now = snap({**CALM_CONTROL, "auth_fail_rate_1m": 12, "nodes_online": 3},
               {**CALM_DATA, "retry_rate_1m": 2, "queue_depth": 2})
    frame = render(now, before)
    text = draw(frame)
    assert "12 ↑" in _row(text, "auth_fail_rate_1m")
    assert "2 ↓" in _row(text, "retry_rate_1m")
    assert "↑" not in _row(text, "nodes_online") and "↓" not in _row(text, "nodes_online")
    assert "↑" not in _row(text, "queue_depth") and "↓" not in _row(text, "queue_depth")
    # A rising failure rate is red, a falling one green.
    rising = style_of(line_segments(frame, "auth_fail_rate_1m"), "↑")
    falling = style_of(line_segments(frame, "retry_rate_1m"), "↓")
    assert rising.color is not None and rising.color.name == "red"
    assert falling.color is not None and falling.color.name == "green"


def test_fewer_online_nodes_is_the_bad_direction() -> None:
    frame = render(snap({**CALM_CONTROL, "nodes_online": 2}), snap(CALM_CONTROL))
    down = style_of(line_segments(frame, "nodes_online"), "↓")
    assert down.color is not None and down.color.name == "red"
    rising = render(snap({**CALM_CONTROL, "nodes_online": 2}), snap({**CALM_CONTROL,
                                                                    "nodes_online": 1}))
    up = style_of(line_segments(rising, "nodes_online"), "↑")
    assert up.color is not None and up.color.name == "green"


def test_no_arrows_on_the_first_frame_or_after_an_unreachable_one() -> None:
    now = snap({**CALM_CONTROL, "auth_fail_rate_1m": 12})
    for previous in (None, snap("hub unreachable: connection refused")):
        text = draw(render(now, previous))
        assert "↑" not in text and "↓" not in text


def test_firing_alerts_are_highlighted_and_resolved_ones_marked() -> None:
    alerts = AlertsTail("home/logs/alerts.jsonl", firing=1, rows=(
        alert("b", AlertState.FIRING, rule="port_mismatch_burst", still_firing=True,
              group={"client": "10.0.0.9"}, ts="2026-11-29T10:15:00Z"),
        alert("a", AlertState.RESOLVED, ts="2026-11-29T10:14:30Z"),
        alert("a", AlertState.FIRING, ts="2026-11-29T10:14:00Z"),
    ))
    frame = render(snap(alerts=alerts))
    text = draw(frame)
    assert "alerts: 1 firing" in text and "1 alert firing" in text
    firing = _row(text, "port_mismatch_burst")
    assert "● FIRING" in firing and "client=10.0.0.9" in firing and "10:15:00" in firing
    assert "✓ resolved" in _row(text, "10:14:30")
    earlier = _row(text, "10:14:00")
    assert "firing" in earlier and "●" not in earlier  # an episode that has since resolved
    style = style_of(line_segments(frame, "port_mismatch_burst"), "● FIRING")
    assert style.bold and style.color is not None and style.color.name == "red"
    assert text.index("10:15:00") < text.index("10:14:30") < text.index("10:14:00")


def test_no_alerts_and_malformed_lines_are_said_plainly() -> None:
    assert "no alerts yet" in draw(render(snap()))
    text = draw(render(snap(alerts=AlertsTail("a.jsonl", skipped=3))), width=120)
    assert "no valid alerts" in text and "3 malformed line(s) skipped" in text
    unreadable = draw(render(snap(alerts=AlertsTail("a.jsonl", error="Permission denied"))))
    assert "alerts unreadable: Permission denied" in unreadable
    assert "alerts: unknown" in unreadable and "none firing" not in unreadable
    assert " ATTENTION " in unreadable.splitlines()[0]
    assert unreadable.splitlines()[1].strip() == "alerts unreadable"  # said at the top too


def test_an_alert_from_another_day_shows_its_date() -> None:
    rows = (alert("a", AlertState.FIRING, still_firing=True, ts="2026-11-27T23:59:00Z"),)
    text = draw(render(snap(alerts=AlertsTail("a.jsonl", rows=rows, firing=1))))
    assert "11-27 23:59" in text


def test_watcher_missing_malformed_and_silent() -> None:
    missing = draw(render(snap(watcher=WatcherStatus("w.json", missing=True))))
    assert "no watcher status yet" in missing and "watcher: no watcher status" in missing
    bad = draw(render(snap(watcher=WatcherStatus("w.json", error="not valid JSON"))))
    assert "watcher status unreadable: not valid JSON" in bad
    ok = draw(render(snap()))
    assert "following" in ok and "pid 4242" in ok and "updated 1s ago" in ok
    assert "ATTENTION" not in ok
    later = draw(render(snap(taken_at=NOW + timedelta(minutes=5))))
    assert "silent for" in later and "ATTENTION" in later
    stopped = draw(render(snap(watcher=watcher_ok(state="stopped"))))
    assert "watcher: stopped" in stopped


def test_it_fits_80_columns_side_by_side_and_stacks_when_narrower() -> None:
    frame = render(snap())
    wide = draw(frame, width=80).splitlines()
    assert all(len(line) <= 80 for line in wide)
    assert any("control plane" in line and "data plane" in line for line in wide)
    narrow = draw(frame, width=60).splitlines()
    assert not any("control plane" in line and "data plane" in line for line in narrow)


def test_severity_and_window_columns_only_when_wide() -> None:
    rows = (alert("a", AlertState.FIRING, still_firing=True),)
    frame = render(snap(alerts=AlertsTail("a.jsonl", rows=rows, firing=1)))
    assert "severity" not in draw(frame, width=80)
    wide = draw(frame, width=120)
    assert "severity" in wide and "warning" in wide and "60s" in wide


def test_a_full_screen_frame_fills_the_height_and_says_what_it_cut() -> None:
    rows = tuple(alert(f"id{i}", AlertState.FIRING, still_firing=True,
                       ts=f"2026-11-29T10:{i:02d}:00Z") for i in range(20))
    frame = render(snap(alerts=AlertsTail("a.jsonl", rows=rows, firing=20)), height=24,
                   hint="every 2 s · Ctrl+C quits")
    lines = draw(frame, width=80).splitlines()
    assert len(lines) == 24
    assert "older not shown" in lines[-1]
    assert "every 2 s" in lines[0]
    # A natural-height frame (``--once``) keeps every row.
    assert draw(render(snap(alerts=AlertsTail("a.jsonl", rows=rows, firing=20))),
                width=80).count("● FIRING") == 20


def test_the_summary_breaks_between_reasons_never_inside_one() -> None:
    frame = render(snap({**CALM_CONTROL, "nodes_dead": 1, "nodes_stale": 2,
                         "auth_fail_rate_1m": 24, "port_mismatch_rate_1m": 14},
                        "hub unreachable: connection refused"))
    lines = draw(frame, width=60).splitlines()
    summary = lines[1:lines.index(next(line for line in lines if "╭" in line))]
    assert len(summary) > 1
    reasons = [r.strip() for line in summary for r in line.split("·")]
    assert reasons == ["data plane unreachable", "1 node dead", "auth_fail_rate_1m > 10",
                       "port_mismatch_rate_1m > 5", "2 nodes stale"]
