"""C1 (issue 3): what the metrics layer costs a request, and what a scrape costs.

``overhead``: one small FastAPI app called by direct ASGI calls, bare and with each of four
instrumentations: this layer, prometheus-fastapi-instrumentator, starlette_exporter and
opentelemetry-instrumentation-fastapi (metrics only, tracing off). Then, when ``wrk`` is
installed, the same app served by uvicorn in its own process, bare and with this layer,
under ``wrk`` over loopback.

The layer queues each request's duration and records it into the SDK histogram later (a
batch on the request path once the queue is full, the rest when metrics are collected), so
it is measured twice, each variant with its own app and its own telemetry object:

* ``append only``: a queue large enough for a whole run, so the timed requests only queue;
  a collect after each run records them, outside the timed region and the CPU count. This
  is the latency the layer adds to a request's own path.
* ``with recording``: the default queue, and a collect at the end of each run inside the
  timed region: every measurement of the run is recorded in its timing, and only those.
  This is the layer's total cost, the number to compare with the peers, which record
  inline.

After every run of every variant, a full garbage collection runs outside the timed region
and the CPU count, so no variant pays for another's garbage; the framework's warm-up run
goes through the same steps, so it leaves nothing queued either.

``scrape``: the instrumented hub's control-plane ``GET /metrics`` (JSON and Prometheus
text) at 10,000 registered nodes against its ``GET /health``, and at 100 against 100,000
nodes. The peers need ``pip install '.[bench]'``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import statistics
import sys
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
from .small_server import small_app
from .wrk import WrkResult, run_wrk, small_server, wrk_path

__all__ = ["bench_overhead", "bench_scrape", "small_app"]

_PLANE = PlaneInfo("control", 8787, 8788)
_TOKEN = "bench-token-0123456789"
#: A queue that holds a whole run of the ``append only`` variant (at most 65,536).
_WHOLE_RUN_PENDING = 65_536


def _with_layer(max_pending: int | None = None) -> tuple[FastAPI, HubTelemetry]:
    telemetry = (HubTelemetry(TelemetryConfig()) if max_pending is None
                 else HubTelemetry(TelemetryConfig(), max_pending_requests=max_pending))
    app = small_app()
    instrument_app(app, telemetry, plane="control", server_port=8787)
    return app, telemetry


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


class _AsgiVariant:
    """Times ``n`` direct ASGI calls of one app; ``timed_after`` runs inside the timing,
    ``untimed_after`` (and a full GC) outside it and outside the CPU count."""

    def __init__(self, loop: asyncio.AbstractEventLoop, app: Any, *,
                 timed_after: Callable[[], object] | None = None,
                 untimed_after: Callable[[], object] | None = None) -> None:
        self._loop = loop
        self._caller = AsgiCaller(app, _PLANE, _TOKEN)
        self._timed_after = timed_after
        self._untimed_after = untimed_after
        self._excluded_cpu_s = 0.0

    async def _calls(self, n: int) -> None:
        for i in range(n):
            await self._caller.call("GET", f"/items/{i % 50}")

    def run(self, n: int) -> float:
        start = time.perf_counter()
        self._loop.run_until_complete(self._calls(n))
        if self._timed_after is not None:
            self._timed_after()
        elapsed_s = time.perf_counter() - start
        cpu_start_s = time.process_time()
        if self._untimed_after is not None:
            self._untimed_after()
        gc.collect()
        self._excluded_cpu_s += time.process_time() - cpu_start_s
        return elapsed_s

    def cpu_s(self) -> float:
        """This process' CPU seconds, less what the untimed steps used."""
        return time.process_time() - self._excluded_cpu_s


def bench_overhead(settings: Settings) -> list[Row]:
    """Request overhead of this layer and three peers on one small app (direct ASGI calls),
    and of this layer over HTTP with wrk when it is installed."""
    try:
        peers = {"prometheus-fastapi-instrumentator": _with_instrumentator(),
                 "starlette_exporter": _with_starlette_exporter(),
                 "otel-instrumentation-fastapi": _with_otel_contrib()}
    except ImportError as exc:
        raise BenchError(f"{exc.name} is missing: pip install '.[bench]'") from None
    append_app, append_tel = _with_layer(_WHOLE_RUN_PENDING)
    recording_app, recording_tel = _with_layer()
    loop = asyncio.new_event_loop()
    ops = settings.ops(5000)
    if ops > _WHOLE_RUN_PENDING:
        raise BenchError(f"{ops} operations per run do not fit the append-only queue")

    def variant(mode: str, runner: _AsgiVariant) -> Variant:
        return Variant(mode, ops, runner.run, None if mode == "bare" else "bare",
                       cpu_s=runner.cpu_s)

    variants = [
        variant("bare", _AsgiVariant(loop, small_app())),
        variant("this layer, append only", _AsgiVariant(
            loop, append_app, untimed_after=lambda: append_tel.snapshot_json("control"))),
        variant("this layer, with recording", _AsgiVariant(
            loop, recording_app, timed_after=lambda: recording_tel.snapshot_json("control"))),
    ]
    variants += [variant(name, _AsgiVariant(loop, app)) for name, app in peers.items()]
    try:
        rows = measure("overhead", "GET /items/{id}", "req/s", variants, settings)
    finally:
        loop.close()
        append_tel.shutdown()
        recording_tel.shutdown()
    return rows + _overhead_over_http(settings)


def _overhead_over_http(settings: Settings) -> list[Row]:
    """Bare vs this layer, each served by uvicorn in its own process, under wrk (8
    connections, one thread) for interleaved runs; CPU per request is the server's."""
    try:
        wrk_path()
    except BenchError as exc:
        print(f"overhead: no HTTP rows ({exc})", file=sys.stderr)
        return []
    duration_s = max(1.0, 5.0 * settings.scale)
    modes = {"bare": "bare, over HTTP (wrk)", "layer": "this layer, over HTTP (wrk)"}
    samples: dict[str, list[WrkResult]] = {mode: [] for mode in modes}
    cpu: dict[str, list[float]] = {mode: [] for mode in modes}
    with contextlib.ExitStack() as stack:
        servers = {mode: stack.enter_context(small_server(mode)) for mode in modes}
        for server in servers.values():  # warm-up: imports, first routes, caches
            run_wrk(f"{server.url}/items/1", duration_s=1)
        for _ in range(settings.runs):
            for mode, server in servers.items():
                cpu_before = server.cpu_s()
                result = run_wrk(f"{server.url}/items/1", duration_s=duration_s)
                cpu_after = server.cpu_s()
                samples[mode].append(result)
                if cpu_before is not None and cpu_after is not None:
                    cpu[mode].append((cpu_after - cpu_before) * 1e6 / result.requests)
    bare = [r.rate for r in samples["bare"]]
    rows = []
    for mode, label in modes.items():
        rates = [r.rate for r in samples[mode]]
        ratios = () if mode == "bare" else tuple(a / b for a, b in zip(rates, bare, strict=True))
        rows.append(Row("overhead", "GET /items/{id}", label, "req/s",
                        round(statistics.median(r.requests for r in samples[mode])),
                        tuple(rates), None if mode == "bare" else modes["bare"], ratios,
                        tuple(cpu[mode])))
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
