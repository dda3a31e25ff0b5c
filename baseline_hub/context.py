"""What one hub process shares between its two planes: store, token, audit, observers."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from starlette.types import Scope

from .audit import AuditLog
from .jobs import JobQueue, Retry
from .observer import ObserverFanout, SecurityEvent, SecurityEventKind
from .registry import NodeRegistry
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


def client_of(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


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
        plane_logs: Mapping[PlaneName, logging.LoggerAdapter[logging.Logger]],
        wall_clock: Callable[[], float],
    ) -> None:
        self._token = token
        self._token_bytes = token.encode()
        self.registry = registry
        self.jobs = jobs
        self.audit = audit
        self.observers = observers
        self.plane_logs = plane_logs
        self._wall_clock = wall_clock

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
        return text.replace(self._token, REDACTED) if self._token in text else text

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
