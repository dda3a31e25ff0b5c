"""The frozen v1.5 guards, through the real plane apps in-process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from baseline_hub import HubConfig, HubContext, HubStateView, PlaneInfo, SecurityEvent
from tests.conftest import TEST_TOKEN
from tests.hub.conftest import CONTROL, DATA, FakeClock, open_hub, plane_client


def audit_lines(hub: HubContext) -> list[dict[str, object]]:
    path = hub.audit.path
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def anon_control(hub: HubContext) -> TestClient:
    return plane_client(hub, CONTROL, auth=False)


@pytest.fixture
def anon_data(hub: HubContext) -> TestClient:
    return plane_client(hub, DATA, auth=False)


@pytest.mark.parametrize("plane", [CONTROL, DATA])
def test_health_needs_no_token(hub: HubContext, plane: PlaneInfo) -> None:
    client = plane_client(hub, plane, auth=False)
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "plane": plane.name,
                               "version": "1.5.0"}


def test_missing_token_is_401_and_audited(hub: HubContext, anon_control: TestClient) -> None:
    response = anon_control.get("/nodes?x=1")
    assert (response.status_code, response.json()) == (401, {"error": "unauthorized"})
    [line] = audit_lines(hub)
    assert line == {"ts": line["ts"], "event": "AUTH_FAILURE", "plane": "control", "port": 8787,
                    "client": "10.0.0.7", "method": "GET", "path": "/nodes",
                    "reason": "missing_token"}
    assert str(line["ts"]).endswith("Z")


@pytest.mark.parametrize("header", [b"Bearer wrong-token-000000000000",
                                    ("Bearer " + TEST_TOKEN + "x").encode(),
                                    ("Bearer " + TEST_TOKEN[:-1]).encode(), b"bearer \xe9\xe9\xe9"])
def test_wrong_token_is_401_invalid_token(hub: HubContext, anon_data: TestClient,
                                          header: bytes) -> None:
    response = anon_data.post("/jobs", headers={b"Authorization": header}, json={"kind": "k"})
    assert response.status_code == 401
    assert [line["reason"] for line in audit_lines(hub)] == ["invalid_token"]


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", TEST_TOKEN])
def test_no_bearer_credentials_is_missing_token(hub: HubContext, anon_control: TestClient,
                                                header: str) -> None:
    assert anon_control.get("/nodes", headers={"Authorization": header}).status_code == 401
    assert [line["reason"] for line in audit_lines(hub)] == ["missing_token"]


def test_scheme_is_case_insensitive(control: TestClient) -> None:
    headers = {"Authorization": f"bEaReR {TEST_TOKEN}"}
    assert control.get("/nodes", headers=headers).status_code == 200


def test_auth_is_checked_before_the_body_is_parsed(hub: HubContext,
                                                   anon_control: TestClient) -> None:
    response = anon_control.post("/nodes/register", content=b"{not json",
                                 headers={"content-type": "application/json"})
    assert response.status_code == 401


@pytest.mark.parametrize(("client_plane", "method", "path", "expected"), [
    ("control", "POST", "/jobs", 8788),
    ("control", "POST", "/jobs/claim", 8788),
    ("control", "GET", "/jobs/abc", 8788),
    ("control", "DELETE", "/jobs/abc", 8788),
    ("data", "POST", "/nodes/register", 8787),
    ("data", "GET", "/nodes", 8787),
    ("data", "POST", "/nodes/n1/heartbeat", 8787),
    ("data", "DELETE", "/nodes/n1", 8787),
])
def test_other_planes_routes_get_421_before_auth(hub: HubContext, client_plane: str,
                                                 method: str, path: str, expected: int) -> None:
    plane = CONTROL if client_plane == "control" else DATA
    client = plane_client(hub, plane, auth=False)
    response = client.request(method, path + "?token=leak", json={"node_id": "x"})
    assert (response.status_code, response.json()) == (
        421, {"error": "port_mismatch", "expected_port": expected})
    [line] = audit_lines(hub)
    assert line["event"] == "PORT_MISMATCH"
    assert (line["plane"], line["port"], line["path"], line["expected_port"]) == (
        plane.name, plane.port, path, expected)
    assert "reason" not in line


def test_unknown_paths_get_404_and_no_audit(hub: HubContext, anon_control: TestClient) -> None:
    for path in ("/nope", "/nodes/", "/admin/.env", "/nodes/a/b/c", "/%2e%2e/etc/passwd"):
        response = anon_control.get(path)
        assert (response.status_code, response.json()) == (404, {"error": "not_found"}), path
    assert audit_lines(hub) == []


def test_wrong_method_is_405_without_audit(hub: HubContext, control: TestClient) -> None:
    response = control.put("/nodes")
    assert (response.status_code, response.json()) == (405, {"error": "method_not_allowed"})
    assert audit_lines(hub) == []


@pytest.mark.parametrize(("body", "status"), [
    (b"{not json", 400),
    (b"[1, 2]", 422),
    (b'"string"', 422),
    (b'{"node_id": 5}', 422),
    (b'{"node_id": ""}', 422),
    (b'{"node_id": "a/b"}', 422),
    (b'{"node_id": "n1", "meta": "x"}', 422),
    (b'{"node_id": "n1", "surprise": 1}', 422),
    (b'{"node_id": "n1", "name": null, "meta": {}}', 200),
])
def test_register_bad_input_is_4xx_json(control: TestClient, body: bytes, status: int) -> None:
    response = control.post("/nodes/register", content=body,
                            headers={"content-type": "application/json"})
    assert response.status_code == status
    assert isinstance(response.json(), dict)


@pytest.mark.parametrize("body", [
    {"kind": "k", "max_attempts": -1},
    {"kind": "k", "max_attempts": 0},
    {"kind": "k", "max_attempts": "3"},
    {"kind": "k", "max_attempts": True},
    {"kind": "k", "max_attempts": 2.5},
    {"kind": ""},
    {"kind": 7},
    {"payload": {}},
    {"kind": "k", "payload": [1]},
    {"kind": "k", "payload": {"state": "done"}, "state": "done"},
])
def test_submit_bad_input_is_422(data: TestClient, body: dict[str, object]) -> None:
    response = data.post("/jobs", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request"


def test_integers_beyond_64_bits_round_trip_exactly(data: TestClient) -> None:
    job_id = data.post("/jobs", json={"kind": "k", "payload": {"big": 10**30}}).json()["job_id"]
    assert data.get(f"/jobs/{job_id}").json()["payload"] == {"big": 10**30}


@pytest.mark.parametrize("body", [
    b'{"kind": "k", "payload": {"x": NaN}}',
    b'{"kind": "k", "payload": {"x": Infinity}}',
    b'{"kind": "\\ud800"}',
    b'{"kind": "k", "payload": {"\\udfff": 1}}',
])
def test_values_json_cannot_answer_with_are_422(data: TestClient, body: bytes) -> None:
    response = data.post("/jobs", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text


def test_deeply_nested_payload_is_422_not_500(data: TestClient) -> None:
    nested: dict[str, object] = {}
    for _ in range(300):
        nested = {"n": nested}
    assert data.post("/jobs", json={"kind": "k", "payload": nested}).status_code == 422


def test_two_mib_body_is_413(data: TestClient) -> None:
    body = b'{"kind": "k", "payload": {"x": "' + b"a" * (2 * 1024 * 1024) + b'"}}'
    response = data.post("/jobs", content=body, headers={"content-type": "application/json"})
    assert (response.status_code, response.json()) == (413, {"error": "body_too_large"})


def test_claim_lease_must_be_positive_and_finite(data: TestClient) -> None:
    for lease in (-1, 0, "5", 10**9):
        assert data.post("/jobs/claim", json={"node_id": "w", "lease_s": lease}).status_code == 422
    assert data.post("/jobs/claim", content=b'{"node_id": "w", "lease_s": NaN}',
                     headers={"content-type": "application/json"}).status_code == 422


def test_validation_errors_do_not_echo_the_input(data: TestClient) -> None:
    response = data.post("/jobs", json={"kind": ["SECRET-ECHO-CANARY"]})
    assert response.status_code == 422
    assert "SECRET-ECHO-CANARY" not in response.text


def test_response_containing_the_token_is_replaced_and_audited(hub: HubContext,
                                                               control: TestClient) -> None:
    assert control.post("/nodes/register",
                        json={"node_id": "n1", "meta": {"note": TEST_TOKEN}}).status_code == 200
    response = control.get("/nodes")
    assert (response.status_code, response.json()) == (500, {"error": "leak_guard"})
    assert TEST_TOKEN not in response.text
    [line] = audit_lines(hub)
    assert (line["event"], line["path"], line["method"]) == ("LEAK_BLOCKED", "/nodes", "GET")


def test_token_in_a_path_is_scrubbed_from_audit_and_logs(hub: HubContext, config: HubConfig,
                                                         anon_control: TestClient) -> None:
    anon_control.get(f"/nodes?token={TEST_TOKEN}")
    anon_control.post(f"/nodes/{TEST_TOKEN}/heartbeat")
    anon_control.get(f"/x/{TEST_TOKEN}")
    hub.close()
    for path in config.paths.logs_dir.iterdir():
        assert TEST_TOKEN not in path.read_text(), path
    assert "[REDACTED]" in config.paths.audit_log.read_text()


def test_query_string_is_dropped_from_audit_path(hub: HubContext,
                                                 anon_control: TestClient) -> None:
    anon_control.get("/nodes?api_key=zzz&x=1")
    [line] = audit_lines(hub)
    assert line["path"] == "/nodes"


class Exploding:
    """An observer that raises on every call: requests must not notice."""

    def __init__(self) -> None:
        self.calls = 0

    def attach(self, state: object) -> None:
        raise RuntimeError("attach")

    def security_event(self, event: SecurityEvent) -> None:
        self.calls += 1
        raise RuntimeError("boom")

    def job_retry(self, cause: str) -> None:
        self.calls += 1
        raise RuntimeError("boom")


def test_a_failing_observer_never_breaks_a_request(config: HubConfig, clock: FakeClock,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    observer = Exploding()
    hub = open_hub(config, clock, (observer,))
    try:
        anon = plane_client(hub, CONTROL, auth=False)
        assert anon.get("/nodes").status_code == 401
        data = plane_client(hub, DATA)
        job_id = data.post("/jobs", json={"kind": "k"}).json()["job_id"]
        data.post("/jobs/claim", json={"node_id": "w"})
        response = data.post(f"/jobs/{job_id}/fail", json={"node_id": "w", "error": "e"})
        assert (response.status_code, response.json()["state"]) == (200, "queued")
        assert observer.calls == 2
        assert len(audit_lines(hub)) == 1
    finally:
        hub.close()


class Recorder:
    def __init__(self) -> None:
        self.events: list[SecurityEvent] = []
        self.retries: list[str] = []
        self.state: HubStateView | None = None

    def attach(self, state: HubStateView) -> None:
        self.state = state

    def security_event(self, event: SecurityEvent) -> None:
        self.events.append(event)

    def job_retry(self, cause: str) -> None:
        self.retries.append(cause)


def test_observers_see_events_retries_and_state(config: HubConfig, clock: FakeClock) -> None:
    recorder = Recorder()
    hub = open_hub(config, clock, (recorder,))
    try:
        plane_client(hub, DATA, auth=False).post("/nodes/register")
        plane_client(hub, CONTROL).post("/nodes/register", json={"node_id": "n1"})
        data = plane_client(hub, DATA)
        job_id = data.post("/jobs", json={"kind": "k"}).json()["job_id"]
        data.post("/jobs/claim", json={"node_id": "w"})
        data.post(f"/jobs/{job_id}/fail", json={"node_id": "w", "error": "e"})
        assert [(e.event, e.expected_port) for e in recorder.events] == [("PORT_MISMATCH", 8787)]
        assert recorder.retries == ["failed"]
        assert recorder.state is not None
        assert recorder.state.node_counts() == {"online": 1, "stale": 0, "dead": 0}
        assert recorder.state.job_counts() == {"queued": 1, "inflight": 0}
    finally:
        hub.close()


def test_metrics_route_exists_on_both_planes_without_a_token(hub: HubContext) -> None:
    for plane in (CONTROL, DATA):
        response = plane_client(hub, plane, auth=False).get("/metrics")
        assert response.status_code == 501
    assert audit_lines(hub) == []


def test_scanner_noise_creates_no_state(hub: HubContext, config: HubConfig,
                                        anon_control: TestClient) -> None:
    db_before = Path(config.paths.db).read_bytes()
    for i in range(300):
        anon_control.get(f"/scan/{i}/wp-login.php?id={i}")
        anon_control.post(f"/random-{i}", json={"x": i})
    assert audit_lines(hub) == []
    assert hub.registry.counts() == {"online": 0, "stale": 0, "dead": 0}
    assert Path(config.paths.db).read_bytes() == db_before


def test_two_mib_chunked_body_is_413_json(data: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"kind": "k", "payload": {"x": "'
        for _ in range(32):
            yield b"a" * 65536
        yield b'"}}'

    response = data.post("/jobs", content=chunks(), headers={"content-type": "application/json"})
    assert (response.status_code, response.json()) == (413, {"error": "body_too_large"})


def test_token_sent_as_the_method_never_reaches_the_logs(hub: HubContext, config: HubConfig,
                                                         anon_control: TestClient) -> None:
    anon_control.request(TEST_TOKEN, "/nodes")
    anon_control.request(TEST_TOKEN, "/nowhere")
    hub.close()
    for path in config.paths.logs_dir.iterdir():
        text = path.read_text()
        assert TEST_TOKEN not in text and TEST_TOKEN[:12] not in text, path


def test_complete_after_the_lease_ran_out_is_refused_even_before_the_sweep(
    hub: HubContext, clock: FakeClock, data: TestClient,
) -> None:
    job_id = data.post("/jobs", json={"kind": "k"}).json()["job_id"]
    data.post("/jobs/claim", json={"node_id": "w", "lease_s": 5})
    clock.advance(6)
    response = data.post(f"/jobs/{job_id}/complete", json={"node_id": "w"})
    assert (response.status_code, response.json()["error"]) == (409, "lease_expired")


@pytest.mark.parametrize("path", ["/health", "/metrics"])
def test_head_is_answered_for_health_and_metrics(anon_control: TestClient, path: str) -> None:
    assert anon_control.head(path).status_code in (200, 501)


@pytest.mark.parametrize("method", ["TRACE", "CONNECT"])
def test_every_method_on_the_other_planes_route_is_421(hub: HubContext, anon_control: TestClient,
                                                       method: str) -> None:
    assert anon_control.request(method, "/jobs").status_code == 421


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_json_sent_with_another_content_type_is_415(data: TestClient, content_type: str) -> None:
    response = data.post("/jobs", content=b'{"kind": "k"}', headers={"content-type": content_type})
    assert response.status_code == 415
    assert response.json() == {"error": "unsupported_media_type", "expected": "application/json"}
