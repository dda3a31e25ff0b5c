"""One process per home: an exclusive kernel lock on a file, held for the process's lifetime.

The lock is ``filelock``'s native one (``flock`` on POSIX, ``LockFileEx`` on byte 0 on
Windows), taken on a descriptor the caller opens, so each tool keeps its own rules for the
file (owner-only, never through a symlink). It goes away with the process, even after
``kill -9``: there is never a stale lock to clean up. ``filelock``'s soft (marker file)
locks are never used: a crashed holder would leave one behind.

The file stays where it is after release (nothing is deleted), and holds the holder's pid,
for people; the lock is what counts.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from filelock import lock_descriptor

__all__ = ["ExclusiveFileLock"]


class ExclusiveFileLock:
    """Holds ``path`` exclusively from a successful :meth:`acquire` until :meth:`release`.

    Args:
        path: the lock file.
        open_fd: opens ``path`` read-write, creating it when missing, and returns the
            descriptor (the caller's owner-only, symlink-refusing open). Its errors pass
            through :meth:`acquire` unchanged.

    Not thread-safe: one owner acquires and releases.
    """

    def __init__(self, path: Path, open_fd: Callable[[Path], int]) -> None:
        self.path = path
        self._open_fd = open_fd
        self._handle: BinaryIO | None = None

    @property
    def held(self) -> bool:
        return self._handle is not None

    def acquire(self) -> bool:
        """Takes the lock without waiting. True when taken (or already held here), False when
        another holder has it: a process, or another open of the file in this one.

        Raises:
            OSError: the file cannot be opened, or the OS cannot lock it (a file system
                without locks): anything but another holder.
        """
        if self._handle is not None:
            return True
        handle = os.fdopen(self._open_fd(self.path), "r+b")
        try:
            if not lock_descriptor(handle.fileno(), blocking=False):
                handle.close()
                return False
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n".encode())
            handle.flush()
        except BaseException:
            handle.close()  # closing drops the lock too
            raise
        self._handle = handle
        return True

    def release(self) -> None:
        """Idempotent; closing the file releases the lock."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
