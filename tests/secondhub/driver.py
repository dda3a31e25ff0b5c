"""A client of the second hub that writes down, in a :class:`Ledger`, everything it did.

Each method sends one request, checks the answer against what the ledger predicts, and
records it with the span in which the hub acted. :func:`assert_metrics` then compares
``GET /metrics`` with the ledger.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from .harness import TOKEN, SecondHub
from .ledger import Ledger, Span

__all__ = ["Driver", "MetricsMismatch", "assert_counter", "assert_metrics", "wait_until"]

_AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: How long ``/metrics`` may lag the truth: the layer tails the audit log and reads the
#: database on its own schedule.
METRICS_SETTLE_S = 5.0
#: The same, while mismatches are deferred (expected): enough to see a reading, no more.
_DEFERRED_SETTLE_S = 0.3


class MetricsMismatch(AssertionError):
    """``/metrics`` did not reach the ground truth in time (the only failure the tests that
    wait for the otel additions expect)."""


class Driver:
    """Drives ``hub`` and books what it did in ``ledger``."""

    def __init__(self, hub: SecondHub, ledger: Ledger, *, defer_metrics: bool = False) -> None:
        self.hub = hub
        self.ledger = ledger
        self.http = httpx.Client(timeout=10.0)
        #: While otel lacks a piece a test needs, metrics mismatches are collected here and
        #: raised by :meth:`raise_deferred` at the test's end, so that the rest of the test
        #: (the hub, the harness, rotations, restarts) still runs and is still checked.
        self.defer_metrics = defer_metrics
        self.deferred: list[str] = []

    def raise_deferred(self) -> None:
        """Raise the metrics mismatches collected so far, if any."""
        if self.deferred:
            raise MetricsMismatch("\n".join(self.deferred))

    def close(self) -> None:
        self.http.close()

    def call(self, plane: str, method: str, path: str, *, auth: bool = True,
             headers: dict[str, str] | None = None, **kwargs: Any) -> tuple[httpx.Response, Span]:
        sent_headers = {**(_AUTH if auth else {}), **(headers or {})}
        lo = time.time()
        response = self.http.request(method, self.hub.url(plane) + path, headers=sent_headers,
                                     **kwargs)
        return response, Span(lo, time.time())

    # -- control plane -----------------------------------------------------------------------

    def register(self, node: str, **body: Any) -> None:
        response, span = self.call("control", "POST", "/nodes/register",
                                   json={"node_id": node, **body})
        assert (response.status_code, response.json()) == (
            200, {"node_id": node, "status": "online"}), response.text
        self.ledger.beat(node, span)

    def heartbeat(self, node: str) -> None:
        response, span = self.call("control", "POST", f"/nodes/{node}/heartbeat")
        if node in self.ledger.beats:
            assert response.status_code == 200, response.text
            self.ledger.beat(node, span)
        else:
            assert (response.status_code, response.json()) == (404, {"error": "not_found"})

    def delete(self, node: str) -> None:
        response, _ = self.call("control", "DELETE", f"/nodes/{node}")
        assert response.status_code == 204, response.text
        self.ledger.forget(node)

    # -- data plane --------------------------------------------------------------------------

    def submit(self, max_attempts: int | None = None) -> str:
        body: dict[str, Any] = {"kind": "test", "payload": {"n": len(self.ledger.jobs)}}
        if max_attempts is not None:
            body["max_attempts"] = max_attempts
        response, _ = self.call("data", "POST", "/jobs", json=body)
        assert response.status_code == 201, response.text
        job_id: str = response.json()["job_id"]
        self.ledger.submitted(job_id, max_attempts)
        return job_id

    def claim(self, node: str, lease_s: float) -> str | None:
        expected = self.ledger.next_claim()
        response, span = self.call("data", "POST", "/jobs/claim",
                                   json={"node_id": node, "lease_s": lease_s})
        if expected is None:
            assert response.status_code == 204, response.text
            return None
        assert response.status_code == 200, response.text
        job = response.json()["job"]
        assert (job["job_id"], job["state"], job["node_id"]) == (expected, "inflight", node)
        self.ledger.claimed(expected, node, span, lease_s)
        return expected

    def complete(self, job_id: str) -> None:
        node = self.ledger.holder(job_id)
        response, _ = self.call("data", "POST", f"/jobs/{job_id}/complete",
                                json={"node_id": node, "result": {"ok": True}})
        assert (response.status_code, response.json()) == (
            200, {"job_id": job_id, "state": "done"}), response.text
        self.ledger.completed(job_id)

    def fail(self, job_id: str) -> str:
        node = self.ledger.holder(job_id)
        response, span = self.call("data", "POST", f"/jobs/{job_id}/fail",
                                   json={"node_id": node, "error": "boom"})
        expected = self.ledger.failed(job_id, span)
        assert (response.status_code, response.json()) == (
            200, {"job_id": job_id, "state": expected}), response.text
        return expected

    def sweep(self, lease_s: float) -> list[str]:
        """Wait out ``lease_s`` and a few sweeps; check that the hub gave back the jobs the
        ledger says it must have."""
        time.sleep(lease_s + 3 * self.hub.knobs.sweep_s + 0.6)
        lapsed = self.ledger.sweep(Span(time.time(), time.time()))
        for job_id in lapsed:
            response, _ = self.call("data", "GET", f"/jobs/{job_id}")
            assert response.json()["state"] == self.ledger.state(job_id), response.text
        return lapsed

    # -- security events ---------------------------------------------------------------------

    def no_token(self, plane: str, method: str = "GET", path: str | None = None) -> None:
        self._refused(plane, method, path, {})

    def bad_token(self, plane: str, method: str = "GET", path: str | None = None) -> None:
        self._refused(plane, method, path, {"Authorization": "Bearer wrong-token-0123456789"})

    def wrong_port(self, plane: str) -> None:
        """A route of the other plane, on ``plane``'s port (no token: 421 comes first)."""
        method, path = ("POST", "/jobs") if plane == "control" else ("GET", "/nodes")
        response, span = self.call(plane, method, path, auth=False)
        other = "data" if plane == "control" else "control"
        assert (response.status_code, response.json()) == (
            421, {"error": "port_mismatch", "expected_port": self.hub.ports[other]})
        self.ledger.port_mismatch(span)

    def _refused(self, plane: str, method: str, path: str | None,
                 headers: dict[str, str]) -> None:
        path = path or ("/nodes" if plane == "control" else "/jobs/x")
        response, span = self.call(plane, method, path, auth=False, headers=headers)
        assert (response.status_code, response.json()) == (401, {"error": "unauthorized"})
        self.ledger.auth_failure(span)

    # -- metrics -----------------------------------------------------------------------------

    def metrics(self, plane: str, **params: str) -> tuple[httpx.Response, Span]:
        return self.call(plane, "GET", "/metrics", auth=False, params=params)


def assert_metrics(driver: Driver, plane: str, keys: Iterable[str] | None = None,
                   settle_s: float = METRICS_SETTLE_S) -> None:
    """``GET /metrics`` (JSON) on ``plane`` reaches the ledger's values within ``settle_s``.

    Args:
        keys: compare only these keys (default: all the plane's keys).

    Raises:
        MetricsMismatch: with the last reading and the truth, when it never matched (unless
            the driver defers mismatches: then it is recorded, see ``Driver.defer_metrics``).
    """
    truth_of = driver.ledger.control if plane == "control" else driver.ledger.data
    deadline = time.monotonic() + (min(settle_s, _DEFERRED_SETTLE_S) if driver.defer_metrics
                                   else settle_s)
    while True:
        response, span = driver.metrics(plane)
        assert response.status_code == 200, response.text
        truth = truth_of(span)
        wanted = list(truth) if keys is None else list(keys)
        seen = {key: response.json().get(key) for key in wanted}
        expected = {key: truth[key] for key in wanted}
        if seen == expected:
            return
        if time.monotonic() > deadline:
            _mismatch(driver, f"{plane} /metrics {seen} != ground truth {expected}")
            return
        time.sleep(0.2)


def assert_counter(driver: Driver, plane: str, name: str, label: str,
                   expected: Mapping[str, int], settle_s: float = METRICS_SETTLE_S) -> None:
    """The Prometheus counter ``name`` on ``plane`` has, by the value of ``label``, the
    ``expected`` totals (other label values of it are ignored) within ``settle_s``.

    Raises:
        MetricsMismatch: with the last reading (or recorded, as for :func:`assert_metrics`).
    """
    sample = re.compile(rf"^{re.escape(name)}\{{(.*)\}} (\S+)$", re.MULTILINE)
    deadline = time.monotonic() + (min(settle_s, _DEFERRED_SETTLE_S) if driver.defer_metrics
                                   else settle_s)
    while True:
        response, _ = driver.metrics(plane, format="prometheus")
        assert response.status_code == 200, response.text
        seen: dict[str, int] = {}
        for labels, value in sample.findall(response.text):
            found = dict(re.findall(r'(\w+)="([^"]*)"', labels)).get(label)
            if found is not None and found in expected:
                seen[found] = seen.get(found, 0) + int(float(value))
        if seen == dict(expected):
            return
        if time.monotonic() > deadline:
            _mismatch(driver, f"{plane} {name} by {label}: {seen} != ground truth "
                              f"{dict(expected)}")
            return
        time.sleep(0.2)


def _mismatch(driver: Driver, message: str) -> None:
    if not driver.defer_metrics:
        raise MetricsMismatch(message)
    driver.deferred.append(message)


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    """Poll ``condition`` every 50 ms for at most ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
