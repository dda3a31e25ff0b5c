"""The edge: arguments and environment, the refresh loop, and ``--once`` against real hubs."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from rich.console import Console

import otel
from sheratan_home import HomeLayout
from sheratan_ops.top.cli import TopConfig, main, parse_config, run
from sheratan_ops.top.model import Snapshot
from tests.conftest import HubProcess, start_hub
from tests.scripts.conftest import checkout_env
from tests.top.conftest import CALM_CONTROL, HUB_TOP, REPO_ROOT, snap

_TIMEOUT_S = 30


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HUB_", "OTEL_")) and k != "SHERATAN_HOME"}
    env.update({"COLUMNS": "120", "LINES": "40"}, **extra)
    return env


def _hub_top(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(HUB_TOP), *args], cwd=REPO_ROOT,
                          env=checkout_env(env or _env()), capture_output=True, text=True,
                          encoding="utf-8", timeout=_TIMEOUT_S, check=False)


def _config(argv: list[str], env: dict[str, str]) -> tuple[TopConfig, list[str]]:
    warn: list[str] = []
    return parse_config(argv, env, warn), warn


def test_defaults_come_from_the_environment() -> None:
    config, warn = _config([], {})
    assert (config.control_url, config.data_url) == ("http://127.0.0.1:8787",
                                                     "http://127.0.0.1:8788")
    assert config.home == Path(".sheratan") and config.interval_s == 2 and config.alerts == 8
    assert not config.once and warn == []
    config, _ = _config([], {"HUB_HOST": "0.0.0.0", "HUB_CONTROL_PORT": "9000",
                             "HUB_DATA_PORT": "9001", "SHERATAN_HOME": "/srv/hub"})
    assert (config.control_url, config.data_url) == ("http://127.0.0.1:9000",
                                                     "http://127.0.0.1:9001")
    assert config.home == Path("/srv/hub")
    config, _ = _config([], {"HUB_HOST": "::1"})
    assert config.control_url == "http://[::1]:8787"


@pytest.mark.parametrize("port", ["http", "70000", "-1"])
def test_a_bad_port_variable_warns_and_falls_back(port: str) -> None:
    config, warn = _config([], {"HUB_CONTROL_PORT": port})
    assert config.control_url == "http://127.0.0.1:8787"
    assert warn == [f"HUB_CONTROL_PORT={port!r} is not a port 1..65535; using 8787"]


def test_port_0_says_how_to_reach_a_hub_on_a_port_it_picked() -> None:
    config, warn = _config([], {"HUB_DATA_PORT": "0"})
    assert config.data_url == "http://127.0.0.1:8788"
    assert warn == ["HUB_DATA_PORT='0' is not a port 1..65535; using 8788 (the hub picks a "
                    "free port for 0: pass --data-url with the port its banner shows)"]


def test_arguments_win_over_the_environment() -> None:
    config, _ = _config(["--control-url", "http://10.0.0.5:8787/", "--data-url",
                         "https://hub.example:9443", "--home", "h", "--interval-s", "0.5",
                         "--alerts", "0", "--once"], {"HUB_CONTROL_PORT": "9000"})
    assert config == TopConfig("http://10.0.0.5:8787", "https://hub.example:9443", Path("h"),
                               0.5, True, 0)


@pytest.mark.parametrize("argv", [
    ["--interval-s", "0"], ["--interval-s", "soon"], ["--alerts", "-1"], ["--alerts", "1000"],
    ["--control-url", "ftp://hub:21"], ["--data-url", "127.0.0.1:8788"],
    ["--control-url", "http://hub:99999"], ["--control-url", "http://hub:0"],
    ["--control-url", "http://hub:1/?x=1"], ["--bogus"],
])
def test_bad_usage_exits_2_with_a_message(argv: list[str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv, environ={})
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "usage: hub_top.py" in err and "Traceback" not in err


class _Frames:
    """A fetcher that counts, and a sleep that is Ctrl+C after ``frames`` refreshes."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.fetched = 0

    def fetch(self) -> Snapshot:
        self.fetched += 1
        return snap({**CALM_CONTROL, "auth_fail_rate_1m": self.fetched * 10})

    def sleep(self, seconds: float) -> None:
        assert seconds == 2
        if self.fetched >= self.frames:
            raise KeyboardInterrupt


def _loop_config(once: bool = False) -> TopConfig:
    return TopConfig("http://127.0.0.1:1", "http://127.0.0.1:2", Path("h"), 2.0, once, 8)


def test_ctrl_c_leaves_the_loop_with_0_and_arrows_follow_the_refreshes() -> None:
    out = io.StringIO()
    frames = _Frames(2)
    console = Console(file=out, width=100, force_terminal=False)
    assert run(_loop_config(), console, frames.fetch, sleep=frames.sleep) == 0
    text = out.getvalue()
    assert frames.fetched == 2
    assert text.count("Sheratan hub") == 2 and "every 2 s · Ctrl+C quits" in text
    assert "20 ↑" in text and "10 ↑" not in text  # the first frame has nothing to compare


def test_a_terminal_gets_the_full_screen_live_view() -> None:
    out = io.StringIO()
    frames = _Frames(1)
    console = Console(file=out, width=80, height=24, force_terminal=True, color_system=None)
    assert run(_loop_config(), console, frames.fetch, sleep=frames.sleep) == 0
    text = out.getvalue()
    assert "\x1b[?1049h" in text and "\x1b[?1049l" in text  # entered and left the alt screen
    assert "nodes_online" in text and "Traceback" not in text


def test_once_draws_one_frame() -> None:
    out = io.StringIO()
    frames = _Frames(1)
    console = Console(file=out, width=100)
    assert run(_loop_config(once=True), console, frames.fetch, sleep=frames.sleep) == 0
    assert out.getvalue().count("Sheratan hub") == 1 and "Ctrl+C" not in out.getvalue()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound and never listened on: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.mark.e2e
def test_once_against_a_closed_port_prints_hub_unreachable_and_exits_0(
        closed_port: int, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    home = tmp_path / "home"
    (home / "logs").mkdir(parents=True)  # a hub's home; hub_top refuses one without logs
    done = _hub_top("--once", "--control-url", url, "--data-url", url, "--home", str(home),
                    env=_env(HUB_TOKEN="t0ken-0123456789abcdef"))
    assert done.returncode == 0, done.stderr
    # stderr says only which home and rules it used (tests/top/test_home.py has the block)
    assert done.stderr.splitlines()[0] == f"hub_top: home: {home} (from --home)"
    assert "warning" not in done.stderr and "error" not in done.stderr
    assert "HUB UNREACHABLE" in done.stdout
    assert done.stdout.count("✗ hub unreachable") == 2
    assert done.stdout.count("connection refused") == 2
    assert "no watcher status yet" in done.stdout and "no alerts yet" in done.stdout


@pytest.mark.e2e
def test_once_against_a_real_hub_prints_both_planes_numbers(hub_process: HubProcess) -> None:
    hub = hub_process
    with httpx.Client(timeout=5, trust_env=False) as client:
        client.post(f"{hub.control_url}/nodes/register", headers=hub.auth,
                    json={"node_id": "n1"}).raise_for_status()
        client.post(f"{hub.data_url}/jobs", headers=hub.auth,
                    json={"kind": "echo"}).raise_for_status()
        for _ in range(2):
            bad = client.get(f"{hub.control_url}/nodes",
                             headers={"Authorization": "Bearer wrong"})
            assert bad.status_code == 401
    done = _hub_top("--once", "--control-url", hub.control_url, "--data-url", hub.data_url,
                    "--home", str(hub.home))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()

    def number(key: str) -> str:
        row = next(line for line in lines if key in line and "│" in line)
        return row.split(key, 1)[1].split()[0]

    assert number("nodes_online") == "1"
    assert number("nodes_dead") == "0"
    assert number("auth_fail_rate_1m") == "2"
    assert number("queue_depth") == "1"
    assert number("retry_rate_1m") == "0"
    assert "unreachable" not in done.stdout and "Traceback" not in done.stderr
    assert hub.control_url.split("://")[1] in done.stdout


@pytest.mark.e2e
def test_once_reads_the_environment_like_the_hub(hub_process: HubProcess) -> None:
    hub = hub_process
    host, control_port = hub.control_url.split("://")[1].rsplit(":", 1)
    data_port = hub.data_url.rsplit(":", 1)[1]
    done = _hub_top("--once", env=_env(HUB_HOST=host, HUB_CONTROL_PORT=control_port,
                                       HUB_DATA_PORT=data_port, SHERATAN_HOME=str(hub.home)))
    assert done.returncode == 0, done.stderr
    assert "nodes_online" in done.stdout and "queue_depth" in done.stdout
    assert "unreachable" not in done.stdout


def test_bad_usage_exits_2_from_a_real_process() -> None:
    done = _hub_top("--interval-s", "-3")
    assert done.returncode == 2 and "--interval-s" in done.stderr and done.stdout == ""


@pytest.mark.e2e
def test_once_against_a_hub_with_metrics_disabled_says_so(tmp_path: Path) -> None:
    hub = start_hub(tmp_path, env={"OTEL_SDK_DISABLED": "true"})
    try:
        done = _hub_top("--once", "--control-url", hub.control_url, "--data-url", hub.data_url,
                        "--home", str(tmp_path), env=_env(COLUMNS="160"))
    finally:
        hub.stop()
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("✓ hub up · metrics disabled") == 2
    assert "reason: disabled" in done.stdout and "UNREACHABLE" not in done.stdout
    assert "control plane up, metrics disabled" in done.stdout
    assert "Traceback" not in done.stderr


# -- what reaches the terminal: no escapes, no secrets, no followed links -------------------

HUB_SECRET = "Zk3vX9pLm2RtY7wZa4KcN8bE1uHs5dJf0qW6"
HUB_SECRET_B64 = base64.b64encode(HUB_SECRET.encode()).decode()
GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0" + "k1L2m3N4o5P6q7R8"
#: Anything a terminal would act on: C0 controls but the newlines rich writes, DEL, C1
#: controls (0x9b is a one-byte CSI), and the bidi embeddings, overrides and isolates.
_RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CRAFTED = [
    ("clear\x1b[2Jscreen", {"client": "t\x1b]0;pwned-title\x07x"}),
    ("csi\x9b31mred", {"node": "a\rFORGED-BY-CR"}),
    ("line\nFORGED-BY-LF fake row", {"client": "abc\u202eevil"}),
    (f"tok-{HUB_SECRET}", {"client": HUB_SECRET}),
    (f"b64 {HUB_SECRET_B64}", {"client": HUB_SECRET_B64}),
    (f"gh-{GITHUB_TOKEN}", {"client": GITHUB_TOKEN}),
]


def _write_alerts(path: Path, rows: list[tuple[str, dict[str, str]]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for index, (rule, group) in enumerate(rows):
        ts = f"2026-11-29T10:{index:02d}:00Z"
        lines.append(json.dumps({"ts": ts, "alert_id": f"id{index}", "rule": rule,
                                 "event": "AUTH_FAILURE", "state": "firing",
                                 "severity": "warn\x1b[5ming", "count": 11, "threshold": 10,
                                 "window_s": 60, "group": group, "first_seen": ts,
                                 "last_seen": ts}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _assert_safe(stdout: str, *, secrets: tuple[str, ...]) -> None:
    found = _RAW_CONTROL.search(stdout)
    assert found is None, f"raw {found.group()!r} in the output"
    for secret in secrets:
        assert secret not in stdout
        assert secret[: len(secret) // 2] not in stdout and secret[len(secret) // 2:] not in stdout
    for line in stdout.splitlines():  # no forged line: the text stays inside its row
        assert "FORGED" not in line or line.lstrip().startswith("│"), line


def _crafted_home(tmp_path: Path, how: str) -> tuple[Path, list[str], dict[str, str]]:
    """A home with the crafted alerts, and how hub_top learns the token: ``env`` (HUB_TOKEN),
    ``fingerprint`` (only the hub's fingerprint file) or ``token-file`` (--token-file)."""
    home = tmp_path / "home"
    _write_alerts(HomeLayout(home).alerts, _CRAFTED)
    args: list[str] = []
    extra: dict[str, str] = {"COLUMNS": "220"}
    if how == "env":
        extra["HUB_TOKEN"] = HUB_SECRET
    elif how == "fingerprint":
        otel.write_fingerprint(home / otel.FINGERPRINT_FILE, otel.TokenFingerprint.of(HUB_SECRET))
    else:
        token_file = tmp_path / "operator_token"
        token_file.write_text(HUB_SECRET + "\n", encoding="utf-8")
        args = ["--token-file", str(token_file)]
    return home, args, _env(**extra)


@pytest.mark.e2e
@pytest.mark.parametrize("how", ["env", "fingerprint", "token-file"])
def test_once_draws_crafted_alerts_escaped_and_without_secrets(
        how: str, closed_port: int, tmp_path: Path) -> None:
    home, args, env = _crafted_home(tmp_path, how)
    url = f"http://127.0.0.1:{closed_port}"
    done = _hub_top("--once", "--control-url", url, "--data-url", url, "--home", str(home),
                    "--alerts", "20", *args, env=env)
    assert done.returncode == 0, done.stderr
    # stderr holds only the home block: no warning, and none of the secrets
    assert done.stderr.splitlines() == [
        f"hub_top: home: {home} (from --home)", "  found: logs/alerts.jsonl",
        "  missing: state/watcher_status.json, state/watcher_supervisor.json",
        "  rules: packaged defaults"]
    _assert_safe(done.stderr, secrets=(HUB_SECRET, HUB_SECRET_B64, GITHUB_TOKEN))
    out = done.stdout
    _assert_safe(out, secrets=(HUB_SECRET, HUB_SECRET_B64, GITHUB_TOKEN))
    # Shown, visibly escaped, in their rows (so the checks above had something to find).
    for shown in ("clear\\x1b[2Jscreen", "csi\\x9b31mred", "line\\x0aFORGED-BY-LF",
                  "client=t\\x1b]0;pwned-title\\x07x", "node=a\\x0dFORGED-BY-CR",
                  "client=abc\\u202eevil", "warn\\x1b[5ming", "tok-[REDACTED]",
                  "b64 [REDACTED]", "gh-[REDACTED]"):
        assert shown in out, shown
    assert out.count("client=[REDACTED]") == 3
    # No watcher has run on this home: what the file says is firing is only last known.
    assert "6 alerts stale (no watcher status)" in out


def test_a_bad_token_file_exits_2_naming_it(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no_such_token"
    assert main(["--once", "--token-file", str(missing)], environ={}) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (f"hub_top: error: --token-file {missing}: "
                            "No such file or directory\n")
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    assert main(["--once", "--token-file", str(empty)], environ={}) == 2
    assert capsys.readouterr().err == (f"hub_top: error: --token-file {empty}: "
                                       "the file is empty\n")


def test_a_bad_token_file_from_a_real_process_is_one_line_without_escapes(
        tmp_path: Path) -> None:
    crafted = tmp_path / "tok\x1b]0;pwned\x07en"
    done = _hub_top("--once", "--token-file", str(crafted))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("hub_top: error: --token-file ")
    assert "tok\\x1b]0;pwned\\x07en" in done.stderr
    assert "\x1b" not in done.stderr and "\x07" not in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1


def test_token_files_repeat(tmp_path: Path) -> None:
    config, _ = _config(["--token-file", "a", "--token-file", "b"], {})
    assert config.token_files == (Path("a"), Path("b"))
    assert _config([], {})[0].token_files == ()


def test_a_crafted_argument_is_escaped_in_the_usage_error() -> None:
    done = _hub_top("--once", "--bogus\x1b[2J\u202e")
    assert done.returncode == 2
    assert "--bogus\\x1b[2J\\u202e" in done.stderr
    assert "\x1b" not in done.stderr and "\u202e" not in done.stderr


@pytest.mark.e2e
@pytest.mark.skipif(os.name == "nt", reason="creating symlinks needs privileges on Windows")
def test_a_symlinked_alerts_file_and_status_are_reasons_not_followed(
        closed_port: int, tmp_path: Path) -> None:
    home = tmp_path / "home"
    target = tmp_path / "target.jsonl"
    _write_alerts(target, [("TARGET-CONTENT", {"client": "10.0.0.1"})])
    HomeLayout(home).alerts.parent.mkdir(parents=True)
    HomeLayout(home).alerts.symlink_to(target)
    HomeLayout(home).watcher_status.parent.mkdir(parents=True)
    HomeLayout(home).watcher_status.symlink_to(target)
    url = f"http://127.0.0.1:{closed_port}"
    done = _hub_top("--once", "--control-url", url, "--data-url", url, "--home", str(home),
                    env=_env(COLUMNS="200"))
    assert done.returncode == 0, done.stderr
    assert "alerts unreadable: alerts.jsonl is a symbolic link, not a regular file; not read" \
        in done.stdout
    assert ("watcher status unreadable: watcher_status.json is a symbolic link, not a "
            "regular file; not read") in done.stdout
    assert "TARGET-CONTENT" not in done.stdout and "10.0.0.1" not in done.stdout
    assert "alerts unreadable" in done.stdout.splitlines()[1]  # said at the top too


@pytest.mark.e2e
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_alerts_file_is_a_reason_and_never_hangs(closed_port: int,
                                                        tmp_path: Path) -> None:
    home = tmp_path / "home"
    HomeLayout(home).alerts.parent.mkdir(parents=True)
    os.mkfifo(HomeLayout(home).alerts)  # no writer: a plain open would wait for ever
    url = f"http://127.0.0.1:{closed_port}"
    started = time.monotonic()
    done = _hub_top("--once", "--control-url", url, "--data-url", url, "--home", str(home),
                    env=_env(COLUMNS="200"))
    assert time.monotonic() - started < _TIMEOUT_S  # _hub_top's timeout would raise anyway
    assert done.returncode == 0, done.stderr
    assert "alerts.jsonl is a FIFO, not a regular file; not read" in done.stdout


@pytest.mark.e2e
def test_once_against_a_real_hub_keeps_its_generated_token_out(tmp_path: Path) -> None:
    # No HUB_TOKEN anywhere: the hub generates one into its home, and hub_top finds it there.
    home = tmp_path / "home"
    home.mkdir()
    hub = start_hub(home, token=None)
    try:
        _write_alerts(HomeLayout(home).alerts, [
            (f"rule-{hub.token}", {"client": hub.token}),
            ("burst\x1b[2J\x1b]0;x\x07", {"client": "::FFFF:0A00:0007"}),
        ])
        done = _hub_top("--once", "--control-url", hub.control_url, "--data-url", hub.data_url,
                        "--home", str(home), env=_env(COLUMNS="200"))
    finally:
        hub.stop()
    assert done.returncode == 0, done.stderr
    _assert_safe(done.stdout, secrets=(hub.token,))
    assert "rule-[REDACTED]" in done.stdout and "client=[REDACTED]" in done.stdout
    assert "burst\\x1b[2J\\x1b]0;x\\x07" in done.stdout and "client=::ffff:a00:7" in done.stdout
    assert "nodes_online" in done.stdout and "unreachable" not in done.stdout
