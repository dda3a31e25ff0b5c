"""A frame is written whole to a stream that cannot encode its symbols (a Windows
``sheratan-top --once > frame.txt`` is cp1252): ASCII boxes and symbols, ``?`` for the rest,
never a ``UnicodeEncodeError``."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from sheratan_ops.top.cli import TopConfig, main, replace_unencodable, run
from sheratan_ops.top.model import AlertsTail, AlertState
from tests.scripts.conftest import checkout_env

from .conftest import CALM_CONTROL, HUB_TOP, REPO_ROOT, alert, snap

#: Not in cp1252 and not one of the view's own symbols: only the stream can replace it.
SNOWMAN = "\u2603"


@pytest.fixture
def closed_url() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A hub home whose path the frame shows and cp1252 cannot encode."""
    path = tmp_path / f"home-{SNOWMAN}"
    (path / "logs").mkdir(parents=True)
    return path


def _assert_ascii_frame(frame: str, home: Path) -> None:
    assert "HUB UNREACHABLE" in frame and "Traceback" not in frame
    assert frame.count("x hub unreachable") == 2 and "+---" in frame
    assert "control plane unreachable - data plane unreachable" in frame
    assert "home-?" in frame  # in the alerts and status paths
    assert SNOWMAN not in frame and "\u2717" not in frame and "\u256d" not in frame


def test_once_to_a_cp1252_stdout_writes_an_ascii_frame(home: Path, closed_url: str) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HUB_", "OTEL_", "PYTHONIOENCODING")) and k != "SHERATAN_HOME"}
    env.update(PYTHONIOENCODING="cp1252", COLUMNS="100", PYTHONUTF8="0")
    done = subprocess.run([sys.executable, str(HUB_TOP), "--once", "--home", str(home),
                           "--control-url", closed_url, "--data-url", closed_url],
                          cwd=REPO_ROOT, env=checkout_env(env), capture_output=True,
                          timeout=30, check=False)
    stderr = done.stderr.decode("cp1252", "replace")
    assert done.returncode == 0, stderr
    assert "Traceback" not in stderr and "UnicodeEncodeError" not in stderr
    _assert_ascii_frame(done.stdout.decode("cp1252"), home)


def test_main_to_a_cp1252_text_stream_writes_an_ascii_frame(home: Path,
                                                             closed_url: str) -> None:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="cp1252", newline="\n")
    err = io.StringIO()
    code = main(["--once", "--home", str(home), "--control-url", closed_url,
                 "--data-url", closed_url], environ={"COLUMNS": "100"}, stdout=out, stderr=err)
    out.flush()
    assert code == 0, err.getvalue()
    _assert_ascii_frame(raw.getvalue().decode("cp1252"), home)


def test_the_views_symbols_are_ascii_in_an_ascii_only_frame() -> None:
    rows = (alert("a1", AlertState.FIRING, still_firing=True, rule=f"burst-{SNOWMAN}"),
            alert("a0", AlertState.RESOLVED))
    busy = snap({**CALM_CONTROL, "nodes_online": 4},
                alerts=AlertsTail("home/logs/alerts.jsonl", rows=rows, firing=1))
    frames = iter([snap(), busy])
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="cp1252", newline="\n")
    console = Console(file=replace_unencodable(out), width=100, force_terminal=False)
    config = TopConfig("http://127.0.0.1:1", "http://127.0.0.1:2", Path("h"), 2.0, False, 8)

    slept: list[float] = []

    def sleep(seconds: float) -> None:  # Ctrl+C after the second frame
        slept.append(seconds)
        if len(slept) == 2:
            raise KeyboardInterrupt

    assert run(config, console, lambda: next(frames), sleep=sleep) == 0
    out.flush()
    text = raw.getvalue().decode("cp1252")
    assert "4 ^" in text  # nodes_online rose: the arrow in ASCII
    assert "* FIRING" in text and "+ resolved" in text and "burst-?" in text
    assert "every 2 s - Ctrl+C quits" in text and "|" in text


def test_a_stream_that_replaces_already_is_left_alone() -> None:
    out = io.TextIOWrapper(io.BytesIO(), encoding="cp1252", errors="backslashreplace")
    assert replace_unencodable(out) is out and out.errors == "backslashreplace"
    text = io.StringIO()
    assert replace_unencodable(text) is text
