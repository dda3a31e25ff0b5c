"""The command line: modes, paths from flags and environment, exit codes, state files."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import orjson
import pytest

import watcher._cli
import watcher._rules
from tests.watcher.conftest import (
    CliResult,
    CliRunner,
    Home,
    audit,
    burst,
    read_alerts,
    write_lines,
)
from watcher import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Interrupted,
    Mode,
    RuleSet,
    StopFlags,
    default_rules,
    parse_config,
    replay,
    stop_on_signals,
)


@pytest.mark.parametrize(
    "argv",
    [
        ["--interval-ms", "0"],
        ["--interval-ms", "fast"],
        ["--replay", "x.jsonl"],  # without --alerts
        ["--once", "--replay", "x.jsonl", "--alerts", "out.jsonl"],
        ["--no-such-flag"],
        ["--status-interval-s", "-1"],
    ],
)
def test_bad_command_lines_exit_2_without_traceback(run_cli: CliRunner, argv: list[str]) -> None:
    result = run_cli(*argv)
    assert result.code == EXIT_USAGE
    assert "error:" in result.err
    assert "Traceback" not in result.err


def test_replay_of_a_missing_file_exits_2(run_cli: CliRunner, tmp_path: Path) -> None:
    result = run_cli("--replay", str(tmp_path / "nope.jsonl"), "--alerts", str(tmp_path / "o"))
    assert result.code == EXIT_USAGE
    assert "nope.jsonl" in result.err


def test_paths_come_from_flags_else_environment_else_defaults(tmp_path: Path) -> None:
    config = parse_config([], {})
    assert config.mode is Mode.FOLLOW
    assert config.log_path == Path(".sheratan/logs/hub_security_audit.jsonl")
    assert config.alerts_path == Path(".sheratan/logs/alerts.jsonl")
    env = {"SHERATAN_HOME": str(tmp_path), "HUB_AUDIT_LOG": str(tmp_path / "a.jsonl"),
           "OTEL_SERVICE_NAME": "w", "UNRELATED": "x"}
    config = parse_config(["--once"], env)
    assert config.mode is Mode.ONCE
    assert config.log_path == tmp_path / "a.jsonl"
    assert config.alerts_path == tmp_path / "logs" / "alerts.jsonl"
    assert config.state_dir == tmp_path / "state"
    assert dict(config.otel_env) == {"OTEL_SERVICE_NAME": "w"}
    config = parse_config(["--log", "l", "--alerts", "o", "--home", "h"], env)
    assert (config.log_path, config.alerts_path, config.home) == (Path("l"), Path("o"), Path("h"))


def test_rules_come_from_the_home_config_when_present(run_cli: CliRunner, home: Home) -> None:
    (home.root / "configs").mkdir()
    (home.root / "configs" / "alert_rules.json").write_bytes(orjson.dumps({"rules": [
        {"name": "tiny", "event": "AUTH_FAILURE", "threshold": 1, "window_s": 5,
         "severity": "critical"}]}))
    write_lines(home.log, burst(0, 2, client="127.0.0.1"))  # no ignore list in this file
    assert run_cli("--once").code == EXIT_OK
    assert [a["rule"] for a in read_alerts(home.alerts)] == ["tiny"]


def test_once_writes_alerts_checkpoint_and_status_and_never_repeats(
    run_cli: CliRunner, home: Home
) -> None:
    write_lines(home.log, [*burst(0, 11), b"\x00garbage", b"x" * (2 << 20)])
    assert run_cli("--once").code == EXIT_OK
    assert len(read_alerts(home.alerts)) == 1
    status = orjson.loads((home.state / "watcher_status.json").read_bytes())
    assert status["lines_read"] == 12
    assert status["parse_errors"] == 1
    assert status["overlong_lines"] == 1
    assert status["alerts"] == 1
    assert status["lag_bytes"] == 0
    assert status["state"] == "stopped"
    assert {"rotations", "truncations", "last_poll"} <= set(status)
    checkpoint = orjson.loads((home.state / "watcher_checkpoint.json").read_bytes())
    assert checkpoint["cursor"]["offset"] == home.log.stat().st_size
    assert run_cli("--once").code == EXIT_OK
    assert len(read_alerts(home.alerts)) == 1


def test_replay_is_deterministic_and_ignores_checkpoints(
    run_cli: CliRunner, home: Home, tmp_path: Path
) -> None:
    lines = [*burst(0, 30, event="PORT_MISMATCH", client="10.0.0.1"), *burst(5, 12),
             *burst(20, 40, event="PORT_MISMATCH", client="10.0.0.2", step_s=8),
             audit(900, "LEAK_BLOCKED")]
    write_lines(home.log, lines)
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    assert run_cli("--replay", str(home.log), "--alerts", str(first)).code == EXIT_OK
    assert run_cli("--once").code == EXIT_OK  # a checkpoint now exists; replay ignores it
    assert run_cli("--replay", str(home.log), "--alerts", str(second)).code == EXIT_OK
    assert first.read_bytes() == second.read_bytes()
    assert len(read_alerts(first)) >= 5
    assert read_alerts(first) == read_alerts(home.alerts)


def test_stop_flags_first_signal_stops_and_second_forces() -> None:
    flags = StopFlags()
    flags.handle(signal.SIGTERM, None)
    assert (flags.should_exit, flags.force_exit) == (True, False)
    flags.handle(signal.SIGINT, None)
    assert flags.force_exit


def test_signal_handlers_are_restored_afterwards() -> None:
    before = signal.getsignal(signal.SIGTERM)
    flags = StopFlags()
    with stop_on_signals(flags):
        assert signal.getsignal(signal.SIGTERM) == flags.handle
        signal.raise_signal(signal.SIGTERM)
        assert flags.should_exit
    assert signal.getsignal(signal.SIGTERM) == before


def test_replay_stopped_between_chunks_leaves_the_old_output(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    write_lines(log, burst(0, 11))
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"previous\n")
    calls = iter([False, True])
    with pytest.raises(Interrupted):
        replay(default_rules(), log, out, should_stop=lambda: next(calls))
    assert out.read_bytes() == b"previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.jsonl", "out.jsonl"]


def test_check_rules_stopped_by_sigint_exits_130_quietly(
    run_cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "rules.json"
    path.write_bytes(b'{"rules": []}')
    real_load = watcher._rules.load_rules

    def load_then_signal(target: Path) -> RuleSet:
        os.kill(os.getpid(), signal.SIGINT)  # arrives while the rules are being read
        return real_load(target)

    monkeypatch.setattr(watcher._cli, "load_rules", load_then_signal)
    result = run_cli("--check-rules", str(path))
    assert result.code == EXIT_INTERRUPTED
    assert "interrupted" in result.err
    assert "OK" not in result.out
    assert "Traceback" not in result.err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs need POSIX")
def test_a_fifo_among_the_rotated_logs_is_passed_over_not_waited_on(home: Home,
                                                                   run_cli: CliRunner) -> None:
    write_lines(home.log, burst(0, 12))
    os.mkfifo(home.log.with_name(home.log.name + ".1"))  # no writer: an open() would block
    done: list[CliResult] = []
    thread = threading.Thread(target=lambda: done.append(run_cli("--once")), daemon=True)
    thread.start()
    thread.join(30)
    assert done, "--once still waits on the FIFO"
    assert done[0].code == 0 and "alerts=1" in done[0].out


def test_a_start_removes_the_temp_files_a_killed_watcher_left(home: Home,
                                                             run_cli: CliRunner) -> None:
    write_lines(home.log, burst(0, 3))
    home.state.mkdir()
    left = [home.state / ".watcher_checkpoint.json.q1w2e3.tmp",
            home.state / ".watcher_status.json.r4t5y6.tmp"]
    for path in left:
        path.write_bytes(b"{")  # cut short by a kill -9
    assert run_cli("--once").code == 0
    assert not any(path.exists() for path in left)


def test_a_log_in_another_audit_format_is_said_unreadable_once(
        home: Home, run_cli: CliRunner, caplog: pytest.LogCaptureFixture) -> None:
    # The hub writes its own field names (HUB_AUDIT_FORMAT); this watcher was not told.
    foreign = [orjson.dumps({"time": 1_735_689_600_000 + i, "type": "auth.fail", "ip": "10.1.1.1"})
               for i in range(12)]
    write_lines(home.log, foreign)
    result = run_cli("--once")
    assert result.code == 0 and "invalid=12" in result.out
    said = [r.getMessage() for r in caplog.records if "no audit event" in r.getMessage()]
    assert said == [f"12 of the 12 lines read of {home.log} are JSON but no audit event: if the "
                    "hub writes another format, give the watcher the same audit format file "
                    "(--audit-format, HUB_AUDIT_FORMAT or the home's configs/audit_format.json);"
                    " lines read meanwhile are not read again"]


def test_a_few_lines_that_are_no_audit_event_are_not_said_unreadable(
        home: Home, run_cli: CliRunner, caplog: pytest.LogCaptureFixture) -> None:
    write_lines(home.log, [b'{"note": "not an event"}'] * 4 + burst(0, 6))
    result = run_cli("--once")
    assert result.code == 0 and "invalid=4" in result.out
    assert not [r for r in caplog.records if "no audit event" in r.getMessage()]


@pytest.mark.skipif(os.name != "posix", reason="symlinks need POSIX")
def test_a_home_reached_through_a_symlink_keeps_its_checkpoint(
        home: Home, run_cli: CliRunner, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    write_lines(home.log, burst(0, 12))
    assert run_cli("--once").code == 0
    link = tmp_path / "home-link"
    link.symlink_to(home.root)  # SHERATAN_HOME spelled another way, the same home
    write_lines(home.log, burst(100, 12))
    result = run_cli("--once", env={"SHERATAN_HOME": str(link)})
    assert result.code == 0
    assert not [r for r in caplog.records if "starting over" in r.getMessage()]
    # read on from the checkpoint (counters included): the second burst only, alerts once
    assert [a["state"] for a in read_alerts(home.alerts)] == ["firing", "resolved", "firing"]


def test_lines_read_before_a_restart_are_not_judged_again(
        home: Home, run_cli: CliRunner, caplog: pytest.LogCaptureFixture) -> None:
    foreign = [orjson.dumps({"time": 1_735_689_600_000 + i, "type": "auth.fail"})
               for i in range(12)]
    write_lines(home.log, foreign)
    assert run_cli("--once").code == 0  # said once here
    caplog.clear()
    write_lines(home.log, burst(0, 5))  # the format fixed: good lines from now on
    result = run_cli("--once")
    assert result.code == 0 and "invalid=12" in result.out  # the counters carry on
    assert not [r for r in caplog.records if "no audit event" in r.getMessage()]
