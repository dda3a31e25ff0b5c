"""The smoke checks find the hub as the hub binds itself, and say where they looked."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sheratan_ops.smoke import (
    EXIT_CHECK_FAILED,
    EXIT_USAGE,
    SmokeContext,
    all_checks,
    main,
    resolve_token,
    run_checks,
)
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
            "http://127.0.0.1:8788; no home used\n") in captured.err
    assert captured.out.startswith("token: from HUB_TOKEN\n")  # said once, on stdout
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


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://127.0.0.1:0",
                                 "http://127.0.0.1:port"])
def test_a_bad_port_in_a_url_is_a_usage_error_before_any_check(
        url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--control-url", url], env={"HUB_TOKEN": TOKEN})
    captured = capsys.readouterr()
    assert exited.value.code == EXIT_USAGE and captured.out == ""  # no check ran
    assert f"--control-url: bad port in {url!r} (expected 1..65535)" in captured.err


def _metrics_context(status: int, body: dict[str, str]) -> SmokeContext:
    client = httpx.Client(base_url="http://hub", transport=httpx.MockTransport(
        lambda request: httpx.Response(status, json=body)))
    return SmokeContext(clients={"control": client, "data": client},
                        ports={"control": 1, "data": 2}, token=TOKEN, node_id="smoke-t")


def test_metrics_disabled_on_the_hub_skips_the_metrics_checks_with_the_reason() -> None:
    ctx = _metrics_context(503, {"error": "metrics_unavailable", "reason": "disabled"})
    checks = [(name, check) for name, check in all_checks() if name.startswith("metrics_")]
    assert [(r.name, r.outcome, r.detail) for r in run_checks(ctx, checks)] == [
        (name, "SKIP", "metrics are off on the hub (503, reason 'disabled'; "
                       "OTEL_SDK_DISABLED=true)") for name in ("metrics_control", "metrics_data")]


@pytest.mark.parametrize("reason", ["shut_down", "collect_failed", ""])
def test_another_503_from_metrics_stays_a_failure(reason: str) -> None:
    ctx = _metrics_context(503, {"error": "metrics_unavailable", "reason": reason})
    checks = [(name, check) for name, check in all_checks() if name == "metrics_data"]
    (result,) = run_checks(ctx, checks)
    assert result.outcome == "FAIL" and "expected 200" in result.detail and "503" in result.detail


def test_the_token_file_is_named_once(tmp_path: Path, closed_port: int,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "secrets").mkdir()
    token_file = tmp_path / "secrets" / "hub_token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    url = f"http://127.0.0.1:{closed_port}"
    main(["--home", str(tmp_path), "--skip-jobs", "--timeout-s", "1", "--control-url", url,
          "--data-url", url], env={})
    captured = capsys.readouterr()
    assert captured.out.startswith(f"token: from {token_file.resolve()}\n")
    assert str(token_file) not in captured.err
    assert captured.err.startswith(f"smoke_checks: control {url}, data {url}\n")
