"""Follow mode on a live log: once the log is idle, wall time may resolve alerts."""

from __future__ import annotations

import orjson

from tests.watcher.conftest import T0_S, Home, burst, read_alerts, ts, write_lines
from watcher import Watcher, WatchPaths, default_rules


class FakeWall:
    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


def test_an_idle_live_log_resolves_by_wall_time(home: Home) -> None:
    wall = FakeWall(T0_S + 10.5)  # the hub is writing now: event time tracks the wall clock
    write_lines(home.log, burst(0, 11))
    paths = WatchPaths(log=home.log, alerts=home.alerts, state_dir=home.state)
    watcher = Watcher(default_rules(), paths, wall_clock=wall)
    watcher.poll()
    watcher.idle()
    assert [a["state"] for a in read_alerts(home.alerts)] == ["firing"]
    wall.now_s = T0_S + 75  # no new line for a minute
    watcher.idle()
    watcher.close()
    alerts = read_alerts(home.alerts)
    assert [a["state"] for a in alerts] == ["firing", "resolved"]
    assert alerts[1]["ts"] == ts(60)  # the exact moment, not when it was noticed


def test_a_log_of_old_events_stays_purely_event_time(home: Home) -> None:
    wall = FakeWall(T0_S + 86_400)  # a day later: replaying history, not live
    write_lines(home.log, burst(0, 11))
    paths = WatchPaths(log=home.log, alerts=home.alerts, state_dir=home.state)
    watcher = Watcher(default_rules(), paths, wall_clock=wall)
    watcher.poll()
    watcher.idle()
    watcher.close()
    assert [a["state"] for a in read_alerts(home.alerts)] == ["firing"]
    checkpoint = orjson.loads((home.state / "watcher_checkpoint.json").read_bytes())
    assert checkpoint["engine"]["clock_us"] == (T0_S + 10) * 1_000_000
