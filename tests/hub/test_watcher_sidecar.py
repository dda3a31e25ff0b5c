"""``python -m baseline_hub --watcher``: a watcher that lives and dies with its hub, is
restarted when it dies alone, is never claimed started when it is not, and stops within the
hub's budget (real processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]  # psutil ships no types
import pytest

from baseline_hub.sidecar import (
    RESTART_INITIAL_S,
    RESTART_MAX_S,
    RestartBackoff,
    WatcherSupervisor,
)
from sheratan_home import HomeLayout
from tests.conftest import REPO, HubProcess, start_hub
from tests.otlp_receiver import wait_for
from tests.scripts.conftest import checkout_env
from tests.tcp import never_answer, tcp_endpoint
from tests.watcher.conftest import burst, read_alerts, write_lines
from watcher._lock import InstanceLock

pytestmark = pytest.mark.e2e


def _json(path: Path) -> dict[str, object]:
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _watcher_status(home: Path) -> dict[str, object]:
    return _json(home / "state" / "watcher_status.json")


def _supervisor(home: Path) -> dict[str, object]:
    return _json(HomeLayout(home).supervisor_status)


def _running_watcher(hub: HubProcess) -> int:
    """The pid of the hub's watcher, once it said it runs (its status names it and the hub's
    supervisor agrees)."""
    def ready() -> bool:
        status, supervisor = _watcher_status(hub.home), _supervisor(hub.home)
        return (status.get("state") in ("following", "waiting_for_log")
                and supervisor.get("state") == "running"
                and supervisor.get("watcher_pid") == status.get("pid"))

    assert wait_for(ready, 20), "".join(hub.output)
    pid = _watcher_status(hub.home)["pid"]
    assert isinstance(pid, int)
    return pid


def _gone(pid: int) -> bool:
    """Exited (a zombie waiting for its new parent to reap it has exited too)."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def _kill(pid: int) -> None:
    if sys.platform == "win32":
        psutil.Process(pid).kill()
    else:
        os.kill(pid, signal.SIGKILL)


def _supervisor_env(home: Path) -> dict[str, str]:
    """A home as a hub leaves it (its folders), and the environment for a supervisor run
    without a hub: this checkout's code, no hub settings."""
    for folder in HomeLayout(home).folders:
        folder.mkdir(mode=0o700, exist_ok=True)
    return checkout_env({k: v for k, v in os.environ.items()
                         if not k.startswith(("HUB_", "OTEL_", "SHERATAN_"))})


def test_the_backoff_doubles_to_its_cap_and_resets_after_a_stable_run() -> None:
    backoff = RestartBackoff()
    delays = [backoff.next_delay(uptime_s=0.5) for _ in range(7)]
    assert delays == [1, 2, 4, 8, 16, 30, 30]
    assert (RESTART_INITIAL_S, RESTART_MAX_S) == (1, 30)
    assert backoff.next_delay(uptime_s=59) == 30
    assert backoff.next_delay(uptime_s=61) == 1  # it ran a stable minute
    assert backoff.next_delay(uptime_s=0.1) == 2
    with pytest.raises(ValueError, match="initial_s"):
        RestartBackoff(initial_s=0)


def test_a_hub_killed_hard_takes_its_watcher_with_it_within_2_s(hub_home: Path) -> None:
    hub = start_hub(hub_home, args=("--watcher",))
    try:
        watcher = _running_watcher(hub)
        hub.proc.kill()  # kill -9: the hub runs no code at all
        hub.proc.wait(timeout=10)
        killed = time.monotonic()
        assert wait_for(lambda: _gone(watcher), 5)
        took_s = time.monotonic() - killed
    finally:
        hub.stop()
    assert took_s < 2.0
    status = _watcher_status(hub_home)
    assert (status["pid"], status["state"], status["stop_reason"]) == (
        watcher, "stopped", "parent exited or closed standard input")
    print(f"watcher gone {took_s:.2f} s after kill -9 of its hub")


def test_a_watcher_killed_alone_is_restarted_and_the_restart_is_shown(hub_home: Path) -> None:
    hub = start_hub(hub_home, args=("--watcher",))
    try:
        first = _running_watcher(hub)
        _kill(first)
        killed = time.monotonic()
        assert wait_for(lambda: _watcher_status(hub_home).get("pid") not in (None, first), 15)
        second = _running_watcher(hub)
        took_s = time.monotonic() - killed
        assert not psutil.pid_exists(first)  # reaped by the hub: no <defunct> left behind
        supervisor = _supervisor(hub_home)
        assert supervisor["restarts"] == 1
        assert supervisor["state"] == "running"
        assert supervisor["watcher_pid"] == second
        assert supervisor["last_exit_code"] in (-signal.SIGKILL, 1)  # 1: TerminateProcess
        top = subprocess.run(
            [sys.executable, "scripts/hub_top.py", "--once",
             "--control-url", hub.control_url, "--data-url", hub.data_url],
            cwd=REPO, capture_output=True, text=True, timeout=60,
            env=checkout_env({**{k: v for k, v in os.environ.items()
                                 if not k.startswith("HUB_")},
                              "SHERATAN_HOME": str(hub_home), "COLUMNS": "120"}))
    finally:
        assert hub.stop() == 0
    output = "".join(hub.output)
    assert f"watcher: started (pid {first})" in output
    assert f"watcher: restarted (pid {second}, restart 1)" in output
    assert f"the audit watcher (pid {first}) was killed by signal 9" in output or \
        f"the audit watcher (pid {first}) exited with code 1" in output
    assert "restarting it in 1 s (restart 1)" in output
    assert took_s < RESTART_INITIAL_S + 10
    assert top.returncode == 0, top.stderr
    assert "restarts 1" in top.stdout
    assert _supervisor(hub_home)["state"] == "stopped"


def test_a_watcher_that_keeps_failing_backs_off_and_comes_back(hub_home: Path) -> None:
    alerts = hub_home / "logs" / "alerts.jsonl"
    alerts.mkdir(parents=True)  # the watcher refuses it and exits 1, as on a full disk
    hub = start_hub(hub_home, args=("--watcher",))
    try:
        assert wait_for(lambda: _supervisor(hub_home).get("restarts") == 2, 15)
        assert _supervisor(hub_home)["last_exit_code"] == 1
        alerts.rmdir()
        _running_watcher(hub)
        supervisor = _supervisor(hub_home)
    finally:
        assert hub.stop() == 0
    output = "".join(hub.output)
    assert "watcher: started" not in output  # it never was, until it came back
    assert "exited with code 1 after" in output
    assert "restarting it in 1 s (restart 1)" in output
    assert "restarting it in 2 s (restart 2)" in output
    assert f"watcher: restarted (pid {supervisor['watcher_pid']}, restart " in output
    assert supervisor["restarts"] in (2, 3)  # 3 if it looked once more before the fix


def test_a_hub_beside_a_running_watcher_says_so_and_does_not_retry_in_a_loop(
    hub_home: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "OTEL_"))}
    (hub_home / "logs").mkdir()  # as a hub left it: the watcher refuses a home without logs/
    other = subprocess.Popen([sys.executable, "-m", "watcher", "--home", str(hub_home)],
                             cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: _watcher_status(hub_home).get("pid") == other.pid, 20)
        hub = start_hub(hub_home, args=("--watcher",))
        try:
            assert wait_for(lambda: _supervisor(hub_home).get("state") == "locked", 15)
            time.sleep(3)  # several fast restarts' worth
            supervisor = _supervisor(hub_home)
            assert other.poll() is None
        finally:
            assert hub.stop() == 0
    finally:
        other.kill()
        other.wait(timeout=10)
    output = "".join(hub.output)
    assert "watcher: started" not in output
    assert "watcher: not started: another watcher is already running on" in output
    assert output.count("another watcher is already running") == 2  # its own, and ours
    assert (supervisor["restarts"], supervisor["last_exit_code"]) == (0, 3)


@pytest.fixture
def hanging_collector() -> Iterator[str]:
    """An OTLP endpoint that accepts connections and never answers."""
    with tcp_endpoint(never_answer) as url:
        yield url


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM to the hub")
def test_stopping_with_a_hanging_collector_and_an_alert_takes_under_3_s(
    hub_home: Path, hanging_collector: str,
) -> None:
    hub = start_hub(hub_home, args=("--watcher",),
                    env={"OTEL_EXPORTER_OTLP_ENDPOINT": hanging_collector,
                         "OTEL_BLRP_SCHEDULE_DELAY": "100",
                         "OTEL_METRIC_EXPORT_INTERVAL": "500"})
    try:
        watcher = _running_watcher(hub)
        transport = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(transport=transport, timeout=5) as intruder:
            for _ in range(12):
                intruder.get(f"{hub.control_url}/nodes")
        alerts = hub_home / "logs" / "alerts.jsonl"
        assert wait_for(lambda: alerts.exists() and b'"firing"' in alerts.read_bytes(), 15)
        time.sleep(0.5)  # the alert's record and the hub's metrics are stuck in export
        started = time.monotonic()
        hub.proc.send_signal(signal.SIGTERM)
        code = hub.proc.wait(timeout=10)
        took_s = time.monotonic() - started
    finally:
        hub.stop()
    assert code == 0
    assert _gone(watcher)
    print(f"hub with --watcher stopped in {took_s:.2f} s")
    assert took_s < 3.0, "".join(hub.output)


def test_a_watcher_that_refuses_its_configuration_is_not_restarted(hub_home: Path,
                                                                   tmp_path: Path) -> None:
    folder = tmp_path / "not-a-log"
    folder.mkdir()
    hub = start_hub(hub_home, args=("--watcher",), env={"HUB_AUDIT_LOG": str(folder)})
    try:
        assert wait_for(lambda: _supervisor(hub_home).get("last_exit_code") == 2, 20), \
            "".join(hub.output)
        time.sleep(3)  # several restarts' worth, were it restarted
        supervisor = _supervisor(hub_home)
    finally:
        assert hub.stop() == 0
    output = "".join(hub.output)
    assert "is a folder" in output  # the watcher's own message, on the hub's console
    assert "watcher: not started: it refused its configuration (exit 2" in output
    assert "restarting it" not in output
    assert supervisor["restarts"] == 0
    assert _supervisor(hub_home)["state"] == "refused"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP is POSIX")
def test_a_hung_watcher_is_killed_and_a_new_one_alerts(hub_home: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    # The supervisor alone, as the hub runs it, with a short hang limit instead of 60 s.
    layout = HomeLayout(hub_home)
    env = _supervisor_env(hub_home)
    said: list[str] = []
    supervisor = WatcherSupervisor(hub_home, env=env, say=said.append, hung_after_s=3.0)
    supervisor.start()
    try:
        assert wait_for(lambda: supervisor.pid is not None
                        and _watcher_status(hub_home).get("pid") == supervisor.pid
                        and _supervisor(hub_home).get("state") == "running", 20), said
        first = supervisor.pid
        assert first is not None
        os.kill(first, signal.SIGSTOP)  # alive, holding its lock, doing nothing
        hung = time.monotonic()
        assert wait_for(lambda: _supervisor(hub_home).get("restarts") == 1
                        and _supervisor(hub_home).get("state") == "running", 20), said
        took_s = time.monotonic() - hung
        second = supervisor.pid
        assert not psutil.pid_exists(first)  # killed and reaped
        assert _supervisor(hub_home)["last_exit_reason"] == "hung"
        write_lines(layout.audit_log, burst(0, 12, client="10.9.9.9"))
        assert wait_for(lambda: any(a["state"] == "firing" for a in read_alerts(layout.alerts)),
                        15)
    finally:
        supervisor.stop()
    hang = [r.getMessage() for r in caplog.records if "hangs" in r.getMessage()]
    assert len(hang) == 1 and hang[0].startswith(f"the audit watcher (pid {first}) hangs: no "
                                                 f"sign of life (its status and CPU time) for ")
    assert f"watcher: restarted (pid {second}, restart 1)" in "\n".join(said)
    assert any(r.getMessage().startswith(f"the audit watcher (pid {first}) was killed as hung "
                                         f"after ") for r in caplog.records)
    # Silent from its last write (up to a second before the stop), killed once past 3 s,
    # then restarted after 1 s; a start takes a second or two.
    print(f"hung watcher replaced in {took_s:.1f} s")
    assert 2.0 < took_s < 3.0 + 1.0 + RESTART_INITIAL_S + 8


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX shell plays the launcher")
def test_a_watcher_run_by_a_launcher_under_another_pid_is_known_and_not_killed_as_hung(
        hub_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # On Windows a venv's python.exe is a launcher that runs the real interpreter as its
    # child: the process the hub starts is not the one that writes the watcher's status.
    launcher = tmp_path / "python"
    launcher.write_text(f'#!/bin/sh\n"{sys.executable}" "$@"\n')  # no exec: a child
    launcher.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(launcher))
    env = _supervisor_env(hub_home)
    said: list[str] = []
    supervisor = WatcherSupervisor(hub_home, env=env, say=said.append, hung_after_s=3.0)
    supervisor.start()
    try:
        assert wait_for(lambda: _supervisor(hub_home).get("state") == "running", 20), said
        status = _watcher_status(hub_home)
        assert status["pid"] != supervisor.pid and status["ppid"] == supervisor.pid
        time.sleep(5)  # past the hang limit: it writes, so it is alive
        supervisor_status = _supervisor(hub_home)
    finally:
        supervisor.stop()
    assert said[0].startswith(f"watcher: started (pid {status['pid']}), alerts go to "), said
    assert supervisor_status["restarts"] == 0 and supervisor_status["watcher_pid"] == status["pid"]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP is POSIX")
def test_a_watcher_that_starts_late_is_said_started_when_it_does(hub_home: Path) -> None:
    env = _supervisor_env(hub_home)
    said: list[str] = []
    supervisor = WatcherSupervisor(hub_home, env=env, say=said.append, ready_timeout_s=1.0)
    supervisor.start()
    try:
        assert wait_for(lambda: supervisor.pid is not None, 10)
        pid = supervisor.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # still importing: it has said nothing yet
        assert wait_for(lambda: any("has not said within 1 s" in line for line in said), 10)
        assert _supervisor(hub_home)["state"] == "starting"
        os.kill(pid, signal.SIGCONT)
        assert wait_for(lambda: _supervisor(hub_home).get("state") == "running", 20), said
    finally:
        supervisor.stop()
    assert said[0] == (f"watcher: pid {pid} has not said within 1 s that it is running; not "
                       f"counted as started until it does")
    assert said[1].startswith(f"watcher: started (pid {pid}) after "), said


def test_a_lock_held_by_a_hung_watcher_is_said_as_such_not_as_alerting(hub_home: Path) -> None:
    # A watcher left behind by a hub killed with -9, stopped (SIGSTOP) or deadlocked: it holds
    # the lock, so this hub's watcher exits 3, and nothing alerts.
    layout = HomeLayout(hub_home)
    env = _supervisor_env(hub_home)
    status = layout.watcher_status

    def write_status(updated_at: str) -> None:
        status.write_text(json.dumps({"pid": 424242, "state": "following",
                                      "updated_at": updated_at}))

    write_status("2026-01-01T00:00:00.000000Z")  # long ago
    said: list[str] = []
    with InstanceLock(layout.watcher_lock):
        supervisor = WatcherSupervisor(hub_home, env=env, say=said.append, locked_retry_s=1.0)
        supervisor.start()
        try:
            assert wait_for(lambda: any("seems hung" in line for line in said), 20), said
            write_status(datetime.now(UTC).isoformat())  # it came back to life
            assert wait_for(lambda: any("already running" in line for line in said), 20), said
            time.sleep(2.5)  # more retries: nothing said again while nothing changes
        finally:
            supervisor.stop()
    where = f"{hub_home.resolve()} (it holds state/watcher.lock)"
    assert said[0].startswith(f"watcher: not started: the watcher holding the lock on {where}, "
                              f"pid 424242, has not updated its status for ")
    assert "it seems hung, and nothing alerts until it is stopped" in said[0]
    assert said[1:] == [f"watcher: not started: another watcher is already running on {where}; "
                        f"it does the alerting, and this hub tries again every 1 s"]
