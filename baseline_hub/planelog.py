"""Each plane's own log: one line per request or event, rotated so it cannot grow unbounded.

Like the audit log it follows its path: a log deleted, moved away or replaced under the
running hub is reopened before the next line (``WatchedFileHandler``'s check, on top of
``RotatingFileHandler``'s rotation).
"""

from __future__ import annotations

import itertools
import logging
import logging.handlers
import time
from collections.abc import Callable
from io import TextIOWrapper
from pathlib import Path
from typing import cast

from . import filewatch, owneronly

ROTATE_AT_BYTES = 10 * 1024 * 1024
KEEP_ROTATED = 5

_FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)s %(plane)s %(message)s"
#: Numbers each plane logger, so that no two hubs in one process share one.
_serial = itertools.count(1)


class _UTCFormatter(logging.Formatter):
    converter = staticmethod(time.gmtime)


class _OwnerOnlyFileHandler(logging.handlers.RotatingFileHandler):
    """Creates the log (again after each rotation) owner-only: lines carry client addresses,
    paths and job ids. Rotated copies keep the mode, since rotation renames.

    Before each record the open file is compared with the one at the path, and reopened when
    it was deleted, moved away or replaced. ``Handler.handle`` holds the handler's lock around
    ``emit``, so the check, a rotation and the write never interleave between threads.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._follow_path()
        except Exception:
            self.handleError(record)
        super().emit(record)

    def _follow_path(self) -> None:
        stream = self.stream
        if stream is None:  # not opened yet (delay=True): the next emit opens the path
            return
        if filewatch.is_replaced(self.baseFilename, stream.fileno()):
            # As WatchedFileHandler.reopenIfNeeded; the rotation check in emit opens it again.
            self.stream = None
            stream.close()
            owneronly.tighten(Path(self.baseFilename))  # a file put in its place may be open

    def _open(self) -> TextIOWrapper:
        # Text mode ("a"), so open returns a TextIOWrapper.
        return cast(TextIOWrapper, open(self.baseFilename, self.mode,
                                        encoding=self.encoding, errors=self.errors,
                                        opener=owneronly.opener))


class _Scrub(logging.Filter):
    """Applies ``scrub`` to each finished line, whichever argument carried the secret."""

    def __init__(self, scrub: Callable[[str], str]) -> None:
        super().__init__()
        self._scrub = scrub

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self._scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class PlaneLog(logging.LoggerAdapter[logging.Logger]):
    """One plane's log, owned by whoever opened it (a :class:`HubContext`): its logger and
    file handler belong to it alone, so two hubs in one process never write each other's
    files. :meth:`close` detaches and closes the handler (idempotent)."""

    def close(self) -> None:
        for handler in list(self.logger.handlers):
            self.logger.removeHandler(handler)
            handler.close()


def open_plane_log(
    plane: str, path: Path, *, scrub: Callable[[str], str] = lambda text: text,
) -> PlaneLog:
    """A logger that writes only to ``path``, tagging every line with the plane's name.

    Every line passes through ``scrub`` (the hub removes its token there). The logger does
    not propagate, so plane lines never reach the console or root handlers. Each call gets
    a logger of its own (``baseline_hub.plane.<plane>.<n>``), so every hub in a process has
    its own plane logs; call :meth:`PlaneLog.close` when done.
    """
    owneronly.make_dir(path.parent)
    logger = logging.getLogger(f"baseline_hub.plane.{plane}.{next(_serial)}")
    handler = _OwnerOnlyFileHandler(
        path, maxBytes=ROTATE_AT_BYTES, backupCount=KEEP_ROTATED, encoding="utf-8", delay=True
    )
    handler.setFormatter(_UTCFormatter(_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S"))
    handler.addFilter(_Scrub(scrub))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return PlaneLog(logger, {"plane": plane})
