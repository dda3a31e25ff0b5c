"""Read-only access to the hub's SQLite store, safe with the hub up, down or crashed.

Why two ways to open it. ``hub.db`` is in WAL mode:

* While the hub runs (or after it crashed) ``hub.db-wal`` and ``hub.db-shm`` exist and hold
  the newest commits. A ``mode=ro`` connection reads them as any WAL reader does: it never
  writes the database or the WAL and never blocks the hub's writer. Like every WAL reader it
  does use ``-shm``, SQLite's shared-memory index (read marks; after a crash it rebuilds the
  index there); that file holds no data, and the hub rebuilds it on its next start anyway.
  The alternative, ``immutable=1``, would silently miss every commit still in the WAL.
* After a clean stop the hub checkpoints and removes both files. A ``mode=ro`` open would
  then *create* empty ``-wal``/``-shm`` files (SQLite needs them for a WAL reader), which a
  read-only tool must not do. ``immutable=1`` reads the main file alone, with no locks and
  no side files, which is exact here because everything is in it.

If the hub starts while we read immutably, the result may be a moment stale; the read is
repeated with ``mode=ro`` when ``-wal`` appeared meanwhile.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote

T = TypeVar("T")

#: Nodes beyond this are counted but not listed: the bundle stays small and fast.
MAX_NODES = 10_000


@dataclass(frozen=True, slots=True)
class DbRead(Generic[T]):
    """A value read from the db and how the db was opened (``wal`` or ``immutable``)."""

    value: T
    open_mode: str


def read_db(path: Path, query: Callable[[sqlite3.Connection], T], *,
            timeout_s: float) -> DbRead[T]:
    """Run ``query`` on a read-only connection to ``path``.

    Raises:
        FileNotFoundError: there is no database.
        sqlite3.Error: it cannot be read.
    """
    if not path.is_file():
        raise FileNotFoundError(f"{path.name} does not exist")
    mode = _open_mode(path)
    with _connect(path, mode, timeout_s) as conn:
        value = query(conn)
    if mode == "immutable" and _open_mode(path) == "wal":
        with _connect(path, "wal", timeout_s) as conn:
            value = query(conn)
        mode = "wal"
    return DbRead(value, mode)


def _open_mode(path: Path) -> str:
    wal = path.with_name(path.name + "-wal")
    shm = path.with_name(path.name + "-shm")
    # Both must exist: a WAL reader creates whichever is missing.
    return "wal" if wal.exists() and shm.exists() else "immutable"


@contextmanager
def _connect(path: Path, mode: str, timeout_s: float) -> Iterator[sqlite3.Connection]:
    uri_path = quote(path.resolve().as_posix(), safe="/:")
    params = "mode=ro" if mode == "wal" else "mode=ro&immutable=1"
    conn = sqlite3.connect(f"file:{uri_path}?{params}", uri=True, timeout=timeout_s,
                           isolation_level=None, check_same_thread=False)
    with closing(conn):
        conn.row_factory = sqlite3.Row
        # Belt and braces on top of mode=ro: no statement on this connection may write.
        conn.execute("PRAGMA query_only=1")
        yield conn


@dataclass(frozen=True, slots=True)
class NodeRow:
    node_id: str
    name: str | None
    meta: Any  # parsed JSON, or the raw text when it is not JSON
    registered_at: float
    last_seen: float


@dataclass(frozen=True, slots=True)
class Nodes:
    rows: list[NodeRow]
    total: int


def query_nodes(conn: sqlite3.Connection) -> Nodes:
    """The allow-listed node columns, ordered by ``node_id`` (stable across runs)."""
    total = int(conn.execute("SELECT count(*) FROM nodes").fetchone()[0])
    cursor = conn.execute(
        "SELECT node_id, name, meta, registered_at, last_seen FROM nodes "
        "ORDER BY node_id LIMIT ?", (MAX_NODES,))
    rows = [NodeRow(str(r["node_id"]), r["name"], _parse_json(r["meta"]),
                    float(r["registered_at"]), float(r["last_seen"])) for r in cursor]
    return Nodes(rows, total)


def query_job_states(conn: sqlite3.Connection) -> dict[str, int]:
    """Jobs per state, e.g. ``{"queued": 5, "inflight": 2, "done": 40}``."""
    cursor = conn.execute("SELECT state, count(*) FROM jobs GROUP BY state ORDER BY state")
    return {str(state): int(count) for state, count in cursor}


def query_last_seen(conn: sqlite3.Connection) -> list[float]:
    return [float(row[0]) for row in conn.execute("SELECT last_seen FROM nodes")]


def _parse_json(text: object) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text
