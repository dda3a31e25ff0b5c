"""A long catch-up keeps the watcher's status fresh (found by review: a poll reads to the end
of the log, so a backlog of millions of lines was one long poll without a status write, and
``hub_top`` took the busy watcher for a silent one)."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from otel.auditlog import AuditFormat
from tests.watcher.conftest import Home, audit, write_lines
from watcher import default_rules
from watcher._cli import _follow, _Loaded, parse_config
from watcher._engine import Engine
from watcher._guard import default_value_guard
from watcher._signals import StopFlags
from watcher._status import StatusFile

#: Lines enough for several of the reader's 4 MiB chunks.
LINES = 150_000
SLOW_CHUNK_S = 0.3


def test_a_long_catch_up_writes_its_status_while_it_reads(home: Home,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    line = audit(0, "LEAK_BLOCKED", "10.0.0.9")
    write_lines(home.log, [line] * LINES)
    feed = Engine.feed

    def slow_feed(self: Engine, lines: Sequence[bytes], *, ascii: bool = False) -> None:
        time.sleep(SLOW_CHUNK_S)  # as a big backlog on a slow disk: each chunk takes a while
        feed(self, lines, ascii=ascii)

    monkeypatch.setattr(Engine, "feed", slow_feed)
    writes: list[dict[str, Any]] = []
    real_write = StatusFile._write

    def recording(self: StatusFile, payload: dict[str, object]) -> None:
        writes.append(payload)
        real_write(self, payload)

    monkeypatch.setattr(StatusFile, "_write", recording)
    config = parse_config(["--home", str(home.root)], home.env)
    loaded = _Loaded(default_rules(), default_value_guard(), AuditFormat())
    status = StatusFile(home.root / "state" / "watcher_status.json", mode="follow",
                        log_path=home.log, alerts_path=home.alerts, interval_ms=200)
    flags = StopFlags()
    done = threading.Event()

    def stop_when_read() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not done.is_set():
            if writes and writes[-1]["lines_read"] == LINES:
                break
            time.sleep(0.05)
        flags.should_exit = True

    stopper = threading.Thread(target=stop_when_read)
    stopper.start()
    try:
        assert _follow(config, loaded, [], status, io.StringIO(), flags) == 0
    finally:
        done.set()
        stopper.join()
    read = [w["lines_read"] for w in writes if w["state"] == "following"]
    assert read[-1] == LINES
    assert any(0 < n < LINES for n in read), read  # written in the middle of the one poll
