"""The node registry: registration, heartbeats and status computed from heartbeat age."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sortedcontainers import SortedList  # type: ignore[import-untyped]

from . import db
from .timefmt import iso

NodeStatus = Literal["online", "stale", "dead"]


def node_status(age_s: float, stale_s: float, dead_s: float) -> NodeStatus:
    """A node is stale when its heartbeat age exceeds ``stale_s``, dead beyond ``dead_s``."""
    if age_s > dead_s:
        return "dead"
    if age_s > stale_s:
        return "stale"
    return "online"


@dataclass(frozen=True, slots=True)
class Node:
    node_id: str
    name: str | None
    meta: dict[str, Any]
    registered_at: float
    last_seen: float

    def to_json(self, status: NodeStatus) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "name": self.name,
            "status": status,
            "last_seen": iso(self.last_seen),
            "registered_at": iso(self.registered_at),
            "meta": self.meta,
        }


class NodeRegistry:
    """Nodes in SQLite, plus an in-memory sorted index of heartbeat times.

    The index answers ``counts()`` in O(log n) without touching the database, so a metrics
    scrape costs the same at 100 nodes as at 100,000. ``counts()`` may be called from an
    exporter thread, hence the lock around the index; writes happen on the event loop.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        stale_s: float,
        dead_s: float,
        clock: Callable[[], float],
    ) -> None:
        self._conn = conn
        self._stale_s = stale_s
        self._dead_s = dead_s
        self._clock = clock
        self._lock = threading.Lock()
        rows = conn.execute("SELECT node_id, last_seen FROM nodes").fetchall()
        self._last_seen: dict[str, float] = {row["node_id"]: row["last_seen"] for row in rows}
        self._by_time = SortedList(self._last_seen.values())

    def register(self, node_id: str, name: str | None, meta: dict[str, Any]) -> NodeStatus:
        now = self._clock()
        self._conn.execute(
            "INSERT INTO nodes(node_id, name, meta, registered_at, last_seen)"
            " VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(node_id) DO UPDATE SET"
            " name=excluded.name, meta=excluded.meta, last_seen=excluded.last_seen",
            (node_id, name, db.dump_json(meta), now, now),
        )
        self._index(node_id, now)
        return "online"

    def heartbeat(self, node_id: str) -> bool:
        """Record a heartbeat. Returns False for an unknown node."""
        now = self._clock()
        cur = self._conn.execute("UPDATE nodes SET last_seen=? WHERE node_id=?", (now, node_id))
        if cur.rowcount == 0:
            return False
        self._index(node_id, now)
        return True

    def delete(self, node_id: str) -> None:
        self._conn.execute("DELETE FROM nodes WHERE node_id=?", (node_id,))
        with self._lock:
            old = self._last_seen.pop(node_id, None)
            if old is not None:
                self._by_time.remove(old)

    def list(self) -> list[dict[str, Any]]:
        now = self._clock()
        rows = self._conn.execute(
            "SELECT node_id, name, meta, registered_at, last_seen FROM nodes ORDER BY node_id"
        ).fetchall()
        out = []
        for row in rows:
            node = Node(row["node_id"], row["name"], json.loads(row["meta"]),
                        row["registered_at"], row["last_seen"])
            out.append(node.to_json(node_status(now - node.last_seen, self._stale_s, self._dead_s)))
        return out

    def counts(self) -> dict[str, int]:
        """``{"online", "stale", "dead"}`` counts from the in-memory index."""
        now = self._clock()
        with self._lock:
            total = len(self._by_time)
            # age > dead_s  <=>  last_seen < now - dead_s
            dead = self._by_time.bisect_left(now - self._dead_s)
            not_online = self._by_time.bisect_left(now - self._stale_s)
        return {"online": total - not_online, "stale": not_online - dead, "dead": dead}

    def _index(self, node_id: str, last_seen: float) -> None:
        with self._lock:
            old = self._last_seen.get(node_id)
            if old is not None:
                self._by_time.remove(old)
            self._last_seen[node_id] = last_seen
            self._by_time.add(last_seen)
