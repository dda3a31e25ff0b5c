"""One hub per ``SHERATAN_HOME``: an OS lock on ``state/hub.lock``.

The store's in-memory counters and the audit log's rotation assume a single writer. The
lock is the kernel's (:class:`otel.ExclusiveFileLock`), so it goes away with the process,
even after ``kill -9``: there is never a stale lock to clean up.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from otel import ExclusiveFileLock

from . import owneronly


class HomeLocked(RuntimeError):
    """Another hub holds this home."""


def _open(path: Path) -> int:
    """Opens the lock file, 0600 when created here, never through a symlink: acquiring
    empties the file, so a link would empty whatever it points to (found by review)."""
    if path.is_symlink():  # where the OS has no O_NOFOLLOW (Windows); it also says why
        raise OSError(errno.ELOOP, "a symbolic link where the hub's lock file belongs",
                      str(path))
    return owneronly.opener(str(path), os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0))


class HomeLock:
    """Hold ``path`` exclusively until ``release()``."""

    def __init__(self, path: Path) -> None:
        self._lock = ExclusiveFileLock(path, _open)

    def acquire(self) -> None:
        """Raises:
            HomeLocked: when another process holds the lock.
            OSError: the lock file cannot be opened or locked.
        """
        owneronly.make_dir(self._lock.path.parent)
        if not self._lock.acquire():
            raise HomeLocked(str(self._lock.path))

    def release(self) -> None:
        """Idempotent; closing the file releases the lock."""
        self._lock.release()
