"""Each plane's own log: one line per request or event, rotated so it cannot grow unbounded.

Like the audit log it follows its path: a log deleted, moved away or replaced under the
running hub is reopened before the next line (``WatchedFileHandler``'s check, on top of
``RotatingFileHandler``'s rotation).
"""

from __future__ import annotations

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


def open_plane_log(
    plane: str, path: Path, *, scrub: Callable[[str], str] = lambda text: text,
) -> logging.LoggerAdapter[logging.Logger]:
    """A logger that writes only to ``path``, tagging every line with the plane's name.

    Every line passes through ``scrub`` (the hub removes its token there). The logger does
    not propagate, so plane lines never reach the console or root handlers. Calling it again
    for the same plane replaces the handler (tests build many hubs).
    """
    owneronly.make_dir(path.parent)
    close_plane_log(plane)
    logger = _logger(plane)
    handler = _OwnerOnlyFileHandler(
        path, maxBytes=ROTATE_AT_BYTES, backupCount=KEEP_ROTATED, encoding="utf-8", delay=True
    )
    handler.setFormatter(_UTCFormatter(_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S"))
    handler.addFilter(_Scrub(scrub))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logging.LoggerAdapter(logger, {"plane": plane})


def close_plane_log(plane: str) -> None:
    """Detach and close the plane's handlers (idempotent)."""
    logger = _logger(plane)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def _logger(plane: str) -> logging.Logger:
    return logging.getLogger(f"baseline_hub.plane.{plane}")
