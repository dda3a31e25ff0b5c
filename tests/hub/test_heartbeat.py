"""The supervisor's hang check: a watcher whose status and CPU time stop moving for long
enough is hung; one that writes, or still uses CPU, or a machine that slept, is not (a fake
clock and CPU time, real files)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from baseline_hub.heartbeat import Heartbeat

PID = 4242


def _no_cpu(pid: int) -> float | None:
    return None  # CPU time unknown: only the status tells


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _status(path: Path, updated_at: str, *, pid: int = PID, ppid: int = 1) -> None:
    path.write_text(json.dumps({"pid": pid, "ppid": ppid, "state": "following",
                                "updated_at": updated_at}))


def _silence(beat: Heartbeat, clock: _Clock, seconds: int,
             write: Path | None = None) -> list[float | None]:
    """Looks once a second for ``seconds``; writes a new status before each look if asked."""
    seen: list[float | None] = []
    for _ in range(seconds):
        clock.now += 1.0
        if write is not None:
            _status(write, f"t{clock.now}")
        seen.append(beat.silent_s())
    return seen


def test_a_status_that_stops_changing_is_a_hang_once_the_silence_is_long_enough(
        tmp_path: Path) -> None:
    path, clock = tmp_path / "watcher_status.json", _Clock()
    _status(path, "t0")
    beat = Heartbeat(path, PID, hung_after_s=10.0, clock=clock, cpu_s=_no_cpu)
    assert _silence(beat, clock, 30, write=path) == [None] * 30  # alive: writes every second
    seen = _silence(beat, clock, 12)
    assert seen[:10] == [None] * 10
    assert seen[10:] == [11.0, 12.0]  # silent from the last change on


def test_only_a_status_naming_the_watcher_counts_and_a_missing_one_is_silence(
        tmp_path: Path) -> None:
    path, clock = tmp_path / "watcher_status.json", _Clock()
    beat = Heartbeat(path, PID, hung_after_s=5.0, clock=clock, cpu_s=_no_cpu)
    other = _silence(beat, clock, 3)  # no status yet: the time since start counts
    path.write_text("{not json")
    other += _silence(beat, clock, 1)
    for second in range(3):  # another pid's status (a watcher that ran before) is not a sign
        clock.now += 1.0
        _status(path, f"other{second}", pid=PID + 1)
        other.append(beat.silent_s())
    assert other == [None] * 5 + [6.0, 7.0]


def test_a_pause_of_the_whole_machine_is_not_a_hang(tmp_path: Path) -> None:
    path, clock = tmp_path / "watcher_status.json", _Clock()
    _status(path, "t0")
    beat = Heartbeat(path, PID, hung_after_s=10.0, clock=clock, cpu_s=_no_cpu)
    assert _silence(beat, clock, 5) == [None] * 5
    clock.now += 3600.0  # asleep for an hour: the supervisor did not look either
    assert beat.silent_s() is None
    seen = _silence(beat, clock, 11)  # the watcher still writes nothing after the wake-up
    assert seen[:10] == [None] * 10 and seen[10] == 11.0



def test_a_status_that_is_a_fifo_is_silence_and_never_waited_on(tmp_path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    path, clock = tmp_path / "watcher_status.json", _Clock()
    os.mkfifo(path)  # a read of it would block the supervisor until a writer came
    beat = Heartbeat(path, PID, hung_after_s=2.0, clock=clock, cpu_s=_no_cpu)
    assert _silence(beat, clock, 3) == [None, None, 3.0]


def test_a_status_written_by_the_interpreter_a_launcher_started_counts(tmp_path: Path) -> None:
    # On Windows a venv's python.exe runs the real interpreter as its child: the status
    # names that child's pid, and the supervisor's process as its parent.
    path, clock = tmp_path / "watcher_status.json", _Clock()
    asked: list[int] = []

    def cpu(pid: int) -> float | None:
        asked.append(pid)
        return None

    beat = Heartbeat(path, PID, hung_after_s=3.0, clock=clock, cpu_s=cpu)
    seen = []
    for second in range(10):
        clock.now += 1.0
        _status(path, f"t{second}", pid=PID + 7, ppid=PID)
        seen.append(beat.silent_s())
    assert seen == [None] * 10
    assert set(asked) == {PID + 7}  # the interpreter's CPU time, not the idle launcher's


def test_a_watcher_that_never_writes_is_silent_since_it_was_started(tmp_path: Path) -> None:
    path, clock = tmp_path / "watcher_status.json", _Clock()
    started = clock.now
    clock.now += 2.5  # the supervisor looked elsewhere first (it waited for the start)
    beat = Heartbeat(path, PID, hung_after_s=3.0, since=started, clock=clock, cpu_s=_no_cpu)
    assert _silence(beat, clock, 1) == [3.5]


def test_a_watcher_that_cannot_write_its_status_but_uses_cpu_is_alive(tmp_path: Path) -> None:
    # A full disk: the status stays as it was, but the watcher still polls.
    path, clock = tmp_path / "watcher_status.json", _Clock()
    _status(path, "t0")
    cpu = [1.0]

    def polling(pid: int) -> float:
        assert pid == PID  # the pid its status names
        cpu[0] += 0.01
        return cpu[0]

    beat = Heartbeat(path, PID, hung_after_s=3.0, clock=clock, cpu_s=polling)
    assert _silence(beat, clock, 10) == [None] * 10
    stopped = Heartbeat(path, PID, hung_after_s=3.0, clock=clock, cpu_s=lambda pid: 7.0)
    assert _silence(stopped, clock, 5)[3:] == [4.0, 5.0]  # SIGSTOP: no CPU either
