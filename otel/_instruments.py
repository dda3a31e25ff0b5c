"""The hub's instruments, named exactly as in CONTRACT section 3, and their JSON keys.

This module is the single source of the names, kinds, units and attribute keys. The
renderers and the tests read them from here instead of repeating string literals.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "AUTH_FAILURES",
    "AUTH_FAILURE_RATE",
    "HTTP_DURATION",
    "JOBS_INFLIGHT",
    "JOB_RETRIES",
    "JOB_RETRY_RATE",
    "NODES",
    "NODE_STATES",
    "PORT_MISMATCHES",
    "PORT_MISMATCH_RATE",
    "QUEUE_DEPTH",
    "REQUEST_DURATION_BUCKETS_S",
    "InstrumentSpec",
    "LabelCache",
    "Plane",
    "json_keys",
]


class Plane(enum.Enum):
    """One of the hub's two ports. The value is the ``plane`` string used everywhere."""

    CONTROL = "control"
    DATA = "data"

    @property
    def meter_name(self) -> str:
        """The OTel meter (instrumentation scope) that holds this plane's instruments."""
        return f"sheratan.hub.{self.value}"


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """Name, unit and help text of one instrument, as the CONTRACT fixes them."""

    name: str
    unit: str
    description: str


# Control plane (meter sheratan.hub.control).
NODES = InstrumentSpec("hub.nodes", "{node}", "Registered nodes by heartbeat state.")
AUTH_FAILURES = InstrumentSpec(
    "hub.auth.failures", "{failure}", "Requests rejected for a missing or invalid token."
)
AUTH_FAILURE_RATE = InstrumentSpec(
    "hub.auth.failure_rate_1m",
    "{failure}/min",
    "Auth failures in the trailing 60 s, counted over both ports.",
)
PORT_MISMATCHES = InstrumentSpec(
    "hub.port.mismatches", "{request}", "Requests for a route of the other plane (HTTP 421)."
)
PORT_MISMATCH_RATE = InstrumentSpec(
    "hub.port.mismatch_rate_1m",
    "{request}/min",
    "Port mismatches in the trailing 60 s, counted over both ports.",
)

# Data plane (meter sheratan.hub.data).
QUEUE_DEPTH = InstrumentSpec("hub.queue.depth", "{job}", "Jobs in state queued.")
JOBS_INFLIGHT = InstrumentSpec("hub.jobs.inflight", "{job}", "Jobs in state inflight.")
JOB_RETRIES = InstrumentSpec(
    "hub.jobs.retries", "{retry}", "Jobs requeued after a failure or an expired lease."
)
JOB_RETRY_RATE = InstrumentSpec(
    "hub.jobs.retry_rate_1m", "{retry}/min", "Job retries in the trailing 60 s."
)

# Both planes, one per meter.
HTTP_DURATION = InstrumentSpec(
    "http.server.request.duration", "s", "Duration of HTTP server requests."
)

# The buckets the HTTP semantic conventions recommend for http.server.request.duration.
REQUEST_DURATION_BUCKETS_S: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)

NODE_STATES: tuple[str, ...] = ("online", "stale", "dead")
#: Label values known up front: their counter series start at 0.
AUTH_REASONS: tuple[str, ...] = ("missing_token", "invalid_token")
RETRY_CAUSES: tuple[str, ...] = ("failed", "lease_expired")

_JSON_KEYS: dict[Plane, tuple[str, ...]] = {
    Plane.CONTROL: (
        "nodes_online",
        "nodes_stale",
        "nodes_dead",
        "auth_fail_rate_1m",
        "port_mismatch_rate_1m",
    ),
    Plane.DATA: ("queue_depth", "inflight_jobs", "retry_rate_1m"),
}


def json_keys(plane: Plane) -> tuple[str, ...]:
    """The plane's metric keys of the JSON ``/metrics`` body, in CONTRACT order."""
    return _JSON_KEYS[plane]


class LabelCache:
    """Maps attribute tuples to ready-made attribute dicts, with a bound on distinct keys.

    Reusing one dict per key saves an allocation per measurement. The bound keeps a
    caller that passes unbounded values (a raw path, an exception text) from growing
    memory or the series count: past ``max_keys`` distinct keys, every new key maps to
    one overflow dict whose free-text values read ``overflow_value``.

    Thread-safety: lookups are lock-free dict reads; inserts take a lock so the bound
    holds when the loop thread and a reader thread miss at the same time.
    """

    __slots__ = ("_build", "_entries", "_lock", "_max_keys", "_overflow")

    def __init__(
        self,
        build: Callable[[tuple[object, ...]], dict[str, str | int]],
        overflow: dict[str, str | int],
        *,
        max_keys: int,
    ) -> None:
        if max_keys < 1:
            raise ValueError(f"max_keys must be >= 1, got {max_keys!r}")
        self._build = build
        self._overflow = overflow
        self._max_keys = max_keys
        self._entries: dict[tuple[object, ...], dict[str, str | int]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[object, ...]) -> dict[str, str | int]:
        """The attribute dict for ``key``; callers must not mutate it."""
        found = self._entries.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                return found
            if len(self._entries) >= self._max_keys:
                return self._overflow
            built = self._build(key)
            self._entries[key] = built
            return built

    def __len__(self) -> int:
        return len(self._entries)
