"""The installed commands (CONTRACT section 6), as a user gets them.

A copy of this checkout is installed, for real and not editable, into a fresh venv made here;
then each ``sheratan-*`` command runs from ``/``, where no checkout is on the path, with no
``PYTHONPATH``: each answers ``--help``, and against a real hub ``sheratan-diagnose`` writes
a bundle (finding the token by the hub's fingerprint) and the other three do their work.

How the venv gets its dependencies offline: ``python -m venv --system-site-packages`` made
from this test's venv sees the base interpreter's site-packages, not this venv's, so a ``.pth``
file adds this venv's site-packages after its own (the fresh copy comes first). It is made
``--without-pip`` and installs with ``python -m pip`` (this venv's pip, through that
``.pth``): ensurepip's own setuptools (65.5 on 3.11) cannot build a wheel without the
``wheel`` package, while the test extra's ``setuptools>=70.1`` can, with
``--no-build-isolation --no-index``. ``--ignore-installed`` keeps pip from even looking at
the copy of this project that this venv may hold.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import start_hub

from .conftest import REPO_ROOT

pytestmark = pytest.mark.e2e

COMMANDS = ("sheratan-diagnose", "sheratan-watcher", "sheratan-top", "sheratan-smoke")
#: The whole install (venv, copy, build, install) must stay well under a minute.
INSTALL_BUDGET_S = 60.0
RUN_TIMEOUT_S = 60
_NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info",
                                     "__pycache__", ".*_cache", ".hypothesis", ".sheratan",
                                     "diag_bundle_*.zip")


@dataclass(frozen=True)
class Installed:
    venv: Path
    python: Path
    bin_dir: Path
    purelib: Path
    install_s: float

    def env(self, **extra: str) -> dict[str, str]:
        """A user's shell with only the fresh venv: no hub, OTel or Python path settings."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("HUB_", "OTEL_", "PYTHON", "PIP_"))
               and k not in ("SHERATAN_HOME", "VIRTUAL_ENV", "SOURCE_DATE_EPOCH")}
        env["PATH"] = os.pathsep.join([str(self.bin_dir), env.get("PATH", "")])
        env.update(extra)
        return env

    def run(self, command: str, *args: str,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.bin_dir / command), *args], cwd="/",
                              env=dict(env or self.env()), capture_output=True, text=True,
                              timeout=RUN_TIMEOUT_S, check=False)


def _checked(args: list[str], *, cwd: str | None = None,
             env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=None if env is None else dict(env),
                          capture_output=True, text=True, timeout=INSTALL_BUDGET_S, check=False)
    assert done.returncode == 0, f"{args[:4]} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("installed")
    venv, source = root / "venv", root / "source"
    start = time.perf_counter()
    shutil.copytree(REPO_ROOT, source, ignore=_NOT_SOURCE)
    _checked([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
              str(venv)])
    python = venv / "bin" / "python"
    paths = json.loads(_checked(
        [str(python), "-c", "import json, sysconfig; print(json.dumps(sysconfig.get_paths()))"],
        cwd="/").stdout)
    purelib, bin_dir = Path(paths["purelib"]), Path(paths["scripts"])
    (purelib / "_outer_site_packages.pth").write_text(
        "".join(f"{p}\n" for p in site.getsitepackages()), encoding="utf-8")
    pip_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_"))}
    pip_env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    _checked([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation",
              "--no-index", "--ignore-installed", str(source)], cwd="/", env=pip_env)
    yield Installed(venv, python, bin_dir, purelib, time.perf_counter() - start)


def test_the_install_is_real_fast_and_the_one_the_commands_use(installed: Installed) -> None:
    assert installed.install_s < INSTALL_BUDGET_S
    done = subprocess.run(
        [str(installed.python), "-c",
         "import json, otel, sheratan_ops, sheratan_ops.diag, watcher; "
         "print(json.dumps([m.__file__ for m in (sheratan_ops, sheratan_ops.diag, otel, "
         "watcher)]))"],
        cwd="/", env=installed.env(), capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
        check=False)
    assert done.returncode == 0, done.stderr
    for module_file in json.loads(done.stdout):
        # In the fresh venv, not the checkout, nor the test venv's copy: a non-editable install.
        assert Path(module_file).is_relative_to(installed.purelib), module_file
    for command in COMMANDS:
        script = installed.bin_dir / command
        assert script.is_file()
        assert script.read_text(encoding="utf-8").startswith(f"#!{installed.python}")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_answers_help_from_the_root_folder(installed: Installed,
                                                         command: str) -> None:
    done = installed.run(command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: ")
    if command == "sheratan-watcher":  # the command as invoked, not python -m watcher
        assert done.stdout.startswith(f"usage: {command} ")
    assert "Traceback" not in done.stdout + done.stderr


def test_the_installed_commands_work_against_a_running_hub(installed: Installed,
                                                           tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    out = tmp_path / "out"
    hub = start_hub(home)  # HUB_TOKEN in the hub's environment only: its fingerprint in home
    try:
        urls = ["--control-url", hub.control_url, "--data-url", hub.data_url]
        env = installed.env(SHERATAN_HOME=str(home))
        diagnose = installed.run("sheratan-diagnose", "--out", str(out), *urls, env=env)
        assert diagnose.returncode == 0, diagnose.stderr
        assert "token: known by fingerprint" in diagnose.stderr
        bundle = Path(diagnose.stdout.strip().splitlines()[-1])
        assert bundle.is_file() and bundle.parent == out
        with zipfile.ZipFile(bundle) as archive:
            health = json.loads(archive.read("health/control.json"))
        assert health["health"]["status"] == "ok" and health["health"]["plane"] == "control"

        smoke = installed.run("sheratan-smoke", *urls,
                              env=installed.env(SHERATAN_HOME=str(home), HUB_TOKEN=hub.token))
        assert smoke.returncode == 0, smoke.stdout + smoke.stderr
        assert re.fullmatch(r"\d+ passed, 0 failed, \d+ skipped", smoke.stdout.splitlines()[-1])
        top = installed.run("sheratan-top", "--once", *urls, env=env)
        assert top.returncode == 0, top.stderr
        assert "unreachable" not in top.stdout
        watcher = installed.run("sheratan-watcher", "--once", env=env)
        assert watcher.returncode == 0, watcher.stderr
    finally:
        hub.stop()
    assert hub.token not in diagnose.stdout + diagnose.stderr + smoke.stdout + top.stdout
