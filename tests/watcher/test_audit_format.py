"""A hub whose audit lines use other names and epoch times: the same alerts, by mapping."""

from __future__ import annotations

import json
from pathlib import Path

import orjson

from tests.watcher.conftest import T0_S, CliRunner, Home, burst, read_alerts, write_lines
from watcher import EXIT_OK, EXIT_USAGE, parse_config

MAPPING = {"fields": {"event": "type", "client": "ip", "ts": "time", "expected_port": "want"},
           "ts_format": "epoch_ms",
           "events": {"AUTH_FAILURE": "auth.failed", "PORT_MISMATCH": "wrong_port"}}
_EVENTS = {"AUTH_FAILURE": "auth.failed", "PORT_MISMATCH": "wrong_port"}


def _their_line(line: bytes) -> bytes:
    """The same event as another hub writes it."""
    ours = orjson.loads(line)
    stamp = ours["ts"]  # 2025-01-01T00:MM:SS.ffffffZ
    minutes, rest = int(stamp[14:16]), float(stamp[17:-1])
    millis = round((T0_S + minutes * 60 + rest) * 1000)
    theirs = {"time": millis, "type": _EVENTS.get(ours["event"], ours["event"]),
              "ip": ours["client"], "plane": ours["plane"], "path": ours["path"]}
    if "expected_port" in ours:
        theirs["want"] = ours["expected_port"]
    return orjson.dumps(theirs)


def _lines() -> list[bytes]:
    return [*burst(0, 12), *burst(100, 7, event="PORT_MISMATCH", client="10.0.0.9"),
            *burst(500, 1)]


def test_replay_of_mapped_lines_gives_the_alerts_of_contract_lines(
    run_cli: CliRunner, tmp_path: Path,
) -> None:
    ours, theirs = tmp_path / "ours.jsonl", tmp_path / "theirs.jsonl"
    write_lines(ours, _lines())
    write_lines(theirs, [_their_line(line) for line in _lines()])
    mapping = tmp_path / "audit_format.json"
    mapping.write_text(json.dumps(MAPPING))
    assert run_cli("--replay", str(ours), "--alerts", str(tmp_path / "a1")).code == EXIT_OK
    result = run_cli("--replay", str(theirs), "--alerts", str(tmp_path / "a2"),
                     "--audit-format", str(mapping))
    assert result.code == EXIT_OK, result.err
    alerts = read_alerts(tmp_path / "a1")
    assert {a["rule"] for a in alerts} == {"auth_failure_burst", "port_mismatch_burst"}
    assert (tmp_path / "a2").read_bytes() == (tmp_path / "a1").read_bytes()
    unmapped = run_cli("--replay", str(theirs), "--alerts", str(tmp_path / "a3"))
    assert unmapped.code == EXIT_OK and read_alerts(tmp_path / "a3") == []
    assert "invalid=20" in unmapped.out  # 12 + 7 + 1 lines, none readable


def test_the_format_comes_from_the_option_else_env_else_the_home(home: Home,
                                                                 tmp_path: Path) -> None:
    assert parse_config([], home.env).audit_format_path is None
    default = home.root / "configs" / "audit_format.json"
    default.parent.mkdir()
    default.write_text("{}")
    assert parse_config([], home.env).audit_format_path == default
    env = {**home.env, "HUB_AUDIT_FORMAT": str(tmp_path / "env.json")}
    assert parse_config([], env).audit_format_path == tmp_path / "env.json"
    chosen = parse_config(["--audit-format", "x.json"], env).audit_format_path
    assert chosen == Path("x.json")


def test_once_reads_the_home_format(run_cli: CliRunner, home: Home) -> None:
    (home.root / "configs").mkdir()
    (home.root / "configs" / "audit_format.json").write_text(json.dumps(MAPPING))
    write_lines(home.log, [_their_line(line) for line in burst(0, 12)])
    assert run_cli("--once").code == EXIT_OK
    assert [a["rule"] for a in read_alerts(home.alerts)] == ["auth_failure_burst"]


def test_check_audit_format(run_cli: CliRunner, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(MAPPING))
    bad.write_text(json.dumps({"fields": {"client": "event"}}))
    result = run_cli("--check-audit-format", str(good))
    assert result.code == EXIT_OK
    assert "4 renamed fields, ts as epoch_ms, 2 renamed events" in result.out
    result = run_cli("--check-audit-format", str(bad))
    assert result.code == EXIT_USAGE
    assert "fields.client" in result.err and "Traceback" not in result.err


def test_a_bad_format_stops_every_mode_with_exit_2(run_cli: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    for argv in (["--once"], ["--replay", str(bad), "--alerts", str(tmp_path / "o")]):
        result = run_cli(*argv, "--audit-format", str(bad))
        assert result.code == EXIT_USAGE
        assert "invalid audit format" in result.err and "bad.json" in result.err
