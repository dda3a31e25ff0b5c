"""The watcher's cycle does the file I/O it needs, and no more."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import BinaryIO

import orjson
import pytest

import otel._files
import otel.auditlog._tail as tail_module
import watcher._checkpoint
import watcher._replay
import watcher._runner
import watcher._status
from otel.auditlog import KEEP_ROTATED
from tests.watcher.conftest import (
    T0_S,
    CliRunner,
    Home,
    audit,
    burst,
    read_alerts,
    ts,
    write_lines,
)
from watcher import MAX_LINE_BYTES, Checkpoint, Watcher, WatchPaths, default_rules
from watcher._runner import IDLE_CHECKPOINT_INTERVAL_S, IDLE_GRACE_S


def _count_log_io(monkeypatch: pytest.MonkeyPatch, log: Path) -> Counter[str]:
    """Counts stats and opens of ``log`` and its rotated siblings."""
    counts: Counter[str] = Counter()
    real_stat, real_open = Path.stat, otel._files.open_shared

    def stat(self: Path, *, follow_symlinks: bool = True) -> os.stat_result:
        if self.name.startswith(log.name):
            counts["stat"] += 1
        return real_stat(self, follow_symlinks=follow_symlinks)

    def open_shared(path: Path) -> BinaryIO:
        counts["open"] += 1
        return real_open(path)

    monkeypatch.setattr(Path, "stat", stat)
    monkeypatch.setattr(tail_module, "open_shared", open_shared)
    return counts


def _paths(home: Home) -> WatchPaths:
    return WatchPaths(log=home.log, alerts=home.alerts, state_dir=home.state)


def test_a_poll_that_finds_data_looks_at_the_log_once(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_lines(home.log, burst(0, 3, event="LEAK_BLOCKED"))
    watcher = Watcher(default_rules(), _paths(home), idle_advance=False)
    watcher.poll()
    write_lines(home.log, burst(10, 4, event="LEAK_BLOCKED"))
    counts = _count_log_io(monkeypatch, home.log)
    assert watcher.poll() == 4
    # One look at the rotation chain, one fingerprint check, one read; no second pass to
    # learn that nothing followed.
    assert counts == {"stat": KEEP_ROTATED + 1, "open": 2}
    counts.clear()
    assert watcher.poll() == 0
    assert counts == {"stat": KEEP_ROTATED + 1, "open": 1}


def test_one_poll_still_follows_a_rotation_and_a_read_cut_short(home: Home) -> None:
    read_bytes = MAX_LINE_BYTES + 2
    write_lines(home.log, burst(0, 3, event="LEAK_BLOCKED"))
    watcher = Watcher(default_rules(), _paths(home), idle_advance=False, read_bytes=read_bytes)
    assert watcher.poll() == 3
    write_lines(home.log, burst(10, 2, event="LEAK_BLOCKED"))
    os.replace(home.log, home.log.with_name(f"{home.log.name}.1"))
    line = audit(20, "LEAK_BLOCKED")
    count = 3 * read_bytes // (len(line) + 1)  # three reads' worth in the new file
    write_lines(home.log, [audit(20 + i * 0.001, "LEAK_BLOCKED") for i in range(count)])
    assert watcher.poll() == 2 + count
    assert watcher.counters.rotations == 1
    assert watcher.lag_bytes == 0


class Clocks:
    """The wall clock (event time on a live log) and the monotonic clock, moved together."""

    def __init__(self, wall_s: float) -> None:
        self.wall_s = wall_s
        self.mono_s = 1000.0

    def wall(self) -> float:
        return self.wall_s

    def tick(self, seconds: float) -> None:
        self.wall_s += seconds
        self.mono_s += seconds


@pytest.fixture
def clocks(monkeypatch: pytest.MonkeyPatch) -> Clocks:
    clocks = Clocks(T0_S + 10.5)  # the hub is writing now: event time tracks the wall clock
    monkeypatch.setattr(watcher._runner, "time", SimpleNamespace(monotonic=lambda: clocks.mono_s))
    return clocks


@pytest.fixture
def saves(monkeypatch: pytest.MonkeyPatch) -> list[Checkpoint]:
    """Every checkpoint the watcher saves, in order."""
    saved: list[Checkpoint] = []
    real = watcher._checkpoint.save_checkpoint

    def save(path: Path, checkpoint: Checkpoint) -> None:
        saved.append(checkpoint)
        real(path, checkpoint)

    monkeypatch.setattr(watcher._runner, "save_checkpoint", save)
    return saved


def _clock_us(checkpoint: Checkpoint) -> object:
    assert checkpoint.engine is not None
    return checkpoint.engine["clock_us"]


def test_an_idle_live_log_checkpoints_a_clock_advance_rarely_and_alerts_at_once(
    home: Home, clocks: Clocks, saves: list[Checkpoint]
) -> None:
    write_lines(home.log, burst(0, 11))
    watcher = Watcher(default_rules(), _paths(home), wall_clock=clocks.wall)
    watcher.poll()
    assert [a["state"] for a in read_alerts(home.alerts)] == ["firing"]
    saves.clear()
    for _ in range(40):  # idle polls a second apart, every one moving the clock
        clocks.tick(1.0)
        watcher.idle()
    assert len(saves) == 40 // int(IDLE_CHECKPOINT_INTERVAL_S)
    clocks.tick(25.0)  # the burst leaves the window: the resolve is durable at once
    watcher.idle()
    assert [a["state"] for a in read_alerts(home.alerts)] == ["firing", "resolved"]
    assert len(saves) == 2
    assert saves[-1].alerts_bytes == home.alerts.stat().st_size


def test_close_saves_only_what_no_checkpoint_holds_yet(
    home: Home, clocks: Clocks, saves: list[Checkpoint]
) -> None:
    write_lines(home.log, burst(8, 3, event="LEAK_BLOCKED"))  # live: up to the wall clock
    watcher = Watcher(default_rules(), _paths(home), wall_clock=clocks.wall)
    watcher.poll()
    assert len(saves) == 1
    watcher.close()
    assert len(saves) == 1  # the poll's checkpoint already holds everything
    clocks.tick(5.0)
    watcher.idle()  # an idle clock advance, not checkpointed yet
    assert len(saves) == 1
    watcher.close()
    watcher.close()
    assert len(saves) == 2
    assert _clock_us(saves[-1]) == round((clocks.wall_s - IDLE_GRACE_S) * 1_000_000)


def test_an_unsaved_idle_advance_lost_to_a_crash_keeps_alerts_exactly_once(
    home: Home, clocks: Clocks
) -> None:
    write_lines(home.log, burst(0, 11))
    first = Watcher(default_rules(), _paths(home), wall_clock=clocks.wall)
    first.poll()
    clocks.tick(5.0)
    first.idle()  # then killed: the advance never reached a checkpoint
    clocks.tick(70.0)
    write_lines(home.log, [audit(clocks.wall_s - T0_S, "LEAK_BLOCKED")])
    second = Watcher(default_rules(), _paths(home), wall_clock=clocks.wall)
    second.poll()
    second.idle()
    second.close()
    alerts = read_alerts(home.alerts)
    assert [a["state"] for a in alerts] == ["firing", "resolved"]
    assert len({a["alert_id"] for a in alerts}) == 1


def test_once_writes_the_status_file_once(
    run_cli: CliRunner, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[str] = []
    real = watcher._status.write_json_atomic

    def write(path: Path, payload: object, *, durable: bool) -> None:
        written.append(path.name)
        real(path, payload, durable=durable)

    monkeypatch.setattr(watcher._status, "write_json_atomic", write)
    write_lines(home.log, burst(0, 3))
    assert run_cli("--once").code == 0
    assert written == ["watcher_status.json"]
    status = orjson.loads((home.state / "watcher_status.json").read_bytes())
    assert (status["state"], status["lines_read"]) == ("stopped", 3)


def test_bad_utf8_in_a_field_no_rule_reads_is_a_parse_error_whatever_the_chunking(
        home: Home, tmp_path: Path, run_cli: CliRunner) -> None:
    # The reader checks whole chunks for ASCII and the fast path trusts that: a chunk with one
    # non-ASCII byte must send its lines through the careful decoder, or bytes in a field the
    # rules never read would go unchecked.
    lines = burst(0, 11)
    lines.insert(3, audit(1.5)[:-1] + b',"note":"\xff\xfe"}')  # no UTF-8
    lines.insert(6, audit(2.5, path="/n\u00f6des"))  # UTF-8, and fine
    write_lines(home.log, lines)
    counts = watcher._status.Counters()
    chunks = list(tail_module.iter_file_lines(home.log, counts, read_bytes=400))
    assert [c.ascii for c in chunks].count(False) >= 2 and any(c.ascii for c in chunks)
    assert [line for c in chunks for line in c.lines] == lines

    out = tmp_path / "replayed.jsonl"
    counters = watcher._replay.replay(default_rules(), home.log, out)
    assert (counters.parse_errors, counters.invalid_events) == (1, 0)
    # The line with the non-ASCII path counts: the 11th event comes at 9 s, not 10 s.
    assert [(a["count"], a["ts"]) for a in read_alerts(out)] == [(11, ts(9))]

    assert run_cli("--once").code == 0
    assert read_alerts(home.alerts) == read_alerts(out)
    status = orjson.loads((home.state / "watcher_status.json").read_bytes())
    assert status["parse_errors"] == 1
