"""``--replay``: a whole file from its start, in event time only, into one alerts file.

It holds no lock and writes no checkpoint, so it imports neither (``_runner`` follows a live
log with both).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from otel import ValueGuard
from otel.auditlog import AuditFormat, iter_file_lines
from watcher._alert import alert_lines
from watcher._engine import Engine
from watcher._private import check_regular
from watcher._rules import RuleSet
from watcher._signals import Interrupted
from watcher._status import Counters, atomic_output


def replay(rules: RuleSet, log_path: Path, out_path: Path, *,
           wall_clock: Callable[[], float] = time.time,
           should_stop: Callable[[], bool] = lambda: False,
           value_guard: ValueGuard | None = None,
           audit_format: AuditFormat | None = None) -> Counters:
    """Evaluates a whole file from its start with event time only; no checkpoint.

    The result is deterministic for any log of past events (the wall clock only rejects lines
    stamped in the future) and the same known secrets. ``out_path`` is replaced atomically at
    the end (a 0600 file), or left untouched.

    Args:
        should_stop: polled between chunks; once true, the replay is abandoned.
        value_guard: makes group values safe (see :class:`Engine`).
        audit_format: how the lines are written (default: the contract's line).

    Raises:
        UnsafeFile: ``out_path`` is a symlink, FIFO, folder or device; it was not touched
            (a rename over a symlink would silently replace the link).
        OSError: the log cannot be read or the output cannot be written.
        Interrupted: ``should_stop`` became true; nothing was written to ``out_path``.
    """
    check_regular(out_path)
    counters = Counters()
    engine = Engine(rules, counters, wall_clock=wall_clock, value_guard=value_guard,
                    audit_format=audit_format)
    with atomic_output(out_path, durable=True) as out:
        for split in iter_file_lines(log_path, counters):
            if should_stop():
                raise Interrupted(f"replay of {log_path} stopped")
            engine.feed(split.lines, ascii=split.ascii)
            alerts = engine.take_alerts()
            if alerts:
                out.write(alert_lines(alerts))
                counters.alerts += len(alerts)
        if should_stop():
            raise Interrupted(f"replay of {log_path} stopped")
    return counters
