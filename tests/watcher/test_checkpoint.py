"""A checkpoint is trusted only as a whole: an inconsistent one never loses or repeats alerts."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.watcher.conftest import CliRunner, Home, burst, read_alerts, write_lines
from watcher import default_rules, load_checkpoint, replay

Edit = Callable[[dict[str, object]], None]


def _cursor_null(data: dict[str, object]) -> None:
    data["cursor"] = None


def _engine_null(data: dict[str, object]) -> None:
    data["engine"] = None


def _negative_alerts_bytes(data: dict[str, object]) -> None:
    data["alerts_bytes"] = -1


def _engine_garbage(data: dict[str, object]) -> None:
    engine = data["engine"]
    assert isinstance(engine, dict)
    engine["rules"] = 5


def _huge(*path: str) -> Edit:
    """An edit that sets the field at ``path`` to an integer no 64 bits can hold."""
    def edit(data: dict[str, object]) -> None:
        target: Any = data
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = 10**30
    edit.__name__ = f"_huge_{'_'.join(path)}"
    return edit


@pytest.mark.parametrize("edit", [_cursor_null, _engine_null, _negative_alerts_bytes,
                                  _engine_garbage, _huge("engine", "clock_us"),
                                  _huge("engine", "next_sweep_us"), _huge("cursor", "fp_len"),
                                  _huge("cursor", "offset"), _huge("alerts_bytes"),
                                  _huge("engine", "seq"), _huge("counters", "lines_read")],
                         ids=lambda edit: edit.__name__.lstrip("_"))
def test_a_hand_edited_checkpoint_keeps_alerts_exactly_once(
    run_cli: CliRunner, home: Home, tmp_path: Path, edit: Edit,
    caplog: pytest.LogCaptureFixture
) -> None:
    write_lines(home.log, burst(0, 11, client="10.0.0.1"))
    assert run_cli("--once").code == 0
    assert len(read_alerts(home.alerts)) == 1
    checkpoint = home.state / "watcher_checkpoint.json"
    data = orjson.loads(checkpoint.read_bytes())
    edit(data)
    checkpoint.write_bytes(json.dumps(data).encode())  # orjson refuses what it cannot read
    write_lines(home.log, burst(100, 11, client="10.0.0.2"))
    with caplog.at_level(logging.WARNING):
        result = run_cli("--once")
    assert result.code == 0, result.err
    expected = tmp_path / "expected.jsonl"
    replay(default_rules(), home.log, expected)
    assert read_alerts(home.alerts) == read_alerts(expected)
    assert [a["state"] for a in read_alerts(home.alerts)] == ["firing", "resolved", "firing"]


@pytest.mark.parametrize("garbage", [
    b"{not json", b'{"version": "\xff"}', b"[" * 100_000 + b"]" * 100_000, b"9" * 5000,
], ids=["malformed", "not-utf8", "deep", "huge-number"])
def test_an_undecodable_checkpoint_or_alert_line_is_ignored_not_a_crash(
    run_cli: CliRunner, home: Home, tmp_path: Path, garbage: bytes,
    caplog: pytest.LogCaptureFixture
) -> None:
    write_lines(home.log, burst(0, 11, client="10.0.0.1"))
    assert run_cli("--once").code == 0
    (home.state / "watcher_checkpoint.json").write_bytes(garbage)
    write_lines(home.alerts, [garbage])  # the restart's scan of written alerts meets it too
    write_lines(home.log, burst(100, 11, client="10.0.0.2"))
    with caplog.at_level(logging.WARNING):
        result = run_cli("--once")
    assert result.code == 0, result.err
    assert "ignoring corrupt checkpoint" in caplog.text
    expected = tmp_path / "expected.jsonl"
    replay(default_rules(), home.log, expected)
    written = [line for line in home.alerts.read_bytes().splitlines() if line != garbage]
    assert [orjson.loads(line) for line in written] == read_alerts(expected)


def test_engine_state_without_a_cursor_is_rejected_on_load(
    run_cli: CliRunner, home: Home, caplog: pytest.LogCaptureFixture
) -> None:
    write_lines(home.log, burst(0, 11))
    assert run_cli("--once").code == 0
    path = home.state / "watcher_checkpoint.json"
    assert load_checkpoint(path) is not None
    data = orjson.loads(path.read_bytes())
    data["cursor"] = None
    path.write_bytes(orjson.dumps(data))
    with caplog.at_level(logging.WARNING):
        assert load_checkpoint(path) is None
    assert "engine state without a log cursor" in caplog.text


def test_a_checkpoint_saved_while_waiting_for_the_log_is_consistent(
    run_cli: CliRunner, home: Home
) -> None:
    home.alerts.write_bytes(b"")  # an alerts file from an earlier life
    assert run_cli("--once").code == 0  # no log yet
    saved = load_checkpoint(home.state / "watcher_checkpoint.json")
    assert saved is not None
    assert saved.cursor is None
