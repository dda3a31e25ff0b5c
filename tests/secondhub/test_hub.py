"""The second hub on its own, without the layer: the v1.5 API over two processes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import MakeDriver, MakeHub
from .harness import REPO, TOKEN, Knobs, SecondHub

pytestmark = pytest.mark.e2e

SHORT = Knobs(stale_s=30, dead_s=120, lease_s=30, max_tries=2, sweep_s=0.1)


def _audit(hub: SecondHub) -> list[dict[str, Any]]:
    if not hub.audit.exists():
        return []
    return [json.loads(line) for line in hub.audit.read_text(encoding="utf-8").splitlines()]


def test_every_route_answers_as_the_contract_says(
        make_hub: MakeHub, make_driver: MakeDriver) -> None:
    hub = make_hub(knobs=SHORT).start()
    drive = make_driver(hub)
    for plane in ("control", "data"):
        response, _ = drive.call(plane, "GET", "/health", auth=False)
        assert response.json() == {"status": "ok", "plane": plane, "version": "1.5.0"}
    drive.register("n1", name="first", meta={"zone": "a"})
    drive.register("n1", name="again", meta={"zone": "b"})  # idempotent
    drive.register("n2")
    drive.heartbeat("n2")
    drive.heartbeat("ghost")  # 404
    nodes = drive.call("control", "GET", "/nodes")[0].json()["nodes"]
    assert [(n["node_id"], n["name"], n["status"], n["meta"]) for n in nodes] == [
        ("n1", "again", "online", {"zone": "b"}), ("n2", None, "online", {})]
    assert set(nodes[0]) == {"node_id", "name", "status", "last_seen", "registered_at", "meta"}
    drive.delete("n2")
    drive.delete("n2")  # 204 again
    assert [n["node_id"] for n in drive.call("control", "GET", "/nodes")[0].json()["nodes"]] \
        == ["n1"]

    first, second = drive.submit(), drive.submit()
    assert drive.claim("n1", 30) == first
    drive.complete(first)
    job = drive.call("data", "GET", f"/jobs/{first}")[0].json()
    assert (job["state"], job["attempts"], job["result"], job["node_id"]) == (
        "done", 1, {"ok": True}, "n1")
    assert set(job) == {"job_id", "kind", "payload", "state", "attempts", "max_attempts",
                        "node_id", "lease_expires_at", "result", "last_error", "created_at",
                        "updated_at"}
    assert drive.claim("n1", 30) == second
    assert drive.claim("n1", 30) is None  # 204: empty
    response, _ = drive.call("data", "POST", f"/jobs/{second}/complete", json={"node_id": "x1"})
    assert (response.status_code, response.json()) == (
        409, {"error": "not_lease_holder", "state": "inflight"})
    response, _ = drive.call("data", "POST", f"/jobs/{first}/fail",
                             json={"node_id": "n1", "error": "late"})
    assert (response.status_code, response.json()) == (
        409, {"error": "invalid_state", "state": "done"})
    for method, path in (("GET", "/jobs/nope"), ("POST", "/jobs/nope/complete")):
        response, _ = drive.call("data", method, path, json={"node_id": "n1"})
        assert (response.status_code, response.json()) == (404, {"error": "not_found"})


def test_bad_input_gets_a_json_4xx(
        make_hub: MakeHub, make_driver: MakeDriver) -> None:
    hub = make_hub().start()
    drive = make_driver(hub)
    cases = [("control", "/nodes/register", b"{nope", 400, "malformed_json"),
             ("control", "/nodes/register", b'{"node_id": 5}', 422, "invalid_request"),
             ("control", "/nodes/register", b'{"node_id": "a", "extra": 1}', 422,
              "invalid_request"),
             ("data", "/jobs", b'{"kind": ""}', 422, "invalid_request"),
             ("data", "/jobs/claim", b'{"node_id": "a", "lease_s": -1}', 422,
              "invalid_request")]
    for plane, path, body, status, error in cases:
        response, _ = drive.call(plane, "POST", path, content=body,
                                 headers={"Content-Type": "application/json"})
        assert (response.status_code, response.json()) == (status, {"error": error}), body
    response, _ = drive.call("control", "PUT", "/nodes")
    assert (response.status_code, response.headers["allow"]) == (405, "GET")


def test_guards_audit_to_one_log_from_both_processes(
        make_hub: MakeHub, make_driver: MakeDriver) -> None:
    hub = make_hub().start()
    drive = make_driver(hub)
    drive.no_token("control")
    drive.bad_token("data", "POST", "/jobs")
    drive.wrong_port("control")
    drive.wrong_port("data")
    # 421 comes before the token: a right token on the wrong port is still a mismatch.
    response, _ = drive.call("data", "DELETE", "/nodes/n1")
    assert response.status_code == 421
    for plane in ("control", "data"):  # unknown paths and /metrics: 404, no audit
        for path in ("/nope", "/metrics", "/nodes/register/x"):
            assert drive.call(plane, "GET", path, auth=False)[0].status_code == 404
    lines = _audit(hub)
    ports = hub.ports
    assert [{k: v for k, v in line.items() if k != "time"} for line in lines] == [
        {"type": "auth.fail", "ip": "127.0.0.1", "svc": "control", "port": ports["control"],
         "verb": "GET", "route": "/nodes", "why": "missing_token"},
        {"type": "auth.fail", "ip": "127.0.0.1", "svc": "data", "port": ports["data"],
         "verb": "POST", "route": "/jobs", "why": "invalid_token"},
        {"type": "wrong_port", "ip": "127.0.0.1", "svc": "control", "port": ports["control"],
         "verb": "POST", "route": "/jobs", "want_port": ports["data"]},
        {"type": "wrong_port", "ip": "127.0.0.1", "svc": "data", "port": ports["data"],
         "verb": "GET", "route": "/nodes", "want_port": ports["control"]},
        {"type": "wrong_port", "ip": "127.0.0.1", "svc": "data", "port": ports["data"],
         "verb": "DELETE", "route": "/nodes/n1", "want_port": ports["control"]},
    ]
    times = [line["time"] for line in lines]
    assert times == sorted(times) and all(isinstance(t, float) for t in times)
    assert TOKEN not in hub.audit.read_text(encoding="utf-8")


def test_leases_retries_and_dead_letter(
        make_hub: MakeHub, make_driver: MakeDriver) -> None:
    hub = make_hub(knobs=SHORT).start()
    drive = make_driver(hub)
    drive.register("w1")
    once, twice = drive.submit(max_attempts=1), drive.submit()
    assert drive.claim("w1", 30) == once
    assert drive.fail(once) == "dead"  # out of attempts: dead-lettered, no retry
    assert drive.claim("w1", 0.3) == twice
    assert drive.sweep(0.3) == [twice]  # the lease ran out: requeued
    response, _ = drive.call("data", "POST", f"/jobs/{twice}/complete", json={"node_id": "w1"})
    assert response.json() == {"error": "invalid_state", "state": "queued"}
    assert drive.claim("w1", 30) == twice
    assert drive.fail(twice) == "dead"  # attempt 2 of 2
    third = drive.submit(max_attempts=5)
    assert drive.claim("w1", 30) == third
    assert drive.fail(third) == "queued"
    job = drive.call("data", "GET", f"/jobs/{third}")[0].json()
    assert (job["attempts"], job["last_error"], job["node_id"]) == (1, "boom", None)
    assert drive.ledger.retry_totals() == {"failed": 1, "lease_expired": 1}

    with sqlite3.connect(f"file:{hub.db}?mode=ro", uri=True) as db:
        log = db.execute("SELECT why FROM retry_log ORDER BY ts").fetchall()
        totals = dict(db.execute("SELECT why, total FROM retry_counts").fetchall())
        statuses = dict(db.execute("SELECT uuid, status FROM tasks").fetchall())
        mode = db.execute("PRAGMA journal_mode").fetchone()
    assert log == [("lease_expired",), ("failed",)]
    assert totals == {"failed": 1, "lease_expired": 1}
    assert statuses == {once: "failed_final", twice: "failed_final", third: "waiting"}
    assert mode == ("wal",)


def test_a_restarted_process_keeps_the_state(
        make_hub: MakeHub, make_driver: MakeDriver) -> None:
    hub = make_hub().start()
    drive = make_driver(hub)
    drive.register("n1")
    job = drive.submit()
    hub.kill("data")
    hub.kill("control")
    hub.start()
    assert [n["node_id"] for n in drive.call("control", "GET", "/nodes")[0].json()["nodes"]] \
        == ["n1"]
    assert drive.claim("n1", 30) == job


@pytest.mark.parametrize(("variable", "value"), [("SECONDHUB_TOKEN", "short"),
                                                 ("SECONDHUB_STALE_S", "-1"),
                                                 ("SECONDHUB_DEAD_S", "1"),
                                                 ("SECONDHUB_DATA_PORT", "70000")])
def test_a_bad_setting_exits_2_naming_it(tmp_path: Path, variable: str, value: str) -> None:
    env = SecondHub(tmp_path).env() | {variable: value}
    result = subprocess.run([sys.executable, "-m", "tests.secondhub.hub", "control"], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result.stderr
    assert variable in result.stderr and "Traceback" not in result.stderr
