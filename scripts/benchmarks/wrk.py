"""HTTP load with wrk (Debian's ``wrk`` package) against server processes on loopback.

wrk is a C load generator: on a 2-core machine it leaves the server most of a core, where a
Python client would compete with it. A Lua ``done()`` hook prints one machine-readable
line, including how many requests took longer than a threshold (found exactly, by
bisecting wrk's latency percentiles on the request rank).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .framework import BenchError
from .hubs import HUB_START_TIMEOUT_S, REPO_ROOT, process_cpu_s, stop_process

SMALL_SERVER = Path(__file__).with_name("small_server.py")
WRK_TIMEOUT_S = 10

_DONE_LUA = """
function done(summary, latency, requests)
  local n, slow_us = summary.requests, %d
  local lo, hi = 0, n
  -- the largest rank whose latency is at most slow_us (percentile is monotonic in rank)
  while lo < hi do
    local mid = math.floor((lo + hi + 1) / 2)
    if latency:percentile((mid - 0.5) / n * 100) <= slow_us then lo = mid else hi = mid - 1 end
  end
  local e = summary.errors
  io.write(string.format("WRK_RESULT %%d %%d %%d %%d %%d\\n", n, summary.duration, n - lo,
                         latency.max, e.connect + e.read + e.write + e.status + e.timeout))
end
"""


@dataclass(frozen=True, slots=True)
class WrkResult:
    """One wrk run: completed requests, how long, how many were slow, the worst latency."""

    requests: int
    duration_s: float
    slow: int
    max_latency_ms: float
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.duration_s


def wrk_path() -> str:
    """The wrk executable, or BenchError naming the package to install."""
    found = shutil.which("wrk")
    if found is None:
        raise BenchError("wrk is missing: apt-get install wrk")
    return found


def run_wrk(url: str, *, duration_s: float, connections: int = 8,
            headers: Sequence[str] = (), slow_ms: float = 50.0) -> WrkResult:
    """``wrk -t1 -c<connections> -d<duration_s>`` against ``url``; errors raise BenchError."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_DONE_LUA % round(slow_ms * 1000))
    try:
        command = [wrk_path(), "-t1", f"-c{connections}", f"-d{max(1, round(duration_s))}s",
                   f"--timeout={WRK_TIMEOUT_S}s", "-s", script.name]
        for header in headers:
            command += ["-H", header]
        out = subprocess.run([*command, url], capture_output=True, text=True, check=False,
                             timeout=duration_s + 30)
    finally:
        os.unlink(script.name)
    return _parse(out.stdout, out.stderr)


def _parse(stdout: str, stderr: str) -> WrkResult:
    for line in stdout.splitlines():
        if line.startswith("WRK_RESULT "):
            requests, duration_us, slow, max_us, errors = map(int, line.split()[1:])
            if errors or not requests:
                raise BenchError(f"wrk: {errors} errors in {requests} requests:\n{stdout}")
            return WrkResult(requests, duration_us / 1e6, slow, max_us / 1000, errors)
    raise BenchError(f"wrk printed no result:\n{stdout}\n{stderr}")


@dataclass(frozen=True, slots=True)
class ServerProcess:
    """A server on loopback: its base URL and its process id."""

    url: str
    pid: int

    def cpu_s(self) -> float | None:
        return process_cpu_s(self.pid)


@contextlib.contextmanager
def small_server(mode: str) -> Iterator[ServerProcess]:
    """The overhead benchmark's small app (``bare`` or with the ``layer``) served by uvicorn
    in its own process, as the hub configures uvicorn."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "OTEL_"))}
    env.update(PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(
        p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p))
    with tempfile.TemporaryDirectory(prefix="bench-small-") as tmp:
        out = Path(tmp) / "server.out"
        with out.open("wb") as sink:
            proc = subprocess.Popen([sys.executable, str(SMALL_SERVER), mode], cwd=tmp,
                                    env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            port = _wait_for_port(proc, out)
            yield ServerProcess(f"http://127.0.0.1:{port}", proc.pid)
        finally:
            stop_process(proc)


def _wait_for_port(proc: subprocess.Popen[bytes], out: Path) -> int:
    deadline = time.monotonic() + HUB_START_TIMEOUT_S
    while time.monotonic() < deadline:
        text = out.read_text(encoding="utf-8", errors="replace")
        for line in text.splitlines():
            if line.startswith("PORT "):
                return int(line.split()[1])
        if proc.poll() is not None:
            raise BenchError(f"the small server exited with {proc.returncode}:\n{text}")
        time.sleep(0.05)
    raise BenchError(f"the small server did not start within {HUB_START_TIMEOUT_S:g} s")
