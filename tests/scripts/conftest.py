"""Fixtures for the ops scripts: a real hub process on ephemeral loopback ports."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "scripts"
HUB_START_TIMEOUT_S = 20.0
HUB_STOP_TIMEOUT_S = 10.0
_BANNER_URL = re.compile(r"^\s+(control|data) plane\s+(http://\S+)\s*$", re.MULTILINE)


def clean_env(**extra: str) -> dict[str, str]:
    """The test process' environment without any hub or OTel setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HUB_", "OTEL_")) and k != "SHERATAN_HOME"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def load_script(name: str) -> ModuleType:
    """Import ``scripts/<name>.py`` (the scripts folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"_script_{name}", SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class RunningHub:
    home: Path
    control_url: str
    data_url: str

    @property
    def token(self) -> str:
        return (self.home / "secrets" / "hub_token").read_text(encoding="utf-8").strip()

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def running_hub(tmp_path: Path) -> Iterator[RunningHub]:
    """``python -m baseline_hub`` with a generated token (the file under its home)."""
    home = tmp_path / "home"
    out = tmp_path / "hub.out"
    env = clean_env(SHERATAN_HOME=str(home), HUB_CONTROL_PORT="0", HUB_DATA_PORT="0",
                    PYTHONUNBUFFERED="1")
    with out.open("wb") as sink:  # a file, not a pipe: nothing needs to drain it
        proc = subprocess.Popen([sys.executable, "-m", "baseline_hub"], cwd=tmp_path, env=env,
                                stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + HUB_START_TIMEOUT_S
        urls: dict[str, str] = {}
        while len(urls) < 2:
            text = out.read_text(encoding="utf-8", errors="replace")
            urls = dict(_BANNER_URL.findall(text))
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the hub did not start (exit {proc.poll()}):\n{text}")
            time.sleep(0.05)
        yield RunningHub(home, urls["control"], urls["data"])
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=HUB_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait(timeout=HUB_STOP_TIMEOUT_S)
