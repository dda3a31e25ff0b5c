"""Opening files a tool reads but does not own, safely: never blocking the hub's rotation,
never following a planted symlink, never waiting on a FIFO.

On Windows, Python's ``open()`` shares a file for reading and writing but not for deletion,
so a rename of the log fails while the handle is open, even for the milliseconds of one poll.
There :func:`open_shared` opens with ``FILE_SHARE_DELETE`` too. Elsewhere ``open()`` already
does. Either way it follows a symlink (an operator may point a log path at the real file),
and refuses a FIFO or a device rather than wait on it: the tailer and the metrics layer's
look-back read the audit log through it, and a FIFO there would freeze them for good.

:func:`open_regular` is for tools that copy a file somewhere else (diagnose, ``hub_top``):
a symlink planted where a log should be would ship whatever it points at, and a FIFO or a
device would block the read. It refuses both without following or blocking.
:func:`read_small_regular` reads a small file a tool depends on (a token file, the token
fingerprint) the same careful way.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path
from typing import BinaryIO

__all__ = ["NotRegularFile", "irregular_kind", "kind_of", "open_regular", "open_shared",
           "read_small_regular"]


class NotRegularFile(OSError):
    """The path is a symlink, a FIFO, a device or a folder: it was not read.

    Attributes:
        kind: what it is instead ("a symbolic link", "a FIFO", ...).
    """

    def __init__(self, path: Path, kind: str) -> None:
        super().__init__(f"{path.name} is {kind}, not a regular file; not read")
        self.kind = kind


def kind_of(mode: int) -> str:
    """What a file of ``mode`` is, for a message ("a symbolic link", "a FIFO", ...)."""
    kinds = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"),
             (stat.S_ISDIR, "a folder"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")

def irregular_kind(path: Path, *, follow: bool = True) -> str | None:
    """What ``path`` is when it exists and is no regular file ("a folder", "a FIFO", ...), or
    None when it is a regular file or missing. ``follow``: a symlink to a regular file
    counts as one (``stat``); else a symlink is itself irregular (``lstat``)."""
    try:
        mode = (os.stat if follow else os.lstat)(path).st_mode
    except OSError:
        return None
    return None if stat.S_ISREG(mode) else kind_of(mode)


if sys.platform == "win32":
    import ctypes
    import msvcrt
    from ctypes import wintypes

    _GENERIC_READ = 0x80000000
    _SHARE_READ_WRITE_DELETE = 0x1 | 0x2 | 0x4
    _OPEN_EXISTING = 3
    _INVALID_HANDLE = wintypes.HANDLE(-1).value
    _kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    _create_file = _kernel32.CreateFileW
    _create_file.argtypes = [wintypes.LPCWSTR, wintypes.DWORD, wintypes.DWORD, wintypes.LPVOID,
                             wintypes.DWORD, wintypes.DWORD, wintypes.HANDLE]
    _create_file.restype = wintypes.HANDLE

    def open_shared(path: Path) -> BinaryIO:
        """Opens ``path`` read-only, letting others write, rename and delete it meanwhile.

        Raises:
            NotRegularFile: it is a folder or a device; nothing was read.
            OSError: it cannot be opened (FileNotFoundError when absent).
        """
        handle = _create_file(str(path), _GENERIC_READ, _SHARE_READ_WRITE_DELETE, None,
                              _OPEN_EXISTING, 0, None)
        if handle == _INVALID_HANDLE:
            # WinError maps the code to the matching OSError subclass (FileNotFoundError...).
            error = ctypes.WinError(ctypes.get_last_error())
            raise _folder_refused(path, error) or error
        return _fdopen_regular(path, msvcrt.open_osfhandle(handle, os.O_RDONLY | os.O_BINARY))

else:

    def open_shared(path: Path) -> BinaryIO:
        """Opens ``path`` read-only; POSIX never blocks a rename of an open file. A FIFO is
        opened without waiting for a writer (``O_NONBLOCK``, which changes nothing for a
        regular file) and then refused.

        Raises:
            NotRegularFile: it is a FIFO, a folder or a device; nothing was read.
            OSError: it cannot be opened (FileNotFoundError when absent).
        """
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        return _fdopen_regular(path, fd)


def open_regular(path: Path) -> BinaryIO:
    """Opens ``path`` read-only (shared as :func:`open_shared`), only if it is a regular file.

    A symlink is never followed (``O_NOFOLLOW`` where the OS has it, an ``lstat`` check
    elsewhere) and a FIFO or device is never waited on (``O_NONBLOCK``, then ``fstat``).

    Raises:
        NotRegularFile: it is something else; nothing was read.
        OSError: it cannot be opened (FileNotFoundError when absent).
    """
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    if not nofollow:
        # No O_NOFOLLOW (Windows): check first; a swap in between is the residual risk.
        mode = os.lstat(path).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(path, kind_of(mode))
        return open_shared(path)  # which refuses what is not a regular file
    flags = os.O_RDONLY | nofollow | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if os.path.islink(path):
            raise NotRegularFile(path, "a symbolic link") from None
        raise
    return _fdopen_regular(path, fd)


def _fdopen_regular(path: Path, fd: int) -> BinaryIO:
    """``fd`` as a binary file when it is a regular file; else it is closed and refused."""
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(path, kind_of(mode))
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _folder_refused(path: Path, error: OSError) -> NotRegularFile | None:
    """What to raise instead of ``error`` when ``path`` is a folder: Windows refuses to open
    one with "Access is denied", which would send the user to check permissions."""
    if isinstance(error, PermissionError) and os.path.isdir(path):
        return NotRegularFile(path, "a folder")
    return None


def read_small_regular(path: Path, max_bytes: int) -> bytes:
    """All of ``path``, a regular file of at most ``max_bytes`` (a symlink is followed).

    Raises:
        NotRegularFile: it is a FIFO (never waited on), a folder or a device.
        OSError: it cannot be read, or is larger than ``max_bytes`` (``EFBIG``, read no
            further).
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise _folder_refused(path, exc) or exc from None
    with _fdopen_regular(path, fd) as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise OSError(errno.EFBIG, f"larger than {max_bytes} bytes", str(path))
    return data
