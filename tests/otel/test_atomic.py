"""atomic_write and staged_file: a reader or a crash sees the old file or the new one, never a
torn one, and no temp file outlives its block."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from otel import _atomic, atomic_write, remove_staged, staged_file


class Boom(Exception):
    pass


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("durable", [False, True])
def test_the_new_content_replaces_the_old_and_no_temp_file_is_left(tmp_path: Path,
                                                                    durable: bool) -> None:
    target = tmp_path / "status.json"
    target.write_bytes(b"old")
    with atomic_write(target, durable=durable) as handle:
        handle.write(b"new")
        assert target.read_bytes() == b"old"  # nothing is visible before the block ends
    assert target.read_bytes() == b"new"
    assert names(tmp_path) == ["status.json"]


@pytest.mark.parametrize("error", [Boom, KeyboardInterrupt])
def test_a_failing_block_keeps_the_old_content_and_removes_the_temp_file(
        tmp_path: Path, error: type[BaseException]) -> None:
    target = tmp_path / "status.json"
    target.write_bytes(b"old")
    with pytest.raises(error), atomic_write(target) as handle:
        handle.write(b"half")
        raise error
    assert target.read_bytes() == b"old"
    assert names(tmp_path) == ["status.json"]


def test_a_failed_rename_leaves_the_target_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "status.json"
    target.mkdir()  # a folder in the way: the rename fails
    with pytest.raises(OSError), atomic_write(target) as handle:
        handle.write(b"new")
    assert target.is_dir()
    assert names(tmp_path) == ["status.json"]


class _RefusedRenames:
    """``os.replace`` as Windows does it while another process has the target open: refused
    ``refusals`` times, then done. Records the waits instead of sleeping."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.tries = 0
        self.waits: list[float] = []
        self._replace = os.replace

    def replace(self, src: Path, dst: Path) -> None:
        self.tries += 1
        if self.tries <= self.refusals:
            raise PermissionError(13, "Access is denied", str(dst))
        self._replace(src, dst)


@pytest.fixture
def windows_renames(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], _RefusedRenames]:
    def refuse(refusals: int) -> _RefusedRenames:
        renames = _RefusedRenames(refusals)
        monkeypatch.setattr(_atomic, "_RETRY_REFUSED_RENAME", True)
        monkeypatch.setattr(os, "replace", renames.replace)
        monkeypatch.setattr(time, "sleep", renames.waits.append)
        return renames
    return refuse


def test_on_windows_a_rename_refused_while_a_reader_has_the_file_open_is_tried_again(
        tmp_path: Path, windows_renames: Callable[[int], _RefusedRenames]) -> None:
    target = tmp_path / "status.json"
    target.write_bytes(b"old")
    renames = windows_renames(2)
    with atomic_write(target) as handle:
        handle.write(b"new")
    assert target.read_bytes() == b"new"
    assert renames.tries == 3 and renames.waits == [0.01, 0.02]
    assert names(tmp_path) == ["status.json"]


def test_on_windows_a_rename_refused_for_half_a_second_fails_and_changes_nothing(
        tmp_path: Path, windows_renames: Callable[[int], _RefusedRenames]) -> None:
    target = tmp_path / "status.json"
    target.write_bytes(b"old")
    renames = windows_renames(100)
    with pytest.raises(PermissionError), atomic_write(target) as handle:
        handle.write(b"new")
    assert target.read_bytes() == b"old"
    assert renames.tries == 6 and 0.4 < sum(renames.waits) < 0.6
    assert names(tmp_path) == ["status.json"]


def test_elsewhere_a_refused_rename_is_not_tried_again(
        tmp_path: Path, windows_renames: Callable[[int], _RefusedRenames],
        monkeypatch: pytest.MonkeyPatch) -> None:
    renames = windows_renames(1)
    monkeypatch.setattr(_atomic, "_RETRY_REFUSED_RENAME", False)  # POSIX: a real refusal
    with pytest.raises(PermissionError), atomic_write(tmp_path / "status.json") as handle:
        handle.write(b"new")
    assert renames.tries == 1 and renames.waits == []


def test_a_missing_folder_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError), atomic_write(tmp_path / "absent" / "x.json"):
        pass


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes and symlinks")
def test_the_file_is_owner_only_and_a_symlink_at_the_target_is_replaced_not_followed(
        tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(b"keep")
    target = tmp_path / "status.json"
    target.symlink_to(outside)
    old = os.umask(0)
    try:
        with atomic_write(target) as handle:
            handle.write(b"new")
    finally:
        os.umask(old)
    assert not target.is_symlink() and target.read_bytes() == b"new"
    assert outside.read_bytes() == b"keep"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_staged_file_is_removed_when_the_block_ends_unless_renamed(tmp_path: Path) -> None:
    with staged_file(tmp_path, ".bundle_") as (handle, tmp):
        assert tmp.parent == tmp_path and tmp.name.startswith(".bundle_")
        assert tmp.name.endswith(".tmp")
        handle.write(b"zip")
        handle.close()
        os.link(tmp, tmp_path / "published.zip")
    assert names(tmp_path) == ["published.zip"]
    assert (tmp_path / "published.zip").read_bytes() == b"zip"
    with pytest.raises(Boom), staged_file(tmp_path, ".bundle_"):
        raise Boom
    assert names(tmp_path) == ["published.zip"]


def test_the_temp_files_a_killed_writer_left_are_removed_and_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "watcher_checkpoint.json"
    target.write_bytes(b"{}")
    left = [tmp_path / ".watcher_checkpoint.json.k2j4x0.tmp",
            tmp_path / ".watcher_checkpoint.json.abcdef.tmp"]
    others = [tmp_path / ".watcher_status.json.k2j4x0.tmp", tmp_path / "notes.tmp",
              tmp_path / ".watcher_checkpoint.json.bak"]
    for path in left + others:
        path.write_bytes(b"half a checkpoint")
    assert remove_staged(target) == 2
    assert names(tmp_path) == sorted(p.name for p in [target, *others])
    assert remove_staged(target) == 0
