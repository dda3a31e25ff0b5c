"""The alert record: built from an allow-list of fields, never from a raw audit line."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Iterable
from datetime import datetime

import msgspec

from otel import terminal_safe_json
from otel.auditlog import is_int64
from watcher._timefmt import EPOCH, US_PER_S, format_us, from_us

GroupValue = str | int | None
GroupKey = tuple[GroupValue, ...]

#: What a group value judged secret becomes (the shape alert files have always had).
REDACTED = "[redacted]"


class AlertState(enum.StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


def safe_group_value(value: object, guard: Callable[[str], str]) -> GroupValue:
    """Reduces an audit field value to something that may appear in an alert.

    Strings go through ``guard`` (an ``otel.ValueGuard``: they lose any query string or
    fragment, an IP address becomes canonical, a credential or known secret becomes
    ``REDACTED``, and the rest is capped in length). Integers beyond 64 bits, bools, and
    other types than str and int become None: JSON tools stop at 64 bits, and so did this
    watcher before version 2.
    """
    if type(value) is str:
        return guard(value)
    if type(value) is int:
        return value if is_int64(value) else None
    return None


def make_alert_id(rule: str, group: GroupKey, first_seen_us: int) -> str:
    """Same rule, same group and same episode start give the same id, in every run."""
    raw = msgspec.json.encode([rule, list(group), first_seen_us])
    return hashlib.sha256(raw).hexdigest()[:24]


def _json_time(epoch_us: int) -> datetime | str:
    """A time that msgspec writes as :func:`format_us` does: a UTC datetime, which it writes
    with a fraction of six digits and ``Z``, but a whole second as a string (msgspec would
    leave its fraction out)."""
    if epoch_us % US_PER_S == 0:
        return format_us(epoch_us)
    return EPOCH + from_us(epoch_us)


def window_seconds(window_us: int) -> int | float:
    """A window in seconds as alerts write it: an int when whole."""
    if window_us % US_PER_S == 0:
        return window_us // US_PER_S
    return window_us / US_PER_S


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """One state change (or reminder) of one rule for one group.

    A frozen msgspec struct rather than a frozen dataclass: made in C, four times faster,
    and a replay makes one per alert line.
    """

    ts_us: int
    alert_id: str
    rule: str
    event: str
    state: AlertState
    severity: str
    count: int
    threshold: int
    window_us: int
    group: tuple[tuple[str, GroupValue], ...]
    first_seen_us: int
    last_seen_us: int

    @property
    def key(self) -> tuple[str, str, str]:
        """What makes an alert line unique: episode, state and time."""
        return (self.alert_id, self.state.value, format_us(self.ts_us))

    def to_dict(self) -> dict[str, object]:
        """The ``alerts.jsonl`` object (CONTRACT section 4 fields)."""
        return msgspec.structs.asdict(self._line(format_us))

    def to_line(self) -> bytes:
        """The ``alerts.jsonl`` line: :meth:`to_dict` as JSON, with the same bytes."""
        return alert_lines((self,))

    def _line(self, time: Callable[[int], datetime | str]) -> _AlertLine:
        return _AlertLine(
            ts=time(self.ts_us),
            alert_id=self.alert_id,
            rule=self.rule,
            event=self.event,
            state=self.state.value,
            severity=self.severity,
            count=self.count,
            threshold=self.threshold,
            window_s=window_seconds(self.window_us),
            group=dict(self.group),
            first_seen=time(self.first_seen_us),
            last_seen=time(self.last_seen_us),
        )

    def summary(self) -> str:
        """Short human text, used as the console line and the OTel log body."""
        group = ",".join(f"{k}={v}" for k, v in self.group) or "all"
        return (
            f"{self.state.value.upper()} {self.rule} [{group}]: {self.count} {self.event} "
            f"in {window_seconds(self.window_us)}s (threshold {self.threshold})"
        )


class _AlertLine(msgspec.Struct, gc=False):
    """An ``alerts.jsonl`` object, its fields in the order they are written."""

    ts: datetime | str
    alert_id: str
    rule: str
    event: str
    state: str
    severity: str
    count: int
    threshold: int
    window_s: int | float
    group: dict[str, GroupValue]
    first_seen: datetime | str
    last_seen: datetime | str


_LINE_ENCODER = msgspec.json.Encoder()


def alert_lines(alerts: Iterable[Alert]) -> bytes:
    """The ``alerts.jsonl`` lines of ``alerts``, each ending in a newline.

    All in one call to msgspec, which writes the times in C: formatting them here took a
    third of the time of writing a replay's alerts, and encoding a dict per alert (rather
    than a struct, all lines at once) about a third of the rest. A group value's C1
    controls and bidi overrides are written as JSON escapes, as the file may be shown on a
    terminal (``otel.terminal_safe_json``).
    """
    return terminal_safe_json(
        _LINE_ENCODER.encode_lines([alert._line(_json_time) for alert in alerts]))


def alert_key_from_dict(data: dict[str, object]) -> tuple[str, str, str] | None:
    """The :attr:`Alert.key` of an already written alert line, or None if it is not one."""
    alert_id, state, ts = data.get("alert_id"), data.get("state"), data.get("ts")
    if isinstance(alert_id, str) and isinstance(state, str) and isinstance(ts, str):
        return (alert_id, state, ts)
    return None
