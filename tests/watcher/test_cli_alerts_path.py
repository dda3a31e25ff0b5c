"""The alerts file is never the log a run reads, and a replay never replaces the home's
alerts.jsonl: either would lose data (found by review: ``--replay LOG --alerts LOG`` left the
log holding one alert line)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.watcher.conftest import CliRunner, Home, burst, read_alerts, write_lines


def test_a_replay_into_its_own_log_is_refused_and_the_log_kept(home: Home,
                                                               run_cli: CliRunner) -> None:
    write_lines(home.log, burst(0, 12, step_s=0.1))
    before = home.log.read_bytes()
    result = run_cli("--replay", str(home.log), "--alerts", str(home.log))
    assert result.code == 2
    assert "is the audit log this run reads" in result.err
    assert home.log.read_bytes() == before


def test_another_spelling_of_the_log_is_the_log_too(home: Home, run_cli: CliRunner) -> None:
    write_lines(home.log, burst(0, 12, step_s=0.1))
    link = home.root / "link.jsonl"
    os.symlink(home.log, link)
    dotted = home.root / "logs" / ".." / "logs" / home.log.name
    for alias in (link, dotted):
        assert run_cli("--replay", str(home.log), "--alerts", str(alias)).code == 2
    assert len(home.log.read_bytes().splitlines()) == 12


def test_a_replay_never_replaces_the_homes_alert_history(home: Home,
                                                         run_cli: CliRunner) -> None:
    write_lines(home.log, burst(0, 12, step_s=0.1))
    assert run_cli("--once").code == 0
    history = home.alerts.read_bytes()
    assert history
    result = run_cli("--replay", str(home.log), "--alerts", str(home.alerts))
    assert result.code == 2
    assert "a replay replaces its file" in result.err
    assert home.alerts.read_bytes() == history


def test_once_refuses_to_append_alerts_to_the_audit_log(home: Home, run_cli: CliRunner) -> None:
    write_lines(home.log, burst(0, 12, step_s=0.1))
    before = home.log.read_bytes()
    result = run_cli("--once", "--alerts", str(home.log))
    assert result.code == 2
    assert home.log.read_bytes() == before


def test_a_replay_replaces_an_earlier_replay_or_an_empty_file(home: Home,
                                                              run_cli: CliRunner) -> None:
    write_lines(home.log, burst(0, 12, step_s=0.1))
    out = home.root / "replayed.jsonl"
    for before in ("", "earlier"):
        if before == "":
            out.write_bytes(b"")
        assert run_cli("--replay", str(home.log), "--alerts", str(out)).code == 0, before
        assert [a["rule"] for a in read_alerts(out)] == ["auth_failure_burst"]


def test_a_replay_never_replaces_a_file_that_holds_no_alerts(home: Home,
                                                             run_cli: CliRunner) -> None:
    """Found by review: ``--alerts`` pointed at the wrong file (a copy of /etc/passwd) lost it."""
    write_lines(home.log, burst(0, 12, step_s=0.1))
    out = home.root / "passwd_copy"
    out.write_text("root:x:0:0:root:/root:/bin/bash\n")
    result = run_cli("--replay", str(home.log), "--alerts", str(out))
    assert result.code == 2
    assert "holds something other than alerts" in result.err and "Traceback" not in result.err
    assert out.read_text() == "root:x:0:0:root:/root:/bin/bash\n"


def test_a_replay_never_replaces_another_homes_alert_history(
        home: Home, tmp_path: Path, run_cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by review: run from elsewhere, a replay wiped a running home's alerts.jsonl."""
    write_lines(home.log, burst(0, 12, step_s=0.1))
    assert run_cli("--once").code == 0
    history = home.alerts.read_bytes()
    other = tmp_path / "elsewhere"
    other.mkdir()
    empty = other / "empty.jsonl"
    empty.write_bytes(b"")
    relative = Path(os.path.relpath(home.alerts, other))
    monkeypatch.chdir(other)
    elsewhere = {"SHERATAN_HOME": str(other)}
    result = run_cli("--replay", str(empty), "--alerts", str(relative), env=elsewhere)
    assert result.code == 2
    assert "is the alert history of the hub home" in result.err
    assert home.alerts.read_bytes() == history
    # Not yet written, it is still that home's: a replay may not create it either.
    home.alerts.unlink()
    assert run_cli("--replay", str(empty), "--alerts", str(home.alerts), env=elsewhere).code == 2
    assert not home.alerts.exists()
