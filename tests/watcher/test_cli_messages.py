"""What the watcher says about a replay target or rules file it cannot use, or a replay that
read nothing (found by review: a folder was "no such file", a rules error never named its
file, and replaying a binary file looked like success)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.watcher.conftest import CliRunner, Home, burst, write_lines


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on Windows")
def test_a_replay_of_a_folder_or_fifo_says_what_it_is(home: Home, tmp_path: Path,
                                                      run_cli: CliRunner) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    out = tmp_path / "out.jsonl"
    for target, said in ((tmp_path, "is a folder, not a regular file"),
                         (fifo, "is a FIFO, not a regular file"),
                         (tmp_path / "missing.jsonl", "no such file")):
        result = run_cli("--replay", str(target), "--alerts", str(out))
        assert result.code == 2, target
        assert result.err.strip() == f"python -m watcher: error: --replay {target}: {said}"
    assert not out.exists()


def test_a_replay_where_no_line_is_json_warns(home: Home, tmp_path: Path,
                                              run_cli: CliRunner) -> None:
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x7fELF\x02\x01\x01\nnot json\n\x00\x01\x02\n")
    result = run_cli("--replay", str(garbage), "--alerts", str(tmp_path / "out.jsonl"))
    assert result.code == 0
    assert "parse_errors=3" in result.out
    assert f"warning: no line of {garbage} is JSON" in result.err


def test_a_good_replay_does_not_warn(home: Home, tmp_path: Path, run_cli: CliRunner) -> None:
    write_lines(home.log, burst(0, 12, step_s=0.1))
    result = run_cli("--replay", str(home.log), "--alerts", str(tmp_path / "out.jsonl"))
    assert result.code == 0 and "warning" not in result.err


@pytest.mark.parametrize("content", ['{"rules": [{"threshold": 1}]}', "not json"])
def test_an_invalid_rules_file_is_named_once(home: Home, tmp_path: Path, run_cli: CliRunner,
                                             content: str) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(content)
    write_lines(home.log, burst(0, 12, step_s=0.1))
    result = run_cli("--replay", str(home.log), "--alerts", str(tmp_path / "out.jsonl"),
                     "--rules", str(rules))
    assert result.code == 2
    line = result.err.strip().splitlines()[-1]
    assert line.startswith("python -m watcher: invalid rules")
    assert line.count(str(rules)) == 1, line
