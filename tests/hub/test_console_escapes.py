"""What the hub prints itself never runs escape sequences from its environment.

A ``SHERATAN_HOME`` may hold ``ESC]0;…BEL`` (retitles the window) or ``ESC[2J`` (clears the
screen): every hub-side line that names a path shows them as ``\\x1b`` and ``\\x07``, as the
watcher's own lines do.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from baseline_hub.banner import exposure_warning
from otel import TerminalSafeFormatter
from tests.conftest import start_hub
from tests.hub.conftest import run_hub_cli

ESCAPES = "\x1b]0;PWN\x07\x1b[2J"
SHOWN = "\\x1b]0;PWN\\x07\\x1b[2J"
posix_only = pytest.mark.skipif(sys.platform == "win32",
                                reason="Windows refuses control characters in a path")


def _raw_escapes(text: str) -> list[str]:
    return [line for line in text.splitlines() if "\x1b" in line or "\x07" in line]


@posix_only
@pytest.mark.e2e
def test_the_banner_and_the_watcher_lines_show_a_home_s_escapes(tmp_path: Path) -> None:
    home = tmp_path / f"home{ESCAPES}"
    home.mkdir()
    hub = start_hub(home, args=("--watcher",))
    try:
        output = hub.wait_output("watcher: started", 20)
    finally:
        assert hub.stop() == 0
    output = "".join(hub.output)
    assert "watcher: started" in output, output
    assert _raw_escapes(output) == []
    shown = str(tmp_path / f"home{SHOWN}")
    assert f"  state          {shown}" in output
    # the hub_top command of "Try next:", quoted so that it pastes back as the same path
    assert f"--home $'{shown}'" in output
    assert f"alerts go to {shown}" in output


@posix_only
def test_a_user_error_naming_the_home_shows_its_escapes(tmp_path: Path) -> None:
    home = tmp_path / f"file{ESCAPES}"
    home.write_text("")  # a file, not a folder: the hub cannot create its folders in it
    done = run_hub_cli({}, home)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: SHERATAN_HOME: ") and SHOWN in done.stderr
    assert _raw_escapes(done.stdout + done.stderr) == []


def test_the_exposure_warning_shows_the_escapes_of_hub_host() -> None:
    text = exposure_warning("0.0.0.0", f"0.0.0.0{ESCAPES}")
    assert text is not None and f"(HUB_HOST=0.0.0.0{SHOWN})" in text
    assert _raw_escapes(text) == []


def test_a_logged_path_and_a_traceback_show_their_escapes() -> None:
    formatter = TerminalSafeFormatter("%(levelname)s %(name)s: %(message)s")
    try:
        raise OSError(f"cannot open /tmp/{ESCAPES}")
    except OSError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("baseline_hub.audit", logging.WARNING, __file__, 1,
                               "audit log rotation failed, appending to %s: %s",
                               (f"/tmp/{ESCAPES}/audit.jsonl", "boom"), exc_info)
    text = formatter.format(record)
    assert text.startswith(f"WARNING baseline_hub.audit: audit log rotation failed, appending "
                           f"to /tmp/{SHOWN}/audit.jsonl: boom\nTraceback (most recent call")
    assert f"OSError: cannot open /tmp/{SHOWN}" in text
    assert _raw_escapes(text) == []


def test_the_hub_logs_through_the_terminal_safe_formatter(tmp_path: Path) -> None:
    code = ("import logging, sys; from baseline_hub.__main__ import _log_to_console; "
            "_log_to_console(); logging.getLogger('x').warning('at %s', sys.argv[1])")
    done = subprocess.run([sys.executable, "-c", code, f"/tmp/{ESCAPES}"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ,
                               "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert done.returncode == 0, done.stderr
    assert done.stderr.rstrip("\n").endswith(f"WARNING x: at /tmp/{SHOWN}")
    assert _raw_escapes(done.stderr) == []
