"""The hub's SQLite store (WAL mode): schema, connection and transactions.

Thread-safety: the hub touches the connection only from its event-loop thread, one
statement (or one short :func:`transaction`, with no ``await`` inside) at a time, so a
single connection without extra locking is enough. Other
processes (diagnose) may read the file concurrently; WAL keeps those readers from
blocking the hub.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import owneronly, retries

#: 2 added the ``retries`` table (created on open, so an existing store simply gains it).
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    node_id       TEXT PRIMARY KEY,
    name          TEXT,
    meta          TEXT NOT NULL DEFAULT '{}',
    registered_at REAL NOT NULL,
    last_seen     REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id           TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL,
    payload          TEXT NOT NULL DEFAULT '{}',
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    node_id          TEXT,
    lease_expires_at REAL,
    result           TEXT,
    last_error       TEXT,
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state_seq ON jobs(state, seq);
CREATE INDEX IF NOT EXISTS jobs_state_lease ON jobs(state, lease_expires_at);
"""


def dump_json(value: object) -> str:
    """Encode a JSON column (meta, payload, result)."""
    # stdlib json: exact for integers beyond 64 bits, which clients may send.
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the hub database in WAL mode.

    ``synchronous=NORMAL`` in WAL mode makes every commit durable against a process crash
    (``kill -9``): the commit is in the WAL before the call returns. Only an OS crash or power
    loss may lose the last transactions, which is the trade the v1.5 hub makes for throughput.
    """
    owneronly.make_dir(path.parent)
    # Created owner-only here, not by SQLite: SQLite gives the -wal and -shm files the
    # main file's mode, and would create the main file by the umask.
    with open(path, "ab", opener=owneronly.opener):
        pass
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.executescript(_SCHEMA)
    conn.executescript(retries.SCHEMA)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """Run the block as one write transaction: committed at its end, rolled back if it raises.

    For statements that must land together (a requeue and its retry row). ``conn`` must be
    in autocommit mode (``isolation_level=None``) and not inside a transaction already.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
