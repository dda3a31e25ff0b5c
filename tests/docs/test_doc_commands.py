"""Every command in the docs runs as printed, from a fresh clone, against a live hub.

The docs are ``README.md``, ``docs/*.md`` and ``collector-config/README.md``; their commands
are the lines of their ``bash`` and ``sh`` blocks (``tests/docs/docrun.py`` says how they are
read and run). The test copies what a clone holds into a scratch folder, runs the README's
install command there, starts the README's quick-start hub (on 8787 and 8788 when they are
free here), and then runs every other command of every document, in order, in a shell
without this test run's environment: no ``SHERATAN_HOME``, no ``HUB_*``, no ``PYTHONPATH``.
So a command only works if it works for an operator who copies it.

Each command must exit 0 and print no traceback. Two kinds of line are not run as they are:

* the README's test command, which ``.ci/run`` runs verbatim (the test checks that it does);
* a long-running hub or watcher, which gets a home and ports of its own (so that it does not
  fight the live hub over its home lock and ports); the command itself is as printed.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, require_binary
from tests.docs.docrun import (
    LONG_RUNNING,
    Shell,
    bare,
    commands,
    copy_tracked_files,
    operator_env,
    ports_as_printed,
)
from tests.otlp_receiver import free_port

pytestmark = pytest.mark.e2e

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")),
        REPO / "collector-config" / "README.md"]
#: The live hub's ports, as the docs print them.
HUB_PORTS = (8787, 8788)
#: The other ports the docs print: the integration example's, Prometheus', Alertmanager's,
#: and a collector's OTLP gRPC and HTTP ports. Looked at again before each document.
OTHER_PORTS = (8790, 9090, 9093, 4317, 4318)
CI_SCRIPT = REPO / ".ci" / "run"
HUB_UP_TIMEOUT_S = 30.0


def _readme_setup() -> tuple[str, str]:
    """The README's first two commands: the install, and the quick-start hub."""
    first = commands((REPO / "README.md").read_text(encoding="utf-8"))[:2]
    install, hub = first
    assert "pip install" in install and LONG_RUNNING in hub, first
    return install, hub


def _is_ci_test_command(command: str) -> bool:
    """The README's test command, which .ci/run runs verbatim."""
    return command in CI_SCRIPT.read_text(encoding="utf-8") and "-m pytest" in command


def _own_home(tmp: Path) -> dict[str, str]:
    home = tmp / f"home-{time.monotonic_ns()}"
    (home / "logs").mkdir(parents=True)
    return {"SHERATAN_HOME": str(home), "HUB_CONTROL_PORT": str(free_port()),
            "HUB_DATA_PORT": str(free_port())}


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shell]:
    """A fresh clone with the README's install done and its quick-start hub running."""
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the docs test needs a git checkout and git", pytrace=False)
        pytest.skip("not a git checkout")
    clone = tmp_path_factory.mktemp("clone")
    copy_tracked_files(REPO, clone)
    python_dir = str(Path(sys.executable).resolve().parent)  # a python3 for `python3 -m venv`
    ports = ports_as_printed(HUB_PORTS)
    # The hub reads its ports from HUB_CONTROL_PORT and HUB_DATA_PORT: set only where a
    # printed port is taken here.
    env = operator_env([python_dir])
    for var, printed in (("HUB_CONTROL_PORT", 8787), ("HUB_DATA_PORT", 8788)):
        if ports[printed] != printed:
            env[var] = str(ports[printed])
    sh = Shell(clone, env, ports)
    install, hub = _readme_setup()
    result = sh.run(install)
    assert result.returncode == 0, f"{install!r}:\n{result.stdout}\n{result.stderr}"
    sh.start(hub)
    control = f"http://127.0.0.1:{sh.ports[8787]}/health"
    deadline = time.monotonic() + HUB_UP_TIMEOUT_S
    while not _answers(control):
        assert time.monotonic() < deadline and sh.background[0].proc.poll() is None, \
            f"{hub!r} did not come up:\n{sh.background[0].stop()[1]}"
        time.sleep(0.2)
    try:
        yield sh
    finally:
        for command, code, out in sh.stop_all():
            assert code == 0 and "Traceback" not in out, f"{command!r} ended {code}:\n{out}"


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_readme_test_command_is_what_ci_runs() -> None:
    ci = CI_SCRIPT.read_text(encoding="utf-8")
    tests = [c for c in commands((REPO / "README.md").read_text(encoding="utf-8"))
             if "-m pytest" in c]
    assert tests and all(c in ci for c in tests), tests


def test_every_doc_has_commands() -> None:
    for doc in DOCS:
        if doc.name != "performance.md":  # benchmark commands take minutes: plain blocks
            assert commands(doc.read_text(encoding="utf-8")), doc


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(REPO)) for d in DOCS])
def test_every_documented_command_runs_as_printed(doc: Path, shell: Shell,
                                                  tmp_path: Path) -> None:
    require_binary("curl", package="curl")
    todo = commands(doc.read_text(encoding="utf-8"))
    if doc.name == "README.md" and doc.parent == REPO:
        todo = todo[2:]  # the install and the live hub: done by the fixture
    shell.cwd = shell.root
    # Taken since the last document? Then this one gets others (the integration example
    # reads its port from MY_HUB_PORT, 8790 when unset).
    others = ports_as_printed(OTHER_PORTS)
    shell.ports = {**{p: shell.ports[p] for p in HUB_PORTS}, **others}
    shell.env = {**shell.env, "MY_HUB_PORT": str(others[8790])}
    started = len(shell.background)
    try:
        for command in todo:
            _run_one(shell, command, tmp_path)
    finally:
        while len(shell.background) > started:
            line = shell.background[-1].command
            code, out = shell.background.pop().stop()
            assert code == 0 and "Traceback" not in out, f"{line!r} ended {code}:\n{out}"


def _run_one(shell: Shell, command: str, tmp_path: Path) -> None:
    if _is_ci_test_command(command):
        return  # .ci/run runs it verbatim
    for tool in ("promtool", "prometheus", "amtool", "prometheus-alertmanager"):
        if bare(command).startswith(tool + " "):
            require_binary(tool, package="prometheus-alertmanager" if "alert" in tool
                           else "prometheus")
    own = ("baseline_hub" in command or "watcher" in command)
    extra = _own_home(tmp_path) if LONG_RUNNING in command and own else None
    if LONG_RUNNING in command:
        started = shell.start(command, extra)
        assert started.proc.poll() is None, \
            f"{command!r} exited early:\n{started.stop()[1]}"
        return
    result = shell.run(command)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{command!r} exited {result.returncode}:\n{output}"
    assert "Traceback" not in output, f"{command!r}:\n{output}"
