"""Opening the audit log for reading without ever blocking the hub's rename rotation.

On Windows, Python's ``open()`` shares a file for reading and writing but not for deletion,
so a rename of the log fails while the handle is open, even for the milliseconds of one poll.
There the log is opened with ``FILE_SHARE_DELETE`` too. Elsewhere ``open()`` already is.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import BinaryIO

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
        """Opens ``path`` read-only, letting others write, rename and delete it meanwhile."""
        handle = _create_file(str(path), _GENERIC_READ, _SHARE_READ_WRITE_DELETE, None,
                              _OPEN_EXISTING, 0, None)
        if handle == _INVALID_HANDLE:
            # WinError maps the code to the matching OSError subclass (FileNotFoundError...).
            raise ctypes.WinError(ctypes.get_last_error())
        fd = msvcrt.open_osfhandle(handle, os.O_RDONLY | os.O_BINARY)
        return os.fdopen(fd, "rb")

else:

    def open_shared(path: Path) -> BinaryIO:
        """Opens ``path`` read-only; POSIX never blocks a rename of an open file."""
        return open(path, "rb")
