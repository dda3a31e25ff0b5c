"""Node, job and retry counts read from the hub's own SQLite database, read-only.

A hub written before this layer keeps its nodes and jobs in its own tables. Rather than a
call inside its job logic, a small JSON file gives the queries that count them, and the layer
runs them on a read-only connection::

    {"database": "state/hub.db",
     "params": {"stale_s": 30, "dead_s": 120},
     "nodes": "SELECT CASE WHEN :now - last_beat <= :stale_s THEN 'online'
                WHEN :now - last_beat <= :dead_s THEN 'stale' ELSE 'dead' END, count(*)
               FROM workers GROUP BY 1",
     "jobs": "SELECT CASE status WHEN 'waiting' THEN 'queued' ELSE 'inflight' END, count(*)
              FROM tasks WHERE status IN ('waiting', 'running') GROUP BY 1",
     "retries_total": "SELECT why, total FROM retry_counts",
     "retries_window": "SELECT why, count(*) FROM retry_log WHERE ts > :now - :window_s
                        GROUP BY why"}

Every query returns rows of (key, count): node states ``online``/``stale``/``dead``, job
states ``queued``/``inflight``, retry causes ``failed``/``lease_expired``. Queries may use
``:now`` (Unix seconds), ``:window_s`` (60) and the ``params``. ``retries_total`` is a
cumulative count per cause (the counter follows its increase); ``retries_window``, when
given, is the count in the trailing window (the rate then survives a restart of this
process exactly). A relative ``database`` is taken relative to the file's folder.

The database is opened ``mode=ro`` with ``PRAGMA query_only``, so nothing here can write
it; each query's result is kept for at most ``max_age_s`` (1 s), so a storm of scrapes
reaches the database at most once a second per query.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final
from urllib.parse import quote

import msgspec

from ._files import read_small_regular

__all__ = ["QUERY_KEYS", "SqlCounts", "SqlCountsConfig", "SqlCountsError",
           "load_sql_counts_config"]

_logger = logging.getLogger(__name__)

QUERY_KEYS: Final = ("nodes", "jobs", "retries_total", "retries_window")
_TOP_KEYS: Final = ("database", "params", *QUERY_KEYS)
_RESERVED_PARAMS: Final = frozenset({"now", "window_s"})
_MAX_FILE_BYTES: Final = 64 * 1024
_MAX_ROWS: Final = 64
WINDOW_S: Final = 60


class SqlCountsError(ValueError):
    """A bad counts file; ``field`` names the bad field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class SqlCountsConfig:
    """Where the counts come from. Queries that are None are not asked."""

    database: Path
    queries: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    params: Mapping[str, float | int | str] = field(
        default_factory=lambda: MappingProxyType({}))
    max_age_s: float = 1.0


def load_sql_counts_config(path: Path) -> SqlCountsConfig:
    """Read and validate a counts file.

    Raises:
        SqlCountsError: naming the bad field (or the file, when it cannot be read).
    """
    try:
        doc = msgspec.json.decode(read_small_regular(path, _MAX_FILE_BYTES))
    except OSError as exc:
        raise SqlCountsError(str(path), f"cannot read: {exc.strerror or exc}") from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise SqlCountsError(str(path), f"not valid JSON ({exc})") from None
    return parse_sql_counts_config(doc, base=path.parent)


def parse_sql_counts_config(doc: object, *, base: Path) -> SqlCountsConfig:
    """Validate a decoded counts file; a relative database is taken from ``base``."""
    if not isinstance(doc, dict):
        raise SqlCountsError("(file)", "must be a JSON object")
    for key in doc:
        if key not in _TOP_KEYS:
            raise SqlCountsError(str(key)[:64], f"unknown key; expected {', '.join(_TOP_KEYS)}")
    database = doc.get("database")
    if not isinstance(database, str) or not database:
        raise SqlCountsError("database", "must be the path of the hub's SQLite file")
    queries = {key: _query(doc, key) for key in QUERY_KEYS if key in doc}
    if not queries:
        raise SqlCountsError("(file)", f"needs at least one of {', '.join(QUERY_KEYS)}")
    return SqlCountsConfig(base / database, MappingProxyType(queries),
                           MappingProxyType(_params(doc.get("params", {}))))


def _query(doc: Mapping[str, object], key: str) -> str:
    sql = doc[key]
    if not isinstance(sql, str) or not sql.strip():
        raise SqlCountsError(key, "must be an SQL query returning (key, count) rows")
    if not sqlite3.complete_statement(sql.rstrip().rstrip(";") + ";"):
        raise SqlCountsError(key, "is not a complete SQL statement (an open quote?)")
    return sql


def _params(value: object) -> dict[str, float | int | str]:
    if not isinstance(value, dict):
        raise SqlCountsError("params", "must be an object of names to numbers or strings")
    params: dict[str, float | int | str] = {}
    for name, item in value.items():
        if not isinstance(name, str) or not name.isidentifier() or name in _RESERVED_PARAMS:
            raise SqlCountsError(f"params.{str(name)[:64]}", "must be an identifier other "
                                 "than now and window_s")
        if isinstance(item, bool) or not isinstance(item, int | float | str):
            raise SqlCountsError(f"params.{name}", "must be a number or a string")
        params[name] = item
    return params


class SqlCounts:
    """Runs the configured queries, read-only, each at most once per ``max_age_s``.

    Each read method returns a mapping (empty when the query is not configured); a failing
    query raises, for the caller (the gauge callback) to log and skip.

    Thread-safety: one lock serializes the queries and guards the cache, so concurrent
    scrapes share one database read.
    """

    def __init__(self, config: SqlCountsConfig, *,
                 wall_clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._wall_clock = wall_clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, dict[str, int]]] = {}
        self._conn: sqlite3.Connection | None = None

    def has(self, key: str) -> bool:
        return key in self.config.queries

    def nodes(self) -> dict[str, int]:
        return self.read("nodes")

    def jobs(self) -> dict[str, int]:
        return self.read("jobs")

    def read(self, key: str) -> dict[str, int]:
        """The rows of query ``key`` as ``{key: count}``, at most ``max_age_s`` old.

        Raises:
            sqlite3.Error, ValueError: the database or the query failed.
        """
        if key not in self.config.queries:
            return {}
        with self._lock:
            now = self._monotonic()
            cached = self._cache.get(key)
            if cached is not None and now - cached[0] < self.config.max_age_s:
                return dict(cached[1])
            result = self._run(self.config.queries[key])
            self._cache[key] = (now, result)
            return dict(result)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _run(self, sql: str) -> dict[str, int]:
        params = {**self.config.params, "now": self._wall_clock(), "window_s": WINDOW_S}
        try:
            rows = self._connection().execute(sql, params).fetchmany(_MAX_ROWS)
        except sqlite3.Error:
            self._drop_connection()  # the file may have been replaced: reopen next time
            raise
        counts: dict[str, int] = {}
        for row in rows:
            if len(row) != 2 or not isinstance(row[0], str) or not isinstance(row[1], int):
                raise ValueError("a counts query must return (text key, integer count) rows")
            counts[row[0]] = counts.get(row[0], 0) + row[1]
        return counts

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            path = self.config.database
            if not path.is_file():
                raise sqlite3.OperationalError(f"{path.name}: no such database")
            uri = f"file:{quote(path.resolve().as_posix(), safe='/:')}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=1.0, check_same_thread=False,
                                   isolation_level=None)
            conn.execute("PRAGMA query_only=1")  # belt and braces on top of mode=ro
            self._conn = conn
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
