"""Where alerts go: ``alerts.jsonl`` (the durable record) and the console."""

from __future__ import annotations

import abc
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from otel import terminal_safe
from watcher._alert import Alert, alert_lines
from watcher._private import make_private_dir, open_private
from watcher._timefmt import format_us

logger = logging.getLogger(__name__)


class AlertSink(abc.ABC):
    """Receives each batch of new alerts, in order."""

    @abc.abstractmethod
    def emit(self, alerts: Sequence[Alert]) -> None:
        """Delivers ``alerts``. Only the durable sink may raise; others log and carry on."""

    def close(self) -> None:  # noqa: B027 - optional hook, most sinks hold nothing
        """Flushes and releases resources. Safe to call twice."""


class JsonlAlertSink(AlertSink):
    """Appends alerts to a JSON-lines file, flushed and fsynced per batch.

    The file is opened per batch and closed again, so other tools may read or rotate it.
    It is created 0600 (its folder 0700), and never written through a symlink.
    ``size_bytes`` is the file's size after the last durable write: the checkpoint records
    it, so a restart knows which alerts were written after the checkpoint.

    Raises (``emit``):
        UnsafeFile: the path became a symlink, a FIFO or another non-regular file.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        make_private_dir(path.parent)
        try:
            self.size_bytes = os.lstat(path).st_size
        except FileNotFoundError:
            self.size_bytes = 0

    def emit(self, alerts: Sequence[Alert]) -> None:
        if not alerts:
            return
        fd = open_private(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        with os.fdopen(fd, "ab") as handle:
            handle.write(alert_lines(alerts))
            handle.flush()
            os.fsync(handle.fileno())
            self.size_bytes = handle.tell()


class ConsoleAlertSink(AlertSink):
    """One human line per alert, for follow mode.

    Group values come from clients: each line is made terminal-safe (``otel.terminal_safe``),
    so an escape sequence or a forged line break in a value is shown, never executed.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def emit(self, alerts: Sequence[Alert]) -> None:
        try:
            for alert in alerts:
                line = f"{format_us(alert.ts_us)} ALERT {alert.summary()} id={alert.alert_id}"
                self._stream.write(terminal_safe(line) + "\n")
            self._stream.flush()
        except (OSError, ValueError) as exc:  # a closed console must not stop the watcher
            logger.warning("console output failed: %s", exc)
