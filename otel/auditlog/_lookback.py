"""Reading back the trailing window of an audit log, then following it from there.

A process that starts after events were logged must still know the last minute of them.
Reading the whole log would cost as much as the log is long (a hub that never rotates has
gigabytes); instead the start of the window is found by stepping back from the end in
growing strides and looking at one line's ``ts`` per step, so the cost is the window's own
lines plus a few probes. When the window reaches back past the current file's first line,
the rotated ``.1`` is read back too.

The tailer then resumes exactly after the last complete line read back, with a cursor taken
from the same open file, so nothing is read twice or missed across a rotation in between.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Final

from otel._files import open_shared
from otel.auditlog._tail import (
    FINGERPRINT_BYTES,
    MAX_LINE_BYTES,
    Cursor,
    TailCounts,
    _fingerprint,
    split_lines,
)

__all__ = ["ReadBack", "lookback_offset", "read_back"]

_FIRST_STRIDE: Final = 64 * 1024
_STRIDE_GROWTH: Final = 4
#: Lines looked at per probe before giving up on finding a timestamp there.
_PROBE_LINES: Final = 16
_PROBE_BYTES: Final = 2 * MAX_LINE_BYTES

TsOf = Callable[[bytes], float | None]


def lookback_offset(path: Path, ts_of: TsOf,
                    since: float) -> tuple[int, tuple[Path, int] | None]:
    """Where to start reading ``path`` so that every line stamped ``since`` or later is read.

    Returns:
        The offset of a line start in ``path`` (0 when the file is missing or the window
        reaches its beginning), and, when the window reaches back into the rotated
        ``<path>.1``, that file and the offset to read it from.
    """
    offset = _start_in(path, ts_of, since)
    if offset != 0 or not _starts_after(path, ts_of, since):
        return offset, None
    previous = path.with_name(path.name + ".1")
    if not previous.exists():
        return 0, None
    return 0, (previous, _start_in(previous, ts_of, since))


def _start_in(path: Path, ts_of: TsOf, since: float) -> int:
    """The start of a line stamped before ``since``, as late as the strides find one; 0
    when there is none."""
    try:
        size = path.stat().st_size
    except OSError:
        return 0
    stride = _FIRST_STRIDE
    while stride < size:
        found = _probe(path, size - stride, ts_of)
        if found is not None and found[1] < since:
            return found[0]
        stride *= _STRIDE_GROWTH
    return 0


def _starts_after(path: Path, ts_of: TsOf, since: float) -> bool:
    """True when the file's first stamped line is at or after ``since`` (or it has none)."""
    found = _probe(path, 0, ts_of)
    return found is None or found[1] >= since


def _probe(path: Path, position: int, ts_of: TsOf) -> tuple[int, float] | None:
    """The first line starting at or after ``position`` that has a timestamp: its offset
    and its time."""
    try:
        with open_shared(path) as handle:
            handle.seek(position)
            data = handle.read(_PROBE_BYTES)
    except OSError:
        return None
    start = 0 if position == 0 else data.find(b"\n") + 1
    if position and start == 0:
        return None
    for _ in range(_PROBE_LINES):
        end = data.find(b"\n", start)
        if end < 0:
            return None
        ts = ts_of(data[start:end])
        if ts is not None:
            return position + start, ts
        start = end + 1
    return None


class ReadBack:
    """The complete lines read back, and where the tailer resumes."""

    __slots__ = ("cursor", "lines")

    def __init__(self, lines: list[list[bytes]], cursor: Cursor | None) -> None:
        self.lines = lines
        self.cursor = cursor


def read_back(path: Path, offset: int, counts: TailCounts, *, final: bool = False,
              read_bytes: int = 4 * MAX_LINE_BYTES) -> ReadBack:
    """The complete lines of ``path`` from ``offset`` to its current end.

    Args:
        final: the file is finished (a rotated one): a last line without a newline counts.

    Returns:
        The lines, and a cursor just after the last complete line, taken from the same
        open file (None when it cannot be opened: the tailer then starts afresh).
    """
    batches: list[list[bytes]] = []
    try:
        with open_shared(path) as handle:
            st = os.fstat(handle.fileno())
            handle.seek(offset)
            skipping = False
            while True:
                data = handle.read(read_bytes)
                end = len(data) < read_bytes
                split = split_lines(data, skipping=skipping, final=final and end)
                counts.overlong_lines += split.overlong
                if split.lines:
                    batches.append(split.lines)
                offset += split.consumed
                skipping = split.skipping
                handle.seek(offset)
                if end:
                    break
            handle.seek(0)
            head = handle.read(min(offset, FINGERPRINT_BYTES))
    except OSError:
        return ReadBack(batches, None)
    prev_fp_len, prev_fp = _previous_fingerprint(path)
    cursor = Cursor(dev=st.st_dev, ino=st.st_ino, offset=offset, fp_len=len(head),
                    fp=_fingerprint(head) if head else "", skipping=skipping,
                    prev_fp_len=prev_fp_len, prev_fp=prev_fp)
    return ReadBack(batches, cursor)


def _previous_fingerprint(path: Path) -> tuple[int, str]:
    """The ``.1``'s fingerprint, as the tailer's first cursor takes it: already read."""
    previous = path.with_name(path.name + ".1")
    try:
        with open_shared(previous) as handle:
            head = handle.read(FINGERPRINT_BYTES)
    except OSError:
        return 0, ""
    return (len(head), _fingerprint(head)) if head else (0, "")
