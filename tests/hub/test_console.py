"""What the hub tells a newcomer: where it listens (and a warning beyond loopback), what to try
next, every environment variable in ``--help``, and a demo that ends quietly."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from baseline_hub import HubConfig, HubContext, PlaneInfo
from baseline_hub import banner as banner_module
from baseline_hub import demo as demo_module
from baseline_hub.banner import exposure_warning, tool_command
from baseline_hub.envhelp import hub_variables
from baseline_hub.server import HubRuntime
from baseline_hub.token import TokenSource
from sheratan_home import env as hub_env
from tests.conftest import REPO, TEST_TOKEN, HubProcess, start_hub
from tests.hub.conftest import run_hub_cli
from tests.otlp_receiver import free_port

WARNING = "WARNING: the hub listens on"


@pytest.mark.parametrize(("address", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("0.0.0.0", False),
    ("::", False), ("10.0.0.5", False), ("fe80::1%eth0", False), ("not-an-address", False),
])
def test_only_loopback_addresses_count_as_this_machine(address: str, loopback: bool) -> None:
    assert hub_env.is_loopback(address) is loopback
    assert (exposure_warning(address, address) is None) is loopback


def test_the_warning_says_what_answers_without_the_token() -> None:
    text = exposure_warning("0.0.0.0", "0.0.0.0")
    assert text is not None and text.startswith(WARNING)
    assert "other machines can reach" in text
    assert "/metrics" in text and "/health" in text and "HUB_HOST=127.0.0.1" in text


@pytest.mark.e2e
def test_on_loopback_the_banner_says_so_and_then_what_to_try(hub_process: HubProcess) -> None:
    output = hub_process.wait_output("alerts: ")
    assert "  listening on   127.0.0.1, this machine only\n" in output
    assert WARNING not in output
    after = output.split("Try next:\n", 1)[1].splitlines()[:4]
    assert after[0].startswith(f"  curl {hub_process.control_url}/metrics ")
    assert f"curl '{hub_process.data_url}/metrics?format=prometheus'" in after[1]
    assert f"--control-url {hub_process.control_url} --data-url {hub_process.data_url}" in after[2]
    top = tool_command("sheratan-top", "sheratan_ops.top", cwd=REPO)  # the hub runs in REPO
    assert after[2].startswith(f"  {top} --home ")
    watcher = tool_command("sheratan-watcher", "watcher", cwd=REPO)
    assert "--watcher" in after[3] and f"{watcher} --home" in after[3]
    # The live-view command works as printed, from the hub's folder, with no venv activated.
    command = shlex.split(after[2].rsplit("    ", 1)[0])
    done = subprocess.run([*command, "--once"], cwd=REPO, capture_output=True, text=True,
                          encoding="utf-8", timeout=60, check=False,
                          env={k: v for k, v in os.environ.items()
                               if k not in ("PYTHONPATH", "VIRTUAL_ENV")})
    assert done.returncode == 0, done.stderr
    assert "nodes_online" in done.stdout and "unreachable" not in done.stdout
    # What the lines say to try works.
    assert httpx.get(f"{hub_process.control_url}/metrics").json()["plane"] == "control"
    text = httpx.get(f"{hub_process.data_url}/metrics?format=prometheus").text
    assert "hub_queue_depth" in text


@pytest.mark.e2e
def test_on_every_interface_the_banner_warns(hub_home: Path) -> None:
    hub = start_hub(hub_home, env={"HUB_HOST": "0.0.0.0"})
    try:
        output = hub.wait_output("Try next:")
        assert "  listening on   0.0.0.0, every network interface\n" in output
        warning = output.split(WARNING, 1)[1].splitlines()
        assert warning[0].startswith(" 0.0.0.0 (HUB_HOST=0.0.0.0): other machines can reach")
        # The URLs to connect to stay usable on this machine.
        assert hub.control_url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{hub.control_url}/health").status_code == 200
    finally:
        assert hub.stop() == 0


@pytest.mark.e2e
def test_with_the_watcher_the_last_line_points_to_the_line_that_says_it_started(
        hub_home: Path) -> None:
    hub = start_hub(hub_home, args=("--watcher",))
    try:
        output = hub.wait_output("watcher: started")
        alerts = ("alerts: the audit watcher starts beside the hub (see the watcher: line "
                  "below); hub_top shows what it raises")
        assert alerts in output
        assert "restart with --watcher" not in output
        # It claims no start: the line after it says whether the watcher did.
        assert "runs beside the hub" not in output
        assert output.index(alerts) < output.index("watcher: started (pid ")
    finally:
        assert hub.stop() == 0


@pytest.mark.e2e
def test_with_a_refused_watcher_no_line_claims_it_runs(hub_home: Path) -> None:
    (hub_home / "audit_dir").mkdir()  # a folder as the audit log: the watcher exits 2
    hub = start_hub(hub_home, args=("--watcher",),
                    env={"HUB_AUDIT_LOG": str(hub_home / "audit_dir")})
    try:
        output = hub.wait_output("watcher: not started")
        assert "watcher: not started: it refused its configuration" in output
        assert "see the watcher: line below" in output
        assert "runs beside the hub" not in output and "watcher: started" not in output
    finally:
        assert hub.stop() == 0


def _interpreter(folder: Path, *scripts: str) -> Path:
    folder.mkdir(parents=True)
    for name in ("python", *scripts):
        (folder / f"{name}{'.exe' if sys.platform == 'win32' else ''}").write_text("")
    return folder / "python"


def test_the_console_script_beside_the_interpreter_is_named_by_its_path(
        tmp_path: Path) -> None:
    python = _interpreter(tmp_path / ".venv" / "bin", "sheratan-top")
    exe = ".exe" if sys.platform == "win32" else ""
    shown = tool_command("sheratan-top", "sheratan_ops.top", executable=str(python),
                         cwd=tmp_path)
    assert shown == os.path.join(".venv", "bin", f"sheratan-top{exe}")
    # From another folder the absolute path; never a bare name the shell looks up.
    assert tool_command("sheratan-top", "sheratan_ops.top", executable=str(python),
                        cwd=tmp_path / "elsewhere") == str(python.parent / f"sheratan-top{exe}")
    assert tool_command("sheratan-top", "sheratan_ops.top", executable=str(python),
                        cwd=python.parent) == os.path.join(".", f"sheratan-top{exe}")


def test_without_a_console_script_the_interpreter_runs_the_module(tmp_path: Path) -> None:
    python = _interpreter(tmp_path / "my venv" / "bin")
    shown = tool_command("sheratan-watcher", "watcher", executable=str(python), cwd=tmp_path)
    assert shlex.split(shown) == [os.path.join("my venv", "bin", "python"), "-m", "watcher"]


def test_help_lists_every_variable_the_hub_reads_with_its_default() -> None:
    done = subprocess.run([sys.executable, "-m", "baseline_hub", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for var in hub_variables():
        assert f"  {var.name}  (default: {var.default})" in lines, var.name
        assert var.meaning in done.stdout, var.name
    assert "  HUB_HOST  (default: 127.0.0.1)" in lines
    assert "  SHERATAN_HOME  (default: ./.sheratan)" in lines
    assert "  HUB_CONTROL_PORT  (default: 8787)" in lines
    # Every variable named in the hub's own sources and its telemetry config is listed. The
    # OTel log variables are read by the shared config, but the hub emits no log records.
    sources = [*REPO.joinpath("baseline_hub").glob("*.py"), REPO / "otel" / "_config.py",
               *REPO.joinpath("sheratan_home").glob("env.py")]
    named = {name for path in sources
             for name in re.findall(r'"((?:HUB|OTEL|SHERATAN)_[A-Z_]+)"', path.read_text())}
    logs_only = {"OTEL_LOGS_EXPORTER", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                 "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION"}
    listed = {var.name for var in hub_variables()}
    assert named - logs_only <= listed
    assert len(named & listed) >= 25


# --- the demo ends quietly -----------------------------------------------------------------


class ScriptedStop(HubRuntime):
    """A runtime whose ``stop_requested`` answers from a script (then True)."""

    answers: list[bool]

    @property
    def stop_requested(self) -> bool:
        return self.answers.pop(0) if self.answers else True


def _dead_runtime(hub: HubContext, config: HubConfig, answers: list[bool]) -> ScriptedStop:
    """A runtime whose planes are on a port nothing listens on: every call fails."""
    port = free_port()
    runtime = ScriptedStop(config, hub, TokenSource(TEST_TOKEN, "HUB_TOKEN"),
                           control=PlaneInfo("control", port, port),
                           data=PlaneInfo("data", port, port))
    runtime.answers = answers
    return runtime


@pytest.mark.parametrize(("answers", "logged"), [
    ([False, True], False),  # the call failed because the hub is stopping: the end
    ([False, False, True], True),  # it failed while the hub runs: said, and carried on
])
def test_a_failed_demo_call_is_quiet_only_when_the_hub_is_stopping(
        hub: HubContext, config: HubConfig, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch, answers: list[bool], logged: bool) -> None:
    monkeypatch.setattr(demo_module, "TICK_S", 0.0)
    runtime = _dead_runtime(hub, config, answers)
    with caplog.at_level(logging.INFO, logger=demo_module.__name__):
        asyncio.run(asyncio.wait_for(demo_module.run_demo(runtime), 30))
    assert ("demo call failed (ConnectError)" in caplog.text) is logged
    assert runtime.answers == []


@pytest.mark.e2e
def test_a_stopped_demo_says_nothing_of_failed_calls(hub_home: Path) -> None:
    hub = start_hub(hub_home, args=("--demo",))
    try:
        hub.wait_output("demo: ")
        time.sleep(2.5)  # a few ticks, so that the stop lands amid the fleet's calls
    finally:
        assert hub.stop(signal.SIGTERM) == 0
    output = "".join(hub.output)
    assert "Sheratan hub stopped" in output
    assert "demo call failed" not in output
    assert "Traceback" not in output


@pytest.mark.e2e
def test_an_unusable_lock_file_is_a_clear_start_error(hub_home: Path) -> None:
    (hub_home / "state" / "hub.lock").mkdir(parents=True)
    result = run_hub_cli({"HUB_TOKEN": TEST_TOKEN}, hub_home)
    assert result.returncode == 1, result.stderr
    assert "error: cannot lock" in result.stderr and "hub.lock" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.e2e
@pytest.mark.skipif(not hasattr(os, "symlink") or os.name != "posix", reason="POSIX symlinks")
def test_a_symlink_as_the_lock_file_is_refused_and_its_target_kept(hub_home: Path,
                                                                    tmp_path: Path) -> None:
    """Found by review: taking the lock empties the file, so a symlink at state/hub.lock
    emptied whatever it pointed to."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    (hub_home / "state").mkdir(parents=True, exist_ok=True)
    (hub_home / "state" / "hub.lock").symlink_to(victim)
    result = run_hub_cli({"HUB_TOKEN": TEST_TOKEN}, hub_home)
    assert result.returncode == 1, result.stderr
    assert "error: cannot lock" in result.stderr and "Traceback" not in result.stderr
    assert victim.read_text() == "keep me\n"


@pytest.mark.skipif(sys.platform == "win32" or shutil.which("bash") is None,
                    reason="bash's $'...' quoting")
@pytest.mark.parametrize("home", ["/tmp/a home", "/tmp/h \x1b[31mRED\x07", "/tmp/it's",
                                  "/tmp/ü", "/tmp/ü\x1b", "/tmp/x\u202ey",
                                  "/tmp/back\\slash\x9b", "/tmp/not-utf8-\udc80\x07"])
@pytest.mark.parametrize("locale", ["C", "C.UTF-8"])
def test_a_home_in_a_suggested_command_pastes_back_as_the_same_path(home: str,
                                                                    locale: str) -> None:
    word = banner_module._shell_word(home)
    assert word.isprintable() and "\x1b" not in word  # shown safely
    echoed = subprocess.run(["bash", "-c", f"printf %s {word}"], capture_output=True,
                            check=True, timeout=10, env={"LC_ALL": locale}).stdout
    assert echoed == os.fsencode(home)
