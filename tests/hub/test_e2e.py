"""The real ``python -m baseline_hub`` process on ephemeral loopback ports."""

from __future__ import annotations

import json
import signal
import socket
import stat
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_TOKEN, HubProcess, start_hub
from tests.hub.conftest import run_hub_cli

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_hub_cleanly(hub_process: HubProcess, sig: int) -> None:
    assert httpx.get(f"{hub_process.control_url}/health").status_code == 200
    started = time.monotonic()
    assert hub_process.stop(sig) == 0
    assert time.monotonic() - started < 5
    assert "stopped" in (hub_process.home / "logs" / "hub_control.log").read_text()


def test_generated_token_is_private_and_never_printed(hub_home: Path) -> None:
    hub = start_hub(hub_home, token=None)
    try:
        token_file = hub_home / "secrets" / "hub_token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert str(token_file) in "".join(hub.output)
        assert hub.token not in "".join(hub.output)
        assert httpx.get(f"{hub.control_url}/nodes", headers=hub.auth).status_code == 200
    finally:
        hub.stop()
    again = start_hub(hub_home, token=None)
    try:
        assert again.token == hub.token
        assert httpx.get(f"{again.control_url}/nodes", headers=hub.auth).status_code == 200
    finally:
        again.stop()
    assert hub.token not in "".join(again.output)


def test_restart_keeps_nodes_and_jobs(hub_home: Path) -> None:
    hub = start_hub(hub_home)
    with httpx.Client(headers=hub.auth) as client:
        client.post(f"{hub.control_url}/nodes/register", json={"node_id": "n1", "name": "keep"})
        job_id = client.post(f"{hub.data_url}/jobs", json={"kind": "k"}).json()["job_id"]
    assert hub.stop() == 0
    hub = start_hub(hub_home)
    try:
        with httpx.Client(headers=hub.auth) as client:
            nodes = client.get(f"{hub.control_url}/nodes").json()["nodes"]
            assert [(n["node_id"], n["name"]) for n in nodes] == [("n1", "keep")]
            assert client.get(f"{hub.data_url}/jobs/{job_id}").json()["state"] == "queued"
    finally:
        hub.stop()


def test_kill_9_during_a_submit_burst_loses_no_acknowledged_job(hub_home: Path) -> None:
    hub = start_hub(hub_home)
    acknowledged: list[str] = []
    stop = threading.Event()

    def submit() -> None:
        with httpx.Client(headers=hub.auth, timeout=2) as client:
            for i in range(5000):  # bounded; the kill ends it much sooner
                if stop.is_set():
                    return
                try:
                    response = client.post(f"{hub.data_url}/jobs", json={"kind": "burst",
                                                                          "payload": {"i": i}})
                except httpx.HTTPError:
                    return
                if response.status_code == 201:
                    acknowledged.append(response.json()["job_id"])

    workers = [threading.Thread(target=submit) for _ in range(4)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 10
    while len(acknowledged) < 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    hub.stop(signal.SIGKILL)
    stop.set()
    for worker in workers:
        worker.join(timeout=10)
    assert len(acknowledged) >= 200
    hub = start_hub(hub_home)
    try:
        with httpx.Client(headers=hub.auth) as client:
            lost = [j for j in acknowledged
                    if client.get(f"{hub.data_url}/jobs/{j}").status_code != 200]
        assert lost == []
    finally:
        hub.stop()


def test_token_never_appears_in_responses_or_logs(hub_process: HubProcess) -> None:
    hub = hub_process
    bodies: list[str] = []
    with httpx.Client(timeout=5) as client:
        def call(method: str, url: str, headers: dict[str, str] | None = None,
                 json: object = None) -> None:
            response = client.request(method, url, headers=headers, json=json)
            bodies.append(response.text + repr(response.headers))

        call("POST", f"{hub.control_url}/nodes/register", headers=hub.auth,
             json={"node_id": "n1", "meta": {"api_key": TEST_TOKEN}})
        call("GET", f"{hub.control_url}/nodes", headers=hub.auth)  # leak guard
        call("POST", f"{hub.data_url}/jobs", headers=hub.auth,
             json={"kind": "k", "payload": {"t": TEST_TOKEN}})
        call("POST", f"{hub.data_url}/jobs/claim", headers=hub.auth, json={"node_id": "w"})
        call("GET", f"{hub.control_url}/nodes/{TEST_TOKEN}?token={TEST_TOKEN}")
        call("POST", f"{hub.data_url}/jobs", headers=hub.auth, json={"kind": [TEST_TOKEN]})
        call("GET", f"{hub.control_url}/nodes",
             headers={"Authorization": f"Bearer {TEST_TOKEN}-wrong"})
        call("POST", f"{hub.data_url}/nodes/register?token={TEST_TOKEN}")
        call("GET", f"{hub.data_url}/{TEST_TOKEN}")
    for body in bodies:
        assert TEST_TOKEN not in body
    assert hub.stop() == 0
    files = list((hub.home / "logs").iterdir())
    assert {f.name for f in files} >= {"hub_control.log", "hub_data.log",
                                       "hub_security_audit.jsonl"}
    for path in files:
        assert TEST_TOKEN not in path.read_text(errors="replace"), path.name
    events = [json.loads(line)["event"]
              for line in (hub.home / "logs" / "hub_security_audit.jsonl").read_text().splitlines()]
    assert events.count("LEAK_BLOCKED") == 2  # GET /nodes and the claimed job with the token
    assert "PORT_MISMATCH" in events and "AUTH_FAILURE" in events


@pytest.mark.parametrize(("variable", "value"), [
    ("HUB_CONTROL_PORT", "eighty"),
    ("HUB_DATA_PORT", "70000"),
    ("HUB_NODE_STALE_S", "-1"),
    ("HUB_NODE_DEAD_S", "1"),
    ("HUB_JOB_LEASE_S", "nan"),
    ("HUB_JOB_MAX_ATTEMPTS", "0"),
    ("HUB_HOST", "not a host"),
    ("HUB_TOKEN", "short"),
    ("HUB_TRUSTED_PROXIES", "proxy.local"),
    ("HUB_TRUSTED_PROXIES", "10.0.0.1/8"),
    ("HUB_TRUSTED_PROXIES", "127.0.0.1,*"),
])
def test_invalid_environment_exits_2_naming_the_variable(hub_home: Path, variable: str,
                                                         value: str) -> None:
    result = run_hub_cli({variable: value}, hub_home)
    assert result.returncode == 2
    assert variable in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_port_in_use_exits_1_with_a_clear_message(hub_home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_hub_cli({"HUB_TOKEN": TEST_TOKEN, "HUB_CONTROL_PORT": str(port)}, hub_home)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_drives_nodes_jobs_and_a_bad_client_burst(hub_home: Path) -> None:
    hub = start_hub(hub_home, args=("--demo",))
    try:
        audit = hub_home / "logs" / "hub_security_audit.jsonl"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if audit.exists() and audit.read_text().count("PORT_MISMATCH") >= 7:
                break
            time.sleep(0.2)
        lines = [json.loads(line) for line in audit.read_text().splitlines()]
        assert sum(line["event"] == "AUTH_FAILURE" for line in lines) >= 12
        assert {line["client"] for line in lines} == {"127.0.0.2"}
        with httpx.Client(headers=hub.auth) as client:
            nodes = client.get(f"{hub.control_url}/nodes").json()["nodes"]
        assert len(nodes) == 6
        assert "hub_token" in "".join(hub.output) or "HUB_TOKEN" in "".join(hub.output)
    finally:
        assert hub.stop() == 0


@pytest.mark.parametrize(("variable", "value"), [
    ("HUB_HOST", "999.1.1.1"),
    ("HUB_HOST", "203.0.113.7"),
    ("SHERATAN_HOME", "/dev/null/home"),
])
def test_unusable_host_or_home_exits_2(hub_home: Path, variable: str, value: str) -> None:
    result = run_hub_cli({"HUB_TOKEN": TEST_TOKEN, variable: value}, hub_home)
    assert result.returncode == 2, result.stderr
    assert variable in result.stderr
    assert "Traceback" not in result.stderr


def test_a_second_hub_on_the_same_home_is_refused(hub_process: HubProcess) -> None:
    result = run_hub_cli({"HUB_TOKEN": TEST_TOKEN}, hub_process.home)
    assert result.returncode == 1
    assert "another hub is already running" in result.stderr
    assert httpx.get(f"{hub_process.control_url}/health").status_code == 200


def test_the_hub_says_when_it_has_stopped(hub_process: HubProcess) -> None:
    assert hub_process.stop() == 0
    assert "Sheratan hub stopped" in "".join(hub_process.output)
