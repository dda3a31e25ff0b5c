"""The retry history in ``hub.db``: when each job retry happened, and why.

A job retry (a job requeued by a fail or by an expired lease, never a dead-letter) adds one
row to the append-only ``retries`` table, in the transaction that requeues the job, so the
table holds exactly the retries the hub's observers are told about. Rows older than the
history (an hour) are pruned on the lease sweeper's schedule.

Its reader is for the hub's start-up: after a restart, the retries of the trailing 60 s
come from here, so ``retry_rate_1m`` does not start from zero (:func:`read_retries_since`).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import NamedTuple, cast
from urllib.parse import quote

from .observer import RetryCause

#: How long retry rows are kept: far beyond the 60 s any window needs, and bounded.
RETRY_HISTORY_S = 3600.0
#: How long a start-up read waits for a busy database before it gives up.
READ_TIMEOUT_S = 5.0

_CAUSES: frozenset[str] = frozenset(("failed", "lease_expired"))

SCHEMA = """
CREATE TABLE IF NOT EXISTS retries (
    at    REAL NOT NULL,
    cause TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS retries_at ON retries(at);
"""


class PastRetry(NamedTuple):
    """One recorded retry: ``at`` in epoch seconds (the hub's wall clock), and its cause."""

    at: float
    cause: RetryCause


def record(conn: sqlite3.Connection, cause: RetryCause, at: float, count: int = 1) -> None:
    """Add ``count`` retries of ``cause`` at ``at``. Call it inside the requeue's transaction."""
    conn.executemany("INSERT INTO retries(at, cause) VALUES (?, ?)", [(at, cause)] * count)


def prune(conn: sqlite3.Connection, before: float) -> int:
    """Delete the rows older than ``before``; returns how many went."""
    return conn.execute("DELETE FROM retries WHERE at < ?", (before,)).rowcount


def since(conn: sqlite3.Connection, start: float) -> list[PastRetry]:
    """The retries at or after ``start`` (epoch seconds), oldest first."""
    rows = conn.execute(
        "SELECT at, cause FROM retries WHERE at >= ? ORDER BY at", (start,)).fetchall()
    return [PastRetry(float(at), cast(RetryCause, cause))
            for at, cause in rows if cause in _CAUSES]


def read_retries_since(db_path: Path, start: float) -> list[PastRetry]:
    """The job retries recorded in the hub store at or after ``start``, oldest first.

    This is for the hub's start-up wiring, to seed the 60 s retry windows with the retries
    the previous run made, before the hub serves::

        start = time.time() - 60
        for retry in read_retries_since(config.paths.db, start):
            telemetry.record_job_retry(retry.cause, at=retry.at)

    Call it before :func:`baseline_hub.serve`: once the hub runs, its lease sweeper records
    (and reports to the observers) new retries, which a later read would count twice.

    It opens ``db_path`` read-only and never creates or changes anything: a database that
    does not exist yet, or one from before the table was added, has no retries. When the
    database has no WAL files (the last hub stopped cleanly) it is read as immutable, so no
    ``-wal``/``-shm`` files are left behind.

    Args:
        db_path: the hub's store, ``HubPaths.db`` (``$SHERATAN_HOME/state/hub.db``).
        start: epoch seconds, on the hub's wall clock (``time.time()``).

    Returns:
        ``(at, cause)`` pairs (:class:`PastRetry`): ``at`` in epoch seconds and ``cause``
        ``"failed"`` or ``"lease_expired"``, one per retry the hub's observers were told of.

    Raises:
        sqlite3.Error: the database exists but cannot be read (locked past
            ``READ_TIMEOUT_S``, corrupt). Telemetry must not stop the hub: catch it and
            start the windows empty.
    """
    if not db_path.is_file():
        return []
    sides = [db_path.with_name(db_path.name + suffix) for suffix in ("-wal", "-shm")]
    params = "mode=ro" if all(side.exists() for side in sides) else "mode=ro&immutable=1"
    uri = f"file:{quote(db_path.resolve().as_posix(), safe='/:')}?{params}"
    with closing(sqlite3.connect(uri, uri=True, timeout=READ_TIMEOUT_S)) as conn:
        has_table = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='retries'").fetchone()
        return since(conn, start) if has_table else []
