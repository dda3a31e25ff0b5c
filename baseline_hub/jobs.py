"""The job queue: submit, claim with a lease, complete, fail, retry and dead-letter."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from . import db, retries
from .observer import RetryCause
from .retries import PastRetry
from .timefmt import iso

JobState = Literal["queued", "inflight", "done", "dead"]
_STATES: tuple[JobState, ...] = ("queued", "inflight", "done", "dead")


# A settle (complete or fail) applies only to an inflight job held by that node whose lease
# has not run out: the lease is a deadline, whether or not the sweeper has run since.
# Parameters: job_id, node_id, now.
_HELD = "job_id=? AND state='inflight' AND node_id=? AND lease_expires_at >= ?"
# A job given back (by a fail or an expired lease) is requeued while it has attempts left,
# else dead-lettered; either way nobody holds it any more.
_GIVE_BACK = ("state=CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'dead' END,"
              " node_id=NULL, lease_expires_at=NULL")


class JobNotFound(LookupError):
    pass


class JobConflict(Exception):
    """The job is not in a state that allows the operation, or another node holds it."""

    def __init__(self, error: str, state: str) -> None:
        super().__init__(error)
        self.error = error
        self.state = state


@dataclass(frozen=True, slots=True)
class Retry:
    """A job sent back to the queue (or dead-lettered when out of attempts)."""

    job_id: str
    cause: RetryCause
    state: JobState


def _job_json(row: sqlite3.Row) -> dict[str, Any]:
    lease = row["lease_expires_at"]
    return {
        "job_id": row["job_id"],
        "kind": row["kind"],
        "payload": json.loads(row["payload"]),
        "state": row["state"],
        "attempts": row["attempts"],
        "max_attempts": row["max_attempts"],
        "node_id": row["node_id"],
        "lease_expires_at": iso(lease) if lease is not None else None,
        "result": json.loads(row["result"]) if row["result"] is not None else None,
        "last_error": row["last_error"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


class JobQueue:
    """Jobs in SQLite with in-memory per-state counters.

    The counters mirror the table (this process is its only writer), so queue metrics never
    scan it. ``counts()`` may be called from an exporter thread, hence the lock.

    Every requeue (a retry) also adds a row to the ``retries`` table in the same transaction,
    so the store knows the retries of the last ``retry_history_s`` after a restart. A
    dead-letter is not a retry and adds none.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        default_lease_s: float,
        default_max_attempts: int,
        clock: Callable[[], float],
        retry_history_s: float = retries.RETRY_HISTORY_S,
    ) -> None:
        if not retry_history_s > 0:
            raise ValueError(f"retry_history_s must be positive, got {retry_history_s!r}")
        self._conn = conn
        self._retry_history_s = retry_history_s
        self._default_lease_s = default_lease_s
        self._default_max_attempts = default_max_attempts
        self._clock = clock
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(_STATES, 0)
        for row in conn.execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state"):
            self._counts[row["state"]] = row["n"]

    def submit(self, kind: str, payload: dict[str, Any], max_attempts: int | None) -> str:
        now = self._clock()
        job_id = uuid.uuid4().hex
        attempts = self._default_max_attempts if max_attempts is None else max_attempts
        self._conn.execute(
            "INSERT INTO jobs(job_id, kind, payload, state, max_attempts, created_at, updated_at)"
            " VALUES (?, ?, ?, 'queued', ?, ?, ?)",
            (job_id, kind, db.dump_json(payload), attempts, now, now),
        )
        self._move(None, "queued")
        return job_id

    def claim(self, node_id: str, lease_s: float | None) -> dict[str, Any] | None:
        """Lease the oldest queued job to ``node_id``, or return None when the queue is empty."""
        now = self._clock()
        lease = self._default_lease_s if lease_s is None else lease_s
        row = self._conn.execute(
            "UPDATE jobs SET state='inflight', node_id=?, attempts=attempts+1,"
            " lease_expires_at=?, updated_at=?"
            " WHERE seq=(SELECT seq FROM jobs WHERE state='queued' ORDER BY seq LIMIT 1)"
            " RETURNING *",
            (node_id, now + lease, now),
        ).fetchone()
        if row is None:
            return None
        self._move("queued", "inflight")
        return _job_json(row)

    def complete(self, job_id: str, node_id: str, result: dict[str, Any] | None) -> JobState:
        """Mark the job done. Returns its new state.

        Raises:
            JobNotFound: no such job.
            JobConflict: not inflight, leased to another node, or its lease ran out.
        """
        stored = db.dump_json(result) if result is not None else None
        return self._settle(job_id, node_id, "state='done', result=?, lease_expires_at=NULL",
                            stored)

    def fail(self, job_id: str, node_id: str, error: str) -> Retry:
        """Requeue the job if it has attempts left, else dead-letter it.

        Raises:
            JobNotFound: no such job.
            JobConflict: not inflight, leased to another node, or its lease ran out.
        """
        state = self._settle(job_id, node_id, f"{_GIVE_BACK}, last_error=?", error,
                             retry_cause="failed")
        return Retry(job_id, "failed", state)

    def expire_leases(self) -> list[Retry]:
        """Requeue (or dead-letter) every inflight job whose lease has run out."""
        now = self._clock()
        with db.transaction(self._conn):
            rows = self._conn.execute(
                f"UPDATE jobs SET {_GIVE_BACK}, last_error='lease expired', updated_at=?"
                " WHERE state='inflight' AND lease_expires_at < ? RETURNING job_id, state",
                (now, now),
            ).fetchall()
            given_back = [Retry(row["job_id"], "lease_expired", row["state"]) for row in rows]
            requeued = sum(1 for retry in given_back if retry.state == "queued")
            if requeued:
                retries.record(self._conn, "lease_expired", now, requeued)
        for retry in given_back:
            self._move("inflight", retry.state)
        return given_back

    def prune_retries(self) -> int:
        """Drop retry rows older than the history; returns how many went (the sweeper's)."""
        return retries.prune(self._conn, self._clock() - self._retry_history_s)

    def retries_since(self, start: float) -> list[PastRetry]:
        """The recorded retries at or after ``start`` (epoch seconds), oldest first."""
        return retries.since(self._conn, start)

    def get(self, job_id: str) -> dict[str, Any]:
        row = self._conn.execute("SELECT * FROM jobs WHERE job_id=?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(job_id)
        return _job_json(row)

    def counts(self) -> dict[str, int]:
        """``{"queued", "inflight"}`` from the in-memory counters."""
        with self._lock:
            return {"queued": self._counts["queued"], "inflight": self._counts["inflight"]}

    def _settle(self, job_id: str, node_id: str, assignments: str, value: str | None,
                *, retry_cause: RetryCause | None = None) -> JobState:
        """Apply ``assignments`` (one ``?``, bound to ``value``) to a job ``node_id`` holds.

        With ``retry_cause``, a job that ends up ``queued`` is recorded as a retry in the same
        transaction. Returns the job's new state, or raises why the job is not held.
        """
        now = self._clock()
        together = db.transaction(self._conn) if retry_cause else contextlib.nullcontext()
        with together:
            row = self._conn.execute(
                f"UPDATE jobs SET {assignments}, updated_at=? WHERE {_HELD} RETURNING state",
                (value, now, job_id, node_id, now),
            ).fetchone()
            if row is None:
                raise self._refusal(job_id, node_id, now)
            state: JobState = row["state"]
            if retry_cause is not None and state == "queued":
                retries.record(self._conn, retry_cause, now)
        self._move("inflight", state)
        return state

    def _refusal(self, job_id: str, node_id: str, now: float) -> Exception:
        """Why a guarded settle matched no row (read only then, off the success path)."""
        row = self._conn.execute(
            "SELECT state, node_id, lease_expires_at FROM jobs WHERE job_id=?", (job_id,)
        ).fetchone()
        if row is None:
            return JobNotFound(job_id)
        if row["state"] != "inflight":
            return JobConflict("invalid_state", row["state"])
        if row["node_id"] != node_id:
            return JobConflict("not_lease_holder", row["state"])
        return JobConflict("lease_expired", row["state"])

    def _move(self, old: JobState | None, new: JobState) -> None:
        with self._lock:
            if old is not None:
                self._counts[old] -= 1
            self._counts[new] += 1
