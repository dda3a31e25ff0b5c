"""Watcher alerts as Alertmanager API v2 alerts: labels and annotations from an allow-list.

An Alertmanager alert is identified by its label set, so the labels are exactly what tells
one episode's group from another's: ``alertname`` (the rule), ``severity``, ``event``,
``source="sheratan-watcher"``, ``instance`` and the rule's ``group_by`` fields. Nothing else
goes in, never a raw audit line. The group values were made safe by the engine (``otel``'s
ValueGuard); the values taken from the rules file and the instance go through a guard of the
known secrets here. Every label value is made terminal-safe, so it is valid UTF-8 without
control characters, as a chat or mail receiver will show it. The annotations are built only
from those label values, numbers, times and the alert id.

``startsAt`` is the episode's first event; a resolved alert carries ``endsAt``, the moment it
resolved. A firing alert has no ``endsAt``: Alertmanager then resolves it by itself after its
``resolve_timeout`` unless it is sent again, which the sender does well before that.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import msgspec

from otel import Redactor, ValueGuard, load_known_secrets, terminal_safe
from watcher._alert import REDACTED, Alert, AlertState, GroupValue, window_seconds
from watcher._timefmt import EPOCH, US_PER_S, format_us, to_us

logger = logging.getLogger(__name__)

#: The ``source`` label of every alert this watcher sends.
SOURCE = "sheratan-watcher"
#: Labels the watcher sets itself; a group field of the same name could never override them.
FIXED_LABELS = frozenset({"alertname", "severity", "event", "source", "instance"})
#: Alerts files are read from at most this many bytes before their end when the sender
#: rebuilds what is firing after a restart (a firing episode repeats its line every
#: ``repeat_after_s``, so its newest line is near the end).
REBUILD_TAIL_BYTES = 64 << 20
_NOT_IN_LABEL_NAME = re.compile(r"[^A-Za-z0-9_]")


def label_name(field: str) -> str:
    """A valid Alertmanager label name for a group field (``[A-Za-z_][A-Za-z0-9_]*``); the
    groupable fields are such names already."""
    name = _NOT_IN_LABEL_NAME.sub("_", field)
    return name if name and not name[0].isdigit() else f"_{name}"


def _group_text(value: GroupValue) -> str | None:
    if value is None:
        return None
    text = terminal_safe(str(value))
    return text or None


@dataclass(frozen=True, slots=True)
class AlertLabeler:
    """Turns watcher alerts into Alertmanager's JSON.

    Args:
        instance: the ``instance`` label (by default the hub's control-plane address, the
            instance Prometheus scrapes the hub-wide security series from).
        guard: judges the values taken from the rules file and the instance (a known secret
            or credential becomes ``[redacted]``). Thread-safe; called from the sender.
    """

    instance: str
    guard: Callable[[str], str]

    def labels(self, alert: Alert) -> dict[str, str]:
        labels = {
            "alertname": terminal_safe(self.guard(alert.rule)),
            "severity": terminal_safe(self.guard(alert.severity)),
            "event": terminal_safe(self.guard(alert.event)),
            "source": SOURCE,
            "instance": terminal_safe(self.guard(self.instance)),
        }
        for field, value in alert.group:
            text, name = _group_text(value), label_name(field)
            if text is not None and name not in FIXED_LABELS:
                labels[name] = text
        return labels

    def to_api(self, alert: Alert) -> dict[str, object]:
        """One element of the ``POST /api/v2/alerts`` list."""
        labels = self.labels(alert)
        group = ", ".join(f"{k}={v}" for k, v in labels.items() if k not in FIXED_LABELS)
        window = str(window_seconds(alert.window_us))
        where = f" from {group}" if group else " hub-wide"
        body: dict[str, object] = {
            "labels": labels,
            "annotations": {
                "summary": (f"{labels['alertname']}: more than {alert.threshold} "
                            f"{labels['event']} in {window} s{where}"),
                "description": (
                    f"{alert.count} {labels['event']} events in the last {window} s{where} "
                    f"on {labels['instance']} (threshold {alert.threshold}, window {window} s); "
                    f"first {format_us(alert.first_seen_us)}, last "
                    f"{format_us(alert.last_seen_us)}. The watcher's alerts.jsonl has the "
                    f"episode as alert_id {alert.alert_id}."),
                "alert_id": alert.alert_id,
                "count": str(alert.count),
                "threshold": str(alert.threshold),
                "window_s": window,
            },
            "startsAt": format_us(alert.first_seen_us),
        }
        if alert.state is AlertState.RESOLVED:
            body["endsAt"] = format_us(max(alert.ts_us, alert.first_seen_us))
        return body


def label_guard(env: Mapping[str, str], *, home: Path,
                token_files: Sequence[Path] = ()) -> Callable[[str], str]:
    """Judges the label values taken from the rules file and the instance.

    A known secret (``HUB_TOKEN``, the token files, the hub's fingerprint), a credential
    pattern or an e-mail address becomes ``[redacted]``. Unlike the group-value guard it
    does not judge by name: a rule called ``invalid_token_burst`` is the operator's word,
    not a secret. The secrets are gathered on first use, in the sender's thread; if that
    fails, every value judged is ``[redacted]`` (fail closed).
    """

    def redactor() -> Redactor:
        known = load_known_secrets(env, home=home, token_files=token_files)
        return known.redactor(mask_emails=True)

    guard = ValueGuard(redactor, replacement=REDACTED)
    failed: list[bool] = []

    def judge(value: str) -> str:
        try:
            return guard(value)
        except Exception:
            if not failed:
                failed.append(True)
                logger.warning("could not gather the known secrets; Alertmanager labels from "
                               "the rules are sent as %s", REDACTED, exc_info=True)
            return REDACTED

    return judge

class _AlertLine(msgspec.Struct):
    """An ``alerts.jsonl`` line as this watcher writes it (unknown fields are ignored)."""

    ts: datetime
    alert_id: str
    rule: str
    event: str
    state: AlertState
    severity: str
    count: int
    threshold: int
    window_s: int | float
    group: dict[str, str | int | None]
    first_seen: datetime
    last_seen: datetime


_DECODER = msgspec.json.Decoder(_AlertLine)


def parse_alert_line(line: bytes) -> Alert | None:
    """The :class:`Alert` of one ``alerts.jsonl`` line, or None for anything else."""
    try:
        raw = _DECODER.decode(line)
        return Alert(
            ts_us=to_us(raw.ts - EPOCH), alert_id=raw.alert_id, rule=raw.rule,
            event=raw.event, state=raw.state, severity=raw.severity, count=raw.count,
            threshold=raw.threshold, window_us=round(raw.window_s * US_PER_S),
            group=tuple(raw.group.items()), first_seen_us=to_us(raw.first_seen - EPOCH),
            last_seen_us=to_us(raw.last_seen - EPOCH))
    except (msgspec.DecodeError, ValueError, TypeError, OverflowError):
        return None


def read_alert_lines(path: Path, *, tail_bytes: int | None = None) -> Iterator[Alert]:
    """The alerts of an ``alerts.jsonl`` file in file order; other lines are skipped.

    Args:
        tail_bytes: read only this many bytes before the end (the first, partial line of
            that tail is skipped); None reads the whole file.

    Raises:
        OSError: the file cannot be read (a missing file yields nothing).
    """
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        if tail_bytes is not None:
            size = handle.seek(0, 2)
            start = max(0, size - tail_bytes)
            handle.seek(start)
            if start > 0:
                handle.readline()  # the rest of a line that began before the tail
        for line in handle:
            alert = parse_alert_line(line.rstrip(b"\r\n"))
            if alert is not None:
                yield alert
