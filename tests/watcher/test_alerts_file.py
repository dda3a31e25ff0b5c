"""The alerts path: never followed when it is a symlink, never cut unless its tail is ours."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tests.watcher.conftest import CliRunner, Home, audit, burst, read_alerts, write_lines
from watcher import Watcher, WatchPaths, default_rules, replay
from watcher._alert import Alert, AlertState
from watcher._alerts_file import ALERT_HEAD, MAX_ALERT_LINE_BYTES, torn_tail_start
from watcher._private import UnsafeFile
from watcher._sinks import JsonlAlertSink

posix_only = pytest.mark.skipif(os.name != "posix", reason="symlinks and FIFOs need POSIX")

_ALERT = Alert(ts_us=1_735_689_600_000_000, alert_id="0" * 24, rule="r", event="E",
               state=AlertState.FIRING, severity="warning", count=11, threshold=10,
               window_us=60_000_000, group=(("client", "10.0.0.7"),),
               first_seen_us=1_735_689_600_000_000, last_seen_us=1_735_689_600_000_000)
LINE = _ALERT.to_line()


def _snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def test_alert_lines_start_with_the_head_the_repair_recognises() -> None:
    assert len(LINE) > len(ALERT_HEAD)
    assert torn_tail_start(LINE[: len(ALERT_HEAD)], whole=True) == 0


@pytest.mark.parametrize("data, cut", [
    (b"", None),
    (LINE, None),
    (LINE * 3, None),
    (b"any foreign text\n", None),  # ends with a newline: appended to, never cut
    (LINE + LINE[:60], len(LINE)),  # torn beyond the head: proves itself
    (LINE[:60], 0),
    (b"garbage\n" + LINE[:60], 8),
    (LINE + LINE[:3], len(LINE)),  # short, but after an alert line
    (LINE + b"\0" * 4096, len(LINE)),  # a power loss: zeros where the append was
    (LINE + b"\0" * 100 + LINE[:20], len(LINE)),
], ids=["empty", "one", "three", "foreign-with-newline", "torn-long", "torn-alone",
        "torn-long-after-garbage", "torn-short", "zeros", "zeros-then-torn"])
def test_only_a_torn_alert_line_is_cut(data: bytes, cut: int | None) -> None:
    assert torn_tail_start(data, whole=True) == cut


@pytest.mark.parametrize("data", [
    b"no newline at the end",
    b"line\nno newline at the end",
    b'{"ts":"2025-01-01T00:00:00.000000Z","event":"AUTH_FAILURE"',  # an audit line
    b'{"ts":"2025-01-01T00:00:00.000000Z","event":"AUTH_FAILURE"}\n{"ts":"2025',
    b"garbage\n" + LINE[:20],  # too short to prove itself, after no alert line
    LINE[:20],
    b"\0" * 10,
    LINE + b"x" * 10,
], ids=["text", "text-lines", "audit-line", "audit-log-torn", "short-after-garbage",
        "short-alone", "zeros-alone", "alert-then-junk"])
def test_anything_else_without_a_final_newline_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError, match="not an alerts file this watcher wrote"):
        torn_tail_start(data, whole=True)


def test_a_last_line_longer_than_any_alert_is_refused() -> None:
    tail = b"x" * (MAX_ALERT_LINE_BYTES + 1)
    with pytest.raises(ValueError):
        torn_tail_start(tail, whole=False)
    with pytest.raises(ValueError):
        torn_tail_start(LINE + tail, whole=True)


def test_a_real_torn_alert_tail_is_still_repaired(run_cli: CliRunner, home: Home) -> None:
    write_lines(home.log, [*burst(0, 11), audit(100, "LEAK_BLOCKED")])
    assert run_cli("--once").code == 0
    complete = home.alerts.read_bytes()
    assert complete.count(b"\n") == 2
    for torn in (len(complete) - 15, len(complete) - 200, complete.index(b"\n") + 4):
        home.alerts.write_bytes(complete[:torn])
        (home.state / "watcher_checkpoint.json").unlink()
        result = run_cli("--once")
        assert result.code == 0, result.err
        assert home.alerts.read_bytes() == complete


@posix_only
@pytest.mark.parametrize("explicit", [False, True], ids=["default-path", "--alerts"])
def test_a_symlink_at_the_alerts_path_is_refused_and_its_target_untouched(
    run_cli: CliRunner, home: Home, tmp_path: Path, explicit: bool
) -> None:
    target = tmp_path / "precious.txt"
    target.write_bytes(b"line one\nno newline at the end")
    before = _snapshot(target)
    home.alerts.symlink_to(target)
    write_lines(home.log, burst(0, 11))
    result = run_cli("--once", *(["--alerts", str(home.alerts)] if explicit else []))
    assert result.code == (2 if explicit else 1)
    assert f"{home.alerts} is a symbolic link" in result.err
    assert "Traceback" not in result.err
    assert _snapshot(target) == before
    assert home.alerts.is_symlink()


@posix_only
def test_a_fifo_at_the_alerts_path_is_refused_without_blocking(run_cli: CliRunner,
                                                              home: Home) -> None:
    os.mkfifo(home.alerts)
    write_lines(home.log, burst(0, 11))
    done: list[tuple[int, str]] = []

    def run() -> None:
        result = run_cli("--once")
        # The first line names the home and files it uses, the next says the token is
        # unknown in this home; the error comes last, alone.
        done.append((result.code, result.err.split("\n", 2)[2]))

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    runner.join(timeout=20)
    assert done == [(1, f"python -m watcher: error: {home.alerts} is a FIFO, not a regular "
                        f"file; the watcher left it untouched\n")]


@pytest.mark.parametrize("explicit", [False, True], ids=["default-path", "--alerts"])
def test_a_foreign_file_without_final_newline_is_left_untouched(
    run_cli: CliRunner, home: Home, explicit: bool
) -> None:
    foreign = home.root / "notes.txt" if explicit else home.alerts
    foreign.write_bytes(b"first line\n{\"ts\":\"2025-01-01T00:00:00")
    before = _snapshot(foreign)
    write_lines(home.log, burst(0, 11))
    result = run_cli("--once", *(["--alerts", str(foreign)] if explicit else []))
    assert result.code == (2 if explicit else 1)
    assert f"{foreign} does not end with a newline" in result.err
    assert "not an alerts file this watcher wrote" in result.err
    assert "untouched" in result.err
    assert _snapshot(foreign) == before


def test_the_hub_audit_log_given_as_alerts_file_is_never_cut(run_cli: CliRunner,
                                                             home: Home) -> None:
    lines = burst(0, 11)
    home.log.write_bytes(b"\n".join(lines) + b"\n" + lines[0][:40])  # the hub mid-write
    before = _snapshot(home.log)
    result = run_cli("--once", "--alerts", str(home.log))
    assert result.code == 2
    assert _snapshot(home.log) == before


@pytest.mark.parametrize("mode", ["--once", "--replay"])
def test_a_folder_as_alerts_file_is_a_usage_error_in_every_mode(run_cli: CliRunner, home: Home,
                                                                tmp_path: Path,
                                                                mode: str) -> None:
    folder = tmp_path / "a folder"
    folder.mkdir()
    write_lines(home.log, burst(0, 11))
    argv = ["--once"] if mode == "--once" else ["--replay", str(home.log)]
    result = run_cli(*argv, "--alerts", str(folder))
    assert result.code == 2, result.err
    assert (f"error: {folder} is a folder, not a regular file; the watcher left it untouched"
            in result.err)
    assert "Errno" not in result.err and os.listdir(folder) == []


def test_a_watcher_object_refuses_a_foreign_file_too(home: Home) -> None:
    home.alerts.write_bytes(b"x" * 10)
    paths = WatchPaths(log=home.log, alerts=home.alerts, state_dir=home.state)
    with pytest.raises(UnsafeFile) as caught:
        Watcher(default_rules(), paths)
    assert caught.value.path == home.alerts
    assert home.alerts.read_bytes() == b"x" * 10


@posix_only
def test_a_symlink_swapped_in_after_start_is_refused_at_the_write(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"keep\n")
    path = tmp_path / "alerts.jsonl"
    sink = JsonlAlertSink(path)
    sink.emit([_ALERT])
    path.unlink()
    path.symlink_to(target)
    with pytest.raises(UnsafeFile, match="symbolic link"):
        sink.emit([_ALERT])
    assert target.read_bytes() == b"keep\n"


@posix_only
def test_replay_refuses_a_symlinked_output(run_cli: CliRunner, home: Home,
                                           tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"keep\n")
    out = tmp_path / "out.jsonl"
    out.symlink_to(target)
    write_lines(home.log, burst(0, 11))
    result = run_cli("--replay", str(home.log), "--alerts", str(out))
    assert result.code == 2
    assert "is a symbolic link" in result.err
    assert out.is_symlink() and target.read_bytes() == b"keep\n"
    with pytest.raises(UnsafeFile):
        replay(default_rules(), home.log, out)


@posix_only
def test_a_symlinked_lock_file_is_refused_and_its_target_not_truncated(
    run_cli: CliRunner, home: Home, tmp_path: Path
) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"keep\n")
    home.state.mkdir()
    (home.state / "watcher.lock").symlink_to(target)
    result = run_cli("--once")
    assert result.code == 1
    assert "watcher.lock is a symbolic link" in result.err
    assert target.read_bytes() == b"keep\n"
    assert not read_alerts(home.alerts)
