"""Writing a whole file so that a reader, or a crash, sees the old content or the new, never
a torn one: the new content goes to a temp file in the same folder, which is then renamed.

:func:`staged_file` is the temp file alone: uniquely named (``mkstemp``, so two writers never
share one), owner-only (``mkstemp`` creates it 0600 whatever the umask), and removed however
the block ends unless the caller renamed it away. :func:`atomic_write` is the usual use of
it: renamed over the target with ``os.replace`` when the block succeeds. A caller with
another way to publish (diagnose's bundle, which never replaces a file) uses the temp file
directly.

The temp file is closed before any rename: Windows cannot rename an open file. Nor can it
rename over a file another process has open (a tool reading a status file at that moment, a
virus scanner): there the rename is tried again a few times within about half a second, as
pip does, before it fails. A symlink at the target is replaced by the rename, never followed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write", "remove_staged", "staged_file"]

#: Whether a rename refused with PermissionError is tried again: on Windows only, where it
#: means that another process has the target open. On POSIX it is a real refusal.
_RETRY_REFUSED_RENAME = os.name == "nt"
#: The waits between those tries: a reader holds a status file for well under a millisecond.
_RENAME_WAITS_S = (0.01, 0.02, 0.05, 0.1, 0.3)


@contextlib.contextmanager
def staged_file(folder: Path, prefix: str) -> Iterator[tuple[BinaryIO, Path]]:
    """A new temp file ``<prefix><random>.tmp`` in ``folder``, open for reading and writing.

    Yields the open file and its path. When the block ends, however it ends, the file is
    closed, and removed unless it was renamed away meanwhile.

    Raises:
        OSError: the folder does not exist or cannot be written.
    """
    fd, name = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w+b") as handle:
            yield handle, tmp
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def remove_staged(path: Path) -> int:
    """Removes the temp files :func:`atomic_write` left beside ``path`` when its writer was
    killed between creating and renaming one (a ``kill -9`` skips every cleanup); returns how
    many. Only for a writer that holds its file's lock: another's temp may be in use."""
    removed = 0
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            leftover.unlink()
            removed += 1
    return removed


@contextlib.contextmanager
def atomic_write(path: Path, *, durable: bool = False) -> Iterator[BinaryIO]:
    """A temp file beside ``path``, renamed over ``path`` only if the block succeeds.

    On any exception (``KeyboardInterrupt`` included) the temp file is removed and ``path``
    keeps its old content. The folder must exist.

    Args:
        durable: fsync the file before the rename and, on POSIX, the folder after it, so
            that a crash of the machine too leaves the old file or the new one.

    Raises:
        OSError: the folder cannot be written, or the rename failed (``path`` unchanged).
    """
    with staged_file(path.parent, f".{path.name}.") as (handle, tmp):
        yield handle
        handle.flush()
        if durable:
            os.fsync(handle.fileno())
        handle.close()
        _replace(tmp, path)
    if durable and os.name == "posix":
        # The rename itself is only durable once the folder's entry is on disk.
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _replace(tmp: Path, path: Path) -> None:
    """``os.replace``, tried again after short waits while Windows refuses it because the
    target is open elsewhere."""
    if _RETRY_REFUSED_RENAME:
        for wait_s in _RENAME_WAITS_S:
            try:
                os.replace(tmp, path)
                return
            except PermissionError:
                time.sleep(wait_s)
    os.replace(tmp, path)
