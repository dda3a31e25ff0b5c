"""A line stamped far beyond the wall clock is counted and ignored: it never moves the clock."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pytest

from tests.watcher.conftest import T0_S, CliRunner, Home, burst, read_alerts, write_lines
from watcher import Counters, Engine, Watcher, WatchPaths, default_rules, replay
from watcher._engine import MAX_FUTURE_SKEW_S

FAR_FUTURE = orjson.dumps({"ts": "9999-12-31T23:59:59.999999Z", "event": "FOO",
                           "client": "1.2.3.4"})


class FakeWall:
    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


def test_a_far_future_line_neither_moves_the_clock_nor_blinds_the_engine() -> None:
    counters = Counters()
    engine = Engine(default_rules(), counters, wall_clock=FakeWall(T0_S + 3600))
    engine.feed([FAR_FUTURE, *burst(0, 20)])
    alerts = engine.take_alerts()
    assert [a.state.value for a in alerts] == ["firing"]
    assert counters.future_events == 1
    assert counters.late_events == 0
    assert engine.clock_us == (T0_S + 19) * 1_000_000


def test_a_matching_future_line_never_reaches_a_window() -> None:
    counters = Counters()
    engine = Engine(default_rules(), counters, wall_clock=FakeWall(T0_S))
    future = burst(MAX_FUTURE_SKEW_S + 1, 11)  # would fire, were it believed
    engine.feed(future)
    assert engine.take_alerts() == []
    assert counters.future_events == 11
    assert engine.clock_us is None


def test_skew_within_the_bound_is_accepted() -> None:
    counters = Counters()
    engine = Engine(default_rules(), counters, wall_clock=FakeWall(T0_S))
    engine.feed(burst(MAX_FUTURE_SKEW_S - 11, 11))  # the hub's clock runs a little fast
    assert len(engine.take_alerts()) == 1
    assert counters.future_events == 0


def test_the_bound_follows_the_wall_clock_between_feeds() -> None:
    wall = FakeWall(T0_S)
    counters = Counters()
    engine = Engine(default_rules(), counters, wall_clock=wall)
    lines = burst(1000, 11)
    engine.feed(lines)
    assert counters.future_events == 11
    wall.now_s = T0_S + 1000  # now those lines are the present
    engine.feed(lines)
    assert len(engine.take_alerts()) == 1


def test_replay_cli_ignores_the_far_future_line(run_cli: CliRunner, tmp_path: Path) -> None:
    log = tmp_path / "ff.jsonl"
    write_lines(log, [FAR_FUTURE, *burst(0, 20, client="10.0.0.9")])
    out = tmp_path / "a.jsonl"
    result = run_cli("--replay", str(log), "--alerts", str(out))
    assert result.code == 0, result.err
    assert [a["state"] for a in read_alerts(out)] == ["firing"]
    assert "future=1 " in result.out


def test_replay_is_unchanged_by_the_wall_clock_for_past_logs(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    write_lines(log, [*burst(0, 11), *burst(200, 30, step_s=0.5)])
    outs = []
    for wall in (T0_S + 300, T0_S + 86_400 * 365):
        out = tmp_path / f"out-{wall}.jsonl"
        replay(default_rules(), log, out, wall_clock=FakeWall(wall))
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert outs[0].count(b'"firing"') >= 2


def test_once_counts_future_events_in_the_status_file(run_cli: CliRunner, home: Home) -> None:
    write_lines(home.log, [FAR_FUTURE, *burst(0, 20, client="10.0.0.9")])
    result = run_cli("--once")
    assert result.code == 0, result.err
    assert len(read_alerts(home.alerts)) == 1
    status = orjson.loads((home.state / "watcher_status.json").read_bytes())
    assert status["future_events"] == 1
    checkpoint = orjson.loads((home.state / "watcher_checkpoint.json").read_bytes())
    assert checkpoint["engine"]["clock_us"] == (T0_S + 19) * 1_000_000


def test_a_checkpoint_poisoned_by_a_future_clock_is_recovered_exactly_once(
    home: Home, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A watcher whose wall clock says 9999 accepts the line and saves its clock, as every
    # watcher did before the bound existed. The burst after that line is then "late".
    first = burst(0, 11, client="10.0.0.1")
    blinded = burst(100, 11, client="10.0.0.2")
    write_lines(home.log, [*first, FAR_FUTURE, *blinded])
    paths = WatchPaths(log=home.log, alerts=home.alerts, state_dir=home.state)
    poisoned = Watcher(default_rules(), paths, wall_clock=FakeWall(253_402_300_800.0),
                       idle_advance=False)
    poisoned.poll()
    poisoned.close()
    # The far-future clock resolved the first burst, then every later line was late.
    assert [a["state"] for a in read_alerts(home.alerts)] == ["firing", "resolved"]
    assert poisoned.counters.late_events == 11
    # Today's watcher refuses that clock, rereads the log and skips what is already written.
    with caplog.at_level(logging.WARNING):
        fixed = Watcher(default_rules(), paths, wall_clock=FakeWall(T0_S + 3600),
                        idle_advance=False)
    assert "beyond the wall clock" in caplog.text
    fixed.poll()
    fixed.close()
    expected = tmp_path / "expected.jsonl"
    replay(default_rules(), home.log, expected, wall_clock=FakeWall(T0_S + 3600))
    assert read_alerts(home.alerts) == read_alerts(expected)
    assert [a["state"] for a in read_alerts(home.alerts)] == ["firing", "resolved", "firing"]
    assert fixed.counters.alerts_suppressed == 2
