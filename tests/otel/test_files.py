"""open_regular: what diagnose and hub_top copy out must be a regular file, read at once.
open_shared: what the tailer and the look-back read follows a symlink, but never waits on a
FIFO."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from otel import NotRegularFile, open_regular, open_shared, read_small_regular

posix_only = pytest.mark.skipif(os.name != "posix", reason="symlinks and FIFOs need POSIX")


def test_a_regular_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "hub_control.log"
    path.write_bytes(b"line\n")
    with open_regular(path) as handle:
        assert handle.read() == b"line\n"


def test_a_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_regular(tmp_path / "absent.log")


@posix_only
def test_a_symlink_is_refused_and_never_followed(tmp_path: Path) -> None:
    secret = tmp_path / "id_rsa"
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    link = tmp_path / "hub_control.log"
    link.symlink_to(secret)
    with pytest.raises(NotRegularFile, match="symbolic link") as info:
        open_regular(link)
    assert info.value.kind == "a symbolic link"
    assert "id_rsa" not in str(info.value)


@posix_only
def test_a_dangling_symlink_is_refused_as_a_symlink(tmp_path: Path) -> None:
    link = tmp_path / "hub_data.log"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(NotRegularFile, match="symbolic link"):
        open_regular(link)


@posix_only
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "hub_security_audit.jsonl"
    os.mkfifo(fifo)  # no writer: a plain open() would block forever
    with pytest.raises(NotRegularFile, match="FIFO"):
        open_regular(fifo)


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotRegularFile, match="folder"):
        open_regular(tmp_path)


def test_irregular_kind_names_what_is_not_a_regular_file(tmp_path: Path) -> None:
    from otel import irregular_kind

    regular = tmp_path / "log"
    regular.write_text("x\n")
    link = tmp_path / "link"
    link.symlink_to(regular)
    folder = tmp_path / "folder"
    folder.mkdir()
    assert irregular_kind(regular) is None and irregular_kind(tmp_path / "missing") is None
    assert irregular_kind(link) is None  # followed: a link to a regular file is one
    assert irregular_kind(link, follow=False) == "a symbolic link"
    assert irregular_kind(folder) == "a folder"


@posix_only
def test_the_shared_reader_follows_a_symlink_to_a_regular_file(tmp_path: Path) -> None:
    real = tmp_path / "real.jsonl"
    real.write_bytes(b"line\n")
    link = tmp_path / "hub_security_audit.jsonl"
    link.symlink_to(real)  # an operator's HUB_AUDIT_LOG may point at the real file
    with open_shared(link) as handle:
        assert handle.read() == b"line\n"


@posix_only
@pytest.mark.parametrize("kind", ["fifo", "folder", "device"])
def test_the_shared_reader_refuses_what_is_no_regular_file_without_blocking(
        tmp_path: Path, kind: str) -> None:
    path = tmp_path / "hub_security_audit.jsonl.1"
    if kind == "fifo":
        os.mkfifo(path)  # no writer: a plain open() would block forever
    elif kind == "folder":
        path.mkdir()
    else:
        path.symlink_to("/dev/zero")  # followed, then refused: endless bytes
    with pytest.raises(NotRegularFile):
        open_shared(path)


def test_a_folder_windows_refuses_to_open_is_named_a_folder_not_permission_denied(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Windows opens no folder as a file: "Access is denied", which sends a user to check
    # permissions. Played here by an os.open that refuses the folder the same way.
    folder = tmp_path / "alert_rules.json"
    folder.mkdir()
    real_open = os.open

    def windows_open(path: object, flags: int, *args: int) -> int:
        if os.path.isdir(str(path)):
            raise PermissionError(13, "Access is denied", str(path))
        return real_open(str(path), flags, *args)

    monkeypatch.setattr(os, "open", windows_open)
    with pytest.raises(NotRegularFile, match=r"alert_rules\.json is a folder"):
        read_small_regular(folder, 100)
    file = tmp_path / "hub_token"
    file.write_bytes(b"token")
    assert read_small_regular(file, 100) == b"token"


def test_a_small_file_is_read_whole_and_a_larger_one_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit_format.json"
    path.write_bytes(b"x" * 100)
    assert read_small_regular(path, 100) == b"x" * 100
    with pytest.raises(OSError, match="larger than 99 bytes") as info:
        read_small_regular(path, 99)
    assert info.value.errno == errno.EFBIG
