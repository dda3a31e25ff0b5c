"""Reading the commands out of the docs, and running them the way an operator would.

A command is a line of a ``bash`` or ``sh`` block (a line ending in ``\\`` goes on on the
next one); comment lines are prose. A trailing ``# long-running`` marks a command that runs
until it is stopped (a hub, a watcher following its log, Prometheus): it is started in the
background, must still be running after a short while, and is stopped with SIGINT when its
document is done, and must then exit 0. ``cd DIR`` changes the folder of the commands after
it, as in a shell.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.otlp_receiver import free_port

_BLOCK = re.compile(r"^```(?:bash|sh)\n(.*?)^```", re.MULTILINE | re.DOTALL)
LONG_RUNNING = "# long-running"
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
#: How long a long-running command gets to start (and must not have exited by then).
START_S = 3.0
COMMAND_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0
#: Environment variables an operator's shell would not have set for these commands.
_FOREIGN_ENV = ("HUB_", "OTEL_", "SHERATAN_", "PYTHON", "VIRTUAL_ENV", "PIP_REQUIRE")


def commands(text: str) -> list[str]:
    """The commands of a document's ``bash``/``sh`` blocks, in order."""
    found: list[str] = []
    for block in _BLOCK.findall(text):
        pending = ""
        for raw in block.splitlines():
            line = pending + raw.strip() if pending else raw.rstrip()
            if line.endswith("\\"):
                pending = line[:-1].rstrip() + " "
                continue
            pending = ""
            if line.strip() and not line.lstrip().startswith("#"):
                found.append(line.strip())
    return found


def bare(command: str) -> str:
    """The command without its ``# long-running`` marker and what follows it."""
    return command.split(LONG_RUNNING, 1)[0].strip()


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now (connections in TIME_WAIT from an
    earlier run do not count: servers set SO_REUSEADDR, as this does)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def operator_env(path_dirs: list[str]) -> dict[str, str]:
    """A shell's environment without the variables this test run may carry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_ENV)}
    env["PATH"] = os.pathsep.join([*path_dirs, env.get("PATH", "")])
    return env


def ports_as_printed(ports: tuple[int, ...]) -> dict[int, int]:
    """Each documented port, itself when it is free here, else a free one in its place."""
    return {port: port if port_is_free(port) else free_port() for port in ports}


@dataclass
class Background:
    """A long-running command, started in the background."""

    command: str
    proc: subprocess.Popen[str]
    ended: tuple[int, str] | None = None

    def stop(self) -> tuple[int, str]:
        """SIGINT, as Ctrl+C would; its exit code and output (the same when called again)."""
        if self.ended is not None:
            return self.ended
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        out = self.proc.stdout.read() if self.proc.stdout else ""
        if self.proc.stdout:
            self.proc.stdout.close()
        self.ended = (code, out)
        return self.ended


@dataclass
class Shell:
    """Runs documented commands in a clone, as an operator's shell would.

    Args:
        root: the clone, where every document's commands start.
        env: the operator's environment.
        ports: documented port -> the port used here (the same when it was free).
    """

    root: Path
    env: Mapping[str, str]
    ports: Mapping[int, int]
    cwd: Path = field(init=False)
    background: list[Background] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cwd = self.root

    def rewrite(self, command: str) -> str:
        for printed, used in self.ports.items():
            if printed != used:
                command = re.sub(rf"(?<=[:=]){printed}\b", str(used), command)
        return command

    def run(self, command: str, extra_env: Mapping[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        """Runs one command to its end (``cd`` moves this shell)."""
        text = self.rewrite(command)
        if text.startswith("cd "):
            self.cwd = (self.cwd / text[3:].strip()).resolve()
            return subprocess.CompletedProcess(text, 0, "", "")
        return subprocess.run(["bash", "-c", text], cwd=self.cwd,
                              env={**self.env, **(extra_env or {})},
                              capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)

    def start(self, command: str, extra_env: Mapping[str, str] | None = None) -> Background:
        """Starts a long-running command; it must still run after ``START_S``."""
        text = self.rewrite(bare(command))
        # exec, so that SIGINT reaches the command itself; `exec VAR=x cmd` is no command.
        launcher = "exec env" if _ASSIGNMENT.match(text) else "exec"
        proc = subprocess.Popen(["bash", "-c", f"{launcher} {text}"],
                                cwd=self.cwd, env={**self.env, **(extra_env or {})},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        started = Background(command, proc)
        self.background.append(started)
        time.sleep(START_S)
        return started

    def stop_all(self) -> Iterator[tuple[str, int, str]]:
        """Stops the background commands, newest first: (command, exit code, output)."""
        while self.background:
            started = self.background.pop()
            code, out = started.stop()
            yield started.command, code, out


def copy_tracked_files(repo: Path, dest: Path) -> None:
    """What a fresh clone of ``repo``'s working tree holds: its tracked files (with their
    content now), and nothing else (no venv, no build output, no home)."""
    listed = subprocess.run(["git", "-C", str(repo), "ls-files", "-z"], capture_output=True,
                            check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = repo / name
        if not source.is_file():  # deleted in the working tree, not yet committed
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
