"""A bounded trailing-window event counter for the ``*_rate_1m`` gauges."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

__all__ = ["WindowCounter"]


class WindowCounter:
    """Counts events in the trailing ``window_s`` seconds, in whole-second buckets.

    Memory is ``window_s`` buckets whatever the event rate, so a scanner burst cannot grow
    it. An event is counted while ``floor(now) - floor(event_time) < window_s``: the
    window is ``window_s`` seconds wide at one-second resolution.

    Thread-safety: ``add`` runs on the hub's event-loop thread and ``total`` may run on a
    metric reader's thread, so both take the lock; each holds it for O(window_s) work.
    """

    __slots__ = ("_clock", "_counts", "_lock", "_seconds", "_window_s")

    def __init__(self, clock: Callable[[], float], *, window_s: int = 60) -> None:
        if isinstance(window_s, bool) or not isinstance(window_s, int) or window_s < 1:
            raise ValueError(f"window_s must be a positive int, got {window_s!r}")
        self._clock = clock
        self._window_s = window_s
        self._counts = [0] * window_s
        # The whole second each bucket currently holds; -inf marks a never-used bucket.
        self._seconds: list[float] = [-math.inf] * window_s
        self._lock = threading.Lock()

    def add(self, n: int = 1, *, at: float | None = None) -> None:
        """Count ``n`` events at the clock's current time, or at ``at`` (seconds on the same
        clock) for an event that happened earlier: one read back from a log or a store.

        An event older than the window is not counted; one stamped in the future (another
        process' clock a little ahead) counts as now.
        """
        now = math.floor(self._clock())
        second = now if at is None else min(now, math.floor(at))
        if second <= now - self._window_s:
            return
        index = second % self._window_s
        with self._lock:
            if self._seconds[index] < second:
                self._seconds[index] = second
                self._counts[index] = 0
            elif self._seconds[index] > second:
                return  # its bucket already holds a newer second: it left the window
            self._counts[index] += n

    def total(self) -> int:
        """The number of events in the trailing window, at the clock's current time."""
        oldest = math.floor(self._clock()) - self._window_s
        with self._lock:
            return sum(
                count
                for count, second in zip(self._counts, self._seconds, strict=True)
                if second > oldest
            )
