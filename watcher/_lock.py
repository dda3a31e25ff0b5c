"""One watcher per ``SHERATAN_HOME``: an OS lock on ``state/watcher.lock``.

Two watchers on one home would each resume from the same checkpoint and append the same
alerts. The lock is the kernel's (``flock`` on POSIX, ``msvcrt.locking`` on Windows), so it
goes away with the process, even after ``kill -9``: there is never a stale lock to clean up.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import TracebackType
from typing import IO

from watcher._private import make_private_dir, open_private

LOCK_NAME = "watcher.lock"


class WatcherLocked(RuntimeError):
    """Another process holds the lock. ``path`` is the lock file."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} is locked by another watcher")
        self.path = path


class InstanceLock:
    """Holds ``path`` exclusively from :meth:`acquire` until :meth:`release` (or the ``with``)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._handle: IO[bytes] | None = None

    def acquire(self) -> None:
        """Takes the lock without waiting.

        Raises:
            WatcherLocked: another process holds it.
            UnsafeFile: the lock path is a symlink or not a regular file (never followed:
                the pid written below would truncate its target).
            OSError: the lock file cannot be created.
        """
        make_private_dir(self._path.parent)
        fd = open_private(self._path, os.O_RDWR | os.O_CREAT)  # 0600 when created here
        handle = os.fdopen(fd, "r+b")  # held for the watcher's lifetime
        try:
            _lock(handle)
        except OSError:
            handle.close()
            raise WatcherLocked(self._path) from None
        # The pid is for people; the lock is what counts.
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

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


if sys.platform == "win32":
    import msvcrt

    def _lock(handle: IO[bytes]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
else:
    import fcntl

    def _lock(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
