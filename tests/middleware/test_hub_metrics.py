"""C1 on the baseline hub, in-process: keys, live values, plane isolation, read-only, no leaks."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from baseline_hub import HubConfig, HubContext, PlaneInfo, build_plane_app
from hub_middleware import HubTaps, instrument_app
from otel import HubTelemetry, TelemetryConfig
from tests.conftest import TEST_TOKEN
from tests.hub.conftest import CLIENT, CONTROL, DATA, FakeClock

CONTROL_KEYS = {"plane", "generated_at", "nodes_online", "nodes_stale", "nodes_dead",
                "auth_fail_rate_1m", "port_mismatch_rate_1m"}
DATA_KEYS = {"plane", "generated_at", "queue_depth", "inflight_jobs", "retry_rate_1m"}
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}


class Hub:
    """An instrumented hub in-process, with the same wiring as ``python -m baseline_hub``."""

    def __init__(self, home: Path, clock: FakeClock, *, instrumented: bool = True) -> None:
        self.config = HubConfig(home=home, node_stale_s=5, node_dead_s=20, job_lease_s=10,
                                job_max_attempts=2)
        self.telemetry = HubTelemetry(TelemetryConfig())
        observers = [HubTaps(self.telemetry)] if instrumented else []
        self.context = HubContext.open(self.config, TEST_TOKEN, observers=observers,
                                       wall_clock=clock)

        def instrument(app: FastAPI, plane: PlaneInfo) -> None:
            instrument_app(app, self.telemetry, plane=plane.name, server_port=plane.port)

        hook = instrument if instrumented else None
        self.control = TestClient(build_plane_app(CONTROL, self.context, instrument=hook),
                                  client=CLIENT)
        self.data = TestClient(build_plane_app(DATA, self.context, instrument=hook),
                               client=CLIENT)

    def close(self) -> None:
        self.context.close()
        self.telemetry.shutdown()

    def metrics(self) -> tuple[dict[str, object], dict[str, object]]:
        return self.control.get("/metrics").json(), self.data.get("/metrics").json()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def hub(hub_home: Path, clock: FakeClock) -> Iterator[Hub]:
    instance = Hub(hub_home, clock)
    yield instance
    instance.close()


def families(client: TestClient) -> set[str]:
    text = client.get("/metrics", headers={"Accept": "text/plain"}).text
    return {family.name for family in text_string_to_metric_families(text)}


def series(client: TestClient) -> set[tuple[str, frozenset[tuple[str, str]]]]:
    text = client.get("/metrics?format=prometheus").text
    return {(s.name, frozenset(s.labels.items()))
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_json_keys_are_exactly_the_contracts(hub: Hub) -> None:
    control, data = hub.metrics()
    assert set(control) == CONTROL_KEYS and control["plane"] == "control"
    assert set(data) == DATA_KEYS and data["plane"] == "data"
    assert str(control["generated_at"]).endswith("Z")


def test_node_gauges_follow_heartbeat_age(hub: Hub, clock: FakeClock) -> None:
    for node in ("a", "b", "c"):
        hub.control.post("/nodes/register", headers=AUTH, json={"node_id": node})
    clock.advance(6)
    hub.control.post("/nodes/a/heartbeat", headers=AUTH)
    control, _ = hub.metrics()
    assert (control["nodes_online"], control["nodes_stale"], control["nodes_dead"]) == (1, 2, 0)
    clock.advance(15)
    control, _ = hub.metrics()
    assert (control["nodes_online"], control["nodes_stale"], control["nodes_dead"]) == (0, 1, 2)


def test_security_rates_count_both_ports_hub_wide(hub: Hub) -> None:
    hub.control.get("/nodes")                                   # control: missing token
    hub.data.post("/jobs", headers={"Authorization": "Bearer nope-nope-nope"})  # data: invalid
    hub.data.get("/nodes")                                      # 421 on data
    hub.control.post("/jobs/claim")                             # 421 on control
    hub.control.post("/jobs")                                   # 421 on control
    control, data = hub.metrics()
    assert (control["auth_fail_rate_1m"], control["port_mismatch_rate_1m"]) == (2, 3)
    assert "auth_fail_rate_1m" not in data


def test_queue_inflight_and_retries_track_jobs(hub: Hub, clock: FakeClock) -> None:
    ids = [hub.data.post("/jobs", headers=AUTH, json={"kind": "k"}).json()["job_id"]
           for _ in range(4)]
    first = hub.data.post("/jobs/claim", headers=AUTH, json={"node_id": "w"}).json()["job"]
    hub.data.post("/jobs/claim", headers=AUTH, json={"node_id": "w", "lease_s": 1})
    hub.data.post(f"/jobs/{first['job_id']}/fail", headers=AUTH,
                  json={"node_id": "w", "error": "x"})
    _, data = hub.metrics()
    assert (data["queue_depth"], data["inflight_jobs"], data["retry_rate_1m"]) == (3, 1, 1)
    clock.advance(2)
    for retry in hub.context.jobs.expire_leases():  # what the sweeper does
        hub.context.job_retried(retry)
    _, data = hub.metrics()
    assert (data["queue_depth"], data["inflight_jobs"], data["retry_rate_1m"]) == (4, 0, 2)
    assert len(ids) == 4


def test_each_port_exposes_only_its_own_planes_series(hub: Hub) -> None:
    hub.control.get("/nodes")
    hub.data.get("/nodes")
    job_id = hub.data.post("/jobs", headers=AUTH, json={"kind": "k"}).json()["job_id"]
    hub.data.post("/jobs/claim", headers=AUTH, json={"node_id": "w"})
    hub.data.post(f"/jobs/{job_id}/fail", headers=AUTH, json={"node_id": "w", "error": "e"})
    control, data = families(hub.control), families(hub.data)
    assert {"hub_nodes", "hub_auth_failures", "hub_port_mismatches"} <= control
    assert {"hub_queue_depth", "hub_jobs_inflight", "hub_jobs_retries"} <= data
    assert not control & {"hub_queue_depth", "hub_jobs_inflight", "hub_jobs_retries"}
    assert not data & {"hub_nodes", "hub_auth_failures"}
    ports = {dict(labels).get("server_port") for name, labels in series(hub.control)
             if name.startswith("http_server")}
    assert ports == {"8787"}


def test_probing_random_paths_and_unknown_nodes_adds_no_series(hub: Hub) -> None:
    hub.control.get("/probe/first")
    hub.control.post("/nodes/ghost-0/heartbeat", headers=AUTH)
    before = series(hub.control)
    for i in range(50):
        hub.control.get(f"/probe/{i}/wp-admin.php")
        hub.control.post(f"/nodes/ghost-{i + 1}/heartbeat", headers=AUTH)
    assert series(hub.control) == before


def _dump(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return list(conn.iterdump())


def test_hundreds_of_scrapes_change_no_state(hub: Hub) -> None:
    hub.control.post("/nodes/register", headers=AUTH, json={"node_id": "n1"})
    hub.data.post("/jobs", headers=AUTH, json={"kind": "k"})
    hub.control.get("/nodes")
    paths = hub.config.paths
    db_before, audit_before = _dump(paths.db), paths.audit_log.read_bytes()
    for i in range(150):
        for client in (hub.control, hub.data):
            assert client.get("/metrics").status_code == 200
            accept = "text/plain" if i % 2 else "application/openmetrics-text"
            assert client.get("/metrics", headers={"Accept": accept}).status_code == 200
    assert _dump(paths.db) == db_before
    assert paths.audit_log.read_bytes() == audit_before


def test_the_token_never_reaches_metric_output(hub: Hub) -> None:
    hub.control.get(f"/nodes/{TEST_TOKEN}")
    hub.control.post(f"/nodes/{TEST_TOKEN}/heartbeat", headers=AUTH)
    hub.data.post(f"/jobs/{TEST_TOKEN}/complete", headers=AUTH, json={"node_id": "w"})
    hub.control.get("/nodes", headers={"Authorization": f"Bearer {TEST_TOKEN}x"})
    for client in (hub.control, hub.data):
        for fmt in ("json", "prometheus", "openmetrics"):
            assert TEST_TOKEN not in client.get(f"/metrics?format={fmt}").text


def _script(hub: Hub) -> list[tuple[int, object]]:
    """A fixed sequence of calls; answers with their volatile fields masked."""
    out: list[tuple[int, object]] = []

    def record(response: httpx2.Response) -> None:  # starlette's TestClient is on httpx2
        status = response.status_code
        body = response.json() if response.content else None
        text = json.dumps(body, sort_keys=True)
        for volatile in ("job_id", "created_at", "updated_at", "last_seen", "registered_at",
                         "lease_expires_at"):
            text = _mask(text, volatile)
        out.append((status, text))

    record(hub.control.get("/health"))
    record(hub.control.get("/nodes"))
    record(hub.control.post("/nodes/register", headers=AUTH, json={"node_id": "n1", "meta": {}}))
    record(hub.control.post("/nodes/n1/heartbeat", headers=AUTH))
    record(hub.control.post("/nodes/n2/heartbeat", headers=AUTH))
    record(hub.control.get("/nodes", headers=AUTH))
    record(hub.data.get("/nodes"))
    record(hub.control.post("/jobs"))
    record(hub.data.post("/jobs", headers=AUTH, json={"kind": "k", "max_attempts": -1}))
    job = hub.data.post("/jobs", headers=AUTH, json={"kind": "k"})
    record(job)
    record(hub.data.post("/jobs/claim", headers=AUTH, json={"node_id": "w"}))
    record(hub.data.post(f"/jobs/{job.json()['job_id']}/fail", headers=AUTH,
                         json={"node_id": "w", "error": "e"}))
    record(hub.data.get(f"/jobs/{job.json()['job_id']}", headers=AUTH))
    record(hub.data.post("/jobs", headers=AUTH, content=b"{bad",))
    record(hub.control.delete("/nodes/n1", headers=AUTH))
    record(hub.control.get("/unknown"))
    return out


def _mask(text: str, key: str) -> str:
    return re.sub(rf'"{key}": "[^"]*"', f'"{key}": "*"', text)


def _audit(hub: Hub) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in hub.config.paths.audit_log.read_text().splitlines()]
    for line in lines:
        line.pop("ts")
    return lines


def test_the_layer_changes_no_answer_and_no_audit_line(tmp_path: Path) -> None:
    results = {}
    for instrumented in (False, True):
        home = tmp_path / str(instrumented)
        home.mkdir()
        hub = Hub(home, FakeClock(), instrumented=instrumented)
        try:
            results[instrumented] = (_script(hub), _audit(hub))
        finally:
            hub.close()
    assert results[True] == results[False]
    assert [line["event"] for line in results[True][1]] == [
        "AUTH_FAILURE", "PORT_MISMATCH", "PORT_MISMATCH"]
