"""The data plane's state: tasks (jobs, in the API), leases, retries and the sweeper."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable
from typing import Any

from .store import dump, rfc3339, transaction

__all__ = ["TaskBoard", "TaskRefused", "sweep_forever"]

_log = logging.getLogger(__name__)

#: Our statuses as the API names them.
PUBLIC_STATE = {"waiting": "queued", "running": "inflight", "ok": "done",
                "failed_final": "dead"}


class TaskRefused(Exception):
    """A complete or fail the task's state does not allow.

    Attributes:
        error: ``not_found``, ``invalid_state``, ``not_lease_holder`` or ``lease_expired``.
        state: the task's public state (None for ``not_found``).
    """

    def __init__(self, error: str, state: str | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.state = state


class TaskBoard:
    """Tasks in the shared database.

    Args:
        conn: the shared database.
        lease_s: the default lease.
        max_tries: the default number of claims before a task is failed for good.
        clock: epoch seconds.
        new_id: makes a task's uuid.
    """

    def __init__(self, conn: sqlite3.Connection, *, lease_s: float, max_tries: int,
                 clock: Callable[[], float], new_id: Callable[[], str]) -> None:
        self._conn = conn
        self._lease_s = lease_s
        self._max_tries = max_tries
        self._clock = clock
        self._new_id = new_id

    def post(self, kind: str, body: dict[str, Any], max_tries: int | None) -> str:
        now = self._clock()
        uuid = self._new_id()
        self._conn.execute(
            "INSERT INTO tasks (uuid, kind, body, status, max_tries, created_epoch,"
            " changed_epoch) VALUES (?, ?, ?, 'waiting', ?, ?, ?)",
            (uuid, kind, dump(body), max_tries or self._max_tries, now, now))
        return uuid

    def take(self, holder: str, lease_s: float | None) -> dict[str, Any] | None:
        """Lease the oldest waiting task to ``holder``; None when nothing waits."""
        now = self._clock()
        row = self._conn.execute(
            "UPDATE tasks SET status = 'running', holder = ?, tries = tries + 1,"
            " lease_until = ?, changed_epoch = ?"
            " WHERE rowid = (SELECT rowid FROM tasks WHERE status = 'waiting'"
            "                ORDER BY rowid LIMIT 1) RETURNING *",
            (holder, now + (lease_s or self._lease_s), now)).fetchone()
        return None if row is None else _public(row)

    def finish(self, uuid: str, holder: str, outcome: dict[str, Any] | None) -> str:
        """Mark a held task done. Returns its public state.

        Raises:
            TaskRefused: the task is unknown, not running, held by another, or its lease ran out.
        """
        with transaction(self._conn):
            self._held(uuid, holder)
            self._conn.execute(
                "UPDATE tasks SET status = 'ok', outcome = ?, lease_until = NULL,"
                " changed_epoch = ? WHERE uuid = ?",
                (None if outcome is None else dump(outcome), self._clock(), uuid))
        return "done"

    def fail(self, uuid: str, holder: str, error: str) -> str:
        """Give a held task back: requeued while tries are left, else failed for good.

        Raises:
            TaskRefused: as for :meth:`finish`.
        """
        with transaction(self._conn):
            tries, max_tries = self._held(uuid, holder)
            status = self._give_back(uuid, tries < max_tries, "failed", error)
        return PUBLIC_STATE[status]

    def sweep(self) -> int:
        """Give back every running task whose lease has run out. Returns how many."""
        now = self._clock()
        with transaction(self._conn):
            lapsed = self._conn.execute(
                "SELECT uuid, tries, max_tries FROM tasks"
                " WHERE status = 'running' AND lease_until < ? ORDER BY rowid", (now,)).fetchall()
            for row in lapsed:
                self._give_back(row["uuid"], row["tries"] < row["max_tries"], "lease_expired",
                                "lease expired")
        return len(lapsed)

    def get(self, uuid: str) -> dict[str, Any] | None:
        row = self._conn.execute("SELECT * FROM tasks WHERE uuid = ?", (uuid,)).fetchone()
        return None if row is None else _public(row)

    def _held(self, uuid: str, holder: str) -> tuple[int, int]:
        """Inside a transaction: (tries, max_tries) of a task ``holder`` may settle."""
        row = self._conn.execute(
            "SELECT status, holder, lease_until, tries, max_tries FROM tasks WHERE uuid = ?",
            (uuid,)).fetchone()
        if row is None:
            raise TaskRefused("not_found")
        state = PUBLIC_STATE[row["status"]]
        if row["status"] != "running":
            raise TaskRefused("invalid_state", state)
        if row["holder"] != holder:
            raise TaskRefused("not_lease_holder", state)
        if row["lease_until"] < self._clock():
            raise TaskRefused("lease_expired", state)
        return int(row["tries"]), int(row["max_tries"])

    def _give_back(self, uuid: str, requeue: bool, why: str, error: str) -> str:
        """Inside a transaction: requeue (one retry, logged) or fail for good."""
        now = self._clock()
        status = "waiting" if requeue else "failed_final"
        self._conn.execute(
            "UPDATE tasks SET status = ?, holder = NULL, lease_until = NULL, last_error = ?,"
            " changed_epoch = ? WHERE uuid = ?", (status, error, now, uuid))
        if requeue:
            self._conn.execute("INSERT INTO retry_log (ts, why) VALUES (?, ?)", (now, why))
            self._conn.execute("UPDATE retry_counts SET total = total + 1 WHERE why = ?", (why,))
        return status


async def sweep_forever(board: TaskBoard, interval_s: float) -> None:
    """The lease sweeper: runs on the data process's event loop until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            board.sweep()
        except sqlite3.Error:
            # A busy or locked database this round; the next round retries.
            _log.warning("lease sweep failed", exc_info=True)


def _public(row: sqlite3.Row) -> dict[str, Any]:
    lease = row["lease_until"]
    return {
        "job_id": row["uuid"],
        "kind": row["kind"],
        "payload": json.loads(row["body"]),
        "state": PUBLIC_STATE[row["status"]],
        "attempts": row["tries"],
        "max_attempts": row["max_tries"],
        "node_id": row["holder"],
        "lease_expires_at": None if lease is None else rfc3339(lease),
        "result": None if row["outcome"] is None else json.loads(row["outcome"]),
        "last_error": row["last_error"],
        "created_at": rfc3339(row["created_epoch"]),
        "updated_at": rfc3339(row["changed_epoch"]),
    }
