"""The watcher says which home and files it used, and never makes a home of its own."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from watcher import EXIT_OK, EXIT_USAGE, main
from watcher.__main__ import main as entry_point

from .conftest import CliRunner, Home, burst, read_alerts, write_lines


def _run(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, env, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_once_in_a_folder_without_a_home_refuses_and_creates_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(["--once"], {})
    assert code == EXIT_USAGE and out == ""
    assert f"the home {tmp_path / '.sheratan'} does not exist" in err
    assert "SHERATAN_HOME is unset" in err and "--home" in err
    assert "Traceback" not in err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("how", ["env", "option"])
def test_a_missing_home_named_by_the_user_is_refused(tmp_path: Path, how: str) -> None:
    missing = tmp_path / "typo"
    argv, env = ((["--once"], {"SHERATAN_HOME": str(missing)}) if how == "env"
                 else (["--once", "--home", str(missing)], {}))
    code, _, err = _run(argv, env)
    assert code == EXIT_USAGE
    assert f"the home {missing} does not exist" in err
    assert ("from SHERATAN_HOME" if how == "env" else "from --home") in err
    assert not missing.exists()


def test_follow_mode_refuses_a_file_where_the_home_should_be(tmp_path: Path) -> None:
    a_file = tmp_path / "home"
    a_file.write_text("not a folder")
    code, _, err = _run(["--home", str(a_file)], {})
    assert code == EXIT_USAGE and f"the home {a_file} is not a folder" in err


def test_once_says_the_home_and_files_it_used(run_cli: CliRunner, home: Home) -> None:
    write_lines(home.log, burst(0, 11))
    result = run_cli("--once")
    assert result.code == EXIT_OK, result.err
    assert result.err.splitlines()[0] == (
        f"python -m watcher: home {home.root} (from SHERATAN_HOME); log {home.log}; "
        f"alerts {home.alerts}; rules packaged defaults")
    assert len(read_alerts(home.alerts)) == 1


def test_a_home_rules_file_is_named(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "configs").mkdir(parents=True)
    (home / "logs").mkdir()
    rules = home / "configs" / "alert_rules.json"
    rules.write_text('{"rules": [{"name": "r", "event": "AUTH_FAILURE", "threshold": 1, '
                     '"window_s": 60, "severity": "info"}]}')
    code, _, err = _run(["--once", "--home", str(home)], {})
    assert code == EXIT_OK, err
    assert f"rules {rules}" in err and "(from --home)" in err
    assert (home / "state" / "watcher_status.json").is_file()


@pytest.mark.parametrize("mode", [["--once"], []], ids=["once", "follow"])
@pytest.mark.parametrize("how", ["env", "option"])
def test_an_existing_folder_without_logs_is_no_home_and_stays_empty(
        tmp_path: Path, mode: list[str], how: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    argv, env = ((mode, {"SHERATAN_HOME": str(empty)}) if how == "env"
                 else ([*mode, "--home", str(empty)], {}))
    code, out, err = _run(argv, env)
    assert (code, out) == (EXIT_USAGE, "")
    assert err == (f"python -m watcher: error: the home {empty} "
                   f"({'from SHERATAN_HOME' if how == 'env' else 'from --home'}) has no logs "
                   "folder, which the hub makes at its first start; set SHERATAN_HOME or pass "
                   "--home to the hub's home, or name the audit log with --log\n")
    assert os.listdir(empty) == []


@pytest.mark.parametrize("how", ["--log", "HUB_AUDIT_LOG"])
def test_a_named_log_needs_only_the_home_which_gets_its_state(tmp_path: Path, how: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    log = tmp_path / "audit.jsonl"
    write_lines(log, burst(0, 11))
    argv, env = ((["--once", "--log", str(log)], {"SHERATAN_HOME": str(home)}) if how == "--log"
                 else (["--once"], {"SHERATAN_HOME": str(home), "HUB_AUDIT_LOG": str(log)}))
    code, _, err = _run(argv, env)
    assert code == EXIT_OK, err
    assert len(read_alerts(home / "logs" / "alerts.jsonl")) == 1
    assert (home / "state" / "watcher_checkpoint.json").is_file()


@pytest.mark.parametrize("how", ["--log", "HUB_AUDIT_LOG"])
@pytest.mark.parametrize("mode", [["--once"], []], ids=["once", "follow"])
def test_a_folder_as_the_audit_log_is_refused(home: Home, tmp_path: Path, how: str,
                                              mode: list[str]) -> None:
    folder = tmp_path / "a folder"
    folder.mkdir()
    argv, env = (([*mode, "--log", str(folder)], home.env) if how == "--log"
                 else (mode, {**home.env, "HUB_AUDIT_LOG": str(folder)}))
    code, out, err = _run(argv, env)
    assert (code, out) == (EXIT_USAGE, "")
    assert err == (f"python -m watcher: error: the audit log {folder} (from {how}) is a folder, "
                   "not a regular file; the watcher left it untouched\n")
    assert os.listdir(folder) == [] and not home.state.exists()


@pytest.mark.skipif(os.name != "posix", reason="FIFOs and symlinks need POSIX")
def test_a_fifo_as_the_audit_log_is_refused_and_a_link_to_a_log_is_followed(
        run_cli: CliRunner, home: Home, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    refused = run_cli("--once", "--log", str(fifo))
    assert refused.code == EXIT_USAGE and "is a FIFO, not a regular file" in refused.err
    write_lines(home.log, burst(0, 11))
    link = tmp_path / "link.jsonl"
    link.symlink_to(home.log)
    result = run_cli("--once", "--log", str(link))
    assert result.code == EXIT_OK, result.err
    assert len(read_alerts(home.alerts)) == 1


def test_once_says_when_the_log_does_not_exist_yet(run_cli: CliRunner, home: Home,
                                                   tmp_path: Path) -> None:
    typo = tmp_path / "missing.jsonl"
    result = run_cli("--once", "--log", str(typo))
    assert result.code == EXIT_OK, result.err
    assert (f"python -m watcher: the audit log {typo} (from --log) does not exist yet (the "
            "hub creates it); nothing to read\n") in result.err
    assert "waiting for log" in result.out
    write_lines(home.log, burst(0, 1))
    assert "does not exist" not in run_cli("--once").err


def test_replay_needs_no_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "audit.jsonl"
    write_lines(log, burst(0, 11))
    out_file = tmp_path / "out.jsonl"
    code, _, err = _run(["--replay", str(log), "--alerts", str(out_file)], {})
    assert code == EXIT_OK, err
    assert f"log {log}; alerts {out_file}" in err
    assert len(read_alerts(out_file)) == 1
    assert not (tmp_path / ".sheratan").exists()


def test_check_rules_prints_only_its_verdict(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rules = tmp_path / "rules.json"
    rules.write_text('{"rules": [{"name": "r", "event": "AUTH_FAILURE", "threshold": 1, '
                     '"window_s": 60, "severity": "info"}]}')
    code, out, err = _run(["--check-rules", str(rules)], {})
    assert (code, err) == (EXIT_OK, "") and "OK" in out


@pytest.mark.parametrize(("argv0", "prog"), [
    ("/venv/bin/sheratan-watcher", "sheratan-watcher"),
    ("C:/venv/Scripts/sheratan-watcher.exe", "sheratan-watcher"),
    ("/work/main/watcher/__main__.py", "python -m watcher"),
])
def test_help_names_the_command_as_invoked(argv0: str, prog: str,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", [argv0, "--help"])
    with pytest.raises(SystemExit) as stopped:
        entry_point()
    assert stopped.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {prog} [-h]")


@pytest.mark.parametrize(("argv0", "prog"), [
    ("/venv/bin/sheratan-watcher", "sheratan-watcher"),
    ("/work/main/watcher/__main__.py", "python -m watcher"),
])
def test_messages_name_the_command_as_invoked(argv0: str, prog: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A usage error, a refused home and what a replay used all start with the command the
    operator typed, not always ``python -m watcher``."""
    log = tmp_path / "audit.jsonl"
    write_lines(log, burst(0, 11))
    for env in ("HUB_TOKEN", "SHERATAN_HOME", "HUB_AUDIT_LOG", "HUB_ALERTMANAGER_URL"):
        monkeypatch.delenv(env, raising=False)
    runs = [["--interval-ms", "nope"], ["--once", "--home", str(tmp_path / "typo")],
            ["--replay", str(log), "--alerts", str(tmp_path / "alerts.jsonl")]]
    for args in runs:
        monkeypatch.setattr(sys, "argv", [argv0, *args])
        code = entry_point()
        err = capsys.readouterr().err
        assert code == (EXIT_OK if args[0] == "--replay" else EXIT_USAGE), err
        assert all(line.startswith(f"{prog}: ") for line in err.splitlines()), (args, err)


def test_a_missing_home_is_not_rescued_by_naming_the_log(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_lines(log, burst(0, 11))
    missing = tmp_path / "nowhere"
    code, out, err = _run(["--once", "--log", str(log), "--home", str(missing)], {})
    assert (code, out) == (EXIT_USAGE, "")
    assert str(missing) in err and "pass --home to the hub's home" in err
    assert "--log" not in err.split("; ", 1)[1]  # no advice to do what was done already
    assert not missing.exists()


def test_the_alerts_file_is_made_at_start_even_without_alerts(run_cli: CliRunner,
                                                              home: Home) -> None:
    write_lines(home.log, burst(0, 3))  # below every threshold: no alert
    assert run_cli("--once").code == EXIT_OK
    assert home.alerts.read_bytes() == b""
    if os.name == "posix":
        assert home.alerts.stat().st_mode & 0o777 == 0o600


def test_an_alerts_file_that_cannot_be_made_fails_at_start(run_cli: CliRunner, home: Home,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """Found by review: with logs/ not writable the hub said the watcher started, and it died
    at the first burst (again after each restart); now it fails before reading a line."""
    real_open = os.open

    def no_alerts(path: str | os.PathLike[str], flags: int, mode: int = 0o777) -> int:
        # As in a folder the watcher may not write to: it cannot create the file (and, the
        # file being absent, opening it without O_CREAT finds nothing).
        if Path(path) == home.alerts and flags & os.O_CREAT:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", no_alerts)
    write_lines(home.log, burst(0, 3))  # a quiet log: no alert would ever be written
    result = run_cli("--once")
    assert result.code == 1
    assert f"Permission denied: '{home.alerts}'" in result.err
    assert "Traceback" not in result.err
