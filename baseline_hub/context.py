"""What one hub process shares between its two planes: store, token, audit, observers."""

from __future__ import annotations

import functools
import hmac
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from starlette.types import Scope

from . import db
from .audit import AuditLog
from .clientip import client_of
from .config import HubConfig
from .jobs import JobQueue, Retry
from .observer import HubObserver, ObserverFanout, SecurityEvent, SecurityEventKind
from .planelog import PlaneLog, open_plane_log
from .registry import NodeRegistry
from .retries import PastRetry
from .timefmt import iso

PlaneName = Literal["control", "data"]
REDACTED = "[REDACTED]"
MAX_AUDIT_PATH_CHARS = 2048

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PlaneInfo:
    """One plane's identity, with the ports actually bound (a configured 0 is resolved)."""

    name: PlaneName
    port: int
    other_port: int


def _scrub(token: str, text: str) -> str:
    return text.replace(token, REDACTED) if token in text else text


class HubContext:
    """The hub's shared state and its guard decisions. Used from the event-loop thread."""

    def __init__(
        self,
        *,
        token: str,
        registry: NodeRegistry,
        jobs: JobQueue,
        audit: AuditLog,
        observers: ObserverFanout,
        plane_logs: Mapping[PlaneName, PlaneLog],
        wall_clock: Callable[[], float],
        conn: sqlite3.Connection | None = None,
    ) -> None:
        self._token = token
        self._token_bytes = token.encode()
        self._conn = conn
        self.registry = registry
        self.jobs = jobs
        self.audit = audit
        self.observers = observers
        self.plane_logs = plane_logs
        self._wall_clock = wall_clock

    @classmethod
    def open(
        cls,
        config: HubConfig,
        token: str,
        *,
        observers: Sequence[HubObserver] = (),
        wall_clock: Callable[[], float] = time.time,
    ) -> HubContext:
        """Open the store, logs and audit log under ``config.home`` and attach the observers.

        Call ``close()`` when done.
        """
        paths = config.paths
        conn = db.connect(paths.db)
        fanout = ObserverFanout(observers)
        scrub = functools.partial(_scrub, token)
        hub = cls(
            token=token,
            registry=NodeRegistry(conn, stale_s=config.node_stale_s, dead_s=config.node_dead_s,
                                  clock=wall_clock),
            jobs=JobQueue(conn, default_lease_s=config.job_lease_s,
                          default_max_attempts=config.job_max_attempts, clock=wall_clock),
            audit=AuditLog(paths.audit_log),
            observers=fanout,
            plane_logs={"control": open_plane_log("control", paths.control_log, scrub=scrub),
                        "data": open_plane_log("data", paths.data_log, scrub=scrub)},
            wall_clock=wall_clock,
            conn=conn,
        )
        fanout.attach(hub)
        return hub

    def close(self) -> None:
        """Close the database, the audit log and the plane logs (idempotent)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.audit.close()
        for plane_log in self.plane_logs.values():
            plane_log.close()

    @property
    def token_bytes(self) -> bytes:
        return self._token_bytes

    # The HubStateView the observers get: counts only, never rows.
    def node_counts(self) -> Mapping[str, int]:
        return self.registry.counts()

    def job_counts(self) -> Mapping[str, int]:
        return self.jobs.counts()

    def check_auth(self, authorization: str | None) -> str | None:
        """Return None if the bearer token is right, else the audit reason."""
        if not authorization:
            return "missing_token"
        scheme, _, credentials = authorization.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials:
            return "missing_token"
        try:
            given = credentials.encode("ascii")
        except UnicodeEncodeError:
            return "invalid_token"
        return None if hmac.compare_digest(given, self._token_bytes) else "invalid_token"

    def scrub(self, text: str) -> str:
        """Replace the token value wherever it appears (a client may put it in a path)."""
        return _scrub(self._token, text)

    def security_event(
        self,
        kind: SecurityEventKind,
        scope: Scope,
        plane: PlaneInfo,
        *,
        reason: str | None = None,
        expected_port: int | None = None,
    ) -> None:
        """Write the audit line, then tell the observers. Never raises into the request."""
        path = self.scrub(str(scope.get("path", "")))
        if len(path) > MAX_AUDIT_PATH_CHARS:
            path = path[:MAX_AUDIT_PATH_CHARS] + "..."
        event = SecurityEvent(
            ts=iso(self._wall_clock()),
            event=kind,
            plane=plane.name,
            port=plane.port,
            client=client_of(scope),
            method=str(scope.get("method", "")),
            path=path,
            reason=reason,
            expected_port=expected_port,
        )
        try:
            self.audit.write(event.to_record())
        except OSError:
            logger.exception("cannot write the security audit log")
        self.observers.security_event(event)

    def job_retried(self, retry: Retry) -> None:
        self.plane_logs["data"].info(
            "job %s retry cause=%s now=%s", retry.job_id, retry.cause, retry.state
        )
        self.observers.job_retry(retry.cause)

    def sweep_leases(self) -> None:
        """One pass of the lease sweeper: requeue (telling the observers of each retry) or
        dead-letter every job whose lease ran out, then prune the retry history."""
        for retry in self.jobs.expire_leases():
            if retry.state == "queued":
                self.job_retried(retry)
            else:
                self.plane_logs["data"].info("job %s dead: lease expired", retry.job_id)
        self.jobs.prune_retries()

    def retries_since(self, start: float) -> list[PastRetry]:
        """The job retries recorded in the store at or after ``start``, oldest first.

        Read-only, on this hub's own connection, so call it from the event-loop thread (an
        observer's ``attach``, which runs before the hub serves, may). Each is a
        ``(at, cause)`` pair: epoch seconds on the hub's wall clock, ``"failed"`` or
        ``"lease_expired"``; together they are the ``job_retry`` calls the observers got for
        that span, in this run and earlier ones (kept for an hour; a crash between a requeue's
        commit and the call leaves that one retry in the table only). Without a context,
        before the hub starts, use :func:`baseline_hub.read_retries_since`.
        """
        return self.jobs.retries_since(start)
