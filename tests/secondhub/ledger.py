"""Ground truth: what the test did to the hub, counted by the test alone.

Nothing here reads the hub, its database or its audit log. The driver tells the ledger
what it sent and when (the span from sending a request to reading its answer: the hub
acted somewhere inside it); the ledger predicts every job's state and answers what
``/metrics`` must say at a given moment (again a span: the collect happened inside it).
When a prediction depends on where exactly inside a span something happened (a heartbeat
age right at a threshold, an event right at the edge of the 60 s window), the ledger
raises :class:`Ambiguous`: that is a flaw in the test's timing, never a hub result.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["WINDOW_S", "Ambiguous", "Ledger", "Span"]

#: The ``*_rate_1m`` window.
WINDOW_S = 60.0
#: Slack for the layer's own bookkeeping (window buckets, tail polls) at the window's edge.
_EDGE_S = 1.0
#: How late a sweep may come after its interval (the event loop, a busy database).
_SWEEP_MARGIN_S = 0.5


class Ambiguous(Exception):
    """The test's timing left a prediction undecided; fix the test, not the hub."""


@dataclass(frozen=True, slots=True)
class Span:
    """From sending a request (``lo``) to reading its answer (``hi``), epoch seconds."""

    lo: float
    hi: float


@dataclass(slots=True)
class _Job:
    order: int
    max_attempts: int
    state: str = "queued"
    attempts: int = 0
    holder: str | None = None
    lease_end: Span | None = None


@dataclass(slots=True)
class Ledger:
    """The test's own model of the hub.

    Args:
        stale_s: the hub's stale threshold, as the test configured it.
        dead_s: the hub's dead threshold.
        max_attempts: the hub's default number of attempts.
        sweep_s: the hub's sweep interval.
    """

    stale_s: float
    dead_s: float
    max_attempts: int
    sweep_s: float
    beats: dict[str, Span] = field(default_factory=dict)
    jobs: dict[str, _Job] = field(default_factory=dict)
    retries: list[tuple[Span, str]] = field(default_factory=list)
    auth_failures: list[Span] = field(default_factory=list)
    port_mismatches: list[Span] = field(default_factory=list)

    # -- nodes -----------------------------------------------------------------------------

    def beat(self, node: str, span: Span) -> None:
        """A register or heartbeat that the hub accepted."""
        self.beats[node] = span

    def forget(self, node: str) -> None:
        self.beats.pop(node, None)

    # -- jobs ------------------------------------------------------------------------------

    def submitted(self, job_id: str, max_attempts: int | None) -> None:
        self.jobs[job_id] = _Job(len(self.jobs), max_attempts or self.max_attempts)

    def next_claim(self) -> str | None:
        """The job a claim must get: the earliest submitted of those queued."""
        queued = [(job.order, job_id) for job_id, job in self.jobs.items()
                  if job.state == "queued"]
        return min(queued)[1] if queued else None

    def claimed(self, job_id: str, node: str, span: Span, lease_s: float) -> None:
        job = self.jobs[job_id]
        job.state, job.holder = "inflight", node
        job.attempts += 1
        job.lease_end = Span(span.lo + lease_s, span.hi + lease_s)

    def completed(self, job_id: str) -> None:
        job = self.jobs[job_id]
        job.state, job.holder, job.lease_end = "done", None, None

    def failed(self, job_id: str, span: Span) -> str:
        """A fail the hub accepted; returns the state it must answer."""
        return self._give_back(self.jobs[job_id], span, "failed")

    def sweep(self, now: Span) -> list[str]:
        """Every lease the sweeper has certainly given back by ``now.lo``: it ran out more
        than a sweep interval (and a margin) before. Returns the jobs given back."""
        lapsed = []
        for job_id, job in self.jobs.items():
            if job.state != "inflight" or job.lease_end is None:
                continue
            if job.lease_end.hi + self.sweep_s + _SWEEP_MARGIN_S < now.lo:
                self._give_back(job, Span(job.lease_end.lo, now.hi), "lease_expired")
                lapsed.append(job_id)
            elif job.lease_end.lo <= now.hi:
                raise Ambiguous(f"lease of {job_id} ends during {now}")
        return lapsed

    def state(self, job_id: str) -> str:
        return self.jobs[job_id].state

    def holder(self, job_id: str) -> str | None:
        return self.jobs[job_id].holder

    def _give_back(self, job: _Job, span: Span, cause: str) -> str:
        job.holder, job.lease_end = None, None
        if job.attempts < job.max_attempts:
            job.state = "queued"
            self.retries.append((span, cause))
        else:
            job.state = "dead"
        return job.state

    # -- security events -------------------------------------------------------------------

    def auth_failure(self, span: Span) -> None:
        self.auth_failures.append(span)

    def port_mismatch(self, span: Span) -> None:
        self.port_mismatches.append(span)

    # -- what /metrics must say ------------------------------------------------------------

    def control(self, at: Span) -> dict[str, int]:
        """The control plane's JSON values for a collect inside ``at``."""
        states = Counter(self._node_state(node, span, at) for node, span in self.beats.items())
        return {"nodes_online": states["online"], "nodes_stale": states["stale"],
                "nodes_dead": states["dead"],
                "auth_fail_rate_1m": self._in_window(self.auth_failures, at),
                "port_mismatch_rate_1m": self._in_window(self.port_mismatches, at)}

    def data(self, at: Span) -> dict[str, int]:
        """The data plane's JSON values for a collect inside ``at``."""
        for job_id, job in self.jobs.items():
            if job.state == "inflight" and job.lease_end is not None \
                    and job.lease_end.lo <= at.hi:
                raise Ambiguous(f"the lease of {job_id} may have run out during {at}")
        states = Counter(job.state for job in self.jobs.values())
        return {"queue_depth": states["queued"], "inflight_jobs": states["inflight"],
                "retry_rate_1m": self._in_window([span for span, _ in self.retries], at)}

    def retry_totals(self) -> dict[str, int]:
        """Retries by cause since the hub's database was created."""
        totals = Counter(cause for _, cause in self.retries)
        return {"failed": totals["failed"], "lease_expired": totals["lease_expired"]}

    def _node_state(self, node: str, beat: Span, at: Span) -> str:
        youngest, oldest = at.lo - beat.hi, at.hi - beat.lo
        for threshold, name in ((self.dead_s, "dead"), (self.stale_s, "stale")):
            if youngest > threshold:
                return name
            if oldest > threshold:
                raise Ambiguous(f"{node}'s heartbeat age {youngest:.2f}..{oldest:.2f} s"
                                f" straddles {threshold} s")
        return "online"

    @staticmethod
    def _in_window(events: list[Span], at: Span) -> int:
        count = 0
        for span in events:
            if at.hi - span.lo < WINDOW_S - _EDGE_S:
                count += 1
            elif at.lo - span.hi <= WINDOW_S + _EDGE_S:
                raise Ambiguous(f"an event at {span} is at the edge of the window at {at}")
        return count
