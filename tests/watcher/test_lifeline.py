"""``--stop-on-stdin-eof``: the watcher ends with the process holding its standard input."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
import pytest

from tests.otlp_receiver import wait_for
from tests.watcher.conftest import Home, burst, read_alerts, write_lines

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def _env(home: Home) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "OTEL_"))}
    env.update(home.env)
    return env


def _status(home: Home) -> dict[str, object]:
    try:
        loaded = orjson.loads((home.state / "watcher_status.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _gone(pid: int) -> bool:
    import psutil  # type: ignore[import-untyped]  # psutil ships no types

    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def test_closing_stdin_stops_it_cleanly(home: Home) -> None:
    write_lines(home.log, burst(0, 11))
    proc = subprocess.Popen([sys.executable, "-m", "watcher", "--stop-on-stdin-eof"],
                            cwd=REPO, env=_env(home), stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: len(read_alerts(home.alerts)) == 1, 20)
        assert proc.stdin is not None
        proc.stdin.close()
        started = time.monotonic()
        proc.wait(timeout=10)
        took_s = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        assert proc.stderr is not None
        err = proc.stderr.read()
        proc.stderr.close()
    assert proc.returncode == 0, err
    assert took_s < 2.0
    status = _status(home)
    assert (status["state"], status["stop_reason"]) == (
        "stopped", "parent exited or closed standard input")
    assert (home.state / "watcher_checkpoint.json").exists()


def test_without_the_option_end_of_stdin_means_nothing(home: Home) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "watcher", "--interval-ms", "50"],
                            cwd=REPO, env=_env(home), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: _status(home).get("pid") == proc.pid, 20)
        time.sleep(0.5)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait(timeout=10)


_PARENT = textwrap.dedent("""
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-m", "watcher", "--stop-on-stdin-eof"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    print(child.pid, flush=True)
    time.sleep(600)
""")


def test_a_parent_killed_hard_takes_the_watcher_with_it(home: Home) -> None:
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], cwd=REPO, env=_env(home),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert wait_for(lambda: _status(home).get("pid") == child, 20)
        parent.kill()  # SIGKILL, TerminateProcess: no chance to clean up
        parent.wait(timeout=10)
        started = time.monotonic()
        assert wait_for(lambda: _gone(child), 5)
        assert time.monotonic() - started < 2.0
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=10)
        if parent.stdout is not None:
            parent.stdout.close()
    assert wait_for(lambda: _status(home).get("state") == "stopped", 5)
