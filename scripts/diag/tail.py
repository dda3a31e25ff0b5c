"""The last lines of a log file, read backwards from its end.

Cost is bounded by the lines asked for and ``max_bytes``, never by the file's size: a 1 GB
log costs what a 1 MB log does. The file is opened once, read, and closed at once, with the
watcher's share-delete open, so a Windows hub can rotate it even meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from watcher import open_shared

BLOCK_BYTES = 64 * 1024
#: At most this much of one file is read, whatever ``lines`` says: one runaway line (a
#: binary blob, a log without newlines) must not make the bundle huge or slow.
DEFAULT_MAX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Tail:
    """The tail of one file: whole lines (each ending in ``\\n`` except maybe the last)."""

    data: bytes
    lines: int
    truncated: bool  # the byte cap cut the first line kept, or lines before it exist


def tail_lines(path: Path, lines: int, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Tail:
    """Return up to the last ``lines`` lines of ``path``.

    A trailing partial line (a writer mid-append) is kept: it is the newest evidence. When
    the byte cap is hit mid-line, that first line is dropped rather than shown cut.

    Raises:
        OSError: the file cannot be opened or read (FileNotFoundError when absent).
    """
    if lines < 1:
        raise ValueError(f"lines must be >= 1, got {lines}")
    with open_shared(path) as handle:
        end = handle.seek(0, 2)
        pos = end
        chunks: list[bytes] = []
        newlines = 0
        read = 0
        # One newline more than the lines wanted marks the start of the first line kept,
        # unless the file ends with a newline, which closes the last line instead.
        while pos > 0 and read < max_bytes:
            size = min(BLOCK_BYTES, pos, max_bytes - read)
            pos -= size
            handle.seek(pos)
            block = handle.read(size)
            read += len(block)
            chunks.append(block)
            newlines += block.count(b"\n")
            if newlines > lines:
                break
    data = b"".join(reversed(chunks))
    starts_at_file_start = pos == 0
    if data.endswith(b"\n"):
        body, ending = data[:-1], b"\n"
    else:
        body, ending = data, b""
    parts = body.split(b"\n") if body else []
    complete_first = starts_at_file_start or len(parts) > lines
    if not complete_first:
        parts = parts[1:]  # cut by the byte cap: not a whole line
    kept = parts[-lines:]
    truncated = len(kept) < len(parts) or not starts_at_file_start
    text = b"\n".join(kept) + (ending if kept else b"")
    return Tail(text, len(kept), truncated)
