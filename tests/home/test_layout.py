"""The home layout: one table of every file below ``SHERATAN_HOME``, shared by every tool."""

from __future__ import annotations

from pathlib import Path

import pytest

from baseline_hub import HubConfig, HubPaths
from sheratan_home import DEFAULT_HOME, HomeLayout, layout
from sheratan_ops.diag.config import DiagPaths
from watcher import WatchPaths, parse_config

#: CONTRACT sections 2, 4 and 6, and the files the tools agree on.
EXPECTED = {
    "logs_dir": "logs", "state_dir": "state", "secrets_dir": "secrets",
    "configs_dir": "configs", "db": "state/hub.db", "lock_file": "state/hub.lock",
    "token_file": "secrets/hub_token",
    "token_fingerprint": "state/hub_token.fingerprint.json",
    "control_log": "logs/hub_control.log", "data_log": "logs/hub_data.log",
    "audit_log": "logs/hub_security_audit.jsonl",
    "supervisor_status": "state/watcher_supervisor.json", "alerts": "logs/alerts.jsonl",
    "watcher_status": "state/watcher_status.json",
    "watcher_checkpoint": "state/watcher_checkpoint.json",
    "watcher_lock": "state/watcher.lock", "alert_rules": "configs/alert_rules.json",
    "audit_format": "configs/audit_format.json",
}


@pytest.mark.parametrize(("name", "below"), sorted(EXPECTED.items()))
def test_every_path_is_below_the_home_where_the_contract_puts_it(name: str, below: str) -> None:
    home = Path("/srv/hub")
    assert getattr(HomeLayout(home), name) == home / below


def test_the_default_home_is_dot_sheratan() -> None:
    assert Path(".sheratan") == DEFAULT_HOME
    assert HubConfig().home == DEFAULT_HOME


def test_the_hub_watcher_and_diagnose_share_the_table(tmp_path: Path) -> None:
    shared = HomeLayout(tmp_path)
    hub = HubPaths(tmp_path)
    for name in EXPECTED:
        assert getattr(hub, name) == getattr(shared, name), name
    config = parse_config(["--once", "--home", str(tmp_path)], {})
    assert (config.log_path, config.alerts_path) == (shared.audit_log, shared.alerts)
    paths = WatchPaths(log=config.log_path, alerts=config.alerts_path,
                       state_dir=config.state_dir)
    assert paths.checkpoint == shared.watcher_checkpoint
    diag = DiagPaths(tmp_path)
    assert set(diag.logs.values()) == {shared.control_log, shared.data_log, shared.audit_log,
                                       shared.alerts}
    assert diag.db == shared.db and diag.watcher_status == shared.watcher_status


def test_the_relative_constants_join_to_the_same_paths() -> None:
    home = Path("h")
    assert home / layout.TOKEN_FILE == HomeLayout(home).token_file
    assert home / layout.FINGERPRINT_FILE == HomeLayout(home).token_fingerprint
    assert all(not path.is_absolute() for path in
               (layout.TOKEN_FILE, layout.AUDIT_LOG, layout.WATCHER_LOCK_FILE))


def test_problem_names_a_missing_home_or_a_file_in_its_place(tmp_path: Path) -> None:
    assert HomeLayout(tmp_path).problem() is None
    missing = tmp_path / "nowhere"
    assert HomeLayout(missing).problem() == f"the home {missing} does not exist"
    assert not missing.exists()  # looking creates nothing
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert HomeLayout(a_file).problem() == f"the home {a_file} is not a folder"


def test_a_relative_home_is_named_by_its_absolute_path(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert HomeLayout(DEFAULT_HOME).problem() == (
        f"the home {tmp_path / '.sheratan'} does not exist")
