"""The bundle against a real hub on loopback: up after traffic, stopped, and crashed."""

from __future__ import annotations

import base64
import hashlib
import signal
import time
from pathlib import Path

import httpx
import pytest

from otel import FINGERPRINT_FILE, KnownSecrets, TokenFingerprint, write_fingerprint
from tests.conftest import TEST_TOKEN, HubProcess, start_hub

from .conftest import CONTRACT_MEMBERS, clean_env, read_json, read_members, run_cli

pytestmark = pytest.mark.e2e

API_KEY = "sk-live-node-apikey-5f1e2d3c"
GAUGES = {"control": ("nodes_online", "nodes_stale", "nodes_dead"),
          "data": ("queue_depth", "inflight_jobs")}


def _traffic(hub: HubProcess) -> None:
    """Nodes (one with a secret in meta), jobs in three states, and audited failures."""
    with httpx.Client(trust_env=False, timeout=10) as client:
        for i in range(3):
            meta = {"api_key": API_KEY, "region": "eu"} if i == 0 else {"rack": i}
            client.post(f"{hub.control_url}/nodes/register", headers=hub.auth,
                        json={"node_id": f"node-{i}", "meta": meta}).raise_for_status()
        for _ in range(4):
            client.post(f"{hub.data_url}/jobs", headers=hub.auth,
                        json={"kind": "k"}).raise_for_status()
        job = client.post(f"{hub.data_url}/jobs/claim", headers=hub.auth,
                          json={"node_id": "node-0"}).json()["job"]
        client.post(f"{hub.data_url}/jobs/{job['job_id']}/fail", headers=hub.auth,
                    json={"node_id": "node-0", "error": "boom"}).raise_for_status()
        client.post(f"{hub.data_url}/jobs/claim", headers=hub.auth, json={"node_id": "node-1"})
        assert client.get(f"{hub.control_url}/nodes").status_code == 401
        assert client.get(f"{hub.control_url}/nodes",
                          headers={"Authorization": "Bearer wrong-token-xyz"}).status_code == 401
        assert client.post(f"{hub.data_url}/nodes/register", json={}).status_code == 421


def _urls(hub: HubProcess) -> list[str]:
    return ["--control-url", hub.control_url, "--data-url", hub.data_url]


def _assert_hashes_match(members: dict[str, bytes]) -> None:
    manifest = read_json(members, "manifest.json")
    listed = {entry["name"]: entry for entry in manifest["members"]}
    assert set(listed) == set(members) - {"manifest.json"}
    for name, data in members.items():
        if name != "manifest.json":
            assert listed[name]["sha256"] == hashlib.sha256(data).hexdigest(), name
            assert listed[name]["size"] == len(data), name


def test_hub_up_after_traffic_every_member_is_present_valid_and_live(
        hub_home: Path, out_dir: Path, tmp_path: Path) -> None:
    hub = start_hub(hub_home)
    try:
        _traffic(hub)
        started = time.perf_counter()
        run = run_cli(["--out", str(out_dir), "--home", str(hub_home), *_urls(hub)],
                      clean_env(HUB_TOKEN=TEST_TOKEN), cwd=tmp_path)
        elapsed_s = time.perf_counter() - started
        with httpx.Client(trust_env=False, timeout=10) as client:
            live = {plane: client.get(f"{url}/metrics", headers={"Accept": "application/json"})
                    for plane, url in (("control", hub.control_url), ("data", hub.data_url))}
    finally:
        hub.stop(signal.SIGTERM)
    members = read_members(run.bundle)
    assert set(members) >= CONTRACT_MEMBERS
    _assert_hashes_match(members)
    for name, data in members.items():
        assert TEST_TOKEN.encode() not in data, name
        assert API_KEY.encode() not in data, name
        if name.endswith(".json"):
            read_json(members, name)
    for plane in ("control", "data"):
        health = read_json(members, f"health/{plane}.json")
        assert health["health"] == {"plane": plane, "status": "ok", "version": "1.5.0"}
        metrics = read_json(members, f"metrics/{plane}.json")
        answer = live[plane]
        if answer.status_code == 200:
            # The integration of CONTRACT section 3 is in: the bundle has the live reading.
            assert metrics["source"] == "live"
            for key in GAUGES[plane]:
                assert metrics["reading"][key] == answer.json()[key], key
        else:
            assert metrics["source"] == "offline" and metrics["offline"] is True
            assert metrics["live_error"] == f"HTTP {answer.status_code}"
    control = read_json(members, "metrics/control.json")["reading"]
    assert (control["nodes_online"], control["nodes_stale"], control["nodes_dead"]) == (3, 0, 0)
    data = read_json(members, "metrics/data.json")["reading"]
    assert (data["queue_depth"], data["inflight_jobs"]) == (3, 1)
    registry = read_json(members, "registry.json")
    assert [n["node_id"] for n in registry["nodes"]] == ["node-0", "node-1", "node-2"]
    assert registry["nodes"][0]["meta"] == {"api_key": "[REDACTED]", "region": "eu"}
    assert set(registry["nodes"][0]) == {"node_id", "name", "status", "last_seen",
                                         "registered_at", "meta"}
    assert b"POST /nodes/register 200" in members["logs/hub_control.log"]
    audit = members["logs/hub_security_audit.jsonl"].decode()
    assert audit.count('"AUTH_FAILURE"') == 2 and audit.count('"PORT_MISMATCH"') == 1
    assert "HUB_TOKEN" in members["env_keys.txt"].decode().splitlines()
    collectors = read_json(members, "manifest.json")["collectors"]
    assert all(c["status"] in ("ok", "absent", "offline") for c in collectors.values())
    assert elapsed_s < 10  # a sanity bound only; the < 1 s goal is measured in bench.py
    verify = run_cli(["--verify", str(run.bundle)], clean_env(HUB_TOKEN=TEST_TOKEN), cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def _state_files(home: Path) -> dict[str, str]:
    """Each file in state/ with its hash; ``-shm`` (SQLite's shared-memory index, which every
    WAL reader uses for its read marks and rebuilds after a crash) only by name."""
    return {p.name: "" if p.name.endswith("-shm") else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((home / "state").iterdir())}


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "crashed"])
def test_hub_down_bundle_has_unreachable_health_and_offline_metrics(
        hub_home: Path, out_dir: Path, tmp_path: Path, stop: int) -> None:
    hub = start_hub(hub_home)
    try:
        _traffic(hub)
        urls = _urls(hub)
    finally:
        hub.stop(stop)
    before = _state_files(hub_home)
    run = run_cli(["--out", str(out_dir), "--home", str(hub_home), *urls],
                  clean_env(HUB_TOKEN=TEST_TOKEN), cwd=tmp_path)
    # Read-only: no file in state/ created or removed; the database and its WAL unchanged.
    assert _state_files(hub_home) == before
    members = read_members(run.bundle)
    assert set(members) >= CONTRACT_MEMBERS
    _assert_hashes_match(members)
    manifest = read_json(members, "manifest.json")
    for plane in ("control", "data"):
        health = read_json(members, f"health/{plane}.json")
        assert health["reachable"] is False and health["error"].startswith("unreachable")
        assert manifest["collectors"][f"health_{plane}"]["status"] == "error"
        metrics = read_json(members, f"metrics/{plane}.json")
        assert metrics["source"] == "offline" and metrics["offline"] is True
        assert metrics["live_error"].startswith("unreachable")
        assert metrics["db_open"] == ("wal" if stop == signal.SIGKILL else "immutable")
    control = read_json(members, "metrics/control.json")["reading"]
    assert (control["nodes_online"], control["nodes_stale"], control["nodes_dead"]) == (3, 0, 0)
    assert control["auth_fail_rate_1m"] is None  # a rate needs the live hub
    data = read_json(members, "metrics/data.json")["reading"]
    assert (data["queue_depth"], data["inflight_jobs"]) == (3, 1)
    assert len(read_json(members, "registry.json")["nodes"]) == 3
    for data_bytes in members.values():
        assert TEST_TOKEN.encode() not in data_bytes and API_KEY.encode() not in data_bytes


def test_a_shell_without_hub_token_keeps_the_token_out_by_its_fingerprint(
        hub_home: Path, out_dir: Path, tmp_path: Path) -> None:
    """As a new user runs it: the hub got its token from its own environment; diagnose, from
    another shell, gets neither the variable nor a token file, only the hub's fingerprint."""
    hub = start_hub(hub_home)
    try:
        fingerprint = hub_home / FINGERPRINT_FILE
        if not fingerprint.exists():  # a hub from before the fingerprint: leave one as v1.5 does
            write_fingerprint(fingerprint, TokenFingerprint.of(TEST_TOKEN))
        basic = base64.b64encode(f"ops:{TEST_TOKEN}".encode()).decode()
        with httpx.Client(trust_env=False, timeout=10) as client:
            client.post(f"{hub.control_url}/nodes/register", headers=hub.auth, json={
                "node_id": "node-t", "name": f"owner of {TEST_TOKEN}",
                "meta": {"note": f"token is {TEST_TOKEN}", "auth": f"Basic {basic}",
                         "hex": TEST_TOKEN.encode().hex(), "contact": "ops@example.org"},
            }).raise_for_status()
            client.get(f"{hub.control_url}/nodes", headers={"Authorization": f"Basic {basic}"})
        run = run_cli(["--out", str(out_dir), "--home", str(hub_home), *_urls(hub)],
                      clean_env(), cwd=tmp_path)
    finally:
        hub.stop(signal.SIGTERM)
    assert run.returncode == 0, run.stderr
    assert "token: known by fingerprint (state/hub_token.fingerprint.json)" in run.stderr
    members = read_members(run.bundle)
    gate = KnownSecrets((TEST_TOKEN,)).redactor()
    for name, data in members.items():
        for form in (TEST_TOKEN.encode(), basic.encode(), TEST_TOKEN.encode().hex().encode(),
                     b"ops@example.org"):
            assert form not in data, (name, form)
        assert gate.find_leaks(data) == [], name
    manifest = read_json(members, "manifest.json")
    assert manifest["token"] == {"value_known": False,
                                 "found_by": ["fingerprint state/hub_token.fingerprint.json"]}
    node = read_json(members, "registry.json")["nodes"][0]
    assert node["name"] == "owner of [REDACTED]"
    assert node["meta"]["note"] == "token is [REDACTED]"
    assert node["meta"]["contact"] == "[REDACTED]"
    # Without the fingerprint (and no HUB_TOKEN, no token file) it refuses: no bundle.
    (hub_home / FINGERPRINT_FILE).unlink()
    refused_out = tmp_path / "refused"
    refused = run_cli(["--out", str(refused_out), "--home", str(hub_home), *_urls(hub)],
                      clean_env(), cwd=tmp_path)
    assert refused.returncode == 5
    assert not refused_out.exists()
    assert "--token-file PATH" in refused.stderr and "Traceback" not in refused.stderr
