"""The hubs benchmarks measure: in-process (direct ASGI calls) and a real process on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from baseline_hub import HubConfig, HubContext, PlaneInfo, build_plane_app

from .framework import BenchError

REPO_ROOT = Path(__file__).resolve().parents[2]
HUB_START_TIMEOUT_S = 20.0
HUB_STOP_TIMEOUT_S = 10.0
CONCURRENCY = 8
BANNER_URL = re.compile(r"^\s+(control|data) plane\s+(http://\S+)\s*$", re.MULTILINE)


CONTROL = PlaneInfo("control", 8787, 8788)
DATA = PlaneInfo("data", 8788, 8787)


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
                   expect: int = 200, accept: str | None = None) -> bytes:
        headers = [(b"host", self._host), (b"authorization", self._auth)]
        if accept is not None:
            headers.append((b"accept", accept.encode()))
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
                AsgiCaller(build_plane_app(CONTROL, hub), CONTROL, token),
                AsgiCaller(build_plane_app(DATA, hub), DATA, token),
            )
        finally:
            loop.close()
            hub.close()


def process_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by process ``pid``; None without ``/proc``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class LoopbackHub:
    control_url: str
    data_url: str
    token: str
    pid: int

    def cpu_s(self) -> float | None:
        """The hub process' CPU seconds so far (Linux ``/proc`` only; None elsewhere)."""
        return process_cpu_s(self.pid)

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
def loopback_hub(args: Sequence[str] = ("-c", BARE_HUB), *,
                 home: Path | None = None,
                 extra_env: Mapping[str, str] | None = None) -> Iterator[LoopbackHub]:
    """Run a hub process (by default the bare hub) on ephemeral loopback ports; stop it on exit.

    Args:
        args: the Python arguments that start it: ``("-c", BARE_HUB)`` or ``WIRED_HUB``.
        home: its ``SHERATAN_HOME``; by default a fresh one, removed afterwards.
        extra_env: variables set on top (``OTEL_*`` for an exporting hub, say); the
            caller's own ``HUB_*`` and ``OTEL_*`` never reach the hub.
    """
    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="bench-hub-") as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "OTEL_"))}
        env.update(SHERATAN_HOME=str(home or work / "home"), HUB_HOST="127.0.0.1",
                   HUB_CONTROL_PORT="0",
                   HUB_DATA_PORT="0", HUB_TOKEN=token, PYTHONUNBUFFERED="1",
                   PYTHONPATH=os.pathsep.join(
                       p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p))
        env.update(extra_env or {})
        out = work / "hub.out"
        with out.open("wb") as sink:
            # Output to a file, not a pipe: nothing has to drain it while we measure.
            proc = subprocess.Popen([sys.executable, *args], cwd=work, env=env,
                                    stdout=sink, stderr=subprocess.STDOUT)
        try:
            urls = wait_for_banner(proc, out)
            yield LoopbackHub(urls["control"], urls["data"], token, proc.pid)
        finally:
            stop_process(proc)


def wait_for_banner(proc: subprocess.Popen[bytes], out: Path) -> dict[str, str]:
    deadline = time.monotonic() + HUB_START_TIMEOUT_S
    while time.monotonic() < deadline:
        text = out.read_text(encoding="utf-8", errors="replace")
        urls = dict(BANNER_URL.findall(text))
        if len(urls) == 2:
            return urls
        if proc.poll() is not None:
            raise BenchError(f"the hub exited with {proc.returncode}:\n{text}")
        time.sleep(0.05)
    raise BenchError(f"the hub did not print its URLs within {HUB_START_TIMEOUT_S:g} s")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT if sys.platform == "win32" else signal.SIGTERM)
        try:
            proc.wait(timeout=HUB_STOP_TIMEOUT_S)
            return
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait(timeout=HUB_STOP_TIMEOUT_S)


def expect(response: httpx.Response, status: int) -> httpx.Response:
    if response.status_code != status:
        raise BenchError(f"{response.request.method} {response.request.url.path}: "
                         f"expected {status}, got {response.status_code}")
    return response


def sync_timed(fn: Callable[[int], None]) -> Callable[[int], float]:
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


def raw_timed(loop: asyncio.AbstractEventLoop, base_url: str, token: str, concurrency: int,
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
def clients(hub: LoopbackHub) -> Iterator[tuple[httpx.Client, asyncio.AbstractEventLoop]]:
    """A keep-alive httpx client for the sequential runs, and a loop for the raw ones."""
    loop = asyncio.new_event_loop()
    try:
        with httpx.Client(headers=hub.auth, trust_env=False, timeout=30) as client:
            yield client, loop
    finally:
        loop.close()
