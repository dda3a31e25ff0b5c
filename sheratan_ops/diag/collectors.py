"""The collectors: each gathers one part of the bundle, returns data or a recorded error.

A collector never raises into the run: :func:`run_collectors` runs them side by side in
daemon threads with a deadline, and turns an exception or an overrun into a recorded error
plus a placeholder for each member it owed, so one failure never stops the others and the
bundle always has every CONTRACT member.

Structured sources keep only allow-listed fields (redaction layer 1); what they drop is
counted in ``Output.dropped_fields``. Later layers run on the members afterwards, still
inside each collector's isolation (:mod:`.finish`).

The collectors that read the home's files live in :mod:`.files` and :mod:`.registry`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from otel import Plane, json_keys

from .config import DiagConfig, Endpoint, iso_utc
from .files import collect_log, collect_watcher_status
from .hubdb import query_job_states, query_last_seen, read_db
from .output import ERROR, OFFLINE, Member, Output, describe_error
from .probe import ProbeError, get_json
from .registry import collect_registry

__all__ = ["Collector", "Member", "Output", "Result", "build_collectors", "run_collectors"]

_HEALTH_KEYS = ("plane", "status", "version")


@dataclass(frozen=True, slots=True)
class Collector:
    """A named collector and the members it always produces (placeholders on failure)."""

    name: str
    members: tuple[str, ...]
    fn: Callable[[], Output]


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    output: Output
    duration_s: float


def run_collectors(collectors: Sequence[Collector], *, deadline_s: float,
                   clock: Callable[[], float] = time.perf_counter) -> list[Result]:
    """Run every collector concurrently; return their results in the given order.

    A collector still running at the deadline is recorded as timed out; its daemon thread
    cannot hold the process open, and its late result is ignored.
    """
    results: dict[str, Result] = {}
    lock = threading.Lock()  # guards ``results`` against a late finisher

    def work(collector: Collector) -> None:
        start = clock()
        try:
            output = collector.fn()
        except Exception as exc:  # a collector's bug must not cost the other members
            output = _failed(collector, describe_error(exc))
        elapsed = clock() - start
        with lock:
            results.setdefault(collector.name, Result(collector.name, output, elapsed))

    threads = [threading.Thread(target=work, args=(c,), name=f"diag-{c.name}", daemon=True)
               for c in collectors]
    started = clock()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline_s - (clock() - started)))
    with lock:
        for collector in collectors:
            results.setdefault(collector.name, Result(
                collector.name, _failed(collector, f"timed out after {deadline_s:g} s"),
                deadline_s))
        return [results[c.name] for c in collectors]


def _failed(collector: Collector, error: str) -> Output:
    placeholder = {"collector": collector.name, "error": error}
    return Output({name: (dict(placeholder) if name.endswith(".json") else b"")
                   for name in collector.members}, ERROR, error)


def build_collectors(config: DiagConfig, env: Mapping[str, str]) -> list[Collector]:
    """Every collector of one run, bound to its configuration."""
    collectors = [
        Collector("env_keys", ("env_keys.txt",), lambda: collect_env_keys(env)),
        Collector("registry", ("registry.json",), lambda: collect_registry(config)),
        Collector("watcher_status", (),
                  lambda: collect_watcher_status(config.paths.watcher_status, config.home)),
    ]
    for endpoint in (config.control, config.data):
        collectors.append(Collector(f"health_{endpoint.plane}", (f"health/{endpoint.plane}.json",),
                                    partial(collect_health, endpoint, config)))
        collectors.append(Collector(f"metrics_{endpoint.plane}",
                                    (f"metrics/{endpoint.plane}.json",),
                                    partial(collect_metrics, endpoint, config)))
    for member, path in config.paths.logs.items():
        name = "log_" + Path(member).stem
        collectors.append(Collector(name, (member,),
                                    partial(collect_log, member, path, config.lines)))
    return collectors


def collect_env_keys(env: Mapping[str, str]) -> Output:
    """The sorted variable names, one a line. Values are never read."""
    names = sorted(env)
    return Output({"env_keys.txt": "".join(f"{name}\n" for name in names).encode("utf-8")},
                  detail={"count": len(names)})


def collect_health(endpoint: Endpoint, config: DiagConfig) -> Output:
    """``GET /health`` on one plane; allow-listed to status, plane and version."""
    member = f"health/{endpoint.plane}.json"
    try:
        answer = get_json(endpoint, "/health", timeout_s=config.timeout_s)
    except ProbeError as exc:
        return Output({member: {"plane": endpoint.plane, "reachable": False,
                                "error": str(exc)}}, "error", str(exc))
    body, dropped = _allow(answer.body, _HEALTH_KEYS)
    doc: dict[str, Any] = {"plane": endpoint.plane, "reachable": True,
                           "http_status": answer.status, "health": body}
    if answer.status != 200 or body is None:
        error = f"HTTP {answer.status}" + ("" if body is not None else ", not a JSON object")
        doc["error"] = error
        return Output({member: doc}, "error", error, dropped_fields=dropped)
    return Output({member: doc}, dropped_fields=dropped)


def collect_metrics(endpoint: Endpoint, config: DiagConfig) -> Output:
    """The live JSON ``/metrics`` reading, else an offline one computed from ``hub.db``."""
    member = f"metrics/{endpoint.plane}.json"
    keys = ("plane", "generated_at", *json_keys(Plane(endpoint.plane)))
    try:
        answer = get_json(endpoint, "/metrics?format=json", timeout_s=config.timeout_s)
        live_error = None if answer.status == 200 else f"HTTP {answer.status}"
    except ProbeError as exc:
        answer, live_error = None, str(exc)
    if answer is not None and live_error is None:
        reading, dropped = _allow(answer.body, keys)
        if reading is not None:
            return Output({member: {"plane": endpoint.plane, "source": "live",
                                    "http_status": 200, "reading": reading}},
                          dropped_fields=dropped)
        live_error = "HTTP 200, not a JSON object"
    doc: dict[str, Any] = {"plane": endpoint.plane, "source": "offline", "offline": True,
                           "live_error": live_error}
    try:
        doc.update(_offline_reading(endpoint.plane, config))
    except Exception as exc:  # sqlite3.Error, OSError: recorded, the bundle goes on
        offline_error = describe_error(exc)
        doc.update(source="none", offline_error=offline_error)
        return Output({member: doc}, ERROR, f"live: {live_error}; offline: {offline_error}")
    return Output({member: doc}, OFFLINE, f"live: {live_error}")


def _offline_reading(plane: str, config: DiagConfig) -> dict[str, Any]:
    """Node or queue gauges from ``hub.db`` as of the run's timestamp; rates need the hub."""
    if plane == "control":
        seen = read_db(config.paths.db, query_last_seen, timeout_s=config.timeout_s)
        counts = dict.fromkeys(("online", "stale", "dead"), 0)
        for last_seen in seen.value:
            status = config.node_status(last_seen)
            if status in counts:  # a row without a usable heartbeat time is not counted
                counts[status] += 1
        reading: dict[str, Any] = {f"nodes_{state}": n for state, n in counts.items()}
        unavailable = ["auth_fail_rate_1m", "port_mismatch_rate_1m"]
        open_mode = seen.open_mode
    else:
        states = read_db(config.paths.db, query_job_states, timeout_s=config.timeout_s)
        reading = {"queue_depth": states.value.get("queued", 0),
                   "inflight_jobs": states.value.get("inflight", 0),
                   "jobs_by_state": states.value}
        unavailable = ["retry_rate_1m"]
        open_mode = states.open_mode
    reading.update(dict.fromkeys(unavailable))
    return {"as_of": iso_utc(config.epoch_s), "db_open": open_mode, "reading": reading,
            "note": "computed from hub.db read-only; *_rate_1m needs the live hub (null)"}


def _allow(body: object, keys: Sequence[str]) -> tuple[dict[str, Any] | None, int]:
    if not isinstance(body, dict):
        return None, 0
    kept = {k: body[k] for k in keys if k in body}
    return kept, len(body) - len(kept)
