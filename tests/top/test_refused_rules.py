"""A home whose rules file the watcher refuses: the hub's ``--watcher`` shows it as refused,
and ``hub_top`` still runs to show that, with the rules problem and the packaged limits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sheratan_home import HomeLayout
from tests.conftest import REPO, start_hub
from tests.otlp_receiver import wait_for
from tests.scripts.conftest import checkout_env


def _supervisor_state(home: Path) -> object:
    try:
        return json.loads(HomeLayout(home).supervisor_status.read_text("utf-8")).get("state")
    except (OSError, ValueError):
        return None


@pytest.mark.e2e
def test_hub_top_shows_the_watcher_refused_over_the_homes_invalid_rules(
        hub_home: Path) -> None:
    rules = HomeLayout(hub_home).alert_rules
    rules.parent.mkdir(parents=True)
    rules.write_text('{"rules": [{"name": "x"}]}', encoding="utf-8")
    hub = start_hub(hub_home, args=("--watcher",))
    try:
        assert wait_for(lambda: _supervisor_state(hub_home) == "refused", 20), \
            "".join(hub.output)
        top = subprocess.run(
            [sys.executable, "scripts/hub_top.py", "--once",
             "--control-url", hub.control_url, "--data-url", hub.data_url],
            cwd=REPO, capture_output=True, text=True, encoding="utf-8", timeout=60,
            check=False,
            env=checkout_env({**{k: v for k, v in os.environ.items()
                                 if not k.startswith("HUB_")},
                              "SHERATAN_HOME": str(hub_home), "COLUMNS": "400"}))
    finally:
        assert hub.stop() == 0
    assert top.returncode == 0, top.stderr
    assert "the watcher refused its configuration (exit 2)" in top.stdout
    assert (f"rules {rules} invalid (rules[0].event: is required); limits: packaged defaults"
            in top.stdout)
    assert "limit 10" in top.stdout and "limit 5" in top.stdout  # the packaged limits
