"""C1 (issue 3): what the metrics layer costs a request, and what a scrape costs.

``overhead``: one small FastAPI app called by direct ASGI calls, bare and with each of four
instrumentations: this layer, prometheus-fastapi-instrumentator, starlette_exporter and
opentelemetry-instrumentation-fastapi (metrics only, tracing off). The layer queues each
request's duration and records it into the SDK histogram when metrics are collected, so it
is measured twice: the request path alone, and with that recording (a collect after every
run) counted in the time, which is its real total cost.

``scrape``: the instrumented hub's control-plane ``GET /metrics`` (JSON and Prometheus
text) at 10,000 registered nodes against its ``GET /health``, and at 100 against 100,000
nodes. The peers need ``pip install '.[bench]'``.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from baseline_hub import HubConfig, HubContext, PlaneInfo, build_plane_app
from baseline_hub.db import connect
from hub_middleware import HubTaps, instrument_app
from otel import HubTelemetry, TelemetryConfig

from .framework import BenchError, Row, Settings, Variant, measure
from .hubs import AsgiCaller

_PLANE = PlaneInfo("control", 8787, 8788)
_TOKEN = "bench-token-0123456789"


def small_app() -> FastAPI:
    """The app every variant instruments: two routes, one with a path parameter."""
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"item_id": item_id}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _with_layer() -> tuple[FastAPI, Callable[[], object]]:
    telemetry = HubTelemetry(TelemetryConfig())
    app = small_app()
    instrument_app(app, telemetry, plane="control", server_port=8787)
    return app, lambda: telemetry.snapshot_json("control")


def _with_instrumentator() -> FastAPI:
    from prometheus_client import CollectorRegistry
    from prometheus_fastapi_instrumentator import Instrumentator

    app = small_app()
    Instrumentator(registry=CollectorRegistry()).instrument(app)
    return app


def _with_starlette_exporter() -> FastAPI:
    from starlette_exporter import PrometheusMiddleware

    app = small_app()
    app.add_middleware(PrometheusMiddleware, app_name="bench", group_paths=True)
    return app


def _with_otel_contrib() -> FastAPI:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.trace import NoOpTracerProvider

    app = small_app()
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        FastAPIInstrumentor.instrument_app(app, meter_provider=provider,
                                           tracer_provider=NoOpTracerProvider())
    return app


def bench_overhead(settings: Settings) -> list[Row]:
    """Request overhead of this layer and three peers on one small app (direct ASGI calls)."""
    try:
        peers = {"prometheus-fastapi-instrumentator": _with_instrumentator(),
                 "starlette_exporter": _with_starlette_exporter(),
                 "otel-instrumentation-fastapi": _with_otel_contrib()}
    except ImportError as exc:
        raise BenchError(f"{exc.name} is missing: pip install '.[bench]'") from None
    layer_app, collect = _with_layer()
    loop = asyncio.new_event_loop()
    ops = settings.ops(5000)

    def variant(mode: str, app: Any, after: Callable[[], object] | None = None) -> Variant:
        caller = AsgiCaller(app, _PLANE, _TOKEN)

        async def calls(n: int) -> None:
            for i in range(n):
                await caller.call("GET", f"/items/{i % 50}")

        def run(n: int) -> float:
            start = time.perf_counter()
            loop.run_until_complete(calls(n))
            if after is not None:
                after()
            return time.perf_counter() - start

        return Variant(mode, ops, run, None if mode == "bare" else "bare",
                       cpu_s=time.process_time)

    variants = [variant("bare", small_app()),
                variant("this layer, request path", layer_app),
                variant("this layer, with recording", layer_app, collect)]
    variants += [variant(name, app) for name, app in peers.items()]
    try:
        rows = measure("overhead", "GET /items/{id}", "req/s", variants, settings)
    finally:
        loop.close()
    return rows


@contextlib.contextmanager
def _hub_with_nodes(nodes: int) -> Iterator[tuple[AsgiCaller, HubTelemetry]]:
    """An instrumented in-process hub whose registry holds ``nodes`` nodes."""
    with tempfile.TemporaryDirectory(prefix="bench-scrape-") as tmp:
        config = HubConfig(home=Path(tmp), token=_TOKEN)
        conn = connect(config.paths.db)
        now = time.time()
        with conn:
            conn.executemany(
                "INSERT INTO nodes(node_id, name, meta, registered_at, last_seen)"
                " VALUES (?, NULL, '{}', ?, ?)",
                ((f"node-{i}", now, now - (i % 200)) for i in range(nodes)))
        conn.close()
        telemetry = HubTelemetry(TelemetryConfig())
        hub = HubContext.open(config, _TOKEN, observers=[HubTaps(telemetry)])

        def instrument(app: FastAPI, plane: PlaneInfo) -> None:
            instrument_app(app, telemetry, plane=plane.name, server_port=plane.port)

        caller = AsgiCaller(build_plane_app(_PLANE, hub, instrument=instrument), _PLANE, _TOKEN)
        asyncio.run(_some_traffic(caller))
        try:
            yield caller, telemetry
        finally:
            hub.close()
            telemetry.shutdown()


async def _some_traffic(caller: AsgiCaller) -> None:
    """A few routes and statuses, so the scrape renders request histograms as a live hub's."""
    for i in range(20):
        await caller.call("POST", f"/nodes/node-{i}/heartbeat")
        await caller.call("POST", f"/nodes/ghost-{i}/heartbeat", expect=404)
        await caller.call("GET", f"/probe/{i}", expect=404)
        await caller.call("POST", "/jobs", expect=421)


def bench_scrape(settings: Settings) -> list[Row]:
    """Control-plane ``GET /metrics`` at 10,000 nodes vs ``/health``; 100 vs 100,000 nodes."""
    loop = asyncio.new_event_loop()
    ops = settings.ops(2000)
    with contextlib.ExitStack() as stack:
        hubs = {n: stack.enter_context(_hub_with_nodes(n)) for n in (100, 10_000, 100_000)}

        def variant(mode: str, nodes: int, path: str, accept: str | None,
                    baseline: str | None) -> Variant:
            caller = hubs[nodes][0]

            async def calls(n: int) -> None:
                for _ in range(n):
                    await caller.call("GET", path, accept=accept)

            def run(n: int) -> float:
                start = time.perf_counter()
                loop.run_until_complete(calls(n))
                return time.perf_counter() - start

            return Variant(mode, ops, run, baseline, cpu_s=time.process_time)

        json_10k = "/metrics JSON, 10,000 nodes"
        variants = [
            variant("/health, 10,000 nodes", 10_000, "/health", None, None),
            variant(json_10k, 10_000, "/metrics", None, "/health, 10,000 nodes"),
            variant("/metrics text, 10,000 nodes", 10_000, "/metrics", "text/plain",
                    "/health, 10,000 nodes"),
            variant("/metrics JSON, 100 nodes", 100, "/metrics", None, None),
            variant("/metrics JSON, 100,000 nodes", 100_000, "/metrics", None,
                    "/metrics JSON, 100 nodes"),
        ]
        try:
            return measure("scrape", "control plane", "req/s", variants, settings)
        finally:
            loop.close()
