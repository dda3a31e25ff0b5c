"""The audit log and the plane logs follow their path: a file deleted, moved away or replaced
under a running writer is reopened before the next line, and rotation still works."""

from __future__ import annotations

import json
import logging.handlers
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from baseline_hub import filewatch
from baseline_hub.audit import AuditLog
from baseline_hub.planelog import open_plane_log

# Deleting or renaming a file another handle holds open is refused on Windows, so there is
# nothing to follow there; the inode fallback is tested on every platform below.
posix_only = pytest.mark.skipif(os.name != "posix", reason="needs delete-while-open")


def lines_of(handle: IO[bytes]) -> list[dict[str, object]]:
    handle.seek(0)
    return [json.loads(line) for line in handle.read().splitlines()]


def read_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def audit(tmp_path: Path) -> Iterator[AuditLog]:
    log = AuditLog(tmp_path / "logs" / "audit.jsonl")
    yield log
    log.close()


# --- the check itself -----------------------------------------------------------------------

def test_the_same_file_is_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "f"
    with open(path, "ab") as handle:
        assert not filewatch.is_replaced(path, handle.fileno())


@posix_only
def test_a_deleted_moved_or_swapped_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "f"
    with open(path, "ab") as handle:
        path.rename(tmp_path / "moved")
        assert filewatch.is_replaced(path, handle.fileno())  # moved away: missing
        path.write_bytes(b"other")
        assert filewatch.is_replaced(path, handle.fileno())  # another file in its place
        path.unlink()
        assert filewatch.is_replaced(str(path), handle.fileno())  # deleted


def _without_inodes(real: Callable[[Any], os.stat_result]) -> Callable[[Any], os.stat_result]:
    def call(target: Any) -> os.stat_result:
        result = real(target)
        fields = list(result[:10])
        fields[1] = 0  # st_ino, as Windows reports it before Python 3.12 on some file systems
        return os.stat_result(fields)
    return call


def test_without_inode_numbers_only_a_missing_path_counts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "f"
    other = tmp_path / "other"
    other.write_bytes(b"x")
    monkeypatch.setattr("os.stat", _without_inodes(os.stat))  # the os filewatch uses
    monkeypatch.setattr("os.fstat", _without_inodes(os.fstat))
    with open(other, "rb") as handle:
        path.write_bytes(b"y")
        assert not filewatch.is_replaced(path, handle.fileno())  # cannot tell: keep it
        path.unlink()
        assert filewatch.is_replaced(path, handle.fileno())  # missing: reopen


def test_a_path_that_cannot_be_checked_keeps_the_open_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(path: object) -> os.stat_result:
        raise PermissionError(13, "denied")

    with open(tmp_path / "f", "ab") as handle:
        monkeypatch.setattr("os.stat", denied)
        assert not filewatch.is_replaced(tmp_path / "f", handle.fileno())


# --- the audit log --------------------------------------------------------------------------

@posix_only
def test_a_deleted_audit_file_is_created_again_owner_only(audit: AuditLog) -> None:
    audit.write({"n": 1})
    with open(audit.path, "rb") as old:
        audit.path.unlink()
        audit.write({"n": 2})
        assert lines_of(old) == [{"n": 1}]
    assert read_lines(audit.path) == [{"n": 2}]
    assert mode(audit.path) == 0o600


@posix_only
def test_a_moved_audit_file_keeps_its_lines_and_the_path_gets_the_next(
        audit: AuditLog, tmp_path: Path) -> None:
    audit.write({"n": 1})
    moved = tmp_path / "moved.jsonl"
    audit.path.rename(moved)
    audit.write({"n": 2})
    audit.write({"n": 3})
    assert (read_lines(moved), read_lines(audit.path)) == ([{"n": 1}], [{"n": 2}, {"n": 3}])


@posix_only
def test_a_file_put_in_its_place_is_appended_to(audit: AuditLog, tmp_path: Path) -> None:
    audit.write({"n": 1})
    other = tmp_path / "other.jsonl"
    other.write_bytes(b'{"n": 0}\n')
    os.replace(other, audit.path)
    audit.write({"n": 2})
    assert read_lines(audit.path) == [{"n": 0}, {"n": 2}]
    assert mode(audit.path) == 0o600  # it was 0644: made owner-only, with a warning


@posix_only
def test_a_deleted_logs_folder_is_created_again_owner_only(audit: AuditLog) -> None:
    audit.write({"n": 1})
    audit.path.unlink()
    audit.path.parent.rmdir()
    audit.write({"n": 2})
    assert read_lines(audit.path) == [{"n": 2}]
    assert (mode(audit.path.parent), mode(audit.path)) == (0o700, 0o600)


def test_an_untouched_audit_file_is_not_reopened(audit: AuditLog) -> None:
    audit.write({"n": 1})
    first = audit._handle
    audit.write({"n": 2})
    assert audit._handle is first and read_lines(audit.path) == [{"n": 1}, {"n": 2}]


def test_rotation_still_keeps_dot_1_to_5_and_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "audit.jsonl"
    log = AuditLog(path, rotate_at_bytes=200, keep=5)
    try:
        for n in range(40):
            log.write({"n": n, "pad": "x" * 40})
    finally:
        log.close()
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["audit.jsonl", *(f"audit.jsonl.{i}" for i in range(1, 6))]
    kept = [line["n"] for i in range(5, 0, -1) for line in read_lines(Path(f"{path}.{i}"))]
    kept += [line["n"] for line in read_lines(path)]
    assert kept == list(range(40 - len(kept), 40))  # the newest, in order, none missing
    assert all(read_lines(Path(f"{path}.{i}")) for i in range(1, 6))


@posix_only
def test_a_replaced_file_counts_toward_rotation_by_its_own_size(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "audit.jsonl"
    log = AuditLog(path, rotate_at_bytes=1000, keep=2)
    try:
        log.write({"n": 1})
        other = tmp_path / "big"
        other.write_bytes(b'{"n": 0}\n' + b" " * 990 + b"\n")
        os.replace(other, path)
        log.write({"n": 2})
    finally:
        log.close()
    assert Path(f"{path}.1").read_bytes().startswith(b'{"n": 0}\n')
    assert read_lines(path) == [{"n": 2}]


@posix_only
def test_no_line_is_lost_or_doubled_when_the_file_is_deleted_under_concurrent_writers(
        tmp_path: Path) -> None:
    path = tmp_path / "logs" / "audit.jsonl"
    log = AuditLog(path)
    writers, deletes = 8, 20
    written = [0] * writers
    held: list[IO[bytes]] = []  # each deleted file, still readable through our handle
    done = threading.Event()

    def write(w: int) -> None:
        while not done.is_set():
            log.write({"w": w, "i": written[w]})
            written[w] += 1
            time.sleep(0)  # yield the GIL, so the deleting thread gets its turns

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    try:
        while len(held) < deletes and time.monotonic() < deadline:
            try:
                if path.stat().st_size == 0:
                    continue  # let the writers put lines into this file first
                handle: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed below
            except FileNotFoundError:
                continue
            held.append(handle)
            path.unlink()
        done.set()
        for thread in threads:
            thread.join()
        log.close()
        seen = [(line["w"], line["i"]) for handle in held for line in lines_of(handle)]
        seen += [(line["w"], line["i"]) for line in read_lines(path)] if path.exists() else []
        assert all(lines_of(handle) for handle in held)  # every deleted file took lines
    finally:
        done.set()
        for handle in held:
            handle.close()
    assert len(held) == deletes  # the path came back after every delete
    assert sorted(seen) == [(w, i) for w in range(writers) for i in range(written[w])]


# --- the plane logs -------------------------------------------------------------------------

@posix_only
@pytest.mark.parametrize("how", ["delete", "move", "replace"])
def test_a_plane_log_follows_its_path(tmp_path: Path, how: str) -> None:
    path = tmp_path / "logs" / "hub_control.log"
    log = open_plane_log("control", path)
    try:
        log.info("first")
        if how == "delete":
            path.unlink()
        elif how == "move":
            path.rename(tmp_path / "moved.log")
        else:
            (tmp_path / "other.log").write_text("other\n")
            os.replace(tmp_path / "other.log", path)
        log.info("second")
    finally:
        log.close()
    text = path.read_text()
    assert "second" in text and "first" not in text
    assert mode(path) == 0o600
    if how == "move":
        assert "first" in (tmp_path / "moved.log").read_text()


def test_a_plane_log_still_rotates(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "hub_data.log"
    log = open_plane_log("data", path)
    try:
        [handler] = log.logger.handlers
        assert isinstance(handler, logging.handlers.RotatingFileHandler)
        handler.maxBytes = 300
        for n in range(30):
            log.info("line %02d %s", n, "x" * 40)
    finally:
        log.close()
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["hub_data.log", *(f"hub_data.log.{i}" for i in range(1, 6))]
    assert "line 29" in path.read_text()
