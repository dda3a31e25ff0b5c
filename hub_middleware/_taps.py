"""The taps through which a hub reports what its instruments count."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from otel import HubTelemetry, Plane


class SecurityEventLike(Protocol):
    """What the taps read of a hub's security event (the audit-line fields)."""

    @property
    def event(self) -> str: ...

    @property
    def plane(self) -> str: ...

    @property
    def reason(self) -> str | None: ...


class StateViewLike(Protocol):
    """A hub's read-only counts: ``{"online","stale","dead"}`` and ``{"queued","inflight"}``."""

    def node_counts(self) -> Mapping[str, int]: ...

    def job_counts(self) -> Mapping[str, int]: ...


class HubTaps:
    """Feeds a hub's events and state into ``telemetry``.

    Any hub can call the plain methods (``auth_failure``, ``port_mismatch``, ``job_retry``,
    ``read_counts_from``). The methods ``attach`` and ``security_event`` make it a hub
    observer as well (the baseline hub's ``HubObserver`` protocol), so that hub plugs it in
    without knowing who observes. Nothing here raises into the hub: the telemetry taps
    catch and log their own errors.

    Args:
        telemetry: the instruments to feed.
    """

    def __init__(self, telemetry: HubTelemetry) -> None:
        self._telemetry = telemetry

    def auth_failure(self, plane: Plane | str, reason: str) -> None:
        self._telemetry.record_auth_failure(plane, reason)

    def port_mismatch(self, plane: Plane | str) -> None:
        self._telemetry.record_port_mismatch(plane)

    def job_retry(self, cause: str) -> None:
        self._telemetry.record_job_retry(cause)

    def read_counts_from(
        self,
        nodes: Callable[[], Mapping[str, int]],
        jobs: Callable[[], Mapping[str, int]],
    ) -> None:
        """Register the callables the ``hub.nodes``, queue and inflight gauges read."""
        self._telemetry.set_node_counts_source(nodes)
        self._telemetry.set_job_counts_source(jobs)

    # The observer protocol.
    def attach(self, state: StateViewLike) -> None:
        self.read_counts_from(state.node_counts, state.job_counts)

    def security_event(self, event: SecurityEventLike) -> None:
        if event.event == "AUTH_FAILURE":
            self.auth_failure(event.plane, event.reason or "unknown")
        elif event.event == "PORT_MISMATCH":
            self.port_mismatch(event.plane)
