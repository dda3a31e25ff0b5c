"""Runs the second hub as two real processes on loopback, in a temporary folder."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

__all__ = ["AUDIT_FORMAT", "COUNTS_SQL", "PLANES", "STOPPED", "TOKEN", "Knobs", "SecondHub",
           "free_ports"]

REPO = Path(__file__).resolve().parents[2]
HUB_DIR = Path(__file__).resolve().parent / "hub"
#: The hub's configuration for the layer, as a user would check it in beside the hub.
AUDIT_FORMAT = HUB_DIR / "audit_format.json"
COUNTS_SQL = HUB_DIR / "counts_sql.json"
TOKEN = "second-hub-token-0123456789abcdef"
PLANES = ("control", "data")
_READY = re.compile(r"^secondhub (control|data) on (http://\S+)$")
_START_TIMEOUT_S = 20.0
#: The exit code of a plane that stopped as asked (see :meth:`SecondHub.stop`).
STOPPED = -signal.SIGTERM if os.name != "nt" else 1
_STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Knobs:
    """The hub's thresholds, small enough for a test to cross them."""

    stale_s: float = 30.0
    dead_s: float = 120.0
    lease_s: float = 30.0
    max_tries: int = 3
    sweep_s: float = 0.1

    def env(self) -> dict[str, str]:
        return {"SECONDHUB_STALE_S": str(self.stale_s), "SECONDHUB_DEAD_S": str(self.dead_s),
                "SECONDHUB_LEASE_S": str(self.lease_s),
                "SECONDHUB_MAX_TRIES": str(self.max_tries),
                "SECONDHUB_SWEEP_S": str(self.sweep_s)}


@dataclass
class _Plane:
    proc: subprocess.Popen[str]
    output: list[str]
    drain: threading.Thread
    url: str = ""


@dataclass
class SecondHub:
    """Both processes of one hub, sharing ``root``.

    Args:
        root: the hub's folder (database, audit log, the layer's config copies).
        observe: start with ``SECONDHUB_OBSERVE=1`` and the layer's configuration.
        knobs: the hub's thresholds.
        module: what ``python -m`` runs (the hub, or a test launcher around it).
        extra_env: more environment for both processes.
    """

    root: Path
    observe: bool = False
    knobs: Knobs = field(default_factory=Knobs)
    module: str = "tests.secondhub.hub"
    extra_env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    _planes: dict[str, _Plane] = field(default_factory=dict)

    def __post_init__(self) -> None:
        (self.root / "state").mkdir(parents=True, exist_ok=True)
        (self.root / "logs").mkdir(exist_ok=True)
        if not self.ports:
            control, data = free_ports(2)
            self.ports = {"control": control, "data": data}
        counts = json.loads(COUNTS_SQL.read_text(encoding="utf-8"))
        counts["database"] = str(self.db)
        counts["params"] = {"stale_s": self.knobs.stale_s, "dead_s": self.knobs.dead_s}
        self.counts_sql.write_text(json.dumps(counts, indent=2), encoding="utf-8")

    @property
    def db(self) -> Path:
        return self.root / "state" / "secondhub.db"

    @property
    def audit(self) -> Path:
        return self.root / "logs" / "audit.jsonl"

    @property
    def counts_sql(self) -> Path:
        """This hub's copy of ``counts_sql.json``, pointing at its database."""
        return self.root / "counts_sql.json"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("HUB_", "OTEL_", "SECONDHUB_"))}
        env.update(self.knobs.env())
        env.update(PYTHONUNBUFFERED="1", SECONDHUB_TOKEN=TOKEN, SECONDHUB_DB=str(self.db),
                   SECONDHUB_AUDIT=str(self.audit),
                   SECONDHUB_CONTROL_PORT=str(self.ports["control"]),
                   SECONDHUB_DATA_PORT=str(self.ports["data"]))
        if self.observe:
            env.update(SECONDHUB_OBSERVE="1", HUB_AUDIT_LOG=str(self.audit),
                       HUB_AUDIT_FORMAT=str(AUDIT_FORMAT), HUB_COUNTS_SQL=str(self.counts_sql))
        env.update(self.extra_env)
        return env

    def url(self, plane: str) -> str:
        return self._planes[plane].url

    def start(self, *planes: str) -> SecondHub:
        """Start ``planes`` (default both) and wait until each has printed its address."""
        for plane in planes or PLANES:
            if plane in self._planes and self._planes[plane].proc.poll() is None:
                raise RuntimeError(f"{plane} is already running")
            self._planes[plane] = self._spawn(plane)
        return self

    def kill(self, plane: str) -> None:
        """``kill -9``: no shutdown, no lifespan, no flush."""
        running = self._planes.pop(plane)
        running.proc.kill()
        self._reap(running)

    def stop(self, plane: str) -> int:
        """SIGTERM and wait; returns the exit code. After a graceful shutdown it is
        ``-SIGTERM`` on POSIX: uvicorn re-raises the signal it caught (:data:`STOPPED`)."""
        running = self._planes.pop(plane)
        running.proc.send_signal(signal.SIGTERM)
        return self._reap(running)

    def output(self, plane: str) -> str:
        return "".join(self._planes[plane].output)

    def close(self) -> None:
        for plane in list(self._planes):
            self.stop(plane)

    def __enter__(self) -> SecondHub:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def _spawn(self, plane: str) -> _Plane:
        proc = subprocess.Popen([sys.executable, "-m", self.module, plane], cwd=REPO,
                                env=self.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        output: list[str] = []
        ready = threading.Event()
        drain = threading.Thread(target=_drain, args=(proc, output, ready), daemon=True)
        drain.start()
        running = _Plane(proc, output, drain)
        # The thread reads, so a process that hangs silently cannot block the test.
        ready.wait(_START_TIMEOUT_S)
        for line in list(output):
            if (match := _READY.match(line.rstrip("\n"))) and match.group(1) == plane:
                running.url = match.group(2)
        if not running.url or proc.poll() is not None:
            proc.kill()
            self._reap(running)
            raise RuntimeError(f"secondhub {plane} did not start:\n" + "".join(output))
        return running

    @staticmethod
    def _reap(running: _Plane) -> int:
        try:
            code = running.proc.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            running.proc.kill()
            code = running.proc.wait(timeout=_STOP_TIMEOUT_S)
        running.drain.join(timeout=_STOP_TIMEOUT_S)
        if running.proc.stdout is not None:
            running.proc.stdout.close()
        return code


def _drain(proc: subprocess.Popen[str], lines: list[str], ready: threading.Event) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if _READY.match(line.rstrip("\n")):
            ready.set()
    ready.set()  # end of output: the caller sees the exit


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (held together, so they differ)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()
