"""What the watcher prints to a terminal: every line made safe with ``otel.terminal_safe``.

Paths, group values and error messages can carry what a client or another user wrote: an
escape sequence that clears the screen or retitles the window, a bare CR or newline that
forges a line, a bidi override. Printed through here, each is shown as a visible escape
(``\\x1b``), never executed. Alert lines go through ``ConsoleAlertSink``, which uses the
same ``otel.terminal_safe``.
"""

from __future__ import annotations

from typing import TextIO

from otel import terminal_safe


def say(stream: TextIO, text: str) -> None:
    """Prints ``text`` as one terminal-safe line and flushes."""
    print(terminal_safe(text), file=stream, flush=True)
