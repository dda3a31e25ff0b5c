"""The hub's instruments, named exactly as in CONTRACT section 3, and their JSON keys.

This module is the single source of the names, kinds, units and attribute keys. The
renderers and the tests read them from here instead of repeating string literals.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "AUTH_FAILURES",
    "AUTH_FAILURE_RATE",
    "HTTP_DURATION",
    "INSTRUMENTS",
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
    "LabelBuilder",
    "Plane",
    "json_keys",
    "memoized_labels",
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
    """Name, unit and help text of one instrument, as the CONTRACT fixes them.

    Attributes:
        max_label_sets: the SDK's cardinality limit for the instrument (a View's
            ``aggregation_cardinality_limit``): past this many distinct label sets, every
            new one is counted in one ``otel.metric.overflow=true`` series. None for the
            SDK's default (2,000), for instruments whose labels are fixed.
    """

    name: str
    unit: str
    description: str
    max_label_sets: int | None = None


# Control plane (meter sheratan.hub.control).
NODES = InstrumentSpec("hub.nodes", "{node}", "Registered nodes by heartbeat state.")
# The bounds are far above what a hub produces; they hold when a caller passes values that
# are not (a foreign audit log's reasons, a hub that records raw paths as routes).
_EVENT_LABEL_SETS = 64
AUTH_FAILURES = InstrumentSpec(
    "hub.auth.failures", "{failure}", "Requests rejected for a missing or invalid token.",
    max_label_sets=_EVENT_LABEL_SETS,
)
AUTH_FAILURE_RATE = InstrumentSpec(
    "hub.auth.failure_rate_1m",
    "{failure}/min",
    "Auth failures in the trailing 60 s, counted over both ports.",
)
PORT_MISMATCHES = InstrumentSpec(
    "hub.port.mismatches", "{request}", "Requests for a route of the other plane (HTTP 421).",
    max_label_sets=_EVENT_LABEL_SETS,
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
    "hub.jobs.retries", "{retry}", "Jobs requeued after a failure or an expired lease.",
    max_label_sets=_EVENT_LABEL_SETS,
)
JOB_RETRY_RATE = InstrumentSpec(
    "hub.jobs.retry_rate_1m", "{retry}/min", "Job retries in the trailing 60 s."
)

# Both planes, one per meter.
HTTP_DURATION = InstrumentSpec(
    "http.server.request.duration", "s", "Duration of HTTP server requests.",
    max_label_sets=1024,
)

#: Every instrument of both planes.
INSTRUMENTS: tuple[InstrumentSpec, ...] = (
    NODES, AUTH_FAILURES, AUTH_FAILURE_RATE, PORT_MISMATCHES, PORT_MISMATCH_RATE,
    QUEUE_DEPTH, JOBS_INFLIGHT, JOB_RETRIES, JOB_RETRY_RATE, HTTP_DURATION,
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


#: Builds one measurement's attributes from its raw values (method, route, ...).
LabelBuilder = Callable[[tuple[object, ...]], dict[str, str | int]]
# The memo of an instrument with the SDK's default limit.
_DEFAULT_MEMO = 256


def memoized_labels(build: LabelBuilder, instrument: InstrumentSpec) -> LabelBuilder:
    """``build`` with the dicts it returns kept for reuse (LRU, as many as ``instrument``
    may have series); callers must not mutate them.

    One dict per key saves an allocation per measurement, and ``build`` (which redacts
    every value) runs once per key instead of once per measurement. The bound on series is
    the SDK's (:attr:`InstrumentSpec.max_label_sets`); this bound only keeps the memo's
    memory flat when a caller passes unbounded values. Past it, a new key costs one
    ``build`` call. The mapping of unknown routes and methods to fixed labels, which keeps
    a scanner from using the series up, is hub_middleware's, before a value gets here.

    Thread-safety: ``functools.lru_cache`` is; two threads missing the same key at once
    may both build it, which is harmless.
    """
    return functools.lru_cache(maxsize=instrument.max_label_sets or _DEFAULT_MEMO)(build)
