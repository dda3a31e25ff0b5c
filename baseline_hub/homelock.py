"""One hub per ``SHERATAN_HOME``: an OS lock on ``state/hub.lock``.

The store's in-memory counters and the audit log's rotation assume a single writer. The
lock is the kernel's (``flock`` on POSIX, ``msvcrt.locking`` on Windows), so it goes away
with the process, even after ``kill -9``: there is never a stale lock to clean up.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO

from . import owneronly


class HomeLocked(RuntimeError):
    """Another hub holds this home."""


class HomeLock:
    """Hold ``path`` exclusively until ``release()``."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._handle: IO[bytes] | None = None

    def acquire(self) -> None:
        """Raises:
            HomeLocked: when another process holds the lock.
        """
        owneronly.make_dir(self._path.parent)
        handle = open(  # noqa: SIM115 - held for the hub's lifetime
            self._path, "a+b", opener=owneronly.opener)
        try:
            _lock(handle)
        except OSError:
            handle.close()
            raise HomeLocked(str(self._path)) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n".encode())
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        """Idempotent; closing the file releases the lock."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


if sys.platform == "win32":
    import msvcrt

    def _lock(handle: IO[bytes]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
else:
    import fcntl

    def _lock(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
