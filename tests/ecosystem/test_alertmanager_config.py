"""alertmanager.yml and the alerting block of prometheus.yml: valid for amtool and promtool,
and wired to the alerts that really exist (the Prometheus rules, the watcher's rules)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ecosystem.conftest import COLLECTOR_CONFIG
from watcher import default_rules

pytestmark = pytest.mark.prometheus

ALERTMANAGER = COLLECTOR_CONFIG / "alertmanager.yml"


def _run(*args: str, cwd: Path = COLLECTOR_CONFIG) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=60)


def _config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ALERTMANAGER.read_text())
    return loaded


def _matcher_value(matchers: list[str], label: str) -> str | None:
    for matcher in matchers:
        name, _, value = matcher.partition("=")
        if name == label:
            return value.strip('"')
    return None


def test_amtool_check_config_accepts_the_shipped_file(amtool: str) -> None:
    result = _run(amtool, "check-config", ALERTMANAGER.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert f"{len(_config()['inhibit_rules'])} inhibit rules" in result.stdout


def test_amtool_check_config_rejects_a_broken_copy(amtool: str, config_copy: Path) -> None:
    path = config_copy / ALERTMANAGER.name
    path.write_text(path.read_text().replace("receiver: hub-oncall", "receiver: nobody", 1))
    result = _run(amtool, "check-config", path.name, cwd=config_copy)
    assert result.returncode != 0
    assert "nobody" in result.stdout + result.stderr


def test_promtool_check_config_accepts_the_shipped_prometheus_yml(promtool: str) -> None:
    result = _run(promtool, "check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_sends_its_alerts_to_the_alertmanager_of_the_example() -> None:
    prometheus = yaml.safe_load((COLLECTOR_CONFIG / "prometheus.yml").read_text())
    [manager] = prometheus["alerting"]["alertmanagers"]
    [static] = manager["static_configs"]
    assert static["targets"] == ["127.0.0.1:9093"]  # Alertmanager's default listen port


def test_alerts_are_grouped_by_name_and_hub_and_sent_to_the_webhook_with_resolves() -> None:
    config = _config()
    assert config["route"]["group_by"] == ["alertname", "instance"]
    [receiver] = [r for r in config["receivers"] if r["name"] == config["route"]["receiver"]]
    assert all(hook["send_resolved"] for hook in receiver["webhook_configs"])


def test_a_watcher_alert_and_a_prometheus_alert_route_to_the_oncall_receiver(amtool: str
                                                                             ) -> None:
    for labels in (["alertname=auth_failure_burst", "source=sheratan-watcher",
                    "severity=warning", "instance=127.0.0.1:8787"],
                   ["alertname=HubNodeDead", "severity=critical", "instance=127.0.0.1:8787"]):
        result = _run(amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER.name}",
                      "--verify.receivers=hub-oncall", *labels)
        assert result.returncode == 0, result.stdout + result.stderr


def test_each_inhibition_pairs_a_prometheus_rule_with_a_watcher_rule_on_one_hub() -> None:
    prometheus_alerts = {
        rule["alert"]: rule
        for group in yaml.safe_load((COLLECTOR_CONFIG / "alert_rules.yml").read_text())["groups"]
        for rule in group["rules"]}
    watcher_rules = {rule.name for rule in default_rules().rules}
    pairs = []
    for inhibition in _config()["inhibit_rules"]:
        assert inhibition["equal"] == ["instance"]  # never across hubs
        target_source = _matcher_value(inhibition["target_matchers"], "source")
        source = _matcher_value(inhibition["source_matchers"], "alertname")
        if target_source != "sheratan-watcher":
            continue
        target = _matcher_value(inhibition["target_matchers"], "alertname")
        assert source in prometheus_alerts and target in watcher_rules
        # The Prometheus rule says which watcher rule it mirrors.
        assert prometheus_alerts[source]["labels"]["watcher_rule"] == target
        # Only the per-client alerts are held back: a hub-wide watcher alert always arrives.
        assert 'client=~".+"' in inhibition["target_matchers"]
        pairs.append(target)
    assert sorted(pairs) == sorted(watcher_rules)
