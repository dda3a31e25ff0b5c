"""Each plane's own log: one line per request or event, rotated so it cannot grow unbounded."""

from __future__ import annotations

import logging
import logging.handlers
import time
from pathlib import Path

ROTATE_AT_BYTES = 10 * 1024 * 1024
KEEP_ROTATED = 5

_FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)s %(plane)s %(message)s"


class _UTCFormatter(logging.Formatter):
    converter = staticmethod(time.gmtime)


def open_plane_log(plane: str, path: Path) -> logging.LoggerAdapter[logging.Logger]:
    """A logger that writes only to ``path``, tagging every line with the plane's name.

    The logger does not propagate, so plane lines never reach the console or root handlers.
    Calling it again for the same plane replaces the handler (tests build many hubs).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(f"baseline_hub.plane.{plane}")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=ROTATE_AT_BYTES, backupCount=KEEP_ROTATED, encoding="utf-8", delay=True
    )
    handler.setFormatter(_UTCFormatter(_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logging.LoggerAdapter(logger, {"plane": plane})


def close_plane_log(plane: str) -> None:
    logger = logging.getLogger(f"baseline_hub.plane.{plane}")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
