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

    def add(self, n: int = 1) -> None:
        """Count ``n`` events at the clock's current time."""
        second = math.floor(self._clock())
        index = second % self._window_s
        with self._lock:
            if self._seconds[index] != second:
                self._seconds[index] = second
                self._counts[index] = 0
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
