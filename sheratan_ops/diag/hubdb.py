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

Before SQLite opens anything, ``hub.db`` and whichever of ``-wal``/``-shm`` exist must be
regular files, by ``lstat`` (which neither follows a symlink nor opens a FIFO): a symlink
planted there would make the bundle describe another database, and a FIFO would hang the
read. Not by opening them: closing any descriptor of a file drops every POSIX lock this
process holds on it, including the read locks of a SQLite connection in another collector's
thread.

Node rows are read within limits: a ``meta`` larger than ``meta_max_bytes`` as stored is not
even fetched (only its size), and rows stop once their stored size passes ``budget_bytes``,
so a registry of huge nodes costs what a small one does.
"""

from __future__ import annotations

import json
import math
import sqlite3
import stat
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from watcher import NotRegularFile

T = TypeVar("T")

#: Nodes beyond this are counted but not listed: the bundle stays small and fast.
MAX_NODES = 10_000
#: A parsed ``meta`` nested deeper than this is kept as its text: the redactor and the JSON
#: encoder recurse, and a crafted meta of a thousand brackets must not cost the registry.
MAX_META_DEPTH = 64
#: What a row costs in the bundle beyond its strings (keys, timestamps, indentation).
_ROW_OVERHEAD_BYTES = 256


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
    _check_regular(path)
    mode = _open_mode(path)
    with _connect(path, mode, timeout_s) as conn:
        value = query(conn)
    if mode == "immutable" and _open_mode(path) == "wal":
        _check_regular(path)
        with _connect(path, "wal", timeout_s) as conn:
            value = query(conn)
        mode = "wal"
    return DbRead(value, mode)


def _check_regular(path: Path) -> None:
    """Refuse ``path`` and its WAL files unless each is a regular file (or, for the WAL
    files, absent).

    Raises:
        FileNotFoundError: there is no database.
        watcher.NotRegularFile: one of them is a symlink, FIFO, device or folder.
    """
    try:
        _require_regular(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path.name} does not exist") from None
    for side in _side_files(path):
        try:
            _require_regular(side)
        except FileNotFoundError:
            continue


def _require_regular(path: Path) -> None:
    mode = path.lstat().st_mode
    if not stat.S_ISREG(mode):
        raise NotRegularFile(path, _kind(mode))


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"),
             (stat.S_ISDIR, "a folder"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _side_files(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _open_mode(path: Path) -> str:
    # Both must exist: a WAL reader creates whichever is missing. lexists: a symlink counts
    # as present, so it is refused, not silently bypassed.
    return "wal" if all(_lexists(side) for side in _side_files(path)) else "immutable"


def _lexists(path: Path) -> bool:
    try:
        path.lstat()
    except FileNotFoundError:
        return False
    return True


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
    """One node's allow-listed columns.

    ``meta`` is the parsed JSON (the raw text when it is not JSON or nested too deep), or
    None when it was larger than the cap: ``meta_bytes`` is then its stored size. A
    timestamp that is not a number is None.
    """

    node_id: str
    name: str | None
    meta: Any
    meta_bytes: int
    meta_cut: bool
    registered_at: float | None
    last_seen: float | None


@dataclass(frozen=True, slots=True)
class Nodes:
    """The rows read, and how many nodes there are in all (``total >= len(rows)``)."""

    rows: list[NodeRow]
    total: int


def query_nodes(conn: sqlite3.Connection, *, meta_max_bytes: int = 64 * 1024,
                budget_bytes: int = 8 * 1024 * 1024) -> Nodes:
    """The allow-listed node columns, ordered by ``node_id`` (stable across runs).

    Args:
        conn: a read-only connection.
        meta_max_bytes: a larger ``meta`` (as stored) is not fetched, only measured.
        budget_bytes: rows stop once their stored size passes this.
    """
    total = int(conn.execute("SELECT count(*) FROM nodes").fetchone()[0])
    cursor = conn.execute(
        "SELECT node_id, name, registered_at, last_seen, "
        "length(CAST(meta AS BLOB)) AS meta_bytes, "
        "CASE WHEN length(CAST(meta AS BLOB)) <= ? THEN meta END AS meta "
        "FROM nodes ORDER BY node_id LIMIT ?", (meta_max_bytes, MAX_NODES))
    rows: list[NodeRow] = []
    used = 0
    for r in cursor:
        row = _node_row(r)
        rows.append(row)
        used += (len(row.node_id) + len(row.name or "") + _ROW_OVERHEAD_BYTES
                 + (0 if row.meta_cut else row.meta_bytes))
        if used > budget_bytes:
            break
    return Nodes(rows, total)


def _node_row(r: sqlite3.Row) -> NodeRow:
    meta_bytes = int(r["meta_bytes"] or 0)
    cut = r["meta"] is None and meta_bytes > 0
    return NodeRow(str(r["node_id"]), None if r["name"] is None else str(r["name"]),
                   None if cut else _parse_json(r["meta"]), meta_bytes, cut,
                   _number(r["registered_at"]), _number(r["last_seen"]))


def query_job_states(conn: sqlite3.Connection) -> dict[str, int]:
    """Jobs per state, e.g. ``{"queued": 5, "inflight": 2, "done": 40}``."""
    cursor = conn.execute("SELECT state, count(*) FROM jobs GROUP BY state ORDER BY state")
    return {str(state): int(count) for state, count in cursor}


def query_last_seen(conn: sqlite3.Connection) -> list[float | None]:
    """Each node's heartbeat time; None where the column holds no number."""
    return [_number(row[0]) for row in conn.execute("SELECT last_seen FROM nodes")]


def _number(value: object) -> float | None:
    """A finite float, or None: a corrupt row may hold text, NULL or an infinity."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _parse_json(text: object) -> Any:
    if not isinstance(text, str):
        return text
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return text
    return value if _depth_within(value, MAX_META_DEPTH) else text


def _depth_within(value: Any, limit: int) -> bool:
    """True when ``value`` nests no deeper than ``limit`` (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return True
