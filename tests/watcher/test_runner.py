"""The watcher's cycle does the file I/O it needs, and no more."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import BinaryIO

import pytest

import watcher._tail
from tests.watcher.conftest import Home, audit, burst, write_lines
from watcher import MAX_LINE_BYTES, Watcher, WatchPaths, default_rules
from watcher._tail import KEEP_ROTATED


def _count_log_io(monkeypatch: pytest.MonkeyPatch, log: Path) -> Counter[str]:
    """Counts stats and opens of ``log`` and its rotated siblings."""
    counts: Counter[str] = Counter()
    real_stat, real_open = Path.stat, watcher._tail.open_shared

    def stat(self: Path, *, follow_symlinks: bool = True) -> os.stat_result:
        if self.name.startswith(log.name):
            counts["stat"] += 1
        return real_stat(self, follow_symlinks=follow_symlinks)

    def open_shared(path: Path) -> BinaryIO:
        counts["open"] += 1
        return real_open(path)

    monkeypatch.setattr(Path, "stat", stat)
    monkeypatch.setattr(watcher._tail, "open_shared", open_shared)
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
