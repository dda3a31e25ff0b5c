"""Every command in the operator docs runs, against a live hub, so the docs cannot rot.

In ``docs/*.md``, each line of a ``bash`` block is a command. They run in order, one block
after another, in a scratch folder that links ``scripts/``, ``watcher/`` and ``docs/`` from
the repository, with ``SHERATAN_HOME`` the live hub's home and the documented ports
(8787, 8788, 8790) rewritten to the test's. A command marked ``# long-running`` is started in
the background (on its own home and ephemeral ports), left running until its block ends, then
stopped with SIGINT, and must exit 0. Every other command must exit 0 and print no traceback.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, HubProcess, require_binary, start_hub

pytestmark = pytest.mark.e2e

_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)
# performance.md quotes benchmark commands (minutes long) in plain blocks; it is not run.
DOCS = [doc for doc in sorted((REPO / "docs").glob("*.md"))
        if _BLOCK.search(doc.read_text(encoding="utf-8"))]
LONG_RUNNING = "# long-running"
START_S = 2.5


def commands(doc: Path) -> list[list[str]]:
    """The doc's bash blocks, each a list of command lines."""
    return [[line for line in block.splitlines() if line.strip() and not line.startswith("#")]
            for block in _BLOCK.findall(doc.read_text(encoding="utf-8"))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def live_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    home = tmp_path_factory.mktemp("docs-home")
    hub = start_hub(home, token=None)  # a generated token file, as an operator has
    try:
        with httpx.Client(timeout=5) as client:  # something for the watcher and the logs
            for _ in range(3):
                client.get(f"{hub.control_url}/nodes")
                client.post(f"{hub.data_url}/nodes/register")
        yield hub
    finally:
        hub.stop()


class Runner:
    """Runs doc commands the way an operator would, in bash, in a scratch folder."""

    def __init__(self, hub: HubProcess, scratch: Path) -> None:
        self.scratch = scratch
        for name in ("scripts", "watcher", "docs"):
            (scratch / name).symlink_to(REPO / name)
        self.example_port = _free_port()
        self.rewrites = {
            "127.0.0.1:8787": hub.control_url.removeprefix("http://"),
            "127.0.0.1:8788": hub.data_url.removeprefix("http://"),
            "127.0.0.1:8790": f"127.0.0.1:{self.example_port}",
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "OTEL_"))}
        env.update(SHERATAN_HOME=str(hub.home), PYTHONPATH=str(REPO),
                   MY_HUB_PORT=str(self.example_port),
                   # `python` in the docs is the interpreter running these tests.
                   PATH=os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]]))
        self.env = env

    def command(self, line: str) -> str:
        for documented, actual in self.rewrites.items():
            line = line.replace(documented, actual)
        return line

    def run(self, line: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", self.command(line)], cwd=self.scratch, env=self.env,
                              capture_output=True, text=True, timeout=60)

    def start(self, line: str, home: Path) -> subprocess.Popen[str]:
        env = dict(self.env, SHERATAN_HOME=str(home), HUB_CONTROL_PORT="0", HUB_DATA_PORT="0")
        return subprocess.Popen(["bash", "-c", f"exec {self.command(line)}"], cwd=self.scratch,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)


def test_the_operator_docs_have_commands_to_run() -> None:
    assert {doc.name for doc in DOCS} >= {"system_overview.md", "integration.md"}


@pytest.mark.parametrize("doc", DOCS, ids=[doc.name for doc in DOCS])
def test_every_documented_command_runs(doc: Path, live_hub: HubProcess,
                                       tmp_path: Path) -> None:
    require_binary("curl", package="curl")
    blocks = commands(doc)
    runner = Runner(live_hub, tmp_path)
    for block in blocks:
        background: list[tuple[str, subprocess.Popen[str]]] = []
        try:
            for index, line in enumerate(block):
                if LONG_RUNNING in line:
                    home = tmp_path / f"home-{len(background)}-{index}"
                    proc = runner.start(line.split("#", 1)[0].strip(), home)
                    background.append((line, proc))
                    time.sleep(START_S)
                    assert proc.poll() is None, f"{line!r} exited early with {proc.returncode}"
                    continue
                result = runner.run(line)
                output = result.stdout + result.stderr
                assert result.returncode == 0, f"{line!r} exited {result.returncode}:\n{output}"
                assert "Traceback" not in output, f"{line!r}:\n{output}"
        finally:
            for line, proc in background:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
                try:
                    code = proc.wait(timeout=10)
                finally:
                    if proc.poll() is None:
                        proc.kill()
                    out = proc.stdout.read() if proc.stdout else ""
                    if proc.stdout:
                        proc.stdout.close()
                assert code == 0, f"{line!r} ended with {code}:\n{out}"
                assert "Traceback" not in out, f"{line!r}:\n{out}"
