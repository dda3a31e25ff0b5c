"""The last lines of a log file, read backwards from its end.

Cost is bounded by the lines asked for and ``max_bytes``, never by the file's size: a 1 GB
log costs what a 1 MB log does. The file is opened once, read, and closed at once, with the
watcher's :func:`watcher.open_regular`: shared (a Windows hub can rotate it meanwhile), never
through a symlink, and never a FIFO or device, which could ship another file's content or
block the read.

A line longer than ``max_bytes`` (a binary blob, a runaway writer) is not dropped with the
lines before it: it is replaced by a one-line marker that gives its size, and the tail goes
on with the lines before it. Finding where such a line starts means reading through it, so
that search stops after ``max_scan_bytes``; the marker then gives a lower bound.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from watcher import open_regular

BLOCK_BYTES = 64 * 1024
#: At most this much of one file is kept, whatever ``lines`` says: one runaway line must not
#: make the bundle huge or slow.
DEFAULT_MAX_BYTES = 4 * 1024 * 1024
#: How far back, as a multiple of ``max_bytes``, the start of an overlong line is looked for.
SCAN_FACTOR = 4

#: A piece of the result: a byte range of the file, or a marker standing for a cut line.
_Piece = tuple[int, int] | bytes


@dataclass(frozen=True, slots=True)
class Tail:
    """The tail of one file: whole lines (each ending in ``\\n`` except maybe the last).

    Attributes:
        data: the lines, markers included.
        lines: how many lines ``data`` holds (a marker counts as the line it stands for).
        truncated: lines before the first one kept exist (the ``lines`` asked for or the
            byte cap was reached).
        cut_lines: lines longer than ``max_bytes``, each replaced by a marker.
    """

    data: bytes
    lines: int
    truncated: bool
    cut_lines: int = 0


def marker(size_bytes: int, max_bytes: int, *, exact: bool) -> bytes:
    """The line that stands for a cut line of ``size_bytes`` (a lower bound unless exact)."""
    size = f"{size_bytes}" if exact else f"more than {size_bytes}"
    return (f"[diagnose: a line of {size} bytes was cut here: longer than the "
            f"{max_bytes}-byte tail cap]").encode("ascii")


def tail_lines(path: Path, lines: int, *, max_bytes: int = DEFAULT_MAX_BYTES,
               max_scan_bytes: int | None = None) -> Tail:
    """Return up to the last ``lines`` lines of ``path``.

    A trailing partial line (a writer mid-append) is kept: it is the newest evidence. A
    line that fits the cap but not what is left of it ends the tail (``truncated``).

    Raises:
        watcher.NotRegularFile: ``path`` is a symlink, FIFO, device or folder; not read.
        OSError: the file cannot be opened or read (FileNotFoundError when absent).
    """
    if lines < 1:
        raise ValueError(f"lines must be >= 1, got {lines}")
    scan = SCAN_FACTOR * max_bytes if max_scan_bytes is None else max_scan_bytes
    with open_regular(path) as handle:
        end = handle.seek(0, 2)
        pieces, first_start, cut = _select(handle, end, lines, max_bytes, max(scan, max_bytes))
        data = b"".join(_read(handle, piece) for piece in _merged(pieces))
    return Tail(data, len(pieces), first_start != 0, cut)


def _select(handle: BinaryIO, end: int, lines: int, max_bytes: int,
            scan: int) -> tuple[list[_Piece], int | None, int]:
    """The newest lines that fit, oldest first; where the oldest starts (None: unknown);
    and how many were replaced by markers."""
    closed = _last_byte_is_newline(handle, end)
    floor = max(0, end - scan)
    pieces: list[_Piece] = []
    budget, cut = max_bytes, 0
    first_start: int | None = end
    for start, stop in _line_spans(handle, end, scan):
        size = stop - (floor if start is None else start)
        piece: _Piece
        if start is not None and size <= budget:
            piece = (start, stop)
        elif start is None or size > max_bytes:
            piece = marker(size, max_bytes, exact=start is not None)
            piece += b"\n" if stop < end or closed else b""
            cut += 1
        else:
            break  # a line that fits the cap, but not what is left of it
        pieces.append(piece)
        budget -= size if isinstance(piece, tuple) else len(piece)
        first_start = start
        if len(pieces) == lines or start is None:
            break
    pieces.reverse()
    return pieces, first_start, cut


def _line_spans(handle: BinaryIO, end: int, scan: int) -> Iterator[tuple[int | None, int]]:
    """Each line's ``[start, stop)``, newest first, its newline included; ``start`` is None
    for a line whose start lies beyond ``scan`` bytes from the end."""
    stop = end
    for position in _newlines_backwards(handle, end, scan):
        if position == end - 1 and stop == end:
            continue  # the file's final newline closes the last line
        yield position + 1, stop
        stop = position + 1
    if stop > 0:
        yield (0 if end <= scan else None), stop


def _newlines_backwards(handle: BinaryIO, end: int, scan: int) -> Iterator[int]:
    """The offsets of ``\\n`` from ``end`` backwards, reading at most ``scan`` bytes."""
    floor = max(0, end - scan)
    position = end
    while position > floor:
        size = min(BLOCK_BYTES, position - floor)
        position -= size
        handle.seek(position)
        block = handle.read(size)
        index = len(block)
        while (index := block.rfind(b"\n", 0, index)) >= 0:
            yield position + index


def _last_byte_is_newline(handle: BinaryIO, end: int) -> bool:
    if end == 0:
        return False
    handle.seek(end - 1)
    return handle.read(1) == b"\n"


def _merged(pieces: list[_Piece]) -> Iterator[_Piece]:
    """``pieces`` with adjacent byte ranges joined, so a tail of many lines is a few reads."""
    run: tuple[int, int] | None = None
    for piece in pieces:
        if isinstance(piece, tuple) and run is not None and run[1] == piece[0]:
            run = (run[0], piece[1])
            continue
        if run is not None:
            yield run
        if isinstance(piece, tuple):
            run = piece
        else:
            run = None
            yield piece
    if run is not None:
        yield run


def _read(handle: BinaryIO, piece: _Piece) -> bytes:
    if isinstance(piece, bytes):
        return piece
    start, stop = piece
    handle.seek(start)
    return handle.read(stop - start)
