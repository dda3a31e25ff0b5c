"""Files the watcher creates are 0600 and folders 0700, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.watcher.conftest import CliRunner, Home, burst, write_lines
from watcher._private import make_private_dir

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX modes")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture(params=[0o000, 0o022], ids=["umask-000", "umask-022"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_once_creates_owner_only_files_and_folders(run_cli: CliRunner, tmp_path: Path,
                                                   umask: int) -> None:
    # The home must exist (the watcher never makes one: tests/watcher/test_cli_home.py); its
    # folders and files do not yet.
    root = tmp_path / "fresh" / "home"
    root.mkdir(parents=True)
    log = tmp_path / "audit.jsonl"
    write_lines(log, burst(0, 11))
    result = run_cli("--once", "--home", str(root), "--log", str(log),
                     env={"SHERATAN_HOME": str(root)})
    assert result.code == 0, result.err
    files = [root / "logs" / "alerts.jsonl", root / "state" / "watcher_checkpoint.json",
             root / "state" / "watcher_status.json", root / "state" / "watcher.lock"]
    assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
    folders = [root / "logs", root / "state"]
    assert {str(d): _mode(d) for d in folders} == {str(d): 0o700 for d in folders}


def test_replay_output_and_its_new_folder_are_owner_only(run_cli: CliRunner, home: Home,
                                                         tmp_path: Path, umask: int) -> None:
    write_lines(home.log, burst(0, 11))
    out = tmp_path / "new" / "out.jsonl"
    assert run_cli("--replay", str(home.log), "--alerts", str(out)).code == 0
    assert (_mode(out), _mode(out.parent)) == (0o600, 0o700)


def test_existing_files_and_folders_keep_their_modes(run_cli: CliRunner, home: Home) -> None:
    home.alerts.write_bytes(b"")
    home.alerts.chmod(0o644)
    (home.root / "logs").chmod(0o755)
    write_lines(home.log, burst(0, 11))
    assert run_cli("--once").code == 0
    assert home.alerts.stat().st_size > 0
    assert (_mode(home.alerts), _mode(home.root / "logs")) == (0o644, 0o755)


def test_a_umask_without_owner_bits_still_gives_usable_owner_only_folders(
    tmp_path: Path
) -> None:
    old = os.umask(0o777)
    try:
        make_private_dir(tmp_path / "a" / "b")
    finally:
        os.umask(old)
    assert (_mode(tmp_path / "a"), _mode(tmp_path / "a" / "b")) == (0o700, 0o700)


def test_a_file_in_the_way_of_a_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("")
    with pytest.raises(OSError, match="in the way"):
        make_private_dir(tmp_path / "state")
    with pytest.raises(NotADirectoryError):
        make_private_dir(tmp_path / "state" / "sub")
