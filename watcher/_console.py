"""What the watcher prints to a terminal: every line made safe with ``otel.terminal_safe``.

Paths, group values and error messages can carry what a client or another user wrote: an
escape sequence that clears the screen or retitles the window, a bare CR or newline that
forges a line, a bidi override. Printed through here, each is shown as a visible escape
(``\\x1b``), never executed. Alert lines go through ``ConsoleAlertSink``, which uses the
same ``otel.terminal_safe``.
"""

from __future__ import annotations

import logging
from typing import TextIO

from otel import terminal_safe


def say(stream: TextIO, text: str) -> None:
    """Prints ``text`` as one terminal-safe line and flushes."""
    print(terminal_safe(text), file=stream, flush=True)


class TerminalSafeFormatter(logging.Formatter):
    """A formatter whose messages (paths, values from the log) are terminal-safe.

    The traceback of ``exc_info``, the watcher's own, keeps its line breaks.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        return terminal_safe(super().formatMessage(record))
