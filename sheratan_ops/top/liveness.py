"""Whether the process that wrote a status file still runs: its pid, guarded against reuse.

A status file names its writer's ``pid``, ``host`` and ``started_at``. On the host that wrote
it, the pid is looked up with psutil (``os.kill(pid, 0)`` is POSIX-only, and on Windows it
would terminate the process): a pid that is gone, a zombie, or held by a process created
after ``started_at`` (the pid was reused) means the writer is gone. On another host (a
home on a shared drive, another container) nothing can be told.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from datetime import datetime

#: ``started_at`` is written after the process was created (imports, the lock), so a process
#: created more than this after it is another one.
PID_REUSE_SLACK_S = 1.0


def writer_alive(fields: Mapping[str, str | int], *, pid_key: str = "pid",
                 started_key: str = "started_at") -> bool | None:
    """Whether the writer of a status with these fields still runs; None if unknown.

    Args:
        fields: The status file's scalar fields.
        pid_key: The field holding the writer's pid.
        started_key: The field holding when the writer started (RFC 3339).
    """
    pid = fields.get(pid_key)
    if not isinstance(pid, int) or pid <= 0:
        return None
    host = fields.get("host")
    if isinstance(host, str) and host != socket.gethostname():
        return None
    started = fields.get(started_key)
    return pid_alive(pid, parse_aware(started) if isinstance(started, str) else None)


def pid_alive(pid: int, started_at: datetime | None) -> bool | None:
    """Whether ``pid`` runs and was created no later than ``started_at`` (plus a slack)."""
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError:  # a dependency, but never worth a crash of the view
        return None
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        created_s = float(process.create_time())
    except psutil.NoSuchProcess:
        return False
    except (psutil.Error, OSError):  # it exists, but is not ours to look at
        return True
    # Created after the writer started: the pid was reused by another process.
    return started_at is None or created_s <= started_at.timestamp() + PID_REUSE_SLACK_S


def parse_aware(text: str) -> datetime | None:
    """An ISO-8601 time with its zone, or None (no zone, or not a time)."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
