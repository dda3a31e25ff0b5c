"""atomic_write and staged_file: a reader or a crash sees the old file or the new one, never a
torn one, and no temp file outlives its block."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from otel import atomic_write, staged_file


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
