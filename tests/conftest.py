"""Fixtures shared by the whole suite: temporary hub homes and a real hub process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.otlp_receiver import Receiver

REPO = Path(__file__).resolve().parent.parent
TEST_TOKEN = "test-token-0123456789abcdef"
_URL = re.compile(r"^\s+(control|data) plane\s+(http://\S+)$")


@dataclass
class HubProcess:
    """A real ``python -m baseline_hub`` on ephemeral loopback ports."""

    proc: subprocess.Popen[str]
    home: Path
    control_url: str
    data_url: str
    token: str
    output: list[str]
    drain: threading.Thread | None = None

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10) -> int:
        """Send ``sig`` (SIGKILL for a crash), wait, and release the pipe. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout_s)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=timeout_s)
            if self.drain is not None:
                self.drain.join(timeout=timeout_s)
            if self.proc.stdout is not None:
                self.proc.stdout.close()


def start_hub(
    home: Path,
    *,
    token: str | None = TEST_TOKEN,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    timeout_s: float = 20,
) -> HubProcess:
    """Start the hub and wait for its banner; raise with its output if it does not come up."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "OTEL_"))}
    full_env.update({"SHERATAN_HOME": str(home), "HUB_CONTROL_PORT": "0", "HUB_DATA_PORT": "0",
                     "PYTHONUNBUFFERED": "1"})
    if token is not None:
        full_env["HUB_TOKEN"] = token
    full_env.update(env or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "baseline_hub", *args], cwd=REPO, env=full_env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    urls: dict[str, str] = {}
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if match := _URL.match(line.rstrip("\n")):
            urls[match.group(1)] = match.group(2)
        if line.startswith("  token "):  # the banner's last line
            break
    if len(urls) < 2:
        proc.kill()
        rest = proc.stdout.read()
        proc.wait(timeout=10)
        proc.stdout.close()
        raise RuntimeError("hub did not start:\n" + "".join(lines) + rest)
    if token is None:
        token = (home / "secrets" / "hub_token").read_text().strip()
    # Keep draining, so a hub that logs to its console never blocks on a full pipe.
    drain = threading.Thread(target=_drain, args=(proc, lines), daemon=True)
    drain.start()
    return HubProcess(proc, home, urls["control"], urls["data"], token, lines, drain)


def _drain(proc: subprocess.Popen[str], lines: list[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)


@pytest.fixture
def hub_home(tmp_path: Path) -> Path:
    home = tmp_path / "sheratan"
    home.mkdir()
    return home


@pytest.fixture
def hub_process(hub_home: Path) -> Iterator[HubProcess]:
    hub = start_hub(hub_home)
    try:
        yield hub
    finally:
        hub.stop(signal.SIGKILL)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real OTLP/HTTP receiver on 127.0.0.1:0."""
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()
