"""Follow mode and ``--once`` say once, at start, when the hub token cannot be known here."""

from __future__ import annotations

from pathlib import Path

import pytest

from watcher import EXIT_OK
from watcher._preflight import missing_log_notice, unknown_token_notice

from .conftest import CliRunner, Home, burst, write_lines

TOKEN = "tok_" + "Q7x9Lm2Vb4Nc8Zr1"
_NOTICE = "the hub token is unknown here"


def _notices(err: str) -> list[str]:
    return [line for line in err.splitlines() if _NOTICE in line]


@pytest.mark.parametrize("client", ["10.0.0.7", "ws0001.corp.example"],
                         ids=["addresses", "a-value-the-guard-judges"])
def test_once_on_a_home_without_any_token_source_says_so_once(
        run_cli: CliRunner, home: Home, client: str, caplog: pytest.LogCaptureFixture) -> None:
    write_lines(home.log, burst(0, 11, event="PORT_MISMATCH", client=client))
    result = run_cli("--once")
    # The guard, gathering the secrets for the host name, does not say it again.
    assert [r for r in caplog.records if _NOTICE in r.getMessage()] == []
    assert result.code == EXIT_OK, result.err
    [line] = _notices(result.err)
    assert line == (f"python -m watcher: the hub token is unknown here (no HUB_TOKEN, "
                    f"--token-file, {home.root / 'secrets' / 'hub_token'} or "
                    f"{home.root / 'state' / 'hub_token.fingerprint.json'}): group values are "
                    "checked against credential patterns only")
    assert result.err.splitlines()[1] == line  # right after the home and its files


@pytest.mark.parametrize("source", ["HUB_TOKEN", "token file", "fingerprint", "--token-file"])
def test_nothing_is_said_when_a_source_of_the_token_exists(run_cli: CliRunner, home: Home,
                                                           tmp_path: Path, source: str) -> None:
    write_lines(home.log, burst(0, 11))
    env, argv = dict(home.env), ["--once"]
    if source == "HUB_TOKEN":
        env["HUB_TOKEN"] = TOKEN
    elif source == "token file":
        (home.root / "secrets").mkdir()
        (home.root / "secrets" / "hub_token").write_text(TOKEN)
    elif source == "fingerprint":
        home.state.mkdir()
        (home.state / "hub_token.fingerprint.json").write_text("{}")
    else:
        token_file = tmp_path / "token"
        token_file.write_text(TOKEN)
        argv += ["--token-file", str(token_file)]
    result = run_cli(*argv, env=env)
    assert result.code == EXIT_OK, result.err
    assert _notices(result.err) == []


def test_a_replay_says_it_only_when_the_guard_needs_the_token(
        run_cli: CliRunner, home: Home, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_lines(home.log, burst(0, 11))
    result = run_cli("--replay", str(home.log), "--alerts", str(tmp_path / "out.jsonl"))
    assert result.code == EXIT_OK, result.err
    assert _notices(result.err) == [] and caplog.records == []
    write_lines(home.log, burst(100, 11, event="PORT_MISMATCH", client="ws0001.corp.example"))
    result = run_cli("--replay", str(home.log), "--alerts", str(tmp_path / "out2.jsonl"))
    assert result.code == EXIT_OK, result.err
    assert [r for r in caplog.records if _NOTICE in r.getMessage()] != []


def test_the_notices_only_look(tmp_path: Path) -> None:
    assert unknown_token_notice({"HUB_TOKEN": "  "}, tmp_path, ()) is not None  # blank: unset
    assert unknown_token_notice({}, tmp_path, (tmp_path / "named",)) is None
    log = tmp_path / "audit.jsonl"
    assert missing_log_notice(log, "from --log", follow=True) == (
        f"the audit log {log} (from --log) does not exist yet (the hub creates it); "
        "waiting for it")
    log.write_bytes(b"")
    assert missing_log_notice(log, "from --log", follow=False) is None
