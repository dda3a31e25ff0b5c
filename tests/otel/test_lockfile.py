"""ExclusiveFileLock: one holder at a time, a kernel lock that dies with its process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from otel import ExclusiveFileLock
from tests.conftest import REPO


def open_rw(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


def test_one_holder_at_a_time_and_the_pid_is_written(tmp_path: Path) -> None:
    path = tmp_path / "hub.lock"
    first, second = ExclusiveFileLock(path, open_rw), ExclusiveFileLock(path, open_rw)
    assert first.acquire() and first.held
    assert first.acquire()  # already held here: still true, nothing reopened
    assert not second.acquire() and not second.held
    assert path.read_text() == f"{os.getpid()}\n"
    first.release()
    first.release()  # idempotent
    assert path.exists()  # the file stays; only the lock went
    assert second.acquire()
    second.release()


def test_a_stale_pid_from_an_earlier_holder_is_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "hub.lock"
    path.write_text("99999999 and more junk\n")
    lock = ExclusiveFileLock(path, open_rw)
    assert lock.acquire()
    assert path.read_text() == f"{os.getpid()}\n"
    lock.release()


def test_an_open_error_passes_through_and_nothing_is_held(tmp_path: Path) -> None:
    path = tmp_path / "hub.lock"
    path.mkdir()
    lock = ExclusiveFileLock(path, open_rw)
    with pytest.raises(IsADirectoryError if os.name == "posix" else OSError):
        lock.acquire()
    assert not lock.held


_HOLDER = """
import sys, time
from pathlib import Path
import os
from otel import ExclusiveFileLock
lock = ExclusiveFileLock(Path(sys.argv[1]), lambda p: os.open(p, os.O_RDWR | os.O_CREAT, 0o600))
assert lock.acquire()
print("held", flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_the_lock_goes_with_a_killed_holder(tmp_path: Path) -> None:
    path = tmp_path / "hub.lock"
    lock = ExclusiveFileLock(path, open_rw)
    # Popen's exit closes the pipe and reaps the holder; kill() first, whatever happened.
    with subprocess.Popen([sys.executable, "-c", _HOLDER, str(path)], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)},
                          stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline() == "held\n"
            assert not lock.acquire()
            holder.send_signal(signal.SIGKILL)
            holder.wait(timeout=10)
            assert lock.acquire()  # no stale lock to clean up
        finally:
            holder.kill()
    lock.release()
