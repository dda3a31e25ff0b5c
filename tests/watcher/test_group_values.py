"""Group values are safe by construction: the watcher knows the hub's secrets itself.

The token below is made of words: no credential pattern or entropy check flags it, so only
knowing it (``HUB_TOKEN``, ``--token-file``, the home's token file or fingerprint) keeps it out
of an alert. Each test that relies on that also shows it would leak without it.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest

import otel
from tests.watcher.conftest import CliRunner, Home, audit, burst, read_alerts, write_lines
from watcher import Counters, Engine, RuleSet, parse_rules
from watcher._guard import default_value_guard, known_secrets_guard

REPO = Path(__file__).resolve().parents[2]
TOKEN = "correct-horse-battery-staple-blue-moon-4242"
GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


def _by(field: str, threshold: int = 2) -> RuleSet:
    return parse_rules({"ignore_clients": [], "rules": [
        {"name": "by_field", "event": "AUTH_FAILURE", "threshold": threshold, "window_s": 60,
         "severity": "warning", "group_by": [field]}]})


def _groups(lines: list[bytes], rules: RuleSet, **engine: Any) -> list[object]:
    feeder = Engine(rules, Counters(), **engine)
    feeder.feed(lines)
    return [alert.to_dict()["group"] for alert in feeder.take_alerts()
            if alert.state == "firing"]


def _clients(*clients: str) -> list[bytes]:
    """A burst of three lines from each client, a minute apart."""
    return [line for i, client in enumerate(clients)
            for line in burst(i * 100, 3, client=client)]


def test_the_default_guard_knows_no_values_but_catches_credential_shapes() -> None:
    groups = _groups(_clients(TOKEN, GITHUB_TOKEN, "ws0001.corp.example"), _by("client"))
    assert groups == [{"client": TOKEN}, {"client": "[redacted]"},
                      {"client": "ws0001.corp.example"}]


def test_an_injected_guard_that_knows_the_token_redacts_it_whole_and_in_pieces() -> None:
    guard = known_secrets_guard({"HUB_TOKEN": TOKEN}, home=Path("/nonexistent"))
    encoded = base64.b64encode(f"admin:{TOKEN}".encode()).decode()
    groups = _groups(_clients(TOKEN, encoded, TOKEN[3:30], "10.0.0.7"), _by("client"),
                     value_guard=guard)
    assert groups == [{"client": "[redacted]"}] * 3 + [{"client": "10.0.0.7"}]


@pytest.mark.parametrize("client, shown", [
    ("::FFFF:0A00:0007", "::ffff:a00:7"),
    ("[2001:DB8::1]", "2001:db8::1"),
    ("10.0.0.7?token=x#y", "10.0.0.7"),
    ("ws0001.corp.example", "ws0001.corp.example"),
    ("h" * 200, "h" * 128),
], ids=["ipv4-mapped", "bracketed-ipv6", "query", "hostname", "capped"])
def test_client_strings_become_their_safe_form(client: str, shown: str) -> None:
    assert _groups(_clients(client), _by("client")) == [{"client": shown}]


@pytest.mark.parametrize("value, shown", [
    (8787, 8787), (1 << 63, None), (True, None), (1.5, None), ([1], None), (None, None),
], ids=["int", "beyond-64-bits", "bool", "float", "list", "null"])
def test_other_json_values_keep_their_rules(value: object, shown: object) -> None:
    lines = burst(0, 3, expected_port=value)
    assert _groups(lines, _by("expected_port")) == [{"expected_port": shown}]


def test_each_distinct_value_is_judged_once_beyond_the_old_4096_cache() -> None:
    guard = default_value_guard()
    verdicts = cast("Any", guard.guard)
    lines = [audit(i * 0.001, client=f"ws{i:05d}.corp.example") for i in range(6000)]
    feeder = Engine(_by("client", threshold=5), Counters(), value_guard=guard)
    feeder.feed(lines)
    feeder.feed([audit(10 + i * 0.001, client=f"ws{i:05d}.corp.example") for i in range(6000)])
    assert verdicts.cache_info().misses == 6000
    assert verdicts.cache_info().hits >= 6000


def _firing_groups(path: Path) -> list[object]:
    return [alert["group"] for alert in read_alerts(path) if alert["state"] == "firing"]


def _count_gathering(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = otel.load_known_secrets

    def counting(env: Any, **kwargs: Any) -> otel.KnownSecrets:
        calls.append(1)
        return real(env, **kwargs)

    # watcher._guard imports it from otel when it first needs it.
    monkeypatch.setattr(otel, "load_known_secrets", counting)
    return calls


def test_secrets_are_gathered_only_when_a_value_that_is_no_ip_needs_judging(
    run_cli: CliRunner, home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_gathering(monkeypatch)
    rules = tmp_path / "rules.json"
    rules.write_text('{"rules": [{"name": "r", "event": "AUTH_FAILURE", "threshold": 2, '
                     '"window_s": 60, "severity": "warning", "group_by": ["client"]}]}')
    log = tmp_path / "audit.jsonl"
    write_lines(log, [*burst(0, 3, client="10.0.0.7"), *burst(5, 3, client="::1")])
    out = tmp_path / "out.jsonl"
    assert run_cli("--replay", str(log), "--alerts", str(out), "--rules", str(rules)).code == 0
    assert calls == [] and _firing_groups(out) == [{"client": "10.0.0.7"}, {"client": "::1"}]
    write_lines(log, burst(200, 3, client="ws0001.corp.example"))
    assert run_cli("--replay", str(log), "--alerts", str(out), "--rules", str(rules)).code == 0
    assert calls == [1] and len(_firing_groups(out)) == 3


def test_a_replay_of_ip_clients_never_imports_the_credential_scanner(
    home: Home, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    write_lines(log, burst(0, 11, event="PORT_MISMATCH", client="10.0.0.7"))
    script = ("import sys\nfrom watcher import main\n"
              "code = main(sys.argv[1:], {'SHERATAN_HOME': sys.argv[-1]})\n"
              "print(code, 'detect_secrets' in sys.modules)\n")

    def run(*argv: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", script, "--replay", str(log), "--alerts",
             str(tmp_path / "out.jsonl"), *argv, "--home", str(home.root)],
            cwd=REPO, capture_output=True, text=True, timeout=60,
            env={k: v for k, v in os.environ.items() if not k.startswith("HUB_")})
        return done.stdout.splitlines()[-1]

    assert run() == "0 False"
    write_lines(log, burst(100, 11, event="PORT_MISMATCH", client="ws0001.corp.example"))
    assert run() == "0 True"  # the check above can fail


def test_the_hub_token_planted_as_a_client_stays_out_of_alerts_with_hub_token(
    run_cli: CliRunner, home: Home
) -> None:
    write_lines(home.log, burst(0, 6, event="PORT_MISMATCH", client=TOKEN))
    assert run_cli("--once", env=home.env).code == 0
    assert TOKEN in home.alerts.read_text()  # unknown, it leaks: what the rest prevents
    home.alerts.unlink()
    (home.state / "watcher_checkpoint.json").unlink()
    assert run_cli("--once", env={**home.env, "HUB_TOKEN": TOKEN}).code == 0
    (alert,) = read_alerts(home.alerts)
    assert alert["group"] == {"client": "[redacted]"}
    assert TOKEN not in home.alerts.read_text()


def test_the_home_token_fingerprint_finds_the_token_without_knowing_it(
    run_cli: CliRunner, home: Home, tmp_path: Path
) -> None:
    otel.write_fingerprint(home.root / otel.FINGERPRINT_FILE, otel.TokenFingerprint.of(TOKEN))
    write_lines(home.log, burst(0, 6, event="PORT_MISMATCH", client=TOKEN))
    out = tmp_path / "out.jsonl"
    assert run_cli("--replay", str(home.log), "--alerts", str(out)).code == 0
    assert _firing_groups(out) == [{"client": "[redacted]"}]
    assert TOKEN not in out.read_text()


def test_the_home_token_file_is_read_too(run_cli: CliRunner, home: Home,
                                         tmp_path: Path) -> None:
    (home.root / "secrets").mkdir()
    (home.root / "secrets" / "hub_token").write_text(TOKEN + "\n")
    write_lines(home.log, burst(0, 6, event="PORT_MISMATCH", client=TOKEN))
    out = tmp_path / "out.jsonl"
    assert run_cli("--replay", str(home.log), "--alerts", str(out)).code == 0
    assert TOKEN not in out.read_text() and read_alerts(out)


def test_token_files_named_on_the_command_line_are_known(
    run_cli: CliRunner, home: Home, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_text("another-plain-words-token-for-the-data-plane\n")
    second.write_text(TOKEN + "\n")
    write_lines(home.log, burst(0, 6, event="PORT_MISMATCH", client=TOKEN))
    out = tmp_path / "out.jsonl"
    result = run_cli("--replay", str(home.log), "--alerts", str(out),
                     "--token-file", str(first), "--token-file", str(second))
    assert result.code == 0, result.err
    assert _firing_groups(out) == [{"client": "[redacted]"}]


@pytest.mark.parametrize("make", ["missing", "empty", "folder"])
@pytest.mark.parametrize("mode", ["--once", "--replay"])
def test_a_bad_token_file_exits_2_naming_it_before_any_work(
    run_cli: CliRunner, home: Home, tmp_path: Path, make: str, mode: str
) -> None:
    bad = tmp_path / "token"
    if make == "empty":
        bad.write_text("\n")
    elif make == "folder":
        bad.mkdir()
    write_lines(home.log, burst(0, 11))
    argv = ["--once"] if mode == "--once" else ["--replay", str(home.log), "--alerts",
                                                str(home.alerts)]
    result = run_cli(*argv, "--token-file", str(bad))
    assert result.code == 2
    assert f"--token-file {bad}" in result.err
    assert "Traceback" not in result.err
    assert not home.alerts.exists()
    assert not home.state.exists()


def test_the_config_keeps_the_environment_out_of_its_repr(tmp_path: Path) -> None:
    from watcher import parse_config

    config = parse_config(["--token-file", "a", "--token-file", "b"],
                          {"HUB_TOKEN": TOKEN, "SHERATAN_HOME": str(tmp_path)})
    assert config.token_files == (Path("a"), Path("b"))
    assert config.env["HUB_TOKEN"] == TOKEN
    assert TOKEN not in repr(config)
