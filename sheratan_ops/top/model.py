"""What one refresh saw: plain frozen data, built by ``top.sources`` and drawn by ``top.render``.

Every reading is either a value or the reason it is missing, so the renderer never has to
guess and never sees an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from otel import Plane, json_keys

from .limits import packaged_rate_limits

#: The JSON ``/metrics`` keys of each plane, as ``otel`` exports them.
CONTROL_KEYS = json_keys(Plane.CONTROL)
DATA_KEYS = json_keys(Plane.DATA)
PLANE_KEYS: Mapping[str, tuple[str, ...]] = {"control": CONTROL_KEYS, "data": DATA_KEYS}


@dataclass(frozen=True, slots=True)
class PlaneReading:
    """One plane's ``GET /metrics``: its numbers, or why there are none.

    Attributes:
        plane: ``control`` or ``data``.
        url: The base URL asked.
        values: Each contract key the answer held as an integer (a missing or non-integer
            key is absent here and shown as ``?``).
        generated_at: The answer's ``generated_at``, as sent.
        error: Why nothing could be read (``None`` when ``values`` is the answer).
        metrics_off: The reason the hub gave when it answered but its metrics are switched
            off (``OTEL_SDK_DISABLED=true``: 503, reason ``disabled``); ``error`` says so too.
    """

    plane: str
    url: str
    values: Mapping[str, int] = field(default_factory=dict)
    generated_at: str | None = None
    error: str | None = None
    metrics_off: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def answered(self) -> bool:
        """The hub answered: with its metrics, or saying they are switched off."""
        return self.ok or self.metrics_off is not None


class AlertState(Enum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One line of ``alerts.jsonl`` (CONTRACT section 4), reduced to what is shown.

    ``still_firing`` is true for a firing line whose episode (``alert_id``) has no later
    line in the part of the file that was read: the alert is firing now.
    """

    ts: str
    alert_id: str
    rule: str
    state: AlertState
    severity: str
    count: int | None
    threshold: int | None
    window_s: int | None
    group: Mapping[str, str]
    still_firing: bool = False


@dataclass(frozen=True, slots=True)
class AlertsTail:
    """The newest alerts, newest first.

    Attributes:
        path: The alerts file.
        rows: Up to the number asked, newest first.
        firing: Episodes whose latest line read is ``firing`` (the whole scanned tail, not
            just ``rows``).
        skipped: Lines in the scanned tail that were not a valid alert.
        error: Why the file could not be read (``None`` when absent: no alert yet).
        missing: The file does not exist (yet).
    """

    path: str
    rows: tuple[AlertRow, ...] = ()
    firing: int = 0
    skipped: int = 0
    error: str | None = None
    missing: bool = False


@dataclass(frozen=True, slots=True)
class WatcherStatus:
    """``watcher_status.json`` as the watcher wrote it (see ``watcher/_status.py``).

    Attributes:
        path: The status file.
        fields: Its scalar fields (strings and integers only; anything else is dropped).
        updated_at: ``updated_at`` parsed, when it was a valid timestamp.
        error: Why the file is unusable (malformed JSON, not an object, unreadable).
        missing: The file does not exist: no watcher has run with this home.
        pid_alive: Whether the process that wrote it still runs (its ``pid``, not reused
            since ``started_at``); None when that cannot be told (no pid, another host).
    """

    path: str
    fields: Mapping[str, str | int] = field(default_factory=dict)
    updated_at: datetime | None = None
    error: str | None = None
    missing: bool = False
    pid_alive: bool | None = None


@dataclass(frozen=True, slots=True)
class SupervisorStatus:
    """``watcher_supervisor.json``: how the hub's ``--watcher`` keeps its watcher running
    (see ``baseline_hub/sidecar.py``). Absent when no hub ran with ``--watcher`` here.

    Attributes:
        fields: Its scalar fields (``state``, ``restarts``, ``last_exit_code``, ...).
        hub_alive: Whether the hub that wrote it still runs (None: cannot be told).
    """

    path: str
    fields: Mapping[str, str | int] = field(default_factory=dict)
    hub_alive: bool | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one refresh read, and when (timezone-aware UTC)."""

    taken_at: datetime
    control: PlaneReading
    data: PlaneReading
    alerts: AlertsTail
    watcher: WatcherStatus
    supervisor: SupervisorStatus | None = None
    #: ``*_rate_1m`` key -> the threshold above which the watcher's active rules fire.
    rate_limits: Mapping[str, int] = field(default_factory=packaged_rate_limits)
    #: Why the home's rules file gave no limits (``rate_limits`` are then the packaged
    #: defaults'), one line naming the file; None when nothing is wrong.
    rules_problem: str | None = None

    @property
    def planes(self) -> tuple[PlaneReading, PlaneReading]:
        return (self.control, self.data)


#: A status not rewritten for this many of its write intervals means its watcher is gone.
SILENT_INTERVALS = 5
#: The least silence that counts, whatever the intervals (the watcher writes about every
#: second in follow mode).
WATCHER_SILENT_S = 10.0


def silent_after_s(status: WatcherStatus) -> float:
    """How long the status may go unwritten before its watcher counts as gone: a few of its
    own poll and write intervals, at least ``WATCHER_SILENT_S``."""
    intervals_ms = [v for key in ("interval_ms", "status_interval_ms")
                    if isinstance(v := status.fields.get(key), int) and v > 0]
    longest_s = max(intervals_ms, default=0) / 1000
    return max(WATCHER_SILENT_S, SILENT_INTERVALS * longest_s)


def watcher_down(status: WatcherStatus, now: datetime) -> str | None:
    """Why no watcher is running on this home, or None when one is (or it cannot be told:
    an unreadable status). Alerts that were firing are then stale, not firing."""
    if status.missing:
        return "no watcher status"
    if status.error is not None:
        return None
    if status.fields.get("state") == "stopped":
        return "watcher stopped"
    if status.pid_alive is False:
        return f"watcher pid {status.fields.get('pid', '?')} gone"
    if status.updated_at is not None:
        age_s = (now - status.updated_at).total_seconds()
        if age_s > silent_after_s(status):
            return f"watcher silent for {duration(age_s)}"
    return None


def duration(seconds: float) -> str:
    """``42s``, ``5m``, ``3h``, ``2d``."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"
