"""The watcher as its own process beside a real hub: it never affects the hub."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, start_hub
from tests.otlp_receiver import Receiver, wait_for

pytestmark = pytest.mark.e2e


def _watcher(home: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "OTEL_"))}
    full.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "watcher", "--home", str(home),
                             "--interval-ms", "50"], cwd=REPO, env=full,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_ready(home: Path, watcher: subprocess.Popen[bytes], timeout_s: float = 20) -> None:
    """Until the watcher's status names it: it holds the lock and its signal handlers are
    in (a fixed sleep lost that race on a busy machine, and SIGTERM then killed it)."""
    status = home / "state" / "watcher_status.json"

    def ready() -> bool:
        try:
            return bool(json.loads(status.read_text()).get("pid") == watcher.pid)
        except (OSError, ValueError):
            return False

    assert wait_for(ready, timeout_s), f"watcher {watcher.pid} never said it was running"


def _alerts(home: Path) -> list[dict[str, object]]:
    path = home / "logs" / "alerts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_hub_answers_and_audit_are_unaffected_while_the_watcher_is_killed_and_restarted(
    hub_home: Path,
) -> None:
    hub = start_hub(hub_home)
    statuses: list[int] = []
    stop = threading.Event()

    def traffic() -> None:
        with httpx.Client(timeout=5) as client:
            for i in range(3000):  # bounded; stopped much sooner
                if stop.is_set():
                    return
                # Unauthenticated, so every request is an audit line the watcher reads.
                statuses.append(client.get(f"{hub.control_url}/nodes?i={i}").status_code)
                statuses.append(client.get(f"{hub.data_url}/health").status_code)

    worker = threading.Thread(target=traffic)
    worker.start()
    try:
        for round_ in range(3):
            watcher = _watcher(hub_home)
            _wait_ready(hub_home, watcher)
            time.sleep(0.2)  # let it read some of the traffic
            watcher.send_signal(signal.SIGKILL if round_ < 2 else signal.SIGTERM)
            assert watcher.wait(timeout=10) in (0, -signal.SIGKILL)
        stop.set()
        worker.join(timeout=30)
    finally:
        stop.set()
        assert hub.stop() == 0
    assert statuses and set(statuses) == {401, 200}
    audit = (hub_home / "logs" / "hub_security_audit.jsonl").read_text().splitlines()
    assert len(audit) == statuses.count(401)  # one line per rejected request, none lost
    assert all(json.loads(line)["reason"] == "missing_token" for line in audit)


def test_hub_with_watcher_flag_raises_an_alert_as_a_file_line_and_an_otel_record(
    hub_home: Path, receiver: Receiver,
) -> None:
    hub = start_hub(hub_home, args=("--watcher",),
                    env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
                         "OTEL_BLRP_SCHEDULE_DELAY": "100"})
    try:
        # A burst from 127.0.0.2, which the default rules do not ignore (127.0.0.1 they do).
        transport = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(transport=transport, timeout=5) as intruder:
            for _ in range(12):
                intruder.get(f"{hub.control_url}/nodes")
        assert wait_for(lambda: any(a["state"] == "firing" for a in _alerts(hub_home)), 15)
        [alert] = [a for a in _alerts(hub_home) if a["state"] == "firing"]
        assert (alert["rule"], alert["count"], alert["group"]) == ("auth_failure_burst", 11, {})
        assert wait_for(lambda: any(r.log_records for request in receiver.logs
                                    for rl in request.resource_logs
                                    for r in rl.scope_logs), 15)
    finally:
        assert hub.stop() == 0
    assert "watcher: started" in "".join(hub.output)


def test_the_default_rules_ignore_localhost_bursts(hub_home: Path) -> None:
    hub = start_hub(hub_home, args=("--watcher",))
    try:
        with httpx.Client(timeout=5) as client:
            for _ in range(30):
                client.get(f"{hub.control_url}/nodes")
        time.sleep(1.5)
    finally:
        assert hub.stop() == 0
    assert _alerts(hub_home) == []
    assert (hub_home / "state" / "watcher_checkpoint.json").exists()


def test_the_demo_burst_raises_both_default_alerts(hub_home: Path) -> None:
    hub = start_hub(hub_home, args=("--demo", "--watcher"))
    try:
        def fired() -> set[str]:
            return {str(a["rule"]) for a in _alerts(hub_home) if a["state"] == "firing"}

        assert wait_for(lambda: fired() == {"auth_failure_burst", "port_mismatch_burst"}, 25)
        by_rule = {a["rule"]: a for a in _alerts(hub_home) if a["state"] == "firing"}
        assert by_rule["port_mismatch_burst"]["group"] == {"client": "127.0.0.2"}
    finally:
        assert hub.stop() == 0
