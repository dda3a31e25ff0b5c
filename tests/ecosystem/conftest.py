"""Shared helpers for the ecosystem tests: the Prometheus and Alertmanager binaries and the
collector-config folder.

The binaries come from ``tests.conftest.require_binary``: skipped on a developer machine
without Debian's ``prometheus`` or ``prometheus-alertmanager`` package, a loud failure under
``CI=true``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, require_binary

COLLECTOR_CONFIG = REPO / "collector-config"




@pytest.fixture(scope="session")
def promtool() -> str:
    return require_binary("promtool")


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    return require_binary("prometheus")


@pytest.fixture(scope="session")
def amtool() -> str:
    return require_binary("amtool", "prometheus-alertmanager")


@pytest.fixture(scope="session")
def alertmanager_bin() -> str:
    return require_binary("prometheus-alertmanager", "prometheus-alertmanager")


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    """A private copy of collector-config/ that a test may rewrite."""
    target = tmp_path / "collector-config"
    shutil.copytree(COLLECTOR_CONFIG, target)
    return target
