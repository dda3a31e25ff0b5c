"""The seam through which observers see the hub, without the hub knowing who observes.

An observer receives immutable event values and a read-only view of hub state. It can never
change what the hub does: every call into it is guarded, so an observer that raises is
logged and otherwise ignored, and the request that triggered the event is answered as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

logger = logging.getLogger(__name__)

SecurityEventKind = Literal["AUTH_FAILURE", "PORT_MISMATCH", "LEAK_BLOCKED"]
RetryCause = Literal["failed", "lease_expired"]


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """One audit event, exactly as written to the security audit log."""

    ts: str
    event: SecurityEventKind
    plane: str
    port: int
    client: str
    method: str
    path: str
    reason: str | None = None
    expected_port: int | None = None

    def to_record(self) -> dict[str, object]:
        """The audit-line object: optional fields are left out when unset."""
        record: dict[str, object] = {
            "ts": self.ts,
            "event": self.event,
            "plane": self.plane,
            "port": self.port,
            "client": self.client,
            "method": self.method,
            "path": self.path,
        }
        if self.reason is not None:
            record["reason"] = self.reason
        if self.expected_port is not None:
            record["expected_port"] = self.expected_port
        return record


class HubStateView(Protocol):
    """Read-only counts an observer may poll at any time, from any thread."""

    def node_counts(self) -> Mapping[str, int]:
        """``{"online": n, "stale": n, "dead": n}`` at this moment."""
        ...

    def job_counts(self) -> Mapping[str, int]:
        """``{"queued": n, "inflight": n}`` at this moment."""
        ...


class HubObserver(Protocol):
    """What the hub tells an observer. Implementations must be quick and non-blocking."""

    def attach(self, state: HubStateView) -> None:
        """Called once at start with the hub's read-only state view."""
        ...

    def security_event(self, event: SecurityEvent) -> None: ...

    def job_retry(self, cause: RetryCause) -> None: ...


class ObserverFanout:
    """Delivers each event to every observer; an observer's exception never escapes."""

    def __init__(self, observers: Sequence[HubObserver] = ()) -> None:
        self._observers = tuple(observers)

    def attach(self, state: HubStateView) -> None:
        for observer in self._observers:
            try:
                observer.attach(state)
            except Exception:
                logger.exception("observer %r failed in attach()", observer)

    def security_event(self, event: SecurityEvent) -> None:
        for observer in self._observers:
            try:
                observer.security_event(event)
            except Exception:
                logger.exception("observer %r failed in security_event()", observer)

    def job_retry(self, cause: RetryCause) -> None:
        for observer in self._observers:
            try:
                observer.job_retry(cause)
            except Exception:
                logger.exception("observer %r failed in job_retry()", observer)
