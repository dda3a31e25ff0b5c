"""Alerts are stale, not firing, when no watcher runs: judged from its status file (state,
age against its own intervals, its pid), with the hub supervisor's restarts beside it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from sheratan_ops.top.liveness import pid_alive, writer_alive
from sheratan_ops.top.model import (
    AlertsTail,
    AlertState,
    SupervisorStatus,
    WatcherStatus,
    silent_after_s,
    watcher_down,
)
from sheratan_ops.top.render import render
from sheratan_ops.top.sources import read_supervisor_status, read_watcher_status
from tests.top.conftest import NOW, alert, draw, line_segments, snap, style_of, watcher_ok

_FIRING = AlertsTail("home/logs/alerts.jsonl", firing=2, rows=(
    alert("b", AlertState.FIRING, still_firing=True, rule="port_mismatch_burst",
          group={"client": "10.0.0.9"}, ts="2026-11-29T10:14:50Z"),
    alert("a", AlertState.FIRING, still_firing=True, ts="2026-11-29T10:14:00Z"),
))


def _row(text: str, key: str) -> str:
    return next(line for line in text.splitlines() if key in line and "│" in line)


def test_alerts_of_a_running_watcher_are_firing() -> None:
    text = draw(render(snap(alerts=_FIRING, watcher=watcher_ok(interval_ms=200))))
    assert "2 alerts firing" in text and "alerts: 2 firing" in text
    assert " ALERT " in text.splitlines()[0]
    assert "● FIRING" in _row(text, "port_mismatch_burst")
    assert "alerts stale" not in text and "◌" not in text


@pytest.mark.parametrize(("watcher", "reason"), [
    (watcher_ok(state="stopped", stop_reason="signal SIGTERM"), "watcher stopped"),
    (WatcherStatus("home/state/watcher_status.json", missing=True), "no watcher status"),
    (WatcherStatus("w.json", fields={"state": "following", "pid": 4242},
                   updated_at=NOW - timedelta(seconds=1), pid_alive=False),
     "watcher pid 4242 gone"),
    (watcher_ok(interval_ms=200, status_interval_ms=1000), "watcher silent for 5m"),
], ids=["stopped", "no_status", "pid_gone", "silent"])
def test_alerts_are_stale_with_why_when_no_watcher_runs(watcher: WatcherStatus,
                                                        reason: str) -> None:
    taken_at = NOW + timedelta(minutes=5) if "silent" in reason else NOW
    frame = render(snap(alerts=_FIRING, watcher=watcher, taken_at=taken_at))
    text = draw(frame, width=120)
    assert f"2 alerts stale ({reason})" in text.splitlines()[1]
    assert f"alerts: 2 stale ({reason}; last known firing)" in text
    assert " ATTENTION " in text.splitlines()[0]  # not ALERT: nothing is known to fire
    assert "FIRING" not in text and "alerts firing" not in text
    row = _row(text, "port_mismatch_burst")
    assert "◌ stale" in row and "client=10.0.0.9" in row
    style = style_of(line_segments(frame, "port_mismatch_burst", width=120), "◌ stale")
    assert not style.bold and style.color is not None and style.color.name == "yellow"


def test_silence_is_judged_against_the_watchers_own_intervals() -> None:
    quick = watcher_ok(interval_ms=200, status_interval_ms=1000)
    slow = watcher_ok(interval_ms=60_000, status_interval_ms=1000)
    assert silent_after_s(quick) == 10 and silent_after_s(slow) == 300
    assert silent_after_s(watcher_ok()) == 10  # an older watcher, without the fields
    two_min = NOW + timedelta(minutes=2)
    assert watcher_down(quick, two_min) == "watcher silent for 2m"
    assert watcher_down(slow, two_min) is None
    assert watcher_down(quick, NOW) is None


def test_an_unreadable_status_never_hides_a_firing_alert() -> None:
    bad = WatcherStatus("w.json", error="not valid JSON")
    assert watcher_down(bad, NOW) is None
    text = draw(render(snap(alerts=_FIRING, watcher=bad)))
    assert "2 alerts firing" in text and "watcher status unreadable" in text


def _supervisor(**fields: str | int) -> SupervisorStatus:
    base: dict[str, str | int] = {"hub_pid": 777, "state": "running", "restarts": 0}
    base.update(fields)
    return SupervisorStatus("home/state/watcher_supervisor.json", fields=base)


def test_the_hubs_restarts_and_last_exit_are_shown() -> None:
    running = _supervisor(restarts=2, last_exit_code=-9, last_exit_at="2026-11-29T10:14:03Z")
    text = draw(render(snap(watcher=watcher_ok(), supervisor=running)), width=120)
    line = _row(text, "hub pid 777")
    assert "(--watcher): running" in line and "restarts 2" in line
    assert "last exit signal 9 at 10:14:03" in line and "hung" not in line
    hung = _supervisor(restarts=3, last_exit_code=-9, last_exit_reason="hung",
                       last_exit_at="2026-11-29T10:14:03Z")
    line = _row(draw(render(snap(supervisor=hung)), width=120), "hub pid 777")
    assert "last exit signal 9 (killed as hung) at 10:14:03" in line
    restarting = _supervisor(state="restarting", restarts=3, last_exit_code=1,
                             next_start_at="2026-11-29T10:15:08Z")
    line = _row(draw(render(snap(supervisor=restarting)), width=120), "hub pid 777")
    assert "restarting it at 10:15:08" in line and "last exit code 1" in line
    locked = _supervisor(state="locked", last_exit_code=3,
                         next_start_at="2026-11-29T10:16:00Z")
    line = _row(draw(render(snap(supervisor=locked)), width=120), "hub pid 777")
    assert "another watcher holds the lock; trying again at 10:16:00" in line
    gone = SupervisorStatus("s.json", fields={"hub_pid": 777, "state": "running",
                                              "restarts": 0}, hub_alive=False)
    assert "that hub is gone" in _row(draw(render(snap(supervisor=gone)), width=120),
                                      "hub pid 777")
    assert "hub pid" not in draw(render(snap()))  # no hub ran with --watcher here


def _started(offset_s: float = 0.0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).isoformat()


def test_a_live_pid_is_alive_and_a_dead_or_reused_one_is_not() -> None:
    me = os.getpid()
    assert pid_alive(me, datetime.now(UTC)) is True
    assert pid_alive(me, None) is True
    # This process was created long after a watcher that started an hour ago: pid reuse.
    assert pid_alive(me, datetime.now(UTC) - timedelta(hours=1)) is False
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    assert pid_alive(int(done.stdout), None) is False
    host = socket.gethostname()
    assert writer_alive({"pid": me, "host": host, "started_at": _started()}) is True
    assert writer_alive({"pid": me, "host": "another-host", "started_at": _started()}) is None
    assert writer_alive({"state": "following"}) is None
    assert writer_alive({"hub_pid": me}, pid_key="hub_pid") is True


def test_the_status_reader_asks_whether_its_writer_runs(tmp_path: Path) -> None:
    path = tmp_path / "watcher_status.json"
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    fields = {"state": "following", "pid": int(done.stdout), "host": socket.gethostname(),
              "started_at": _started(-5), "updated_at": _started()}
    path.write_bytes(orjson.dumps(fields))
    assert read_watcher_status(path).pid_alive is False
    path.write_bytes(orjson.dumps({**fields, "pid": os.getpid(), "started_at": _started()}))
    assert read_watcher_status(path).pid_alive is True
    path.write_bytes(orjson.dumps({**fields, "state": "stopped"}))
    assert read_watcher_status(path).pid_alive is None  # stopped says enough


def test_the_supervisor_status_is_read_when_there(tmp_path: Path) -> None:
    path = tmp_path / "watcher_supervisor.json"
    assert read_supervisor_status(path) is None
    path.write_bytes(b"not json")
    assert read_supervisor_status(path) is None
    path.write_bytes(orjson.dumps({"hub_pid": os.getpid(), "host": socket.gethostname(),
                                   "started_at": _started(), "state": "restarting",
                                   "restarts": 4, "last_exit_code": 1, "watcher_pid": None}))
    status = read_supervisor_status(path)
    assert status is not None and status.hub_alive is True
    assert status.fields["restarts"] == 4 and "watcher_pid" not in status.fields
