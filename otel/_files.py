"""Reading a small file a tool depends on (a token file, the token fingerprint), safely.

Only a regular file is read, opened without blocking, so a FIFO or a device planted in its
place cannot hang the tool at start; the read is bounded.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["read_small_regular"]


def read_small_regular(path: Path, max_bytes: int) -> bytes:
    """Up to ``max_bytes + 1`` bytes of ``path`` (one more, so the caller can tell "too
    large"), from a regular file only.

    Raises:
        OSError: it cannot be read, or is not a regular file (``EINVAL``).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return handle.read(max_bytes + 1)
