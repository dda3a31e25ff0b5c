"""The watcher's cycle: read a chunk, evaluate, write its alerts durably, then checkpoint.

Follow mode and ``--once`` only; ``--replay`` (``_replay``) needs no checkpoint.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from otel import ValueGuard
from otel.auditlog import DEFAULT_READ_BYTES, AuditFormat, Cursor, Tailer
from sheratan_home import layout
from watcher._alert import Alert
from watcher._alerts_file import repair_torn_tail
from watcher._checkpoint import (
    Checkpoint,
    load_checkpoint,
    save_checkpoint,
    written_alert_keys,
)
from watcher._engine import Engine
from watcher._guard import default_value_guard
from watcher._private import make_private_dir
from watcher._rules import RuleSet
from watcher._sinks import AlertSink, JsonlAlertSink
from watcher._status import Counters
from watcher._timefmt import US_PER_S

logger = logging.getLogger(__name__)

#: The names below the state folder (``sheratan_home.layout``).
CHECKPOINT_NAME = layout.WATCHER_CHECKPOINT_FILE.name
#: A log counts as live when its lines are stamped when they are written: its newest event
#: was at most this far from the wall clock when it was read, or the file was last written
#: at most this long after the event clock (a live log in a quiet period, also right after
#: a restart). A log of old events written now (a copy, a test) is not live.
LIVE_LAG_S = 5.0
#: On a live log the clock advances to wall time minus this grace after each poll, so a
#: line stamped just before a poll but appended just after it still finds its window as it
#: was. The hub stamps and appends within milliseconds; a resolve is noticed at most this
#: plus one poll interval after it was due.
IDLE_GRACE_S = 0.25
#: The longest time between checkpoints that save only an idle clock advance. Losing one costs
#: nothing: a restart advances the clock again and reaches the same alerts, and any advance
#: that produces alerts is checkpointed at once.
IDLE_CHECKPOINT_INTERVAL_S = 30.0


@dataclass(frozen=True, slots=True)
class WatchPaths:
    """The files of one watcher."""

    log: Path
    alerts: Path
    state_dir: Path

    @property
    def checkpoint(self) -> Path:
        return self.state_dir / CHECKPOINT_NAME


class Watcher:
    """Follows one audit log with checkpoints (``--once`` and follow mode).

    Args:
        rules: the validated rules.
        paths: log, alerts file and state directory.
        sinks: extra sinks (OTel, console), served after ``alerts.jsonl`` is durable.
        wall_clock: seconds since the epoch; resolves and repeats alerts on a live log
            between its lines, and bounds how far in the future a line may be stamped.
        idle_advance: whether :meth:`idle` may move event time forward by the wall clock
            (follow mode and ``--once``).
        checkpoint_interval_s: the longest time between checkpoints while lines flow.
        value_guard: makes group values safe (see :class:`Engine`); default: one that knows
            no secret values.

    Raises:
        UnsafeFile: ``paths.alerts`` is a symlink, FIFO, folder or device, or a file this
            watcher did not write (its last line is no alert line, nor a torn one); it was
            not touched. A torn last alert line is cut (the alert is written again whole).
    """

    def __init__(self, rules: RuleSet, paths: WatchPaths, *, sinks: Sequence[AlertSink] = (),
                 wall_clock: Callable[[], float] = time.time, idle_advance: bool = True,
                 checkpoint_interval_s: float = 1.0, read_bytes: int = DEFAULT_READ_BYTES,
                 value_guard: ValueGuard | None = None,
                 audit_format: AuditFormat | None = None) -> None:
        self._rules = rules
        self._audit_format = audit_format
        self._paths = paths
        self._sinks = tuple(sinks)
        self._wall_clock = wall_clock
        self._idle_advance = idle_advance
        self._checkpoint_interval_s = checkpoint_interval_s
        self.counters = Counters()
        self._guard = value_guard if value_guard is not None else default_value_guard()
        self._engine = Engine(rules, self.counters, wall_clock=wall_clock,
                              value_guard=self._guard, audit_format=audit_format)
        # Resolved once rather than at every checkpoint, which names both files.
        self._log_path = str(paths.log.absolute())
        self._alerts_path = str(paths.alerts.absolute())
        self._last_checkpoint = float("-inf")
        self._dirty = False
        self._live = False
        make_private_dir(paths.state_dir)
        make_private_dir(paths.alerts.parent)
        repair_torn_tail(paths.alerts)  # creates it: an unwritable folder fails here, at start
        self._jsonl = JsonlAlertSink(paths.alerts)
        cursor, alerts_from = self._resume(load_checkpoint(paths.checkpoint))
        self._suppress: set[tuple[str, str, str]] = written_alert_keys(paths.alerts,
                                                                        alerts_from)
        self._saved_identity = None if cursor is None else (cursor.dev, cursor.ino)
        self._tailer = Tailer(paths.log, self.counters, cursor=cursor, read_bytes=read_bytes)

    def _resume(self, saved: Checkpoint | None) -> tuple[Cursor | None, int]:
        """Restores a checkpoint. Returns the cursor, and where the alerts to skip once begin.

        Without a usable checkpoint the log is read from its start, and every alert already in
        ``alerts.jsonl`` is skipped once: that keeps exactly-once even when the saved state
        cannot be trusted.
        """
        paths = self._paths
        if saved is None:
            return None, 0
        if not _same_path(saved.log_path, self._log_path):
            logger.warning("checkpoint is for %s, not %s; starting over", saved.log_path,
                           paths.log)
            return None, 0
        counters = Counters.from_dict(saved.counters)
        engine = Engine(self._rules, counters, wall_clock=self._wall_clock,
                        value_guard=self._guard, audit_format=self._audit_format)
        if saved.engine is not None:
            try:
                for name in engine.restore(saved.engine):
                    logger.warning("rule %r changed since the checkpoint; its state restarts",
                                   name)
            except ValueError as exc:
                logger.warning("checkpoint engine state unusable (%s); reading the log from "
                               "its start, skipping alerts already written", exc)
                return None, 0
        self.counters, self._engine = counters, engine
        if saved.cursor is None or not _same_path(saved.alerts_path, self._alerts_path):
            return saved.cursor, 0  # from the log's start, or a new alerts file: check it all
        return saved.cursor, saved.alerts_bytes

    @property
    def lag_bytes(self) -> int:
        return self._tailer.lag_bytes

    @property
    def waiting(self) -> bool:
        """True while the log does not exist yet."""
        return self._tailer.waiting

    def poll(self, should_stop: Callable[[], bool] = lambda: False) -> int:
        """Reads and evaluates everything new. Returns the number of lines read.

        Stops after a chunk that reached the end of the newest file, rather than reading once
        more to learn that nothing followed: lines written since are the next poll's.
        """
        total = 0
        while not should_stop():
            chunk = self._tailer.read()
            if chunk is None:
                self._save_new_identity()
                break
            total += len(chunk.lines)
            self._engine.feed(chunk.lines, ascii=chunk.ascii)
            self._dirty = True
            clock = self._engine.clock_us
            if clock is not None:
                lag_s = self._wall_clock() - clock / US_PER_S
                self._live = abs(lag_s) <= LIVE_LAG_S
            self._deliver(self._engine.take_alerts())
            self._save_new_identity()
            if not chunk.more:
                break
        return total

    def _save_new_identity(self) -> None:
        # Which file is being read must be durable at once: after a rotation a restart can
        # only find the unread rest of the old file by its identity.
        cursor = self._tailer.cursor
        identity = None if cursor is None else (cursor.dev, cursor.ino)
        if identity != self._saved_identity:
            self._dirty = True
            self.checkpoint()

    def idle(self) -> None:
        """Called after a poll read up to the end of the log: on a live log, let wall time
        resolve and repeat alerts, whether or not another line ever comes.

        The event-time clock moves to ``now - IDLE_GRACE_S``, and what fell due meanwhile is
        emitted (stamped with the moment it was due) to every sink. Lines stamped before the
        clock are handled as always: counted while inside their window, late after it. A
        log of old events stays purely event-time, as in ``--replay``.
        """
        clock = self._engine.clock_us
        if not self._idle_advance or clock is None:
            return
        if not self._live:
            self._live = self._written_live(clock)  # kept until a chunk judges again
            if not self._live:
                return
        target = int((self._wall_clock() - IDLE_GRACE_S) * US_PER_S)
        if target > clock:
            self._engine.advance_to(target)
            self._dirty = True
            self._deliver(self._engine.take_alerts(), interval_s=IDLE_CHECKPOINT_INTERVAL_S)

    def _written_live(self, clock_us: int) -> bool:
        """Whether the log was last written no later than its event clock (plus the lag):
        its lines were appended as they happened, and nothing came since. True in a quiet
        period of a live log, also for a watcher restarted in one, which never saw a line
        arrive; false for old events written now. One stat, only while not known live."""
        try:
            written_s = self._paths.log.stat().st_mtime
        except OSError:  # missing or unreadable now: the next poll looks again
            return False
        return written_s <= clock_us / US_PER_S + LIVE_LAG_S

    def _deliver(self, alerts: list[Alert], *, interval_s: float | None = None) -> None:
        """Writes new alerts durably, then checkpoints if any were written or ``interval_s``
        (else the checkpoint interval) has passed since the last checkpoint."""
        fresh: list[Alert] = []
        for alert in alerts:
            if self._suppress and alert.key in self._suppress:
                self._suppress.discard(alert.key)
                self.counters.alerts_suppressed += 1
            else:
                fresh.append(alert)
        if fresh:
            self._jsonl.emit(fresh)  # durable before anything else sees them
            self.counters.alerts += len(fresh)
            for sink in self._sinks:
                sink.emit(fresh)
        if interval_s is None:
            interval_s = self._checkpoint_interval_s
        if fresh or time.monotonic() - self._last_checkpoint >= interval_s:
            self.checkpoint()

    def checkpoint(self) -> None:
        """Saves the cursor and engine state; everything before the cursor is durable."""
        if not self._dirty and self._last_checkpoint > float("-inf"):
            return
        save_checkpoint(self._paths.checkpoint, Checkpoint(
            log_path=self._log_path,
            alerts_path=self._alerts_path,
            alerts_bytes=self._jsonl.size_bytes,
            cursor=self._tailer.cursor,
            engine=self._engine.snapshot(),
            counters=self.counters.as_dict(),
        ))
        self._dirty = False
        self._last_checkpoint = time.monotonic()
        cursor = self._tailer.cursor
        self._saved_identity = None if cursor is None else (cursor.dev, cursor.ino)

    def close(self) -> None:
        """Saves what is not checkpointed yet and closes the sinks. Safe to call twice."""
        self.checkpoint()
        for sink in self._sinks:
            sink.close()



def _same_path(saved: str, current: str) -> bool:
    """Whether a checkpoint's path names the file this watcher uses: spelled the same, or the
    same once symlinks are resolved (a home reached through a link, as ``SHERATAN_HOME`` may
    spell it, is the same home)."""
    return saved == current or os.path.realpath(saved) == os.path.realpath(current)
