"""Following the audit log by polling: complete lines only, across rotations and truncations.

The log is opened, read and closed within one call; it is never held open between polls and
never locked or written. On Windows an open handle without share-delete would block the hub's
rename rotation.

A :class:`Cursor` names the file being read by (st_dev, st_ino) plus a hash of its first
already-consumed bytes (at most 1 KiB), so identity survives renames and in-place rewrites are
caught even when inode numbers are reused. Each read looks for the cursor's file among
``<log>.<keep>`` … ``<log>.1``, ``<log>`` (oldest first):

- found by identity and fingerprint: read on from the offset; once it is finished and a
  newer file exists (rename rotation), move to the next newer file at offset 0;
- identity found but rewritten or shorter: look for a copy by fingerprint (copytruncate puts
  the old content in ``.1``), finish that copy, then go on; without a copy it is a truncation,
  and the file is read again from 0;
- not found at all: the file was deleted; start the current ``<log>`` at 0.

Not thread-safe: one tailer per reader.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, TypeGuard

from otel._files import open_shared

MAX_LINE_BYTES = 1 << 20
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


class TailCounts(Protocol):
    """What a tailer counts; the watcher's status counters are one."""

    overlong_lines: int
    recreations: int
    rotations: int
    truncations: int


def is_int64(value: object) -> TypeGuard[int]:
    """True for an int that fits 64 bits: what a saved offset, inode or counter may be."""
    return type(value) is int and _INT64_MIN <= value <= _INT64_MAX
FINGERPRINT_BYTES = 1024
DEFAULT_READ_BYTES = 4 << 20
KEEP_ROTATED = 5


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where reading stands: which file, how far, and whether inside an over-long line.

    ``prev_fp``/``prev_fp_len`` fingerprint the file finished before this one (or the ``.1``
    present at first start; empty if none). While nothing of the current file is consumed,
    its own fingerprint is empty, and rotated files newer than that previous one are copies
    of unread content (copytruncate), to be read first.
    """

    dev: int
    ino: int
    offset: int = 0
    fp_len: int = 0
    fp: str = ""
    skipping: bool = False
    prev_fp_len: int = 0
    prev_fp: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"dev": self.dev, "ino": self.ino, "offset": self.offset, "fp_len": self.fp_len,
                "fp": self.fp, "skipping": self.skipping, "prev_fp_len": self.prev_fp_len,
                "prev_fp": self.prev_fp}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Cursor:
        """Raises ValueError when ``data`` is not a saved cursor."""
        ints = {k: data.get(k) for k in ("dev", "ino", "offset", "fp_len", "prev_fp_len")}
        fp, skipping, prev_fp = data.get("fp"), data.get("skipping"), data.get("prev_fp")
        if any(not is_int64(v) or v < 0 for v in ints.values()) or not isinstance(fp, str) \
                or not isinstance(skipping, bool) or not isinstance(prev_fp, str):
            raise ValueError(f"bad cursor: {data!r}")
        return cls(dev=ints["dev"], ino=ints["ino"], offset=ints["offset"],  # type: ignore[arg-type]
                   fp_len=ints["fp_len"], fp=fp, skipping=skipping,  # type: ignore[arg-type]
                   prev_fp_len=ints["prev_fp_len"], prev_fp=prev_fp)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Split:
    lines: list[bytes]
    consumed: int
    skipping: bool
    overlong: int
    #: Every line is ASCII: one check of the whole chunk, so no line needs its own.
    ascii: bool = False


def split_lines(data: bytes, *, skipping: bool, final: bool,
                max_line_bytes: int = MAX_LINE_BYTES) -> Split:
    """Cuts ``data`` into complete lines.

    Args:
        data: bytes read from the current offset.
        skipping: the offset is inside an over-long line, to be discarded up to its newline.
        final: no more bytes will follow (a finished rotated file or a replayed file), so a
            last line without a newline is a line too.
        max_line_bytes: longer lines are dropped and counted; a partial line already longer
            is consumed at once, so the tail never stalls behind it.
    """
    pos = overlong = 0
    if skipping:
        newline = data.find(b"\n")
        if newline < 0:
            return Split([], len(data), not final, 1 if final else 0, ascii=True)
        overlong, pos, skipping = 1, newline + 1, False
    last = data.rfind(b"\n", pos)
    lines: list[bytes] = []
    consumed = pos
    if last >= 0:
        if pos:
            lines = data[pos:last].split(b"\n")
        else:  # no 4 MiB copy: split it all, then drop what follows the last newline
            lines = data.split(b"\n")
            lines.pop()
        consumed = last + 1
        if last - pos > max_line_bytes and _may_hold_overlong(data, pos, last, max_line_bytes) \
                and max(map(len, lines)) > max_line_bytes:
            kept = [line for line in lines if len(line) <= max_line_bytes]
            overlong += len(lines) - len(kept)
            lines = kept
    rest = len(data) - consumed
    if rest > max_line_bytes:
        if final:
            overlong += 1
        else:
            skipping = True
        consumed = len(data)
    elif final and rest:
        lines.append(data[consumed:])
        consumed = len(data)
    return Split(lines, consumed, skipping, overlong, ascii=data.isascii())


def _may_hold_overlong(data: bytes, start: int, end: int, max_line_bytes: int) -> bool:
    """False when no line in ``data[start:end]`` can be longer than ``max_line_bytes``.

    A run of more than ``max_line_bytes`` bytes without a newline contains a whole aligned
    window of half that length, so a few ``find`` calls over those windows rule long lines
    out, where measuring every line of a 4 MiB chunk would cost about 40 ns per line.
    """
    step = max(max_line_bytes // 2, 1)
    return any(data.find(b"\n", at, at + step) < 0 for at in range(start, end - step + 1, step))


def _fingerprint(head: bytes) -> str:
    return hashlib.blake2b(head, digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class Chunk:
    """Complete lines read in one go, and the cursor just after them.

    ``more`` is False when the read reached the end of the newest file: the next read would
    only find what was written since, so a poll may stop here. It is True for a rotated file
    (the newer ones follow) and for a read cut short by ``read_bytes``.
    """

    lines: list[bytes]
    cursor: Cursor
    more: bool
    ascii: bool = False  # as Split.ascii


_Entry = tuple[Path, os.stat_result]


class Tailer:
    """Reads the log at ``path`` (and its rotated siblings) chunk by chunk.

    Args:
        path: the log file followed by name.
        counters: where over-long lines, rotations and truncations are counted.
        cursor: where to resume (from a checkpoint), or None to start at the current file's
            beginning.
        read_bytes: the largest read per call; bounds memory per chunk.
        keep_rotated: how many ``<log>.N`` siblings to search after a rotation.
    """

    def __init__(self, path: Path, counters: TailCounts, *, cursor: Cursor | None = None,
                 read_bytes: int = DEFAULT_READ_BYTES, max_line_bytes: int = MAX_LINE_BYTES,
                 keep_rotated: int = KEEP_ROTATED) -> None:
        if read_bytes <= max_line_bytes + 1:
            raise ValueError(f"read_bytes ({read_bytes}) must exceed max_line_bytes + 1")
        self._path = path
        self._counters = counters
        self._cursor = cursor
        self._read_bytes = read_bytes
        self._max_line_bytes = max_line_bytes
        self._keep = keep_rotated
        self.lag_bytes = 0
        self.waiting = cursor is None

    @property
    def cursor(self) -> Cursor | None:
        return self._cursor

    def read(self) -> Chunk | None:
        """Returns the next chunk of complete lines, or None when there is nothing new."""
        for _ in range(2 * self._keep + 4):
            chain = self._chain()
            index = self._locate(chain)
            if index is None:
                self.waiting = True
                self.lag_bytes = 0
                return None
            self.waiting = False
            assert self._cursor is not None
            path, st = chain[index]
            newest = index == len(chain) - 1
            newer_bytes = sum(s.st_size for _, s in chain[index + 1:])
            self.lag_bytes = st.st_size - self._cursor.offset + newer_bytes
            if self._cursor.offset >= st.st_size:
                if newest:
                    return None
                following = chain[index + 1][1]
                self._cursor = Cursor(dev=following.st_dev, ino=following.st_ino,
                                      prev_fp_len=self._cursor.fp_len,
                                      prev_fp=self._cursor.fp or _fingerprint(b""))
                self._counters.rotations += 1
                continue
            before = self._cursor
            chunk = self._read(path, st, final=not newest)
            if chunk is None:
                continue  # the file changed under us; look again
            if chunk.cursor == before:
                return None  # only a partial line so far
            self.lag_bytes = max(0, st.st_size - chunk.cursor.offset) + newer_bytes
            return chunk
        return None

    def _chain(self) -> list[_Entry]:
        names = [f"{self._path.name}.{i}" for i in range(self._keep, 0, -1)]
        names.append(self._path.name)
        chain: list[_Entry] = []
        for name in names:
            candidate = self._path.with_name(name)
            try:
                chain.append((candidate, candidate.stat()))
            except OSError:
                continue
        return chain

    @staticmethod
    def _head(path: Path, size: int) -> bytes | None:
        try:
            with open_shared(path) as handle:
                head = handle.read(size)
        except OSError:
            return None
        return head if len(head) == size else None

    def _head_matches(self, path: Path, cursor: Cursor) -> bool:
        if cursor.fp_len == 0:
            return True
        head = self._head(path, cursor.fp_len)
        return head is not None and _fingerprint(head) == cursor.fp

    def _unread_copy(self, chain: list[_Entry], index: int) -> int | None:
        """With nothing of the current file consumed, are older files in the chain copies of it?

        Copytruncate before the first read leaves our unread content in ``.1`` (or, after a
        further rotation, deeper). Every file between the one finished before (``prev_fp``)
        and ours is unread; returns the oldest of them.
        """
        cursor = self._cursor
        assert cursor is not None
        if cursor.offset or cursor.skipping:
            return None
        oldest: int | None = None
        for older in range(index - 1, -1, -1):
            path, _ = chain[older]
            if cursor.prev_fp:
                head = self._head(path, cursor.prev_fp_len)
                if head is not None and _fingerprint(head) == cursor.prev_fp:
                    break
            oldest = older
        if oldest is None:
            return None
        st = chain[oldest][1]
        self._cursor = Cursor(dev=st.st_dev, ino=st.st_ino, prev_fp_len=cursor.prev_fp_len,
                              prev_fp=cursor.prev_fp)
        return oldest

    def _locate(self, chain: list[_Entry]) -> int | None:
        current = chain[-1] if chain and chain[-1][0] == self._path else None
        cursor = self._cursor
        if cursor is None:
            if current is None:
                return None
            self._cursor = self._first_cursor(chain)
            return len(chain) - 1
        rewritten: int | None = None
        for index, (path, st) in enumerate(chain):
            if (st.st_dev, st.st_ino) == (cursor.dev, cursor.ino):
                if st.st_size >= cursor.offset and self._head_matches(path, cursor):
                    copy = self._unread_copy(chain, index)
                    return index if copy is None else copy
                rewritten = index
                break
        copied = self._copy_of_ours(chain, cursor, rewritten)
        if copied is not None:
            return copied
        if rewritten is not None:
            self._counters.truncations += 1
            st = chain[rewritten][1]
            # Content written after the truncation may already sit in copies: keep prev.
            self._cursor = Cursor(dev=st.st_dev, ino=st.st_ino, prev_fp_len=cursor.prev_fp_len,
                                  prev_fp=cursor.prev_fp)
            copy = self._unread_copy(chain, rewritten)
            return rewritten if copy is None else copy
        if current is None:
            return None
        self._counters.recreations += 1
        self._cursor = Cursor(dev=current[1].st_dev, ino=current[1].st_ino,
                              prev_fp_len=cursor.prev_fp_len, prev_fp=cursor.prev_fp)
        copy = self._unread_copy(chain, len(chain) - 1)
        return len(chain) - 1 if copy is None else copy

    def _copy_of_ours(self, chain: list[_Entry], cursor: Cursor,
                      rewritten: int | None) -> int | None:
        """The newest file in the chain, but ``rewritten``, that starts with our content."""
        if not cursor.fp_len:
            return None
        for index in range(len(chain) - 1, -1, -1):
            path, st = chain[index]
            if index != rewritten and st.st_size >= cursor.offset and \
                    self._head_matches(path, cursor):
                # A copy of our file (copytruncate): finish it under its new identity;
                # moving on from it to the newer file counts as the rotation.
                self._cursor = replace(cursor, dev=st.st_dev, ino=st.st_ino)
                return index
        return None

    def _first_cursor(self, chain: list[_Entry]) -> Cursor:
        """Start at the current file; an existing ``.1`` counts as already read."""
        current = chain[-1][1]
        prev_len, prev_fp = 0, ""
        if len(chain) > 1 and chain[-2][0].name == f"{self._path.name}.1":
            prev_len = min(chain[-2][1].st_size, FINGERPRINT_BYTES)
            head = self._head(chain[-2][0], prev_len)
            if head is not None:
                prev_fp = _fingerprint(head)
        return Cursor(dev=current.st_dev, ino=current.st_ino, prev_fp_len=prev_len,
                      prev_fp=prev_fp)

    def _read(self, path: Path, planned: os.stat_result, *, final: bool) -> Chunk | None:
        cursor = self._cursor
        assert cursor is not None
        try:
            with open_shared(path) as handle:
                st = os.fstat(handle.fileno())
                if (st.st_dev, st.st_ino) != (planned.st_dev, planned.st_ino):
                    return None  # replaced between stat and open; look again
                handle.seek(cursor.offset)
                data = handle.read(self._read_bytes)
                split = split_lines(data, skipping=cursor.skipping,
                                    final=final and len(data) < self._read_bytes,
                                    max_line_bytes=self._max_line_bytes)
                offset = cursor.offset + split.consumed
                fp_len, fp = cursor.fp_len, cursor.fp
                want = min(offset, FINGERPRINT_BYTES)
                if want > fp_len:
                    if cursor.offset == 0:
                        head = data[:want]
                    else:
                        handle.seek(0)
                        head = handle.read(want)
                    fp_len, fp = want, _fingerprint(head)
        except OSError:
            return None
        self._counters.overlong_lines += split.overlong
        self._cursor = replace(cursor, offset=offset, fp_len=fp_len, fp=fp,
                               skipping=split.skipping)
        return Chunk(split.lines, self._cursor, more=final or len(data) >= self._read_bytes,
                     ascii=split.ascii)


def iter_file_lines(path: Path, counters: TailCounts, *, read_bytes: int = DEFAULT_READ_BYTES,
                    max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[Split]:
    """Yields the complete lines of a whole file, chunk by chunk (for ``--replay``).

    The file is reopened per chunk, so even a replay of the live log never holds it open for
    long. A last line without a newline counts as a line: nothing more will follow.

    Raises:
        OSError: the file cannot be opened.
    """
    offset = 0
    skipping = False
    while True:
        with open_shared(path) as handle:
            handle.seek(offset)
            data = handle.read(read_bytes)
        final = len(data) < read_bytes
        split = split_lines(data, skipping=skipping, final=final, max_line_bytes=max_line_bytes)
        counters.overlong_lines += split.overlong
        offset += split.consumed
        skipping = split.skipping
        if split.lines:
            yield split
        if final:
            return
