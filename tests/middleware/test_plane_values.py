"""The public API takes otel.Plane wherever it takes a plane's name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from hub_middleware import HttpMetricsMiddleware, HubTaps
from otel import HubTelemetry, Plane, TelemetryConfig
from tests.otel.helpers import request_count, value


async def ok(request: Request) -> JSONResponse:
    return JSONResponse({})


@pytest.fixture
def telemetry() -> Iterator[HubTelemetry]:
    tel = HubTelemetry(TelemetryConfig())
    yield tel
    tel.shutdown()


def test_the_telemetry_takes_plane_members(telemetry: HubTelemetry) -> None:
    telemetry.record_request(Plane.DATA, "GET", "/jobs", 200, 8788, 0.01)
    telemetry.record_request("data", "GET", "/jobs", 200, 8788, 0.01)
    telemetry.record_auth_failure(Plane.DATA, "invalid_token")
    telemetry.record_port_mismatch(Plane.CONTROL)
    assert request_count(telemetry, "data") == 2
    assert value(telemetry, "control", "hub_auth_failures_total",
                 plane="data", reason="invalid_token") == 1
    assert value(telemetry, "control", "hub_port_mismatches_total", plane="control") == 1
    assert telemetry.snapshot_json(Plane.CONTROL)["port_mismatch_rate_1m"] == 1
    body, _ = telemetry.render_prometheus(Plane.DATA)
    assert b"hub_jobs_retries_total" in body


def test_the_taps_take_plane_members(telemetry: HubTelemetry) -> None:
    taps = HubTaps(telemetry)
    taps.auth_failure(Plane.CONTROL, "missing_token")
    taps.port_mismatch(Plane.DATA)
    assert value(telemetry, "control", "hub_auth_failures_total",
                 plane="control", reason="missing_token") == 1
    assert value(telemetry, "control", "hub_port_mismatches_total", plane="data") == 1


def test_the_http_middleware_takes_a_plane_member_and_refuses_a_bad_plane(
    telemetry: HubTelemetry,
) -> None:
    app = Starlette(routes=[Route("/jobs", ok)])
    app.add_middleware(HttpMetricsMiddleware, telemetry=telemetry, plane=Plane.DATA,
                       server_port=8788)
    TestClient(app).get("/jobs")
    assert request_count(telemetry, "data") == 1
    with pytest.raises(ValueError, match="plane must be one of control, data; got 'dta'"):
        HttpMetricsMiddleware(app, telemetry=telemetry, plane="dta", server_port=8788)
