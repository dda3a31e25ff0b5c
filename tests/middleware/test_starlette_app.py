"""instrument_app on a plain Starlette app, and its checks at build time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from hub_middleware import UNMATCHED_ROUTE, instrument_app
from otel import HubTelemetry, Plane, TelemetryConfig
from tests.otel.helpers import samples


async def item(request: Request) -> JSONResponse:
    return JSONResponse({"item_id": request.path_params["item_id"]})


async def late(request: Request) -> JSONResponse:
    return JSONResponse({"x": request.path_params["x"]})


async def job(request: Request) -> JSONResponse:
    return JSONResponse({"job": request.path_params["job_id"]})


@pytest.fixture
def telemetry() -> Iterator[HubTelemetry]:
    tel = HubTelemetry(TelemetryConfig())
    yield tel
    tel.shutdown()


def _routes(tel: HubTelemetry) -> dict[str, float]:
    return {dict(labels).get("http_route", ""): value
            for (name, labels), value in samples(tel, "data").items()
            if name == "http_server_request_duration_seconds_count"}


def test_a_starlette_app_is_instrumented_with_route_templates(telemetry: HubTelemetry) -> None:
    app = Starlette(routes=[Route("/items/{item_id}", item),
                            Mount("/v1", routes=[Route("/jobs/{job_id}", job)])])
    instrument_app(app, telemetry, plane=Plane.DATA, server_port=8788)
    app.router.routes.append(Route("/late/{x}", late))  # added after instrument_app
    client = TestClient(app)
    for path in ("/items/1", "/items/2", "/v1/jobs/7", "/late/3", "/nowhere"):
        client.get(path)
    assert client.get("/metrics").json()["plane"] == "data"
    assert "hub_jobs_retries_total" in client.get("/metrics?format=prometheus").text
    assert _routes(telemetry) == {"/items/{item_id}": 2, "/v1/jobs/{job_id}": 1,
                                  "/late/{x}": 1, UNMATCHED_ROUTE: 1}


@pytest.mark.parametrize("plane", ["contrl", "", "CONTROL", None])
def test_an_unknown_plane_is_refused_when_the_app_is_built(
    telemetry: HubTelemetry, plane: object,
) -> None:
    app = FastAPI()
    with pytest.raises(ValueError, match="plane must be one of control, data"):
        instrument_app(app, telemetry, plane=plane, server_port=8787)  # type: ignore[arg-type]  # wrong on purpose
    assert not [r for r in app.routes if getattr(r, "path", "") == "/metrics"]


@pytest.mark.parametrize("port", [70000, 0, -1, True, 8787.5, "8787", None])
def test_a_bad_port_is_refused_when_the_app_is_built(telemetry: HubTelemetry,
                                                     port: object) -> None:
    app = FastAPI()
    with pytest.raises(ValueError, match="server_port"):
        instrument_app(app, telemetry, plane="control",
                       server_port=port)  # type: ignore[arg-type]  # wrong on purpose
    assert not [r for r in app.routes if getattr(r, "path", "") == "/metrics"]


def test_an_app_is_instrumented_once(telemetry: HubTelemetry) -> None:
    app = FastAPI()
    instrument_app(app, telemetry, plane="control", server_port=8787)
    with pytest.raises(ValueError, match="instrumented already"):
        instrument_app(app, telemetry, plane="data", server_port=8788)


def test_a_mounted_asgi_app_is_its_mount_and_the_table_is_built_once(
        telemetry: HubTelemetry, monkeypatch: pytest.MonkeyPatch) -> None:
    import hub_middleware._http_metrics as http_metrics

    builds: list[int] = []
    original = http_metrics._templates

    def counted(routes: Iterable[object], prefix: str) -> Iterable[tuple[object, str]]:
        if not prefix:
            builds.append(1)
        return original(routes, prefix)

    monkeypatch.setattr(http_metrics, "_templates", counted)

    async def static(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("file")(scope, receive, send)

    app = Starlette(routes=[Route("/items/{item_id}", item), Mount("/static", app=static)])
    instrument_app(app, telemetry, plane=Plane.DATA, server_port=8788)
    client = TestClient(app)
    for path in ("/static/a.css", "/static/b.js", "/static/c.png", "/items/1"):
        client.get(path)
    assert _routes(telemetry) == {"/static": 3, "/items/{item_id}": 1}
    assert len(builds) == 1  # a mount's requests used to rebuild the table every time
