"""Where the counts come from when they do not come from taps in the hub's code.

A hub may report what it counts by calling the taps (``HubTelemetry.record_*``), or leave it
to files the layer reads without touching the hub's logic:

* the audit log (:class:`AuditLogSource`) for the security counters and rates;
* the hub's SQLite (:class:`SqlCounts`) for node and job counts and, through a cumulative
  count per cause, the retries. A second thread samples that count once a second and adds
  what it grew by to the retry counter.

Once a file is the source of a count, the matching taps are ignored, so nothing is counted
twice. A file that cannot be used is a warning, never an error: telemetry never takes the
hub down, and the taps stay in charge.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from ._audit_source import AuditLogSource
from ._config import TelemetryConfig
from ._events import EventCounters
from ._sources import CountSources
from ._sql_counts import SqlCounts, SqlCountsConfig, SqlCountsError, load_sql_counts_config
from .auditlog import AuditFormat, AuditFormatError, load_audit_format

__all__ = ["HubSources"]

_logger = logging.getLogger(__name__)
_RETRY_SAMPLE_S = 1.0


class HubSources:
    """The file-based sources of one telemetry object.

    Args:
        events: the event counters the sources feed.
        counts: where the node and job count callables go.
        clock: Unix seconds, the windows' clock.

    Thread-safety: configured on the hub's thread at start; the sources' threads then feed
    thread-safe counters, and :meth:`stop` may run on any thread.
    """

    def __init__(self, events: EventCounters, counts: CountSources,
                 clock: Callable[[], float]) -> None:
        self._events = events
        self._counts = counts
        self._clock = clock
        self._started_at = clock()
        self._audit: AuditLogSource | None = None
        self._sql: SqlCounts | None = None
        self._follower: _RetryFollower | None = None

    @property
    def security_from_log(self) -> bool:
        """The security counters and rates come from the audit log (taps ignored)."""
        return self._audit is not None

    @property
    def retries_from_sql(self) -> bool:
        """The retry counter comes from the hub's SQLite (the retry tap ignored)."""
        return self._follower is not None

    def is_past(self, at: float | None) -> bool:
        """True for an event stamped before this telemetry started: windows only."""
        return at is not None and at < self._started_at

    def from_config(self, config: TelemetryConfig) -> None:
        """Start the sources ``config`` names; a file that cannot be used is a warning."""
        if config.audit_log is not None:
            fmt = _load_or_warn(config.audit_format)
            if fmt is not None:
                self.follow_audit_log(config.audit_log, fmt)
        if config.counts_sql is not None:
            try:
                self.read_counts_from_sql(load_sql_counts_config(config.counts_sql))
            except SqlCountsError as exc:
                _logger.warning("HUB_COUNTS_SQL: %s; the counts come from the taps", exc)

    def follow_audit_log(self, path: Path, audit_format: AuditFormat | None = None) -> None:
        """Count the security events of ``path`` from now on (and its trailing minute)."""
        self.stop_audit()
        self._audit = AuditLogSource(path, self._events, audit_format=audit_format,
                                     wall_clock=self._clock)
        self._audit.start()

    def seed_from_audit_log(self, path: Path, audit_format: AuditFormat | None = None) -> int:
        """Put the trailing minute of ``path``'s security events into the windows only, once
        (a restarted hub whose taps count from now on). Returns the events read."""
        source = AuditLogSource(path, self._events, audit_format=audit_format,
                                wall_clock=self._clock)
        return source.read_back_once()

    def read_counts_from_sql(self, config: SqlCountsConfig) -> None:
        """Take node, job and retry counts from the hub's SQLite as ``config`` says."""
        sql = SqlCounts(config, wall_clock=self._clock)
        self._sql = sql
        if sql.has("nodes"):
            self._counts.nodes = sql.nodes
        if sql.has("jobs"):
            self._counts.jobs = sql.jobs
        if sql.has("retries_window"):
            self._events.retry_rate_source = lambda: sum(sql.read("retries_window").values())
        if sql.has("retries_total"):
            self._follower = _RetryFollower(sql, self._events)
            self._follower.start()

    def stop_audit(self) -> None:
        audit, self._audit = self._audit, None
        if audit is not None:
            audit.stop()

    def stop(self, timeout_s: float = 1.0) -> None:
        """Stop every source thread and close the database. Safe to call twice."""
        self.stop_audit()
        follower, self._follower = self._follower, None
        if follower is not None:
            follower.stop(timeout_s)
        sql, self._sql = self._sql, None
        if sql is not None:
            sql.close()


def _load_or_warn(path: Path | None) -> AuditFormat | None:
    if path is None:
        return AuditFormat()
    try:
        return load_audit_format(path)
    except AuditFormatError as exc:
        _logger.warning("HUB_AUDIT_FORMAT: %s; the security counts come from the taps", exc)
        return None


class _RetryFollower:
    """Samples the cumulative retries once a second and counts what they grew by.

    The first sample is the baseline (those retries were counted by whoever ran before). A
    total that shrank (a new database) becomes the new baseline.
    """

    def __init__(self, sql: SqlCounts, events: EventCounters) -> None:
        self._sql = sql
        self._events = events
        self._last: dict[str, int] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="otel-retries", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample()
            except Exception:  # the database is busy, gone or odd: try again next second
                _logger.warning("reading the retries from SQLite failed", exc_info=True)
            self._stop.wait(_RETRY_SAMPLE_S)

    def sample(self) -> None:
        totals = self._sql.read("retries_total")
        last, self._last = self._last, totals
        if last is None:
            return
        for cause, grown in _growth(last, totals):
            self._events.job_retry(cause, n=grown)


def _growth(last: Mapping[str, int], now: Mapping[str, int]) -> Iterable[tuple[str, int]]:
    for cause, total in now.items():
        grown = total - last.get(cause, 0)
        if grown > 0:
            yield cause, grown
