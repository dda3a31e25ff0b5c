"""The smoke checks find the hub as the hub binds itself, and say where they looked."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from sheratan_ops.smoke import EXIT_CHECK_FAILED, EXIT_USAGE, main, resolve_token
from sheratan_ops.smoke.cli import build_parser
from sheratan_ops.smoke.context import UsageError

TOKEN = "env-token-0123456789abcdef"


@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.mark.parametrize(("env", "control", "data"), [
    ({}, "http://127.0.0.1:8787", "http://127.0.0.1:8788"),
    ({"HUB_CONTROL_PORT": "9999"}, "http://127.0.0.1:9999", "http://127.0.0.1:8788"),
    ({"HUB_HOST": "0.0.0.0", "HUB_DATA_PORT": " 9001 "}, "http://127.0.0.1:8787",
     "http://127.0.0.1:9001"),
    ({"HUB_HOST": "::1", "HUB_CONTROL_PORT": ""}, "http://[::1]:8787", "http://[::1]:8788"),
])
def test_the_default_urls_follow_the_hubs_environment(env: dict[str, str], control: str,
                                                      data: str) -> None:
    warn: list[str] = []
    args = build_parser(env, warn).parse_args([])
    assert (args.control_url, args.data_url, warn) == (control, data, [])


def test_a_port_the_hub_would_refuse_warns_and_falls_back() -> None:
    warn: list[str] = []
    args = build_parser({"HUB_CONTROL_PORT": "99_99"}, warn).parse_args([])
    assert args.control_url == "http://127.0.0.1:8787"
    assert warn == ["HUB_CONTROL_PORT='99_99' is not a port 1..65535; using 8787"]


def test_a_run_checks_the_port_of_hub_control_port_and_says_so(
        closed_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--skip-jobs", "--timeout-s", "1"],
                env={"HUB_CONTROL_PORT": str(closed_port), "HUB_TOKEN": TOKEN})
    captured = capsys.readouterr()
    assert code == EXIT_CHECK_FAILED
    assert (f"smoke_checks: control http://127.0.0.1:{closed_port}, data "
            "http://127.0.0.1:8788; no home used (the token is from HUB_TOKEN)") \
        in captured.err
    assert f"127.0.0.1:{closed_port}" in captured.out  # the health check failed right there
    assert TOKEN not in captured.out + captured.err


def test_an_empty_hub_token_counts_as_unset(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "hub_token").write_text("file-token-0123456789\n")
    token = resolve_token(None, tmp_path, {"HUB_TOKEN": " "})
    assert token.value == "file-token-0123456789"


def test_a_missing_home_for_the_token_names_the_home_and_where_it_came_from(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="SHERATAN_HOME is unset"):
        resolve_token(None, None, {})
    assert main([], env={}) == EXIT_USAGE
    assert f"the home {tmp_path / '.sheratan'} does not exist" in capsys.readouterr().err
