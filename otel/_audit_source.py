"""The security counters and rates from the hub's audit log, for every process of the hub.

A hub's ``AUTH_FAILURE`` and ``PORT_MISMATCH`` events are all in its audit log, whichever
process rejected the request. Reading them there, instead of through taps placed in the
hub's token and port code, needs no change to that code, and gives every process of the hub
(two planes as two processes, several workers) the same hub-wide numbers.

A background thread polls the log with the watcher's tailer (rotation by rename,
copytruncate, truncation, a log that is deleted or does not exist yet; never held open
between polls). Lines are decoded through the audit format, grouped per poll and added to
the counters and the 60 s windows in one call per group, so 50,000 lines a second cost a
few per cent of a core. An event's window second is its own ``ts``: every process counts an
event in the same second, and a process that starts late reads back the trailing window
first, so its rates are right from its first scrape. Events from before the process started
go to the windows only: the counters of the processes that saw them have them already.

Thread-safety: one thread reads; the sink (the event counters) is thread-safe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol, TypeVar

from ._events import UNKNOWN_PLANE
from ._files import irregular_kind
from .auditlog import AuditFormat, AuditRecord, RecordDecoder, Tailer, lookback_offset, read_back

__all__ = ["AuditLogSource", "SecurityEventSink", "SourceCounts"]

logger = logging.getLogger(__name__)

DEFAULT_POLL_S: Final = 0.25
DEFAULT_LOOKBACK_S: Final = 60.0
_PLANES: Final = frozenset({"control", "data"})


class SecurityEventSink(Protocol):
    """Where the events go: :class:`otel._events.EventCounters` is one."""

    def auth_failure(self, plane: str, reason: str, *, n: int = 1, at: float | None = None,
                     counted: bool = True) -> None: ...

    def port_mismatch(self, plane: str, *, n: int = 1, at: float | None = None,
                      counted: bool = True) -> None: ...


@dataclass(slots=True)
class SourceCounts:
    """What the reader has seen (its tailer and decoder count here too)."""

    lines_read: int = 0
    events: int = 0
    parse_errors: int = 0
    invalid_events: int = 0
    overlong_lines: int = 0
    rotations: int = 0
    truncations: int = 0
    recreations: int = 0


_T = TypeVar("_T")
# (event, plane, reason, second, counted) -> number of events
_Group = tuple[str, str, str, int, bool]


class AuditLogSource:
    """Follows an audit log in a thread and feeds its security events to ``sink``.

    Args:
        path: the audit log (followed by name; it may not exist yet).
        sink: receives the events, grouped.
        audit_format: how the lines are written (default: the contract's line).
        poll_s: seconds between polls; an event appears in the rates within about this.
        lookback_s: how far back the log is read at start.
        wall_clock: Unix seconds; the sink's windows must run on the same clock.
    """

    def __init__(self, path: Path, sink: SecurityEventSink, *,
                 audit_format: AuditFormat | None = None, poll_s: float = DEFAULT_POLL_S,
                 lookback_s: float = DEFAULT_LOOKBACK_S,
                 wall_clock: Callable[[], float] = time.time) -> None:
        if not 0 < poll_s <= 60 or not 0 <= lookback_s <= 3600:
            raise ValueError(f"poll_s must be in (0, 60] and lookback_s in [0, 3600], got "
                             f"{poll_s!r} and {lookback_s!r}")
        self.path = path
        self.counts = SourceCounts()
        self._sink = sink
        self._poll_s = poll_s
        self._lookback_s = lookback_s
        self._wall_clock = wall_clock
        self._decoder = RecordDecoder(("plane", "reason"), self.counts,
                                      audit_format=audit_format)
        # Probing the log for where the window starts must not count its lines twice.
        self._probe = RecordDecoder((), SourceCounts(), audit_format=audit_format)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_at = 0.0
        self._since = float("-inf")  # events older than the read-back window are skipped

    def start(self) -> None:
        """Start the reader thread (once)."""
        if self._thread is not None:
            return
        self._warn_if_not_a_file()
        self._started_at = self._wall_clock()
        self._thread = threading.Thread(target=self._run, name="otel-audit-log", daemon=True)
        self._thread.start()

    def read_back_once(self) -> int:
        """Feed the trailing window once, without a thread, and return how many events
        were in it (older ones are skipped). For a hub that counts with taps from now on but
        restarted: its rates
        then include the minute before the restart. Errors are logged, never raised."""
        self._warn_if_not_a_file()
        self._started_at = self._wall_clock()
        self._guarded(self._read_back)
        return self.counts.events

    def _warn_if_not_a_file(self) -> None:
        """Says once, at start, when the log is a folder, a FIFO or a device: nothing can be
        read from it, so the security counts would stay 0 without a word. A missing log is
        fine: the hub creates it."""
        kind = irregular_kind(self.path)
        if kind is not None:
            logger.warning("the audit log %s is %s, not a regular file: the security counts "
                           "stay 0 until it is one", self.path, kind)

    def stop(self, timeout_s: float = 1.0) -> None:
        """Stop the reader and wait up to ``timeout_s`` for it. Safe to call twice."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def _run(self) -> None:
        tailer = self._guarded(self._read_back) or Tailer(self.path, self.counts)
        while not self._stop.is_set():
            self._guarded(lambda: self.poll(tailer))
            self._stop.wait(self._poll_s)

    def _guarded(self, step: Callable[[], _T]) -> _T | None:
        """Run ``step``; an error is logged, never raised (telemetry never takes the hub
        down), and the next poll tries again."""
        try:
            return step()
        except Exception:
            logger.warning("reading the audit log %s failed; trying again next poll",
                           self.path, exc_info=True)
            return None

    def _read_back(self) -> Tailer:
        """Feed the trailing window from the log (and its ``.1``), and return a tailer that
        resumes right after what was read."""
        since = self._since = self._started_at - self._lookback_s
        offset, previous = lookback_offset(self.path, self._ts_of, since)
        if previous is not None:
            self._feed(read_back(*previous, self.counts, final=True).lines)
        current = read_back(self.path, offset, self.counts)
        self._feed(current.lines)
        return Tailer(self.path, self.counts, cursor=current.cursor)

    def poll(self, tailer: Tailer) -> None:
        """Read what is new (every complete line) and feed it."""
        while not self._stop.is_set():
            chunk = tailer.read()
            if chunk is None:
                return
            self._feed([chunk.lines])
            if not chunk.more:
                return

    def _feed(self, batches: Iterable[list[bytes]]) -> None:
        groups: Counter[_Group] = Counter()
        for lines in batches:
            self.counts.lines_read += len(lines)
            for record in self._records(lines):
                at = record.ts.timestamp()
                if at >= self._since:
                    groups[self._group(record, at)] += 1
        for (event, plane, reason, second, counted), n in groups.items():
            self.counts.events += n
            if event == "AUTH_FAILURE":
                self._sink.auth_failure(plane, reason, n=n, at=second, counted=counted)
            else:
                self._sink.port_mismatch(plane, n=n, at=second, counted=counted)

    def _records(self, lines: list[bytes]) -> Iterator[AuditRecord]:
        careful = self._decoder.careful
        for line in lines:
            record = careful(line)
            if record is not None and record.event in ("AUTH_FAILURE", "PORT_MISMATCH"):
                yield record

    def _group(self, record: AuditRecord, at: float) -> _Group:
        plane = getattr(record, "plane", None)
        reason = getattr(record, "reason", None)
        if not isinstance(plane, str) or plane not in _PLANES:
            plane = UNKNOWN_PLANE
        return (record.event, plane, reason if isinstance(reason, str) else "unknown",
                int(at), at >= self._started_at)

    def _ts_of(self, line: bytes) -> float | None:
        record = self._probe.careful(line)
        return None if record is None else record.ts.timestamp()
