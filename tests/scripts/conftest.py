"""Fixtures for the ops scripts: a real hub process on ephemeral loopback ports, and the
environment that makes a script run in a subprocess use this checkout's code."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import HubProcess, start_hub

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "scripts"


def checkout_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process' environment) with the repository root first on
    ``PYTHONPATH``.

    The scripts under ``scripts/`` import ``sheratan_ops``, ``otel`` and ``watcher`` without
    touching ``sys.path``, so run as ``python scripts/x.py`` they would import whatever copy
    is installed in the venv, which may be stale or absent. Every test that runs a script (or
    the package) in a subprocess passes its environment through here, so it tests this
    checkout's code. Shared by tests/diagnose, tests/top and tests/scripts.
    """
    out = dict(os.environ if env is None else env)
    rest = [p for p in out.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(REPO_ROOT)]
    out["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *rest])
    return out


def clean_env(**extra: str) -> dict[str, str]:
    """The test process' environment without any hub or OTel setting, plus ``extra``, with
    this checkout first on ``PYTHONPATH``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HUB_", "OTEL_")) and k != "SHERATAN_HOME"}
    env.update(extra)
    return checkout_env(env)


def load_script(name: str) -> ModuleType:
    """Import ``scripts/<name>.py`` (the scripts folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"_script_{name}", SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


#: A real hub with a generated token file, as an operator runs it (tests/conftest.py).
RunningHub = HubProcess


@pytest.fixture
def running_hub(tmp_path: Path) -> Iterator[RunningHub]:
    """``python -m baseline_hub`` with a generated token (the file under its home)."""
    home = tmp_path / "home"
    home.mkdir()
    hub = start_hub(home, token=None)
    try:
        yield hub
    finally:
        hub.stop()
