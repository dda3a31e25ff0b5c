"""The control plane's state: the workers (nodes, in the API) and their heartbeats."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from .store import dump, rfc3339

__all__ = ["WorkerBook"]


class WorkerBook:
    """Registers workers, records their beats and lists them with a status from beat age.

    Args:
        conn: the shared database.
        stale_s: beat age above which a worker is ``stale``.
        dead_s: beat age above which a worker is ``dead``.
        clock: epoch seconds.
    """

    def __init__(self, conn: sqlite3.Connection, *, stale_s: float, dead_s: float,
                 clock: Callable[[], float]) -> None:
        self._conn = conn
        self._stale_s = stale_s
        self._dead_s = dead_s
        self._clock = clock

    def join(self, worker_id: str, label: str | None, info: dict[str, Any]) -> None:
        """Register ``worker_id``, or refresh it; either way it has just beaten."""
        now = self._clock()
        self._conn.execute(
            "INSERT INTO workers (id, label, info, joined_epoch, last_beat_epoch)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
            " label = excluded.label, info = excluded.info,"
            " last_beat_epoch = excluded.last_beat_epoch",
            (worker_id, label, dump(info), now, now),
        )

    def beat(self, worker_id: str) -> bool:
        """Record a heartbeat; False for a worker nobody registered."""
        cursor = self._conn.execute("UPDATE workers SET last_beat_epoch = ? WHERE id = ?",
                                    (self._clock(), worker_id))
        return cursor.rowcount == 1

    def leave(self, worker_id: str) -> None:
        self._conn.execute("DELETE FROM workers WHERE id = ?", (worker_id,))

    def roster(self) -> list[dict[str, Any]]:
        """Every worker, in the order they first registered."""
        now = self._clock()
        rows = self._conn.execute(
            "SELECT id, label, info, joined_epoch, last_beat_epoch FROM workers ORDER BY rowid")
        return [{
            "node_id": row["id"],
            "name": row["label"],
            "status": self._status(now - row["last_beat_epoch"]),
            "last_seen": rfc3339(row["last_beat_epoch"]),
            "registered_at": rfc3339(row["joined_epoch"]),
            "meta": json.loads(row["info"]),
        } for row in rows]

    def _status(self, age_s: float) -> str:
        if age_s > self._dead_s:
            return "dead"
        if age_s > self._stale_s:
            return "stale"
        return "online"
