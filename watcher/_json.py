"""The watcher's one JSON library is msgspec; this is what decoding with it may raise.

Audit lines, rules, checkpoints, the status file and alert lines all go through
``msgspec.json``: one library to load at start-up (a whole process' start counts in a replay)
and one set of rules for what is valid JSON.
"""

from __future__ import annotations

import msgspec

#: What decoding untrusted bytes may raise: malformed JSON or a number out of range
#: (``msgspec.DecodeError``), bad UTF-8 inside a string, or nesting too deep to recurse into.
DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def pretty(payload: object) -> bytes:
    """Indented JSON with sorted keys, for files people read (the status file)."""
    return msgspec.json.format(msgspec.json.encode(payload, order="sorted"), indent=2)
