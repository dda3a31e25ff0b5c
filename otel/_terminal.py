"""Making untrusted text safe to print on a terminal.

Audit lines, node names, log tails and alert groups are written by clients. A terminal
executes what it is sent: ``ESC[2J`` clears it, an OSC sequence retitles the window or
writes the clipboard, a bare CR or newline forges a line, and a bidirectional override
makes text read differently from what it is. Every such character is shown as a visible
escape instead (``\\x1b``, ``\\u202e``), so what is printed is exactly what was there.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from types import TracebackType
from typing import Final

__all__ = ["TerminalSafeFormatter", "terminal_safe", "terminal_safe_json", "terminal_safe_lines"]

# Beyond the C0 controls: DEL and C1 controls; the Arabic letter mark, the left/right marks,
# the line and paragraph separators, the bidi embeddings, overrides and isolates; and lone
# surrogates, which a terminal's encoder would choke on.
_UNSAFE_BEYOND_C0: Final = ("\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e"
                            "\u2066-\u2069\ud800-\udfff")
# The C0 controls (tab and newline included) too.
_UNSAFE: Final = re.compile(f"[\x00-\x1f{_UNSAFE_BEYOND_C0}]")
# In JSON text the encoder escapes C0 controls in strings itself, and a newline between
# lines must stay one.
_UNSAFE_IN_JSON: Final = re.compile(f"[{_UNSAFE_BEYOND_C0}]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """``text`` with every control, escape and bidi character shown as a visible escape.

    Printable text (any script, emoji included) is left as it is; the result never contains
    ESC, BEL, CR, LF, a C1 control or a bidirectional override.
    """
    return _UNSAFE.sub(_escape, text)


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def terminal_safe_json(data: bytes) -> bytes:
    """JSON text (UTF-8, one value a line) with every character :func:`terminal_safe` would
    escape written as a JSON ``\\uXXXX`` escape: the same values, safe to ``cat``.

    JSON encoders escape only C0 controls, so a client's C1 control (``U+009B`` starts a
    terminal command like ``ESC [``) or bidi override would otherwise reach a terminal that
    shows the file. Such characters only occur in strings, where the escape means the same.
    ASCII text (the common case) is returned as it is, without decoding.
    """
    if data.isascii() and b"\x7f" not in data:
        return data
    return _UNSAFE_IN_JSON.sub(_json_escape, data.decode()).encode()


_ExcInfo = (tuple[type[BaseException], BaseException, TracebackType | None]
            | tuple[None, None, None])


def terminal_safe_lines(lines: Iterable[str]) -> str:
    """The lines joined by newlines, each shown by :func:`terminal_safe` (its own CR, LF or
    escapes never break the layout)."""
    return "\n".join(terminal_safe(line) for line in lines)


class TerminalSafeFormatter(logging.Formatter):
    """A log formatter for a terminal: each message, and each line of a traceback or stack
    (whose exception messages may name paths and values from outside), with its escapes
    shown, not run; a traceback keeps its line breaks."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return terminal_safe(super().formatMessage(record))

    def formatException(self, ei: _ExcInfo) -> str:
        return terminal_safe_lines(super().formatException(ei).splitlines())

    def formatStack(self, stack_info: str) -> str:
        return terminal_safe_lines(super().formatStack(stack_info).splitlines())

