"""The project's benchmarks: the one place they live. Later issues add theirs here.

Usage, from the repository root::

    python scripts/bench.py                 # every benchmark, 5 runs each
    python scripts/bench.py --quick         # a short run (3 smaller runs): a smoke test
    python scripts/bench.py --only health   # one benchmark (repeat --only for more)
    python scripts/bench.py --list
    python scripts/bench.py --json          # machine-readable rows instead of the table

How it measures. A benchmark builds *variants* of one workload (say ``GET /health`` called
in-process, over loopback, over loopback with 8 concurrent clients), each a callable that
times one run and returns operations per second. The variants' runs are interleaved (run 1
of every variant, then run 2, ...), so a noisy neighbour slows all of them alike, and each
variant is reported as the median of its runs with min, max and spread
(``(max - min) / median``). A variant may name a baseline variant: its ratio to it is the
median of the per-run ratios, which is the number to compare on a noisy 2-core machine.

Adding a benchmark: write ``def bench_x(settings: Settings) -> list[Row]`` that builds its
variants and returns ``measure("x", "<case>", "<unit>", variants, settings)`` rows, and list
it in ``BENCHMARKS``.

The scripts benchmark the checkout they live in: the repository root goes first on
``sys.path``, and the loopback hub is started with it on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from baseline_hub import HubConfig, HubContext, PlaneInfo, build_plane_app  # noqa: E402

EXIT_OK = 0
EXIT_BENCH_FAILED = 1
EXIT_USAGE = 2

HUB_START_TIMEOUT_S = 20.0
HUB_STOP_TIMEOUT_S = 10.0
CONCURRENCY = 8
_BANNER_URL = re.compile(r"^\s+(control|data) plane\s+(http://\S+)\s*$", re.MULTILINE)


class BenchError(RuntimeError):
    """A benchmark could not run, or the hub answered something other than expected."""


# --- the framework -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Settings:
    """How long to run. ``scale`` multiplies every benchmark's operations per run."""

    runs: int = 5
    scale: float = 1.0

    def ops(self, full: int) -> int:
        return max(10, round(full * self.scale))


@dataclass(frozen=True, slots=True)
class Variant:
    """One way of running a workload. ``run(n)`` performs n operations and returns the seconds
    they took; ``baseline`` names the variant this one is compared with.

    ``cpu_s``, when given, reads the CPU seconds used so far by the process that serves the
    requests. CPU time per operation is far less sensitive than wall time to other processes
    competing for the cores, so it is the better number for overhead comparisons.
    """

    mode: str
    ops: int
    run: Callable[[int], float]
    baseline: str | None = None
    cpu_s: Callable[[], float | None] | None = None


@dataclass(frozen=True, slots=True)
class Row:
    """The result of one variant: its runs in operations per second."""

    benchmark: str
    case: str
    mode: str
    unit: str
    ops_per_run: int
    samples: tuple[float, ...]
    baseline: str | None = None
    ratios: tuple[float, ...] = field(default=())
    cpu_us_per_op: tuple[float, ...] = field(default=())

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> float:
        return (max(self.samples) - min(self.samples)) / self.median

    @property
    def ratio(self) -> float | None:
        return statistics.median(self.ratios) if self.ratios else None

    @property
    def cpu_us(self) -> float | None:
        return statistics.median(self.cpu_us_per_op) if self.cpu_us_per_op else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(median=self.median, min=min(self.samples), max=max(self.samples),
                    spread=self.spread, ratio=self.ratio, cpu_us=self.cpu_us)
        return data


def measure(benchmark: str, case: str, unit: str, variants: Sequence[Variant],
            settings: Settings) -> list[Row]:
    """Warm every variant up, then run them interleaved ``settings.runs`` times."""
    modes = {v.mode for v in variants}
    for variant in variants:
        if variant.baseline is not None and variant.baseline not in modes:
            raise ValueError(f"{variant.mode}: unknown baseline {variant.baseline!r}")
        variant.run(max(1, variant.ops // 5))  # warm-up: connections, caches, first queries
    samples: dict[str, list[float]] = {v.mode: [] for v in variants}
    cpu: dict[str, list[float]] = {v.mode: [] for v in variants}
    for _ in range(settings.runs):
        for variant in variants:
            cpu_before = variant.cpu_s() if variant.cpu_s else None
            elapsed_s = variant.run(variant.ops)
            cpu_after = variant.cpu_s() if variant.cpu_s else None
            samples[variant.mode].append(variant.ops / elapsed_s)
            if cpu_before is not None and cpu_after is not None:
                cpu[variant.mode].append((cpu_after - cpu_before) * 1e6 / variant.ops)
    rows = []
    for variant in variants:
        own = samples[variant.mode]
        ratios = (tuple(a / b for a, b in zip(own, samples[variant.baseline], strict=True))
                  if variant.baseline else ())
        rows.append(Row(benchmark, case, variant.mode, unit, variant.ops, tuple(own),
                        variant.baseline, ratios, tuple(cpu[variant.mode])))
    return rows


def render_table(rows: Sequence[Row]) -> str:
    """A Markdown table, so results paste straight into ``docs/performance.md``."""
    header = ("benchmark", "case", "mode", "median", "min", "max", "spread", "vs", "ratio",
              "hub CPU/op")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        ratio = f"{row.ratio:.3f}x" if row.ratio is not None else ""
        cpu = f"{row.cpu_us:,.0f} µs" if row.cpu_us is not None else ""
        cells = (row.benchmark, row.case, row.mode, f"{row.median:,.0f} {row.unit}",
                 f"{min(row.samples):,.0f}", f"{max(row.samples):,.0f}",
                 f"{row.spread:.0%}", row.baseline or "", ratio, cpu)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    affinity = getattr(os, "sched_getaffinity", None)
    return {
        "nproc": len(affinity(0)) if affinity else os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "loadavg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


# --- hubs to measure: in-process (direct ASGI calls) and a real process on loopback --------------


_CONTROL = PlaneInfo("control", 8787, 8788)
_DATA = PlaneInfo("data", 8788, 8787)


class AsgiCaller:
    """Calls a plane app directly, ``await app(scope, receive, send)``: no server, no client.

    What this measures is the hub's own request path (routing, guards, middleware, store),
    with the network and HTTP parsing left out.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], plane: PlaneInfo,
                 token: str) -> None:
        self._app = app
        self._server = ("127.0.0.1", plane.port)
        self._host = f"127.0.0.1:{plane.port}".encode()
        self._auth = f"Bearer {token}".encode()

    async def call(self, method: str, path: str, body: bytes = b"", *,
                   expect: int = 200) -> bytes:
        headers = [(b"host", self._host), (b"authorization", self._auth)]
        if body:
            headers += [(b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())]
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1", "method": method, "scheme": "http",
            "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
            "headers": headers, "client": ("127.0.0.1", 50000), "server": self._server,
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        status = 0
        chunks: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self._app(scope, receive, send)
        if status != expect:
            raise BenchError(f"{method} {path}: expected {expect}, got {status}")
        return b"".join(chunks)


@dataclass
class InProcessHub:
    """A HubContext on a temporary home with both plane apps, and an event loop to call them."""

    loop: asyncio.AbstractEventLoop
    control: AsgiCaller
    data: AsgiCaller

    def timed(self, fn: Callable[[int], Awaitable[None]]) -> Callable[[int], float]:
        def run(n: int) -> float:
            start = time.perf_counter()
            self.loop.run_until_complete(fn(n))
            return time.perf_counter() - start
        return run


@contextlib.contextmanager
def in_process_hub() -> Iterator[InProcessHub]:
    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="bench-hub-") as home:
        hub = HubContext.open(HubConfig(home=Path(home), token=token), token)
        loop = asyncio.new_event_loop()
        try:
            yield InProcessHub(
                loop,
                AsgiCaller(build_plane_app(_CONTROL, hub), _CONTROL, token),
                AsgiCaller(build_plane_app(_DATA, hub), _DATA, token),
            )
        finally:
            loop.close()
            hub.close()


@dataclass(frozen=True, slots=True)
class LoopbackHub:
    control_url: str
    data_url: str
    token: str
    pid: int

    def cpu_s(self) -> float | None:
        """The hub process' CPU seconds so far (Linux ``/proc`` only; None elsewhere)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


#: The bare hub: ``serve()`` with no observers and no instrumenter, whatever
#: ``python -m baseline_hub`` wires in (since the metrics issue it mounts ``/metrics`` and
#: the HTTP metrics middleware). Later benchmarks compare the wired hub against this.
BARE_HUB = ("import asyncio, os\n"
            "from baseline_hub import HubConfig, serve\n"
            "asyncio.run(serve(HubConfig.from_env(os.environ)))\n")
WIRED_HUB = ("-m", "baseline_hub")


@contextlib.contextmanager
def loopback_hub(args: Sequence[str] = ("-c", BARE_HUB)) -> Iterator[LoopbackHub]:
    """Run a hub process (by default the bare hub) on ephemeral loopback ports; stop it on exit.

    Args:
        args: the Python arguments that start it: ``("-c", BARE_HUB)`` or ``WIRED_HUB``.
    """
    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="bench-hub-") as tmp:
        home = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "OTEL_"))}
        env.update(SHERATAN_HOME=str(home / "home"), HUB_HOST="127.0.0.1", HUB_CONTROL_PORT="0",
                   HUB_DATA_PORT="0", HUB_TOKEN=token, PYTHONUNBUFFERED="1",
                   PYTHONPATH=os.pathsep.join(
                       p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p))
        out = home / "hub.out"
        with out.open("wb") as sink:
            # Output to a file, not a pipe: nothing has to drain it while we measure.
            proc = subprocess.Popen([sys.executable, *args], cwd=home, env=env,
                                    stdout=sink, stderr=subprocess.STDOUT)
        try:
            urls = _wait_for_banner(proc, out)
            yield LoopbackHub(urls["control"], urls["data"], token, proc.pid)
        finally:
            _stop(proc)


def _wait_for_banner(proc: subprocess.Popen[bytes], out: Path) -> dict[str, str]:
    deadline = time.monotonic() + HUB_START_TIMEOUT_S
    while time.monotonic() < deadline:
        text = out.read_text(encoding="utf-8", errors="replace")
        urls = dict(_BANNER_URL.findall(text))
        if len(urls) == 2:
            return urls
        if proc.poll() is not None:
            raise BenchError(f"the hub exited with {proc.returncode}:\n{text}")
        time.sleep(0.05)
    raise BenchError(f"the hub did not print its URLs within {HUB_START_TIMEOUT_S:g} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT if sys.platform == "win32" else signal.SIGTERM)
        try:
            proc.wait(timeout=HUB_STOP_TIMEOUT_S)
            return
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait(timeout=HUB_STOP_TIMEOUT_S)


def _expect(response: httpx.Response, status: int) -> httpx.Response:
    if response.status_code != status:
        raise BenchError(f"{response.request.method} {response.request.url.path}: "
                         f"expected {status}, got {response.status_code}")
    return response


def _sync_timed(fn: Callable[[int], None]) -> Callable[[int], float]:
    def run(n: int) -> float:
        start = time.perf_counter()
        fn(n)
        return time.perf_counter() - start
    return run


class RawConnection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams, for the concurrent runs.

    httpx's async pool costs more CPU per request than the hub itself (measured: 8 concurrent
    httpx.AsyncClient tasks reach about a third of one sequential httpx.Client), so with it
    the benchmark would measure the client. This one only writes a request and reads a
    ``Content-Length`` answer, which is all the hub sends.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 head: bytes) -> None:
        self._reader = reader
        self._writer = writer
        self._head = head

    @classmethod
    async def open(cls, base_url: str, token: str) -> RawConnection:
        url = httpx.URL(base_url)
        if url.port is None:
            raise BenchError(f"no port in {base_url}")
        reader, writer = await asyncio.open_connection(url.host, url.port)
        head = f"Host: {url.host}:{url.port}\r\nAuthorization: Bearer {token}\r\n".encode()
        return cls(reader, writer, head)

    async def request(self, method: str, path: str, body: bytes = b"", *,
                      expect: int = 200) -> bytes:
        self._writer.write(b"%s %s HTTP/1.1\r\n%sContent-Type: application/json\r\n"
                           b"Content-Length: %d\r\n\r\n%s"
                           % (method.encode(), path.encode(), self._head, len(body), body))
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.lower().split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line[15:])
            elif line.startswith(b"transfer-encoding:"):
                raise BenchError(f"{method} {path}: chunked answers are not supported")
        answer = await self._reader.readexactly(length) if length else b""
        if status != expect:
            raise BenchError(f"{method} {path}: expected {expect}, got {status}")
        return answer

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


def _raw_timed(loop: asyncio.AbstractEventLoop, base_url: str, token: str, concurrency: int,
               worker: Callable[[RawConnection, int, int], Awaitable[None]]
               ) -> Callable[[int], float]:
    """``n`` operations split over ``concurrency`` connections, each driven by
    ``worker(connection, index, ops)``. Connections are opened per run, before the clock
    starts, so the server's keep-alive timeout never closes one between runs."""
    def run(n: int) -> float:
        shares = [n // concurrency + (i < n % concurrency) for i in range(concurrency)]

        async def timed() -> float:
            conns = [await RawConnection.open(base_url, token) for _ in range(concurrency)]
            try:
                start = time.perf_counter()
                await asyncio.gather(*(worker(conn, i, share)
                                       for i, (conn, share) in enumerate(zip(conns, shares,
                                                                             strict=True))))
                return time.perf_counter() - start
            finally:
                for conn in conns:
                    await conn.close()

        return loop.run_until_complete(timed())
    return run


@contextlib.contextmanager
def _clients(hub: LoopbackHub) -> Iterator[tuple[httpx.Client, asyncio.AbstractEventLoop]]:
    """A keep-alive httpx client for the sequential runs, and a loop for the raw ones."""
    loop = asyncio.new_event_loop()
    try:
        with httpx.Client(headers=hub.auth, trust_env=False, timeout=30) as client:
            yield client, loop
    finally:
        loop.close()


# --- the benchmarks ------------------------------------------------------------------------------


def bench_health(settings: Settings) -> list[Row]:
    """``GET /health`` on the control plane: the floor cost of one request through the hub."""
    with in_process_hub() as local, loopback_hub() as remote, _clients(remote) as clients:
        client, loop = clients
        url = f"{remote.control_url}/health"

        async def in_process(n: int) -> None:
            for _ in range(n):
                await local.control.call("GET", "/health")

        def sequential(n: int) -> None:
            for _ in range(n):
                _expect(client.get(url), 200)

        async def raw(conn: RawConnection, index: int, n: int) -> None:
            for _ in range(n):
                await conn.request("GET", "/health")

        def raw_variant(concurrency: int, full_ops: int) -> Variant:
            return Variant(f"loopback raw c={concurrency}", settings.ops(full_ops),
                           _raw_timed(loop, remote.control_url, remote.token, concurrency, raw),
                           "in-process", remote.cpu_s)

        variants = [
            Variant("in-process", settings.ops(4000), local.timed(in_process),
                    cpu_s=time.process_time),
            Variant("loopback httpx", settings.ops(1500), _sync_timed(sequential), "in-process",
                    remote.cpu_s),
            raw_variant(1, 3000),
            raw_variant(CONCURRENCY, 3000),
        ]
        return measure("health", "GET /health", "req/s", variants, settings)


_SUBMIT = orjson.dumps({"kind": "bench", "payload": {"n": 1}})


def bench_jobs(settings: Settings) -> list[Row]:
    """One job's life: ``POST /jobs``, ``POST /jobs/claim``, ``POST /jobs/{id}/complete``,
    authenticated, on the data plane. The unit is cycles (3 requests, 3 SQLite writes)."""
    with in_process_hub() as local, loopback_hub() as remote, _clients(remote) as clients:
        client, loop = clients
        base = remote.data_url

        async def in_process(n: int) -> None:
            claim = orjson.dumps({"node_id": "bench-0"})
            for _ in range(n):
                await local.data.call("POST", "/jobs", _SUBMIT, expect=201)
                job = orjson.loads(await local.data.call("POST", "/jobs/claim", claim))["job"]
                await local.data.call("POST", f"/jobs/{job['job_id']}/complete", claim)

        def sequential(n: int) -> None:
            node = {"node_id": "bench-0"}
            for _ in range(n):
                _expect(client.post(f"{base}/jobs", content=_SUBMIT,
                                    headers={"content-type": "application/json"}), 201)
                job = _expect(client.post(f"{base}/jobs/claim", json=node), 200).json()["job"]
                _expect(client.post(f"{base}/jobs/{job['job_id']}/complete", json=node), 200)

        async def raw(conn: RawConnection, index: int, n: int) -> None:
            # Each worker submits before it claims, so a claim never finds the queue empty;
            # it may take another worker's job, which it then completes as its holder.
            node = orjson.dumps({"node_id": f"bench-{index}"})
            for _ in range(n):
                await conn.request("POST", "/jobs", _SUBMIT, expect=201)
                job = orjson.loads(await conn.request("POST", "/jobs/claim", node))["job"]
                await conn.request("POST", f"/jobs/{job['job_id']}/complete", node)

        def raw_variant(concurrency: int, full_ops: int) -> Variant:
            return Variant(f"loopback raw c={concurrency}", settings.ops(full_ops),
                           _raw_timed(loop, base, remote.token, concurrency, raw), "in-process",
                           remote.cpu_s)

        variants = [
            Variant("in-process", settings.ops(1200), local.timed(in_process),
                    cpu_s=time.process_time),
            Variant("loopback httpx", settings.ops(500), _sync_timed(sequential), "in-process",
                    remote.cpu_s),
            raw_variant(1, 800),
            raw_variant(CONCURRENCY, 800),
        ]
        return measure("jobs", "submit+claim+complete", "cycles/s", variants, settings)


# --- diagnose bundle (issue 5) -------------------------------------------------------------------


DIAGNOSE = REPO_ROOT / "scripts" / "diagnose.py"
_MIB = 1024 * 1024
#: Where diagnose finds no hub: the "hub down" cases measure the offline path.
_CLOSED_URL = "http://127.0.0.1:9"
_AUDIT_LINE = (b'{"ts":"2026-11-29T10:15:02.123456Z","event":"AUTH_FAILURE","plane":"control",'
               b'"port":8787,"client":"10.0.0.7","method":"GET","path":"/nodes",'
               b'"reason":"invalid_token"}\n')


def _fill_log(path: Path, size_bytes: int) -> None:
    """Write ``size_bytes`` of audit-like lines fast: one 1 MiB block, written repeatedly."""
    block = _AUDIT_LINE * (_MIB // len(_AUDIT_LINE))
    with path.open("wb") as handle:
        written = 0
        while written < size_bytes:
            chunk = block[: size_bytes - written]
            handle.write(chunk)
            written += len(chunk)


def _diagnose_home(root: Path, name: str, log_bytes: int, *, link: bool) -> Path:
    """A stopped hub's home: 50 nodes, and the three hub logs of ``log_bytes`` each. With
    ``link`` they are hard links of one file, so 1 GB costs 1 GB of disk, not 3 (not for a
    home a live hub will append to)."""
    from baseline_hub.db import connect  # only this benchmark needs it

    home = root / name
    (home / "logs").mkdir(parents=True)
    conn = connect(home / "state" / "hub.db")
    try:
        now = time.time()
        for i in range(50):
            conn.execute("INSERT INTO nodes (node_id, name, meta, registered_at, last_seen) "
                         "VALUES (?, ?, '{\"api_key\":\"k-123456789\"}', ?, ?)",
                         (f"node-{i}", f"n{i}", now, now - i))
    finally:
        conn.close()
    first = home / "logs" / "hub_control.log"
    _fill_log(first, log_bytes)
    for name in ("hub_data.log", "hub_security_audit.jsonl"):
        try:
            if not link:
                raise OSError("copy wanted")
            os.link(first, home / "logs" / name)
        except OSError:  # a file system without hard links, or a live hub's home
            _fill_log(home / "logs" / name, log_bytes)
    return home


def _run_diagnose(home: Path, out: Path, urls: tuple[str, str]) -> tuple[float, float | None]:
    """One ``python scripts/diagnose.py`` run: its wall seconds and its own peak RSS in MB
    (``os.wait4`` gives this child's rusage alone; None where it does not exist)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HUB_", "OTEL_")) and k != "SOURCE_DATE_EPOCH"}
    env["SHERATAN_HOME"] = str(home)
    args = [sys.executable, str(DIAGNOSE), "--out", str(out), "--control-url", urls[0],
            "--data-url", urls[1]]
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait4 = getattr(os, "wait4", None)
    rss_mb: float | None = None
    if wait4 is not None:
        _, status, usage = wait4(proc.pid, 0)
        elapsed_s = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        rss_mb = usage.ru_maxrss / 1024  # KiB on Linux
    else:
        proc.wait()
        elapsed_s = time.perf_counter() - start
    err = proc.stderr.read() if proc.stderr else b""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise BenchError(f"diagnose exited {proc.returncode}: {err.decode(errors='replace')}")
    for bundle in out.glob("diag_bundle_*.zip"):
        bundle.unlink()
    return elapsed_s, rss_mb


@contextlib.contextmanager
def _hub_in(home: Path) -> Iterator[tuple[str, str]]:
    """``python -m baseline_hub`` on ``home`` (ephemeral loopback ports), with some traffic."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "OTEL_"))}
    token = secrets.token_urlsafe(24)
    env.update(SHERATAN_HOME=str(home), HUB_CONTROL_PORT="0", HUB_DATA_PORT="0",
               HUB_TOKEN=token, PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH"))
                                          if p))
    out = home.parent / f"{home.name}.hub.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "baseline_hub"], cwd=home.parent,
                                env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        urls = _wait_for_banner(proc, out)
        with httpx.Client(trust_env=False, timeout=10,
                          headers={"Authorization": f"Bearer {token}"}) as client:
            for i in range(20):
                _expect(client.post(f"{urls['data']}/jobs", json={"kind": "k"}), 201)
                _expect(client.post(f"{urls['control']}/nodes/{'node-' + str(i)}/heartbeat"),
                        200)
        yield urls["control"], urls["data"]
    finally:
        _stop(proc)


def bench_diagnose(settings: Settings) -> list[Row]:
    """``scripts/diagnose.py`` end to end: 1 MB vs 1 GB logs (hub down), and with the hub up.

    Reported as ms per bundle and the diagnose process' peak RSS, each with its ratio to the
    1 MB case. Goals (issue 5): 1 GB <= 1.3x the 1 MB time, RSS < 80 MB, hub up < 1 s. The
    1 GB logs go under the temp folder and are deleted afterwards (``--quick``: 64 MB).
    """
    big_bytes = 1024 * _MIB if settings.scale >= 1 else 64 * _MIB
    big_label = f"{big_bytes // _MIB} MB logs" if big_bytes < 1024 * _MIB else "1 GB logs"
    rss: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-diagnose-") as tmp:
        root = Path(tmp)
        out = root / "out"
        out.mkdir()
        small = _diagnose_home(root, "small", _MIB, link=True)
        big = _diagnose_home(root, "big", big_bytes, link=True)
        live = _diagnose_home(root, "live", _MIB, link=False)
        down = (_CLOSED_URL, _CLOSED_URL)
        with _hub_in(live) as live_urls:

            def variant(mode: str, home: Path, urls: tuple[str, str],
                        baseline: str | None) -> Variant:
                def run(n: int) -> float:
                    total_s, peak = 0.0, 0.0
                    for _ in range(n):
                        elapsed_s, rss_mb = _run_diagnose(home, out, urls)
                        total_s += elapsed_s
                        peak = max(peak, rss_mb or 0.0)
                    rss.setdefault(mode, []).append(peak)
                    return total_s
                return Variant(mode, settings.ops(10), run, baseline)

            variants = [variant("hub down, 1 MB logs", small, down, None),
                        variant(f"hub down, {big_label}", big, down, "hub down, 1 MB logs"),
                        variant("hub up, 1 MB logs", live, live_urls, "hub down, 1 MB logs")]
            rows = measure("diagnose", "bundle", "bundles/s", variants, settings)
    base = "hub down, 1 MB logs"
    ms_rows, rss_rows = [], []
    for row in rows:
        ms = tuple(1000 / s for s in row.samples)
        base_ms = tuple(1000 / s for s in rows[0].samples)
        ms_rows.append(Row("diagnose", "time per bundle", row.mode, "ms", row.ops_per_run, ms,
                           row.baseline, tuple(a / b for a, b in zip(ms, base_ms, strict=True))
                           if row.baseline else ()))
        peaks = tuple(rss[row.mode][1:])  # the first entry is the warm-up
        if all(peaks):
            base_peaks = tuple(rss[base][1:])
            rss_rows.append(Row("diagnose", "peak RSS", row.mode, "MB", row.ops_per_run, peaks,
                                row.baseline,
                                tuple(a / b for a, b in zip(peaks, base_peaks, strict=True))
                                if row.baseline else ()))
    return ms_rows + rss_rows


@dataclass(frozen=True, slots=True)
class Benchmark:
    name: str
    fn: Callable[[Settings], list[Row]]

    @property
    def summary(self) -> str:
        return (self.fn.__doc__ or "").strip().splitlines()[0]


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b for b in (Benchmark("health", bench_health), Benchmark("jobs", bench_jobs))
}

# Issue 5 (diagnose bundle) registers its benchmark here, apart from the others.
BENCHMARKS["diagnose"] = Benchmark("diagnose", bench_diagnose)

# --- the edge ------------------------------------------------------------------------------------


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None
    if not 1 <= number <= 100:
        raise argparse.ArgumentTypeError(f"must be 1..100, got {number}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench.py", description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--quick", action="store_true",
                        help="a short run: 3 runs of a tenth of the operations")
    parser.add_argument("--runs", type=_positive_int, help="runs per variant (default 5; 3 quick)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        for bench in BENCHMARKS.values():
            print(f"{bench.name:10} {bench.summary}")
        return EXIT_OK
    settings = Settings(runs=args.runs or (3 if args.quick else 5),
                        scale=0.1 if args.quick else 1.0)
    names = args.only or list(BENCHMARKS)
    command = " ".join(["python scripts/bench.py", *(sys.argv[1:] if argv is None else argv)])
    host = machine()  # before the run: the load average then is other processes' load
    rows: list[Row] = []
    started = time.perf_counter()
    try:
        for name in dict.fromkeys(names):
            rows += BENCHMARKS[name].fn(settings)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BENCH_FAILED
    elapsed_s = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps({"command": command, "machine": host, "runs": settings.runs,
                          "scale": settings.scale, "elapsed_s": elapsed_s,
                          "rows": [row.to_json() for row in rows]}, indent=2))
    else:
        print(f"# {command}")
        print(f"# {host['nproc']} CPUs, load {host['loadavg_1m']}, {host['implementation']} "
              f"{host['python']}, {host['platform']}; {settings.runs} runs; {elapsed_s} s")
        print(render_table(rows))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
