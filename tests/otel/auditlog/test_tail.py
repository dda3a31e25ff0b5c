"""Tailing: complete lines only, over-long lines, rotations, truncation, never held open."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel.auditlog import DEFAULT_READ_BYTES
from tests.watcher.conftest import audit, write_lines
from watcher import MAX_LINE_BYTES, Counters, Tailer, split_lines

MiB = 1 << 20


def drain(tailer: Tailer) -> list[bytes]:
    lines: list[bytes] = []
    while (chunk := tailer.read()) is not None:
        lines.extend(chunk.lines)
    return lines


def make(log: Path, counters: Counters | None = None, *,
         read_bytes: int = DEFAULT_READ_BYTES) -> Tailer:
    return Tailer(log, counters or Counters(), read_bytes=read_bytes)


def test_split_keeps_a_partial_last_line_for_later() -> None:
    split = split_lines(b"a\nb\nc", skipping=False, final=False)
    assert split.lines == [b"a", b"b"]
    assert split.consumed == 4


def test_split_of_a_final_chunk_includes_the_unterminated_line() -> None:
    split = split_lines(b"a\nb\nc", skipping=False, final=True)
    assert split.lines == [b"a", b"b", b"c"]
    assert split.consumed == 5


def test_split_drops_and_counts_lines_over_the_cap() -> None:
    split = split_lines(b"ok\n" + b"x" * 11 + b"\nfine\n", skipping=False, final=False,
                        max_line_bytes=10)
    assert split.lines == [b"ok", b"fine"]
    assert split.overlong == 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=30), st.integers(0, 12),
       st.booleans(), st.booleans())
def test_split_drops_exactly_the_lines_over_the_cap_wherever_they_are(
        lengths: list[int], max_line_bytes: int, skipping: bool, final: bool) -> None:
    # Long lines are ruled out per chunk by sampling windows; it must never miss one.
    data = b"".join(b"x" * n + b"\n" for n in lengths)
    split = split_lines(data, skipping=skipping, final=final, max_line_bytes=max_line_bytes)
    kept = lengths[1:] if skipping else lengths
    assert split.lines == [b"x" * n for n in kept if n <= max_line_bytes]
    assert split.overlong == len(lengths) - len(split.lines)
    assert split.consumed == len(data)


def test_split_never_waits_behind_an_unterminated_long_line() -> None:
    split = split_lines(b"ok\n" + b"x" * 20, skipping=False, final=False, max_line_bytes=10)
    assert split.lines == [b"ok"]
    assert split.consumed == 23
    assert split.skipping
    rest = split_lines(b"xxxx\nnext\n", skipping=True, final=False, max_line_bytes=10)
    assert rest.lines == [b"next"]
    assert rest.overlong == 1
    assert not rest.skipping


def test_a_missing_log_is_waited_for(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    tailer = make(log)
    assert tailer.read() is None
    assert tailer.waiting
    write_lines(log, [b"one"])
    assert drain(tailer) == [b"one"]
    assert not tailer.waiting


def test_only_complete_lines_are_read(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b"one\ntw")
    tailer = make(log)
    assert drain(tailer) == [b"one"]
    with open(log, "ab") as handle:
        handle.write(b"o\nthree")
    assert drain(tailer) == [b"two"]


def test_two_mib_lines_are_skipped_and_the_tail_keeps_going(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    counters = Counters()
    tailer = make(log, counters, read_bytes=MAX_LINE_BYTES + 1024)
    log.write_bytes(b"before\n" + b"x" * (2 * MiB))  # still being written
    assert drain(tailer) == [b"before"]
    with open(log, "ab") as handle:
        handle.write(b"x" * 100 + b"\nafter\n" + b"y" * (2 * MiB) + b"\nlast\n")
    assert drain(tailer) == [b"after", b"last"]
    assert counters.overlong_lines == 2


def test_rename_rotation_finishes_the_rotated_file_first(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    counters = Counters()
    write_lines(log, [b"a1", b"a2"])
    tailer = make(log, counters)
    assert drain(tailer) == [b"a1", b"a2"]
    write_lines(log, [b"a3"])  # written, not yet read, then rotated away
    os.replace(log, log.with_name("audit.jsonl.1"))
    write_lines(log, [b"b1"])
    assert drain(tailer) == [b"a3", b"b1"]
    assert counters.rotations == 1


def test_several_rotations_while_away_are_read_in_order(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_lines(log, [b"a1"])
    tailer = make(log)
    assert drain(tailer) == [b"a1"]
    for generation in (b"a2", b"b1", b"c1"):
        write_lines(log, [generation])
        for index in (3, 2, 1):
            older = log.with_name(f"audit.jsonl.{index}")
            if older.exists():
                os.replace(older, log.with_name(f"audit.jsonl.{index + 1}"))
        os.replace(log, log.with_name("audit.jsonl.1"))
    write_lines(log, [b"d1"])
    assert drain(tailer) == [b"a2", b"b1", b"c1", b"d1"]


def test_copytruncate_reads_the_rest_from_the_copy_even_when_the_new_file_is_longer(
    tmp_path: Path,
) -> None:
    log = tmp_path / "audit.jsonl"
    counters = Counters()
    write_lines(log, [audit(0), audit(1)])
    tailer = make(log, counters)
    assert len(drain(tailer)) == 2
    write_lines(log, [audit(2)])
    shutil.copyfile(log, log.with_name("audit.jsonl.1"))
    with open(log, "r+b") as handle:
        handle.truncate(0)
    new = [audit(10 + i, client="10.9.9.9") for i in range(5)]  # longer than the old offset
    write_lines(log, new)
    assert drain(tailer) == [audit(2), *new]
    assert counters.rotations == 1


def test_truncation_restarts_at_the_beginning(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    counters = Counters()
    write_lines(log, [audit(0), audit(1), audit(2)])
    tailer = make(log, counters)
    assert len(drain(tailer)) == 3
    with open(log, "r+b") as handle:
        handle.truncate(0)
    write_lines(log, [audit(5)])
    assert drain(tailer) == [audit(5)]
    assert counters.truncations == 1


def test_an_in_place_rewrite_longer_than_the_offset_is_detected(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_lines(log, [audit(0)])
    tailer = make(log)
    assert drain(tailer) == [audit(0)]
    new = [audit(50 + i) for i in range(4)]
    write_lines(log, new, mode="r+b")  # same inode, new content from byte 0
    assert drain(tailer) == new


def test_delete_and_recreate_starts_the_new_file(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    counters = Counters()
    write_lines(log, [audit(0)])
    tailer = make(log, counters)
    assert drain(tailer) == [audit(0)]
    log.unlink()
    assert tailer.read() is None
    write_lines(log, [audit(9, client="10.1.1.1")])
    assert drain(tailer) == [audit(9, client="10.1.1.1")]
    # A reused inode number makes this indistinguishable from an in-place rewrite.
    assert counters.recreations + counters.truncations == 1


def test_a_saved_cursor_resumes_without_rereading(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_lines(log, [b"one", b"two"])
    first = make(log)
    assert drain(first) == [b"one", b"two"]
    write_lines(log, [b"three"])
    second = Tailer(log, Counters(), cursor=first.cursor)
    assert drain(second) == [b"three"]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_the_log_is_never_held_open_between_reads(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_lines(log, [b"one"])
    tailer = make(log)
    drain(tailer)
    open_files = {os.path.realpath(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")}
    assert str(log.resolve()) not in open_files


def test_lag_counts_unread_bytes(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b"one\npartial")
    tailer = make(log)
    drain(tailer)
    assert tailer.lag_bytes == len(b"partial")


def test_the_tailer_never_writes_the_log(tmp_path: Path) -> None:
    """Every open of the log is watched through Python's audit hooks (which a chmod test
    cannot do for root): none may ask for writing, and its bytes and times stay."""
    log = tmp_path / "audit.jsonl"
    write_lines(log, [b"one", b"two"])
    before = (log.read_bytes(), log.stat().st_mtime_ns, log.stat().st_ino)
    opens: list[tuple[str, object]] = []

    def watch(event: str, args: tuple[object, ...]) -> None:
        if event == "open" and args and str(args[0]) == str(log):
            opens.append((str(args[0]), args[1]))

    sys.addaudithook(watch)  # hooks cannot be removed; this one only records
    assert drain(make(log)) == [b"one", b"two"]
    assert opens, "the audit hook saw no open at all"
    assert all(mode in (None, "r", "rb") or (isinstance(mode, int) and mode & 3 == 0)
               for _, mode in opens), opens
    assert (log.read_bytes(), log.stat().st_mtime_ns, log.stat().st_ino) == before
