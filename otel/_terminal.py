"""Making untrusted text safe to print on a terminal.

Audit lines, node names, log tails and alert groups are written by clients. A terminal
executes what it is sent: ``ESC[2J`` clears it, an OSC sequence retitles the window or
writes the clipboard, a bare CR or newline forges a line, and a bidirectional override
makes text read differently from what it is. Every such character is shown as a visible
escape instead (``\\x1b``, ``\\u202e``), so what is printed is exactly what was there.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["terminal_safe"]

# C0 controls (tab and newline included), DEL and C1 controls; the Arabic letter mark, the
# left/right marks, the line and paragraph separators, the bidi embeddings, overrides and
# isolates; and lone surrogates, which a terminal's encoder would choke on.
_UNSAFE: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """``text`` with every control, escape and bidi character shown as a visible escape.

    Printable text (any script, emoji included) is left as it is; the result never contains
    ESC, BEL, CR, LF, a C1 control or a bidirectional override.
    """
    return _UNSAFE.sub(_escape, text)
