"""Owner-only files and folders: what the hub keeps may hold node meta, job payloads and logs.

Modes are given at creation (``os.open`` with 0600, ``mkdir`` followed by ``chmod`` 0700)
rather than by changing the umask, which is process-wide and would race with other threads
creating files. On Windows ``os.chmod`` only toggles the read-only bit and a new file takes
its folder's ACL, so the POSIX-only steps are skipped there.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

logger = logging.getLogger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700
_OTHERS = stat.S_IRWXG | stat.S_IRWXO
_POSIX = os.name == "posix"


def opener(path: str, flags: int) -> int:
    """For ``open(..., opener=opener)``: a file it creates is 0600, whatever the umask.

    An existing file keeps its mode; :func:`tighten` deals with those at start.
    """
    return os.open(path, flags, FILE_MODE)


def make_dir(path: Path) -> None:
    """Create ``path`` and its missing parents; every folder created here is exactly 0700.

    Raises:
        OSError: a folder cannot be created, or a file is in the way.
    """
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
        if _POSIX:  # mkdir's mode is masked by the umask, which may also drop owner bits
            os.chmod(folder, DIR_MODE)
    if not missing:
        path.mkdir(exist_ok=True)  # raises FileExistsError when a file is in the way


def tighten(path: Path) -> None:
    """Take group and other permissions off an existing ``path``, with a warning naming it.

    A missing path is fine. A path that cannot be changed (another user's file, a file
    system without POSIX modes) is logged, not fatal: the hub still runs, and the warning
    tells the operator what to fix. A symlink is never followed: its target is not the
    hub's to change (a link planted in the home would otherwise make the hub chmod any file
    its user may change).
    """
    if not _POSIX:
        return
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        logger.warning("%s is a symbolic link; its target's mode is left as it is", path)
        return
    mode = stat.S_IMODE(st.st_mode)
    if not mode & _OTHERS:
        return
    try:
        os.chmod(path, mode & ~_OTHERS)
    except OSError as exc:
        logger.warning("%s is open to other users (mode %o) and cannot be made owner-only: %s",
                       path, mode, exc.strerror or exc)
        return
    logger.warning("%s was open to other users (mode %o); made it owner-only (mode %o)",
                   path, mode, mode & ~_OTHERS)
