"""The layer instruments a plain FastAPI app through its public API alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI, HTTPException
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from hub_middleware import UNMATCHED_ROUTE, HubTaps, instrument_app
from otel import HubTelemetry, TelemetryConfig


def build_app(telemetry: HubTelemetry) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        if item_id == "missing":
            raise HTTPException(404)
        return {"item_id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("handler bug")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    # The few lines a hub needs (shown in the README):
    instrument_app(app, telemetry, plane="control", server_port=8787)
    taps = HubTaps(telemetry)
    taps.read_counts_from(lambda: {"online": 2, "stale": 1, "dead": 0},
                          lambda: {"queued": 0, "inflight": 0})
    app.state.taps = taps
    return app


@pytest.fixture
def telemetry() -> Iterator[HubTelemetry]:
    tel = HubTelemetry(TelemetryConfig())
    yield tel
    tel.shutdown()


@pytest.fixture
def client(telemetry: HubTelemetry) -> TestClient:
    return TestClient(build_app(telemetry), raise_server_exceptions=False)


def series(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    body = client.get("/metrics?format=prometheus").text
    out = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def routes(client: TestClient) -> dict[tuple[str, str], float]:
    counts: dict[tuple[str, str], float] = {}
    for (name, labels), value in series(client).items():
        if name == "http_server_request_duration_seconds_count":
            label = dict(labels)
            key = (label["http_route"], label["http_response_status_code"])
            counts[key] = counts.get(key, 0) + value
    return counts


def test_json_metrics_reflect_the_taps(client: TestClient) -> None:
    assert isinstance(client.app, FastAPI)
    taps: HubTaps = client.app.state.taps
    taps.auth_failure("control", "invalid_token")
    body = client.get("/metrics").json()
    assert {k: v for k, v in body.items() if k != "generated_at"} == {
        "plane": "control", "nodes_online": 2, "nodes_stale": 1, "nodes_dead": 0,
        "auth_fail_rate_1m": 1, "port_mismatch_rate_1m": 0}


def test_requests_are_recorded_under_the_route_template(client: TestClient) -> None:
    for item in ("a", "b", "c"):
        client.get(f"/items/{item}")
    client.get("/items/missing")
    assert routes(client) == {("/items/{item_id}", "200"): 3, ("/items/{item_id}", "404"): 1}


def test_unmatched_paths_share_one_series(client: TestClient) -> None:
    client.get("/items/x")
    before = set(series(client))
    for i in range(50):
        client.get(f"/random/{i}/probe.php")
    after = set(series(client))
    added = {name for name, labels in after - before}
    assert added <= {"http_server_request_duration_seconds_bucket",
                     "http_server_request_duration_seconds_count",
                     "http_server_request_duration_seconds_sum"}
    assert routes(client)[(UNMATCHED_ROUTE, "404")] == 50
    for i in range(50):
        client.get(f"/random/{i}/again")
    assert set(series(client)) == after


def test_unknown_methods_are_folded_into_other(client: TestClient) -> None:
    for method in ("FOO", "BAR", "PROPFIND"):
        client.request(method, "/items/a")
    methods = {dict(labels)["http_request_method"] for (name, labels) in series(client)
               if name == "http_server_request_duration_seconds_count"}
    assert methods == {"_OTHER"}


def test_handler_exceptions_are_recorded_as_500(client: TestClient) -> None:
    assert client.get("/boom").status_code == 500
    assert routes(client) == {("/boom", "500"): 1}


def test_metrics_and_health_are_not_recorded(client: TestClient) -> None:
    for _ in range(3):
        client.get("/health")
        client.get("/metrics")
    assert routes(client) == {}


def test_disabled_sdk_answers_503_with_a_reason() -> None:
    tel = HubTelemetry(TelemetryConfig.from_env({"OTEL_SDK_DISABLED": "true"}))
    try:
        client = TestClient(build_app(tel))
        for fmt in ("json", "prometheus"):
            response = client.get(f"/metrics?format={fmt}")
            assert response.status_code == 503
            assert response.json()["error"] == "metrics_unavailable"
        assert client.get("/items/a").status_code == 200
    finally:
        tel.shutdown()


def test_two_instrumented_apps_coexist_in_one_process() -> None:
    first, second = HubTelemetry(TelemetryConfig()), HubTelemetry(TelemetryConfig())
    try:
        a, b = TestClient(build_app(first)), TestClient(build_app(second))
        a.get("/items/1")
        assert routes(a) == {("/items/{item_id}", "200"): 1}
        assert routes(b) == {}
    finally:
        first.shutdown()
        second.shutdown()


def test_unknown_format_is_a_400_json_error(client: TestClient) -> None:
    response = client.get("/metrics?format=xml")
    assert response.status_code == 400
    assert response.json()["error"] == "unknown_format"


def test_a_failing_telemetry_never_breaks_the_request(client: TestClient,
                                                     telemetry: HubTelemetry,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Break the recording path deep inside the telemetry object, not its public method.
    monkeypatch.setattr(telemetry, "_buffers", None)
    assert client.get("/items/a").json() == {"item_id": "a"}
