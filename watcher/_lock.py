"""One watcher per ``SHERATAN_HOME``: an OS lock on ``state/watcher.lock``.

Two watchers on one home would each resume from the same checkpoint and append the same
alerts. The lock is the kernel's (:class:`otel.ExclusiveFileLock`), so it goes away with the
process, even after ``kill -9``: there is never a stale lock to clean up.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from otel import ExclusiveFileLock
from watcher._private import make_private_dir, open_private


class WatcherLocked(RuntimeError):
    """Another process holds the lock. ``path`` is the lock file."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} is locked by another watcher")
        self.path = path


def _open(path: Path) -> int:
    return open_private(path, os.O_RDWR | os.O_CREAT)  # 0600 when created here


class InstanceLock:
    """Holds ``path`` exclusively from :meth:`acquire` until :meth:`release` (or the ``with``)."""

    def __init__(self, path: Path) -> None:
        self._lock = ExclusiveFileLock(path, _open)

    def acquire(self) -> None:
        """Takes the lock without waiting.

        Raises:
            WatcherLocked: another process holds it.
            UnsafeFile: the lock path is a symlink or not a regular file (never followed:
                the pid written in it would truncate its target).
            OSError: the lock file cannot be created or locked.
        """
        make_private_dir(self._lock.path.parent)
        if not self._lock.acquire():
            raise WatcherLocked(self._lock.path)

    def release(self) -> None:
        """Idempotent; closing the file releases the lock."""
        self._lock.release()

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
