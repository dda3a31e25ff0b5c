"""Is an open log file still the one at its path? The check of ``WatchedFileHandler``.

A writer that holds its file open across writes keeps writing into the old file after an
operator deletes it, moves it away or puts another file in its place, and every reader that
follows the path (the watcher, diagnose, the metrics layer) sees nothing more. The writers
here ask before each write and reopen the path when the answer is yes.
"""

from __future__ import annotations

import os

StrPath = str | os.PathLike[str]


def is_replaced(path: StrPath, fd: int) -> bool:
    """True when ``path`` no longer names the file open as ``fd``.

    That is when the path is missing (the file was deleted or moved away), or when its
    ``(st_dev, st_ino)`` differs from the open file's (another file was put in its place).
    Where the platform reports no inode number (``st_ino`` 0, as on Windows before Python
    3.12 on some file systems) only a missing path counts. Any other error from ``stat``
    (a folder we may not search) answers False: the writer keeps its file rather than fail.
    Costs one ``stat`` and one ``fstat``.

    Raises:
        OSError: ``fd`` is not an open descriptor.
    """
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    held = os.fstat(fd)
    if not on_disk.st_ino or not held.st_ino:
        return False
    return (on_disk.st_dev, on_disk.st_ino) != (held.st_dev, held.st_ino)
