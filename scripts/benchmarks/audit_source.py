"""Issue 11: the security metrics read from the audit log, at a steady 50,000 lines a second.

``audit_source`` measures two things, each variant with its own telemetry object:

* **request path**: the small app of the ``overhead`` benchmark, instrumented by this layer,
  called by direct ASGI calls: with the taps only, and with the audit-log source following a
  log that a separate writer process appends to at 5,000 lines a second all along (a hub
  under a steady scan). CPU per request and the ratio to the taps-only variant show what
  the source's thread costs a request; it should be within noise.
* **keep-up**: a writer process appends audit lines at 50,000 a second (500 every 10 ms,
  flushed each time, as a hub would) while the source follows the log in this process. One
  run writes ``n`` lines; it ends when the source has counted every one of them. Its
  throughput against the writer alone (the same ``n`` lines at the same pace, not read) is
  1.0x when the source keeps up, and below when it falls behind.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hub_middleware import instrument_app
from otel import HubTelemetry, TelemetryConfig
from otel._audit_source import AuditLogSource

from .framework import BenchError, Row, Settings, Variant, measure
from .hubs import AsgiCaller
from .metrics import _PLANE, _TOKEN, small_app

KEEP_UP_LINES_PER_S = 50_000
BACKGROUND_LINES_PER_S = 5_000
_BATCH_S = 0.01
_DEADLINE_S = 60.0

#: The writer: appends ``total`` audit lines at ``rate`` a second to ``path``, in batches
#: every 10 ms, each flushed; 0 means until killed. Stamped now, so they are in the window.
_WRITER = r"""
import sys, time
path, rate, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
batch = max(1, int(rate * 0.01))
written, start = 0, time.monotonic()
with open(path, "ab", buffering=0) as out:
    while total == 0 or written < total:
        n = batch if total == 0 else min(batch, total - written)
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".%06dZ" % (now % 1 * 1e6)
        line = ('{"ts":"%s","event":"AUTH_FAILURE","plane":"control","port":8787,'
                '"client":"10.0.0.7","method":"GET","path":"/nodes",'
                '"reason":"invalid_token"}\n' % stamp).encode()
        out.write(line * n)
        written += n
        pause = start + written / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
"""


@contextmanager
def _writer(path: Path, rate: int, total: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(rate), str(total)])
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


class _CountingSink:
    """Counts what the source delivers; nothing else (the keep-up run measures reading)."""

    def __init__(self) -> None:
        self.events = 0

    def auth_failure(self, plane: str, reason: str, *, n: int = 1, at: float | None = None,
                     counted: bool = True) -> None:
        self.events += n

    def port_mismatch(self, plane: str, *, n: int = 1, at: float | None = None,
                      counted: bool = True) -> None:
        self.events += n


def bench_audit_source(settings: Settings) -> list[Row]:
    """Request cost with the audit-log source running, and keeping up with 50k lines/s."""
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        rows = _request_path(Path(tmp), settings)
        rows += _keep_up(Path(tmp), settings)
    return rows


def _request_path(tmp: Path, settings: Settings) -> list[Row]:
    log = tmp / "busy.jsonl"
    log.touch()
    loop = asyncio.new_event_loop()
    taps = HubTelemetry(TelemetryConfig())
    with_source = HubTelemetry(TelemetryConfig(audit_log=log))
    ops = settings.ops(5000)

    def variant(mode: str, telemetry: HubTelemetry | None) -> Variant:
        app = small_app()
        if telemetry is not None:
            instrument_app(app, telemetry, plane="control", server_port=8787)
        caller = AsgiCaller(app, _PLANE, _TOKEN)

        async def calls(n: int) -> None:
            for i in range(n):
                await caller.call("GET", f"/items/{i % 50}")

        def run(n: int) -> float:
            start = time.perf_counter()
            loop.run_until_complete(calls(n))
            elapsed = time.perf_counter() - start
            if telemetry is not None:  # recorded outside the timed region
                telemetry.snapshot_json("control")
            return elapsed

        baseline = None if mode == "bare" else ("bare" if telemetry is taps else "layer, taps")
        return Variant(mode, ops, run, baseline, cpu_s=time.process_time)

    variants = [variant("bare", None), variant("layer, taps", taps),
                variant("layer, audit-log source following 5k lines/s", with_source)]
    try:
        with _writer(log, BACKGROUND_LINES_PER_S, 0):
            return measure("audit_source", "GET /items/{id}", "req/s", variants, settings)
    finally:
        taps.shutdown()
        with_source.shutdown()
        loop.close()


def _keep_up(tmp: Path, settings: Settings) -> list[Row]:
    ops = settings.ops(250_000)
    counter = iter(range(1_000_000))

    def fresh_log() -> Path:
        return tmp / f"keep-up-{next(counter)}.jsonl"

    def write_only(n: int) -> float:
        start = time.perf_counter()
        with _writer(fresh_log(), KEEP_UP_LINES_PER_S, n) as proc:
            proc.wait(timeout=_DEADLINE_S)
        return time.perf_counter() - start

    def write_and_follow(n: int) -> float:
        log = fresh_log()
        log.touch()
        sink = _CountingSink()
        source = AuditLogSource(log, sink, poll_s=0.25)
        source.start()
        try:
            start = time.perf_counter()
            with _writer(log, KEEP_UP_LINES_PER_S, n):
                _wait(lambda: sink.events >= n, start)
            return time.perf_counter() - start
        finally:
            source.stop()

    variants = [Variant("writer alone, 50k lines/s", ops, write_only),
                Variant("writer + audit-log source", ops, write_and_follow,
                        baseline="writer alone, 50k lines/s", cpu_s=time.process_time)]
    return measure("audit_source", "keep up", "lines/s", variants, settings)


def _wait(done: Callable[[], bool], start: float) -> None:
    while not done():
        if time.perf_counter() - start > _DEADLINE_S:
            raise BenchError("the audit-log source did not catch up within "
                             f"{_DEADLINE_S:g} s")
        time.sleep(0.005)
