"""What the watcher prints is terminal-safe, and the hub token reaches none of its outputs."""

from __future__ import annotations

import base64
import io
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from otel import TerminalSafeFormatter
from tests.watcher.conftest import CliRunner, Home, burst, read_alerts, write_lines
from watcher import ConsoleAlertSink, OTelAlertSink, Watcher, WatchPaths, default_rules
from watcher._guard import known_secrets_guard

REPO = Path(__file__).resolve().parents[2]
TOKEN = "correct-horse-battery-staple-blue-moon-4242"
#: Clients that try to drive the terminal: clear it, retitle it (OSC ... BEL), a C1 CSI,
#: a bare CR, a forged line, a right-to-left override.
CRAFTED = ["x\x1b[2J", "\x1b]0;owned\x07", "y\x9b31m", "a\rFIRING forged", "b\nFIRING forged",
           "\u202eevil"]
#: What must never reach a terminal raw: ESC, BEL, CR, LF inside a line, C1, bidi controls.
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _client(alert: dict[str, object]) -> object:
    group = alert["group"]
    assert isinstance(group, dict)
    return group["client"]


def _crafted_log(home: Home) -> None:
    write_lines(home.log, [line for i, client in enumerate(CRAFTED)
                           for line in burst(i * 400, 6, event="PORT_MISMATCH", client=client)])


def _assert_terminal_safe(text: str, alert_lines: int) -> None:
    assert not UNSAFE.search(text), repr(UNSAFE.findall(text))
    alerts = [line for line in text.splitlines() if " ALERT " in line]
    assert len(alerts) == alert_lines  # no forged line
    assert not [line for line in text.splitlines() if line.startswith("FIRING")]


def test_console_alert_lines_show_escapes_instead_of_running_them(home: Home) -> None:
    _crafted_log(home)
    console = io.StringIO()
    paths = WatchPaths(log=home.log, alerts=home.alerts, state_dir=home.state)
    watcher = Watcher(default_rules(), paths, sinks=[ConsoleAlertSink(console)])
    watcher.poll()
    watcher.close()
    text = console.getvalue()
    _assert_terminal_safe(text, alert_lines=len(read_alerts(home.alerts)))
    assert len(read_alerts(home.alerts)) >= len(CRAFTED)
    for shown in ("x\\x1b[2J", "\\x1b]0;owned\\x07", "y\\x9b31m", "a\\x0dFIRING forged",
                  "b\\x0aFIRING forged", "\\u202eevil"):
        assert f"client={shown}]" in text
    # alerts.jsonl holds the value itself, as JSON escapes it.
    assert {_client(a) for a in read_alerts(home.alerts)} == set(CRAFTED)


@pytest.mark.e2e
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_follow_mode_console_is_terminal_safe_end_to_end(home: Home, tmp_path: Path) -> None:
    _crafted_log(home)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "OTEL_"))}
    env.update(home.env, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "watcher", "--interval-ms", "50", "--status-interval-s", "0.1"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while len(read_alerts(home.alerts)) < len(CRAFTED) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    text = out.decode("utf-8")
    _assert_terminal_safe(text, alert_lines=len(read_alerts(home.alerts)))
    assert "status: following" in text and "x\\x1b[2J" in text


@pytest.mark.parametrize("argv", [
    ["--replay", "nope\x1b[2J\r.jsonl", "--alerts", "out.jsonl"],
    ["--check-rules", "rules\x1b]0;owned\x07.json"],
    ["--bogus\x9b31m"],
    ["--once", "--token-file", "token\u202e\n.txt"],
], ids=["replay-path", "rules-path", "argument", "token-file"])
def test_error_messages_escape_paths_and_arguments(run_cli: CliRunner, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   argv: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli(*argv)
    assert result.code == 2
    assert result.err.count("\n") == 1, result.err
    assert not UNSAFE.search(result.err), repr(result.err)
    assert "\\x" in result.err or "\\u202e" in result.err


@pytest.mark.skipif(os.name != "posix", reason="symlinks need POSIX")
def test_a_refused_alerts_path_with_escapes_is_shown_escaped(run_cli: CliRunner, home: Home,
                                                             tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    link = tmp_path / "alerts\x1b[2J.jsonl"
    link.symlink_to(target)
    write_lines(home.log, burst(0, 11))
    result = run_cli("--once", "--alerts", str(link))
    assert result.code == 2
    assert not UNSAFE.search(result.err) and "alerts\\x1b[2J.jsonl" in result.err


def test_log_warnings_are_terminal_safe_but_keep_their_traceback() -> None:
    formatter = TerminalSafeFormatter("%(levelname)s %(message)s")
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("watcher", logging.WARNING, __file__, 1,
                                   "checkpoint is for %s", ("/logs/a\x1b[2J\nforged",),
                                   sys.exc_info())
    text = formatter.format(record)
    first, *trace = text.split("\n")
    assert first == "WARNING checkpoint is for /logs/a\\x1b[2J\\x0aforged"
    assert trace[0] == "Traceback (most recent call last):"


def test_the_token_reaches_neither_alerts_console_nor_otel_records(home: Home) -> None:
    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # SDK: unannotated
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    console = io.StringIO()
    encoded = base64.b64encode(TOKEN.encode()).decode()
    write_lines(home.log, [*burst(0, 6, event="PORT_MISMATCH", client=TOKEN),
                           *burst(400, 6, event="PORT_MISMATCH", client=f"x {encoded}"),
                           *burst(800, 6, event="PORT_MISMATCH", client=f"id:{TOKEN[:24]}"),
                           *burst(1200, 6, event="PORT_MISMATCH", client="10.0.0.7")])
    paths = WatchPaths(log=home.log, alerts=home.alerts, state_dir=home.state)
    guard = known_secrets_guard({"HUB_TOKEN": TOKEN}, home=home.root)
    watcher = Watcher(default_rules(), paths, value_guard=guard,
                      sinks=[OTelAlertSink(provider), ConsoleAlertSink(console)])
    watcher.poll()
    watcher.close()
    provider.shutdown()
    records = [data.log_record for data in exporter.get_finished_logs()]
    alerts = read_alerts(home.alerts)
    assert len(records) == len(alerts) == console.getvalue().count(" ALERT ") >= 4
    groups = [_client(a) for a in alerts if a["state"] == "firing"]
    assert groups == ["[redacted]"] * 3 + ["10.0.0.7"]
    everything = "\n".join([home.alerts.read_text(), console.getvalue(),
                            repr([(r.body, dict(r.attributes or {})) for r in records]),
                            (home.state / "watcher_checkpoint.json").read_text()])
    for secret in (TOKEN, encoded, TOKEN[:24]):
        assert secret not in everything
    attributes = [dict(r.attributes or {}) for r in records]
    assert {a["alert.group.client"] for a in attributes} == {"[redacted]", "10.0.0.7"}


def test_the_alerts_file_holds_no_c1_control_or_bidi_override(run_cli: CliRunner, home: Home,
                                                               tmp_path: Path) -> None:
    """Found by review: a path grouped by a rule reached alerts.jsonl with a raw U+009B (a
    one-byte CSI) and U+202E, which erased the screen of a terminal showing the file."""
    path = "/jobs/\x9b2J\u202eevil\u2066"
    rules = tmp_path / "rules.json"
    rules.write_text('{"rules": [{"name": "by_path", "event": "PORT_MISMATCH", "threshold": 2, '
                     '"window_s": 60, "severity": "warning", "group_by": ["path"]}]}')
    write_lines(home.log, burst(0, 4, event="PORT_MISMATCH", path=path))
    out = tmp_path / "alerts.jsonl"
    assert run_cli("--replay", str(home.log), "--alerts", str(out), "--rules", str(rules)).code == 0
    data = out.read_bytes()
    assert data.isascii(), data
    assert [alert["group"] for alert in read_alerts(out)][:1] == [{"path": path}]
