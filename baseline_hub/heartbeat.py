"""Whether the hub's watcher is alive: its status file, and its CPU time.

A running watcher rewrites ``state/watcher_status.json`` about every second, however busy,
and uses some CPU every poll. One that does neither for ``HUNG_AFTER_S`` is stopped
(SIGSTOP), deadlocked or stuck on a read: it hangs. Either sign alone keeps it alive, so a
watcher that cannot write its status (a full disk) but still polls is not taken for hung.

The status is read as ``hub_top`` reads it (``otel.open_regular``): a symlink is not
followed, a FIFO is not waited on, and on Windows the watcher may replace the file while it
is open here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from otel import open_regular

#: How long a running watcher may show no sign of life before it counts as hung and is
#: killed: well past the 10 s after which ``hub_top`` shows it silent, so that only a real
#: hang is cut short.
HUNG_AFTER_S = 60.0
#: What the watcher's status says once it has the lock, its files and its state.
RUNNING_STATES = ("following", "waiting_for_log")
#: How often the signs of life are looked at.
_CHECK_S = 1.0
#: A gap this long between two looks means the supervisor itself did not run (the machine
#: slept): the watcher did not either, so the silence so far does not count.
_PAUSE_S = 5.0
#: More than any status the watcher writes (a few hundred bytes): the rest is not read.
_STATUS_MAX_BYTES = 64 * 1024


class Heartbeat:
    """Whether a watcher hangs: neither its status nor its CPU time moved for more than
    ``hung_after_s``.

    Only a status written by the watcher (:func:`written_by`) counts; until it writes one,
    the time since it was started counts. Times are the supervisor's monotonic clock, read
    only here: a gap of ``_PAUSE_S`` between two looks means the supervisor did not run
    either (the machine slept), and restarts the count. Not thread-safe (one supervisor
    thread).

    Args:
        status_path: the watcher's status file.
        pid: the pid of the process the supervisor started.
        hung_after_s: the least silence that counts as a hang.
        since: when it was started (default: now), on ``clock``.
        clock: monotonic seconds (tests pass their own).
        cpu_s: the CPU seconds so far of the process with the given pid, None when unknown
            (default: by psutil). The pid is the one the watcher's status names once it wrote
            one (a launcher's interpreter on Windows), else ``pid``.
    """

    def __init__(self, status_path: Path, pid: int, *, hung_after_s: float = HUNG_AFTER_S,
                 since: float | None = None, clock: Callable[[], float] = time.monotonic,
                 cpu_s: Callable[[int], float | None] | None = None) -> None:
        self._path = status_path
        self._pid = pid
        self._hung_after_s = hung_after_s
        self._clock = clock
        self._cpu_s = cpu_s if cpu_s is not None else process_cpu_s
        self._seen: tuple[object, float | None] = (None, None)  # updated_at, CPU seconds
        self._looked_at = clock()
        self._alive_at = self._looked_at if since is None else since

    def silent_s(self) -> float | None:
        """How long the watcher has shown no sign of life, once that is long enough to call
        it hung; else None. Looks at most every ``_CHECK_S``."""
        now = self._clock()
        if now - self._looked_at < _CHECK_S:
            return None
        if now - self._looked_at > _PAUSE_S:
            self._alive_at = now  # this process was not running either: nothing to judge
        self._looked_at = now
        body = read_status(self._path)
        written = body if body is not None and written_by(body, self._pid) else {}
        own = written.get("pid")
        signs = (written.get("updated_at"), self._cpu_s(own if isinstance(own, int) else self._pid))
        # A sign moved since the last look (the first look only takes note of it).
        if any(None not in (new, old) and new != old
               for new, old in zip(signs, self._seen, strict=True)):
            self._alive_at = now
        self._seen = signs
        silent = now - self._alive_at
        return silent if silent > self._hung_after_s else None


def process_cpu_s(pid: int) -> float | None:
    """The user and system CPU seconds of process ``pid``, or None (gone, or not ours to see).
    One read of that process: no walk over the machine's processes every second."""
    import psutil  # type: ignore[import-untyped]  # psutil ships no types

    try:
        return float(sum(psutil.Process(pid).cpu_times()[:2]))
    except psutil.Error:
        return None


def written_by(status: Mapping[str, object], pid: int) -> bool:
    """Whether the watcher started as ``pid`` wrote ``status``: that process, or the
    interpreter it started (on Windows a venv's ``python.exe`` is a launcher that runs the
    real interpreter as its child, under another pid)."""
    return pid in (status.get("pid"), status.get("ppid"))


def running_pid(status: Mapping[str, object] | None, pid: int) -> int | None:
    """The watcher's own pid once its status, written by it, says it runs: it holds the lock
    and its files and state are usable (``starting`` means only the lock)."""
    if status is None or not written_by(status, pid) or \
            status.get("state") not in RUNNING_STATES:
        return None
    own = status.get("pid")
    return own if isinstance(own, int) else None


def read_status(path: Path) -> dict[str, object] | None:
    """The watcher's status, or None: missing, unreadable, being replaced, not a JSON object,
    or no regular file."""
    try:
        with open_regular(path) as handle:
            body = json.loads(handle.read(_STATUS_MAX_BYTES))
    except (OSError, ValueError, RecursionError):  # NotRegularFile is an OSError
        return None
    return body if isinstance(body, dict) else None


def status_age_s(status: Mapping[str, object]) -> float | None:
    """Seconds since a running watcher last wrote ``status``, by the wall clock (the status
    may be another process's); None when it is not one that says it runs."""
    if status.get("state") not in (*RUNNING_STATES, "starting"):
        return None  # a stopped watcher's last words, or no status
    try:
        return time.time() - datetime.fromisoformat(str(status.get("updated_at"))).timestamp()
    except ValueError:
        return None
