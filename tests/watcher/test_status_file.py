"""The watcher's status file: a write that fails (a full disk) is said once, not every second,
and said again only after one succeeded (found by review: 77 warnings in 75 s)."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pytest

import watcher._status
from watcher._status import Counters, StatusFile


def test_a_failing_status_write_is_said_once_per_episode(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    status = StatusFile(tmp_path / "watcher_status.json", mode="follow",
                        log_path=tmp_path / "audit.jsonl", alerts_path=tmp_path / "alerts.jsonl")
    write = watcher._status.write_json_atomic
    disk_full = [True]

    def write_unless_full(path: Path, payload: dict[str, object], *, durable: bool) -> None:
        if disk_full[0]:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        write(path, payload, durable=durable)

    monkeypatch.setattr(watcher._status, "write_json_atomic", write_unless_full)
    caplog.set_level(logging.WARNING, logger="watcher._status")

    def update(times: int) -> list[str]:
        caplog.clear()
        for _ in range(times):
            status.update(Counters(), state="following", lag_bytes=0, last_poll_s=0.0,
                          force=True)
        return [record.getMessage() for record in caplog.records]

    said = update(5)
    assert len(said) == 1 and "No space left on device" in said[0]
    assert said[0].endswith("said again only once it has been written")
    disk_full[0] = False
    assert update(3) == [f"{tmp_path / 'watcher_status.json'} is written again"]
    assert (tmp_path / "watcher_status.json").exists()
    disk_full[0] = True
    assert len(update(4)) == 1  # a new episode is said again
