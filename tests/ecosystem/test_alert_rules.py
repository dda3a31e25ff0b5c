"""alert_rules.yml: valid for promtool, and its unit tests pass and cover every rule both ways."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ecosystem.conftest import COLLECTOR_CONFIG

RULES = COLLECTOR_CONFIG / "alert_rules.yml"
RULE_TESTS = COLLECTOR_CONFIG / "alert_rules.test.yml"
WATCHER_RULES = {"auth_failure_burst": "HubAuthFailureBurst",
                 "port_mismatch_burst": "HubPortMismatchBurst"}


def _rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def _promtool(promtool: str, *args: str, cwd: Path = COLLECTOR_CONFIG) -> str:
    result = subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True,
                            timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


@pytest.mark.prometheus
def test_promtool_check_rules_accepts_every_rule(promtool: str) -> None:
    output = _promtool(promtool, "check", "rules", RULES.name)
    assert f"SUCCESS: {len(_rules())} rules found" in output


@pytest.mark.prometheus
def test_promtool_unit_tests_of_the_rules_pass(promtool: str) -> None:
    assert "SUCCESS" in _promtool(promtool, "test", "rules", RULE_TESTS.name)


@pytest.mark.prometheus
def test_promtool_unit_tests_catch_a_changed_threshold(promtool: str, config_copy: Path) -> None:
    # The unit tests are only worth having if a drifting rule breaks them.
    rules = config_copy / RULES.name
    original = rules.read_text()
    drifted = original.replace("hub_auth_failures_total[1m])) > 10",
                               "hub_auth_failures_total[1m])) > 11")
    assert drifted != original
    rules.write_text(drifted)
    result = subprocess.run([promtool, "test", "rules", RULE_TESTS.name], cwd=config_copy,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "HubAuthFailureBurst" in result.stdout + result.stderr


def test_every_rule_has_for_severity_summary_and_description() -> None:
    for rule in _rules():
        assert "for" in rule, rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert rule["annotations"]["description"].strip(), rule["alert"]


def test_every_rule_is_unit_tested_both_firing_and_not_firing() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for group in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for case in group.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    names = {rule["alert"] for rule in _rules()}
    assert names - firing == set(), "rules never tested firing"
    assert names - silent == set(), "rules never tested not firing"
    assert (firing | silent) - names == set(), "tests for rules that do not exist"


def test_the_watcher_default_rules_have_equivalents_with_the_same_thresholds() -> None:
    # CONTRACT section 4: auth_failure_burst > 10 in 60 s, port_mismatch_burst > 5 in 60 s.
    by_name = {rule["alert"]: rule for rule in _rules()}
    expected = {"HubAuthFailureBurst": ("hub_auth_failures_total[1m]", "> 10"),
                "HubPortMismatchBurst": ("hub_port_mismatches_total[1m]", "> 5")}
    for watcher_rule, alert in WATCHER_RULES.items():
        rule = by_name[alert]
        counter, threshold = expected[alert]
        assert f"increase({counter})" in rule["expr"]
        assert rule["expr"].rstrip().endswith(threshold)
        assert rule["labels"]["watcher_rule"] == watcher_rule
        assert "hub-wide" in rule["annotations"]["description"]
