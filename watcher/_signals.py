"""SIGINT/SIGTERM handling: handlers only set flags; a second signal asks for a forced exit."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGBREAK") if hasattr(signal, name)
)


class StopFlags:
    """Set by signal handlers (and the stdin lifeline's thread), read by the main loop.

    Plain attribute writes are atomic. ``signum`` is the first signal received (None if
    none), ``parent_gone`` whether the lifeline saw its parent exit: why the watcher stopped.
    """

    def __init__(self) -> None:
        self.should_exit = False
        self.force_exit = False
        self.signum: int | None = None
        self.parent_gone = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.should_exit:
            self.force_exit = True
        if self.signum is None:
            self.signum = signum
        self.should_exit = True

    def stop_for_parent(self) -> None:
        """The parent holding our standard input exited (or closed it to stop us)."""
        self.parent_gone = True
        self.should_exit = True

    @property
    def reason(self) -> str | None:
        """Why a stop was asked for, for the status file; None while running."""
        if self.signum is not None:
            return f"signal {signal.Signals(self.signum).name}"
        if self.parent_gone:
            return "parent exited or closed standard input"
        return None


@contextmanager
def stop_on_signals(flags: StopFlags) -> Iterator[StopFlags]:
    """Installs ``flags.handle`` for SIGINT and SIGTERM, and restores the old handlers after.

    Outside the main thread (where handlers cannot be installed) it installs nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield flags
        return
    previous = {sig: signal.signal(sig, flags.handle) for sig in _SIGNALS}
    try:
        yield flags
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Interrupted(Exception):
    """A run was stopped by a signal before it finished (``--replay``, ``--check-rules``)."""
