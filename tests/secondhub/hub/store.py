"""The SQLite file both processes share: schema, connection, time format.

Both processes open the same file; WAL mode lets the data process write while the control
process (and any read-only reader) reads. Every write that spans statements runs in one
``BEGIN IMMEDIATE`` transaction, so a requeue and its ``retry_log`` row land together.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["connect", "dump", "rfc3339", "transaction"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS workers (
    id              TEXT PRIMARY KEY,
    label           TEXT,
    info            TEXT NOT NULL DEFAULT '{}',
    joined_epoch    REAL NOT NULL,
    last_beat_epoch REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    uuid          TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    body          TEXT NOT NULL,
    status        TEXT NOT NULL
                  CHECK (status IN ('waiting', 'running', 'ok', 'failed_final')),
    tries         INTEGER NOT NULL DEFAULT 0,
    max_tries     INTEGER NOT NULL,
    holder        TEXT,
    lease_until   REAL,
    outcome       TEXT,
    last_error    TEXT,
    created_epoch REAL NOT NULL,
    changed_epoch REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_status ON tasks (status);
-- One row per requeue, written in the requeue's own transaction.
CREATE TABLE IF NOT EXISTS retry_log (
    ts  REAL NOT NULL,
    why TEXT NOT NULL CHECK (why IN ('failed', 'lease_expired'))
);
CREATE INDEX IF NOT EXISTS retry_log_by_ts ON retry_log (ts);
CREATE TABLE IF NOT EXISTS retry_counts (
    why   TEXT PRIMARY KEY,
    total INTEGER NOT NULL
);
INSERT OR IGNORE INTO retry_counts (why, total) VALUES ('failed', 0), ('lease_expired', 0);
"""


def connect(path: Path) -> sqlite3.Connection:
    """Open (and if need be create) the hub's database.

    The connection is in autocommit mode; see :func:`transaction`. It is used only on the
    event loop's thread.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, timeout=10.0)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    with transaction(conn):
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on an exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def rfc3339(epoch_s: float) -> str:
    """``2025-11-29T10:15:02.123456Z``."""
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="microseconds")[:-6] + "Z"
