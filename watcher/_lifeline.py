"""``--stop-on-stdin-eof``: a watcher that lives and dies with the process that started it.

The parent (the hub's ``--watcher``) starts the watcher with a pipe on its standard input and
never writes to it. The operating system closes the parent's end when the parent exits,
however it exits (``kill -9``, a crash, ``TerminateProcess`` on Windows), and a read on the
watcher's end then returns end of file. A daemon thread blocks in that read and, at end of
file, asks the main loop to stop by setting the flag a signal handler would set: the watcher
saves its checkpoint, flushes and exits 0. The parent also stops the watcher this way, which
works on Windows, where a child without a console gets no SIGTERM.

Why a pipe rather than watching the parent's pid: it needs no polling, no process table and no
guard against pid reuse, and it behaves the same on every platform.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

_READ_BYTES = 4096


def watch_stdin(on_eof: Callable[[], None], *, fd: int = 0) -> threading.Thread:
    """Starts a daemon thread that calls ``on_eof`` once ``fd`` reaches end of file.

    Anything read before is ignored. A read error counts as end of file (with a warning):
    the parent can no longer be told apart from a dead one.

    Args:
        on_eof: called once, from the thread; it must only set flags.
        fd: the descriptor to watch (standard input).
    """
    thread = threading.Thread(target=_wait_for_eof, args=(fd, on_eof),
                              name="watcher-stdin-lifeline", daemon=True)
    thread.start()
    return thread


def _wait_for_eof(fd: int, on_eof: Callable[[], None]) -> None:
    try:
        while os.read(fd, _READ_BYTES):
            pass
    except OSError as exc:
        logger.warning("cannot read standard input (%s); stopping as if the parent exited",
                       exc)
    on_eof()
