"""Issue 12: how long recording the queued request durations blocks the event loop.

The layer queues each request's duration and records it into the SDK histogram in batches:
on the request path once the queue is full, and when metrics are collected (a scrape on
the event loop, or the OTLP exporter's thread, which holds the GIL while it records).

``stall`` measures it two ways:

* in-process: 5,000 requests by direct ASGI calls (each yielding to the loop, as requests
  on separate connections do), then one ``GET /metrics``, while a probe coroutine sleeps
  1 ms in a loop and keeps its largest overshoot: the longest the loop was blocked during
  the requests, and during the scrape (which meets whatever the requests left queued);
* over HTTP: the wired hub (``python -m baseline_hub``) under 25 s of ``wrk`` load (one
  thread, 8 connections, ``GET /nodes`` on the control plane), without metric export and
  with an OTLP export every second to a receiver in this process: the requests that took
  over 50 ms, and the worst latency. A fresh hub per run; the two modes alternate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from baseline_hub import PlaneInfo
from hub_middleware import instrument_app
from otel import HubTelemetry, TelemetryConfig
from tests.otlp_receiver import Receiver

from .framework import BenchError, Row, Settings
from .hubs import WIRED_HUB, AsgiCaller, loopback_hub
from .small_server import small_app
from .wrk import run_wrk

_PLANE = PlaneInfo("control", 8787, 8788)
_TOKEN = "bench-token-0123456789"
_PROBE_INTERVAL_S = 0.001
_SLOW_MS = 50.0
_LOAD_S = 25.0
_EXPORT_INTERVAL_MS = 1000


class LoopLagProbe:
    """Sleeps ``interval_s`` in a loop on the event loop and keeps the largest overshoot."""

    def __init__(self, interval_s: float = _PROBE_INTERVAL_S) -> None:
        self._interval_s = interval_s
        self._max_s = 0.0
        self._running = True

    async def run(self) -> None:
        while self._running:
            start = time.perf_counter()
            await asyncio.sleep(self._interval_s)
            self._max_s = max(self._max_s, time.perf_counter() - start - self._interval_s)

    def take_max_ms(self) -> float:
        """The largest overshoot since the last call, in ms; starts a new maximum."""
        worst, self._max_s = self._max_s, 0.0
        return worst * 1000

    def stop(self) -> None:
        self._running = False


async def _requests_then_scrape(caller: AsgiCaller, requests: int) -> tuple[float, float]:
    probe = LoopLagProbe()
    task = asyncio.create_task(probe.run())
    await asyncio.sleep(0.01)
    probe.take_max_ms()
    for i in range(requests):
        await caller.call("GET", f"/items/{i % 50}")
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    during_requests_ms = probe.take_max_ms()
    await caller.call("GET", "/metrics")
    await asyncio.sleep(0.01)
    during_scrape_ms = probe.take_max_ms()
    probe.stop()
    await task
    return during_requests_ms, during_scrape_ms


def _in_process(settings: Settings) -> list[Row]:
    requests = 5000
    telemetry = HubTelemetry(TelemetryConfig())
    app = small_app()
    instrument_app(app, telemetry, plane="control", server_port=_PLANE.port)
    caller = AsgiCaller(app, _PLANE, _TOKEN)
    loop = asyncio.new_event_loop()
    requests_ms: list[float] = []
    scrape_ms: list[float] = []
    try:
        loop.run_until_complete(_requests_then_scrape(caller, requests))  # warm-up
        for _ in range(settings.runs):
            during_requests, during_scrape = loop.run_until_complete(
                _requests_then_scrape(caller, requests))
            requests_ms.append(during_requests)
            scrape_ms.append(during_scrape)
    finally:
        loop.close()
        telemetry.shutdown()
    case = f"in-process, {requests:,} requests then GET /metrics"
    return [Row("stall", case, "max loop stall, requests", "ms", requests, tuple(requests_ms)),
            Row("stall", case, "max loop stall, the scrape", "ms", 1, tuple(scrape_ms))]


def _load_hub(extra_env: Mapping[str, str], load_s: float) -> tuple[int, float, float]:
    """One fresh wired hub under wrk: (requests over 50 ms, worst latency ms, req/s)."""
    with loopback_hub(WIRED_HUB, extra_env=extra_env) as hub:
        url = f"{hub.control_url}/nodes"
        headers = [f"Authorization: Bearer {hub.token}"]
        run_wrk(url, duration_s=1, headers=headers)  # warm-up
        result = run_wrk(url, duration_s=load_s, headers=headers, slow_ms=_SLOW_MS)
    return result.slow, result.max_latency_ms, result.rate


def _over_http(settings: Settings) -> list[Row]:
    load_s = max(3.0, _LOAD_S * settings.scale)
    receiver = Receiver()
    receiver.thread.start()
    modes: dict[str, Mapping[str, str]] = {
        "no metric export": {"OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"},
        f"OTLP export every {_EXPORT_INTERVAL_MS} ms": {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_METRIC_EXPORT_INTERVAL": str(_EXPORT_INTERVAL_MS),
            "OTEL_LOGS_EXPORTER": "none",
        },
    }
    results: dict[str, list[tuple[int, float, float]]] = {mode: [] for mode in modes}
    try:
        for _ in range(settings.runs):
            for mode, env in modes.items():
                results[mode].append(_load_hub(env, load_s))
        exported = _exported_requests(receiver)
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
    if not exported:
        raise BenchError("the exporting hub sent no http.server.request.duration points")
    case = f"hub over HTTP, {load_s:g} s of wrk -c8 GET /nodes"
    rows = []
    for mode, runs in results.items():
        rows.append(Row("stall", case, f"{mode}: requests > {_SLOW_MS:g} ms", "requests",
                        round(runs[0][2] * load_s), tuple(float(r[0]) for r in runs)))
        rows.append(Row("stall", case, f"{mode}: worst latency", "ms",
                        round(runs[0][2] * load_s), tuple(r[1] for r in runs)))
    return rows


def _exported_requests(receiver: Receiver) -> int:
    """How many request durations the receiver's last control-plane export counted."""
    points = receiver.metric_points()
    found = points.get("sheratan.hub.control/http.server.request.duration")
    if found is None:
        return 0
    return sum(int(getattr(point, "count", 0)) for point in found[1])


def bench_stall(settings: Settings) -> list[Row]:
    """Longest event-loop stall from recording queued request durations (a scrape meeting a
    full queue), and slow requests under load with and without an OTLP export each second."""
    return _in_process(settings) + _over_http(settings)
