"""Shared helpers for the ecosystem tests: the Prometheus binaries and the collector-config folder.

The Prometheus tests may skip on a developer machine without Debian's ``prometheus`` package,
but with ``CI=true`` a missing binary fails the run loudly: CI must never pass by skipping them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO

COLLECTOR_CONFIG = REPO / "collector-config"


def require_binary(name: str) -> str:
    """Return the path of ``name`` (promtool or prometheus); skip without it, fail under CI."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is missing, and CI=true requires the Prometheus tests to run "
                        "(apt-get install prometheus)", pytrace=False)
        pytest.skip(f"{name} not installed (apt-get install prometheus)")
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    return require_binary("promtool")


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    return require_binary("prometheus")


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    """A private copy of collector-config/ that a test may rewrite."""
    target = tmp_path / "collector-config"
    shutil.copytree(COLLECTOR_CONFIG, target)
    return target
