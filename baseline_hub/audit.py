"""The security audit log: one JSON object per line, flushed per event, rotated by rename.

It is the hub-wide source of the security metrics for other processes (the watcher, the
metrics layer, diagnose), so it follows its path: a file deleted, moved away or replaced
under the running hub is reopened before the next line, as ``WatchedFileHandler`` does.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import IO

import orjson

from . import filewatch, owneronly

logger = logging.getLogger(__name__)

ROTATE_AT_BYTES = 10 * 1024 * 1024
KEEP_ROTATED = 5


class AuditLog:
    """Appends audit records to ``path``; at ``rotate_at_bytes`` renames it to ``.1`` (… ``.5``).

    The file is reopened after each rotation, so readers that follow it by name (the watcher)
    see a new file. On Windows a rename fails while another process holds the file without
    share-delete; the watcher never does, and if the rename fails anyway we keep appending
    rather than lose events.

    Before each line the open file is compared with the one at ``path``
    (:func:`filewatch.is_replaced`: one ``stat`` and one ``fstat``); when the file was
    deleted, moved away or replaced, the path is opened again (created owner-only if it is
    missing) and the line goes there; each line goes to exactly one file. Where the
    platform reports no inode numbers only a missing path is noticed; on Windows the hub's
    open handle keeps the file from being deleted or renamed in the first place.

    Thread-safety: one lock serialises the check, the rotation and the write.
    """

    def __init__(
        self,
        path: Path,
        *,
        rotate_at_bytes: int = ROTATE_AT_BYTES,
        keep: int = KEEP_ROTATED,
    ) -> None:
        if rotate_at_bytes <= 0 or keep < 1:
            raise ValueError(f"bad rotation settings: {rotate_at_bytes=}, {keep=}")
        self._path = path
        self._path_str = os.fspath(path)  # stat on a str skips a pathlib conversion per line
        self._rotate_at_bytes = rotate_at_bytes
        self._keep = keep
        self._lock = threading.Lock()
        self._handle: IO[bytes] | None = None
        self._size = 0

    @property
    def path(self) -> Path:
        return self._path

    def write(self, record: dict[str, object]) -> None:
        line = orjson.dumps(record) + b"\n"
        with self._lock:
            handle = self._current()
            if self._size and self._size + len(line) > self._rotate_at_bytes:
                handle = self._rotate()
            handle.write(line)
            handle.flush()
            self._size += len(line)

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None

    def _current(self) -> IO[bytes]:
        """The open file, reopened first when it is no longer the one at the path."""
        handle = self._handle
        if handle is None or handle.closed:
            return self._open()
        if not filewatch.is_replaced(self._path_str, handle.fileno()):
            return handle
        handle.close()
        self._handle = None
        logger.info("audit log %s was deleted or replaced; writing to the path again",
                    self._path)
        owneronly.tighten(self._path)  # a file put in its place may be open to others
        return self._open()

    def _open(self) -> IO[bytes]:
        if self._handle is None or self._handle.closed:
            owneronly.make_dir(self._path.parent)
            # Owner-only: audit lines carry client addresses and paths. A rotated copy keeps
            # the mode, since rotation renames.
            self._handle = open(  # noqa: SIM115 - held across writes on purpose
                self._path, "ab", opener=owneronly.opener)
            self._size = self._handle.tell()
        return self._handle

    def _rotate(self) -> IO[bytes]:
        assert self._handle is not None
        self._handle.close()
        self._handle = None
        try:
            for index in range(self._keep - 1, 0, -1):
                older = self._path.with_name(f"{self._path.name}.{index}")
                if older.exists():
                    os.replace(older, self._path.with_name(f"{self._path.name}.{index + 1}"))
            os.replace(self._path, self._path.with_name(f"{self._path.name}.1"))
        except OSError as exc:
            logger.warning("audit log rotation failed, appending to %s: %s", self._path, exc)
        return self._open()
