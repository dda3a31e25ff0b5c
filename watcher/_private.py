"""Owner-only files and folders, opened without following symlinks.

Every file the watcher creates (``alerts.jsonl``, the checkpoint, the status file, the lock)
is 0600 and every folder 0700, whatever the umask. Modes are given at creation (``os.open``
with 0600, ``mkstemp``, ``mkdir`` then ``chmod``) rather than by changing the umask, which is
process-wide. A umask can only take bits away, so a file created 0600 is never readable by
others; a folder is ``chmod``-ed as well, because a umask that takes owner bits would leave
it unusable. Files and folders that already exist keep their modes.

A path the watcher writes is never followed when it is a symlink (``O_NOFOLLOW``, an
``lstat`` check where the OS lacks it) and never waited on when it is a FIFO
(``O_NONBLOCK``, then ``fstat``): a link planted at ``alerts.jsonl`` must not make the
watcher write, or cut, whatever it points at.

On Windows ``chmod`` only toggles the read-only bit and a new file takes its folder's ACL, so
the POSIX-only steps are skipped there.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from otel import irregular_kind, kind_of

FILE_MODE = 0o600
DIR_MODE = 0o700
_POSIX = os.name == "posix"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_EXTRA_FLAGS = (getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
                | getattr(os, "O_BINARY", 0) | _NOFOLLOW)


class UnsafeFile(OSError):
    """A file the watcher would write is not one it may write: nothing was written to it.

    Attributes:
        path: the refused path.
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path} {reason}; the watcher left it untouched")
        self.path = path


def _refuse(path: Path, mode: int) -> UnsafeFile:
    return UnsafeFile(path, f"is {kind_of(mode)}, not a regular file")


def _not_regular(path: Path) -> UnsafeFile | None:
    """The refusal of ``path`` when it exists and is no regular file (a symlink is not
    followed), else None."""
    kind = irregular_kind(path, follow=False)
    return None if kind is None else UnsafeFile(path, f"is {kind}, not a regular file")


def make_private_dir(path: Path) -> None:
    """Creates ``path`` and its missing parents, each folder created here exactly 0700.

    Raises:
        OSError: a folder cannot be created, or a file is in the way.
    """
    missing: list[Path] = []
    current = path
    while not os.path.lexists(current) and current != current.parent:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # made meanwhile by someone else: theirs, with their mode
        if _POSIX:  # mkdir's mode is masked by the umask, which may also drop owner bits
            os.chmod(folder, DIR_MODE)
    if not missing and not path.is_dir():
        raise NotADirectoryError(f"{path} is in the way of a folder the watcher needs")


def check_regular(path: Path) -> bool:
    """True when ``path`` is a regular file, False when it does not exist.

    Raises:
        UnsafeFile: it is a symlink (never followed), a FIFO, a folder or a device.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(mode):
        raise _refuse(path, mode)
    return True


def open_private(path: Path, flags: int) -> int:
    """Opens ``path`` with ``flags`` (``os.O_*``), never through a symlink, for a regular file.

    With ``os.O_CREAT`` a file created here is 0600. Returns the descriptor; the caller
    closes it (``os.fdopen``).

    Raises:
        UnsafeFile: ``path`` is a symlink, a FIFO, a folder or a device; nothing was written.
        OSError: it cannot be opened (FileNotFoundError when absent without ``O_CREAT``).
    """
    if not _NOFOLLOW:
        # No O_NOFOLLOW (Windows): check first; a swap in between is the residual risk.
        check_regular(path)
    try:
        fd = os.open(path, flags | _EXTRA_FLAGS, FILE_MODE)
    except OSError:
        # ELOOP (Linux) or EMLINK (BSD): a symlink; EISDIR: a folder opened for writing
        refusal = _not_regular(path)
        if refusal is not None:
            raise refusal from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # (O_NONBLOCK does nothing to a regular file)
            raise _refuse(path, mode)
    except BaseException:
        os.close(fd)
        raise
    return fd
