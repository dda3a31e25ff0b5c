"""AuditLogSource: the security events of every process, read from the hub's audit log."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from otel._audit_source import AuditLogSource
from otel.auditlog import AuditFormat, parse_audit_format
from tests.otlp_receiver import wait_for

NOW = 1_800_000_000.0  # the wall clock the source runs on in these tests


@dataclass
class Sink:
    """Records what the source delivers: (event, plane, reason, n, at, counted)."""

    calls: list[tuple[str, str, str, int, float | None, bool]] = field(default_factory=list)

    def auth_failure(self, plane: str, reason: str, *, n: int = 1, at: float | None = None,
                     counted: bool = True) -> None:
        self.calls.append(("AUTH_FAILURE", plane, reason, n, at, counted))

    def port_mismatch(self, plane: str, *, n: int = 1, at: float | None = None,
                      counted: bool = True) -> None:
        self.calls.append(("PORT_MISMATCH", plane, "", n, at, counted))

    def total(self, *, counted: bool | None = None) -> int:
        return sum(c[3] for c in self.calls if counted is None or c[5] is counted)


def line(at: float, event: str = "AUTH_FAILURE", **extra: object) -> bytes:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at * 1e6) % 10**6:06d}Z"
    record = {"ts": stamp, "event": event, "plane": "control", "port": 8787,
              "client": "10.0.0.7", "method": "GET", "path": "/nodes",
              "reason": "invalid_token", **extra}
    return json.dumps(record).encode() + b"\n"


def append(path: Path, *lines: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(b"".join(lines))


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "logs" / "hub_security_audit.jsonl"


def source(log: Path, sink: Sink, *, audit_format: AuditFormat | None = None,
           poll_s: float = 0.02) -> AuditLogSource:
    made = AuditLogSource(log, sink, audit_format=audit_format, poll_s=poll_s,
                          wall_clock=lambda: NOW)
    made.start()
    return made


def test_the_trailing_minute_is_read_back_and_new_events_are_counted(log: Path) -> None:
    log.parent.mkdir()
    append(log, line(NOW - 3600), line(NOW - 61), *[line(NOW - 30)] * 3,
           line(NOW - 5, "PORT_MISMATCH", plane="data"))
    sink = Sink()
    src = source(log, sink)
    try:
        assert wait_for(lambda: sink.total() >= 4, 5)
        assert sink.total(counted=True) == 0  # from before the start: windows only
        assert ("AUTH_FAILURE", "control", "invalid_token", 3, NOW - 30, False) in sink.calls
        assert ("PORT_MISMATCH", "data", "", 1, NOW - 5, False) in sink.calls
        append(log, line(NOW + 0.5), line(NOW + 0.7, reason="missing_token"))
        assert wait_for(lambda: sink.total(counted=True) == 2, 5)
    finally:
        src.stop()
    assert src.counts.parse_errors == 0


def test_a_long_log_is_not_read_from_its_start(log: Path) -> None:
    log.parent.mkdir()
    old = line(NOW - 7200)
    with log.open("wb") as handle:
        for _ in range(40):
            handle.write(old * 2000)  # about 20 MB an hour before
    append(log, line(NOW - 10), line(NOW - 9))
    sink = Sink()
    src = source(log, sink)
    try:
        assert wait_for(lambda: sink.total() >= 2, 5)
        time.sleep(0.1)
    finally:
        src.stop()
    assert src.counts.lines_read < 10_000  # a probe's worth, not 80,000 lines


def test_the_window_reaches_into_the_rotated_file(log: Path) -> None:
    log.parent.mkdir()
    append(log.with_name(log.name + ".1"), line(NOW - 90), line(NOW - 40), line(NOW - 20))
    append(log, line(NOW - 10))
    sink = Sink()
    src = source(log, sink)
    try:
        assert wait_for(lambda: sink.total() >= 3, 5)
        time.sleep(0.1)
        assert sorted(c[4] for c in sink.calls if c[4] and c[4] > NOW - 60) == [
            NOW - 40, NOW - 20, NOW - 10]
    finally:
        src.stop()


def test_rotation_copytruncate_deletion_and_a_late_log_are_followed(log: Path) -> None:
    sink = Sink()
    src = source(log, sink)  # no log yet
    try:
        log.parent.mkdir()
        append(log, line(NOW + 1))
        assert wait_for(lambda: sink.total(counted=True) == 1, 5)
        os.replace(log, log.with_name(log.name + ".1"))  # rotation by rename
        append(log, line(NOW + 2), line(NOW + 2))
        assert wait_for(lambda: sink.total(counted=True) == 3, 5)
        shutil.copy(log, log.with_name(log.name + ".1"))  # copytruncate
        append(log.with_name(log.name + ".1"), line(NOW + 3))
        log.write_bytes(b"")
        assert wait_for(lambda: sink.total(counted=True) == 4, 5)
        log.unlink()  # deleted, then recreated
        time.sleep(0.1)
        append(log, line(NOW + 4))
        assert wait_for(lambda: sink.total(counted=True) == 5, 5)
    finally:
        src.stop()


def test_garbage_is_counted_never_fatal(log: Path) -> None:
    log.parent.mkdir()
    sink = Sink()
    src = source(log, sink)
    try:
        append(log, b"not json\n", b"\xff\xfe\n", b'{"ts": 3}\n', line(NOW + 1, plane=["x"]),
               line(NOW + 1, plane="elsewhere", reason=7), b"[]\n", line(NOW + 1, "LEAK_BLOCKED"))
        assert wait_for(lambda: sink.total() == 2, 5)
        time.sleep(0.1)
    finally:
        src.stop()
    assert {c[1] for c in sink.calls} == {"unknown"}
    assert {c[2] for c in sink.calls} == {"invalid_token", "unknown"}
    assert src.counts.parse_errors == 3 and src.counts.invalid_events == 1


def test_a_foreign_hubs_lines_are_read_through_its_format(log: Path) -> None:
    log.parent.mkdir()
    fmt = parse_audit_format({"fields": {"event": "type", "ts": "time", "plane": "svc",
                                         "reason": "why"},
                              "ts_format": "epoch_s",
                              "events": {"AUTH_FAILURE": "auth.fail",
                                         "PORT_MISMATCH": "wrong_port"}})
    sink = Sink()
    src = source(log, sink, audit_format=fmt)
    try:
        append(log, json.dumps({"time": NOW + 1, "type": "auth.fail", "svc": "data",
                                "why": "missing_token"}).encode() + b"\n",
               json.dumps({"time": NOW + 1, "type": "wrong_port", "svc": "control"}).encode()
               + b"\n")
        assert wait_for(lambda: sink.total() == 2, 5)
    finally:
        src.stop()
    assert ("AUTH_FAILURE", "data", "missing_token", 1, NOW + 1, True) in sink.calls


def test_stop_is_prompt_and_safe_twice(log: Path) -> None:
    src = source(log, Sink(), poll_s=30.0)
    started = time.monotonic()
    src.stop()
    src.stop()
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(("poll_s", "lookback_s"), [(0, 60), (61, 60), (1, -1), (1, 4000)])
def test_bad_settings_are_refused(log: Path, poll_s: float, lookback_s: float) -> None:
    with pytest.raises(ValueError, match="poll_s"):
        AuditLogSource(log, Sink(), poll_s=poll_s, lookback_s=lookback_s)


def test_a_folder_as_the_log_is_said_once_at_start(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "not-a-log"
    folder.mkdir()
    with caplog.at_level("WARNING", logger="otel._audit_source"):
        made = source(folder, Sink())
        made.stop()
        assert AuditLogSource(folder, Sink()).read_back_once() == 0
    said = [r.getMessage() for r in caplog.records if "not a regular file" in r.getMessage()]
    assert len(said) == 2 and "is a folder" in said[0] and str(folder) in said[0]


def test_a_missing_log_is_not_warned_about(log: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="otel._audit_source"):
        source(log, Sink()).stop()
    assert not [r for r in caplog.records if "not a regular file" in r.getMessage()]
