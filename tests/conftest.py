"""Fixtures shared by the whole suite: temporary hub homes and a real hub process."""

from __future__ import annotations

import os
import re
import shutil
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

    def wait_output(self, text: str, timeout_s: float = 10) -> str:
        """The hub's output so far, once it holds ``text`` or ``timeout_s`` has passed (the
        drain thread keeps reading)."""
        deadline = time.monotonic() + timeout_s
        while text not in "".join(self.output) and time.monotonic() < deadline:
            time.sleep(0.05)
        return "".join(self.output)

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
    lines: list[str] = []
    banner_done = threading.Event()
    drain = threading.Thread(target=_drain, args=(proc, lines, banner_done), daemon=True)
    drain.start()
    # The reading happens in the thread, so a hub that hangs silently cannot block us.
    if not banner_done.wait(timeout_s) or proc.poll() is not None:
        proc.kill()
        proc.wait(timeout=10)
        drain.join(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
        raise RuntimeError("hub did not start:\n" + "".join(lines))
    urls = {m.group(1): m.group(2) for line in lines if (m := _URL.match(line.rstrip("\n")))}
    if token is None:
        token = (home / "secrets" / "hub_token").read_text().strip()
    return HubProcess(proc, home, urls["control"], urls["data"], token, lines, drain)


def _drain(proc: subprocess.Popen[str], lines: list[str], banner_done: threading.Event) -> None:
    """Collect the hub's output; the banner's last line ("  token ...") marks it ready."""
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("  token "):
            banner_done.set()
    banner_done.set()  # end of output: the caller sees the exit


def require_binary(name: str, package: str = "prometheus") -> str:
    """The path of an external tool the test needs. On a developer machine without it the
    test skips; with ``CI=true`` it fails loudly, because CI must never pass by skipping."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is missing, and CI=true requires the tests that use it to run "
                        f"(apt-get install {package})", pytrace=False)
        pytest.skip(f"{name} not installed (apt-get install {package})")
    return path


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
