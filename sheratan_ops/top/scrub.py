"""Making what one refresh read safe to show: secrets redacted, then terminal escapes shown.

Every string in a snapshot came from outside: alert rules and group values from
``alerts.jsonl`` (group values are written by the hub's clients), the watcher's status
fields, error texts and answers from the hub, paths and URLs. Before any of it reaches
rich, it goes through otel's redaction (the known secrets, the hub token's fingerprint,
credential patterns) and then :func:`otel.terminal_safe`, so a line cannot clear the screen,
retitle the window, forge a row or turn its text around, and no secret is drawn.

The view refreshes every second or so and shows mostly the same strings each time, so each
distinct string is judged once and its verdict kept in a bounded LRU.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping

from otel import Redactor, ValueGuard, terminal_safe

from .model import AlertRow, AlertsTail, PlaneReading, Snapshot, SupervisorStatus, WatcherStatus

#: Distinct strings whose safe form is remembered (per kind: free text and single values).
DEFAULT_CACHE_SIZE = 4096


class Scrubber:
    """Turns a raw :class:`Snapshot` into one whose every string may be drawn.

    Args:
        redactor: The tool's redactor, built once from its known secrets.
        cache_size: The most distinct strings whose safe form is remembered.

    Not thread-safe beyond what ``functools.lru_cache`` gives: the view is one thread.
    """

    def __init__(self, redactor: Redactor, *, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        if cache_size < 1:
            raise ValueError(f"cache_size must be >= 1, got {cache_size}")
        self._redactor = redactor
        self._guard = ValueGuard(lambda: redactor, replacement=redactor.replacement,
                                 cache_size=cache_size)
        self.text: Callable[[str], str] = functools.lru_cache(maxsize=cache_size)(self._text)
        self.value: Callable[[str], str] = functools.lru_cache(maxsize=cache_size)(
            self._value)

    def _text(self, text: str) -> str:
        """Free text (a rule name, an error, a path): secrets cut out, the rest kept."""
        return terminal_safe(self._redactor.redact_text(text)[0])

    def _value(self, value: str) -> str:
        """One client-controlled value (an alert's group value): kept whole, canonical when
        it is an IP address, or replaced whole when it looks like a credential."""
        return terminal_safe(self._guard(value))

    def snapshot(self, snap: Snapshot) -> Snapshot:
        """``snap`` with every string it carries made safe to show."""
        return dataclasses.replace(
            snap, control=self.plane(snap.control), data=self.plane(snap.data),
            alerts=self.alerts(snap.alerts), watcher=self.watcher(snap.watcher),
            supervisor=None if snap.supervisor is None else self.supervisor(snap.supervisor),
            rules_problem=self._optional(snap.rules_problem))

    def plane(self, reading: PlaneReading) -> PlaneReading:
        """A plane's URL, error and ``generated_at`` (its values are integers; its name is
        ours, ``control`` or ``data``)."""
        return dataclasses.replace(
            reading, url=self.text(reading.url),
            generated_at=self._optional(reading.generated_at),
            error=self._optional(reading.error))

    def alerts(self, tail: AlertsTail) -> AlertsTail:
        """The alerts tail's path, error and the rows it keeps."""
        return dataclasses.replace(
            tail, path=self.text(tail.path), error=self._optional(tail.error),
            rows=tuple(self.alert(row) for row in tail.rows))

    def alert(self, row: AlertRow) -> AlertRow:
        """One alert: group keys and every text as free text, group values as values."""
        return dataclasses.replace(
            row, ts=self.text(row.ts), alert_id=self.text(row.alert_id),
            rule=self.text(row.rule), severity=self.text(row.severity),
            group=self._group(row.group))

    def watcher(self, status: WatcherStatus) -> WatcherStatus:
        """The watcher status' path, error and string fields (``updated_at`` is already
        parsed; the keys are looked up by name and never drawn)."""
        return dataclasses.replace(status, path=self.text(status.path),
                                   fields=self._fields(status.fields),
                                   error=self._optional(status.error))

    def supervisor(self, status: SupervisorStatus) -> SupervisorStatus:
        """The hub supervisor's path and string fields."""
        return dataclasses.replace(status, path=self.text(status.path),
                                   fields=self._fields(status.fields))

    def _fields(self, fields: Mapping[str, str | int]) -> dict[str, str | int]:
        return {key: self.text(value) if isinstance(value, str) else value
                for key, value in fields.items()}

    def _group(self, group: Mapping[str, str]) -> dict[str, str]:
        return {self.text(key): self.value(value) for key, value in group.items()}

    def _optional(self, text: str | None) -> str | None:
        return None if text is None else self.text(text)
