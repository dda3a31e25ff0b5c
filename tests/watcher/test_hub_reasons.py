"""A rule grouped by ``reason`` names the hub's own reasons: they are not secrets' names.

``invalid_token`` and ``missing_token`` read like a secret's name, which the watcher's guard
replaces; but the hub writes them itself, and the runbook reads ``invalid_token`` to spot a
rotated token. Any other value that reads like one is still replaced.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from otel._instruments import AUTH_REASONS
from tests.watcher.conftest import CliRunner, Home, burst, read_alerts, write_lines
from watcher import Counters, Engine, parse_rules
from watcher._alert import REDACTED
from watcher._guard import HUB_REASONS, default_value_guard, known_secrets_guard

TOKEN = "correct-horse-battery-staple-blue-moon-4242"
RULES = {"ignore_clients": [], "rules": [
    {"name": "by_reason", "event": "AUTH_FAILURE", "threshold": 2, "window_s": 60,
     "severity": "warning", "group_by": ["reason"]}]}
#: Three lines with each reason, a minute apart: each fires its own group.
REASONS = ("invalid_token", "missing_token", "token=abc123def456", "api_key")
LINES = [line for i, reason in enumerate(REASONS)
         for line in burst(i * 100, 3, reason=reason)]
SHOWN = [{"reason": "invalid_token"}, {"reason": "missing_token"},
         {"reason": REDACTED}, {"reason": REDACTED}]


def test_the_hub_reasons_are_the_ones_the_hub_writes() -> None:
    assert frozenset(AUTH_REASONS) == HUB_REASONS
    context = (Path(__file__).resolve().parents[2] / "baseline_hub" / "context.py").read_text()
    assert all(f'"{reason}"' in context for reason in HUB_REASONS)


@pytest.mark.parametrize("known", [False, True], ids=["default", "knows-the-token"])
def test_the_engine_groups_by_the_hub_reasons_and_still_redacts_others(known: bool) -> None:
    guard = (known_secrets_guard({"HUB_TOKEN": TOKEN}, home=Path("/nonexistent")) if known
             else default_value_guard())
    feeder = Engine(parse_rules(RULES), Counters(), value_guard=guard)
    feeder.feed(LINES)
    firing = [alert.to_dict()["group"] for alert in feeder.take_alerts()
              if alert.state == "firing"]
    assert firing == SHOWN


def test_a_replay_grouped_by_reason_names_invalid_token(run_cli: CliRunner, home: Home,
                                                        tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(
        '{"ignore_clients": [], "rules": [{"name": "by_reason", "event": "AUTH_FAILURE", '
        '"threshold": 2, "window_s": 60, "severity": "warning", "group_by": ["reason"]}]}')
    log, out = tmp_path / "audit.jsonl", tmp_path / "alerts.jsonl"
    write_lines(log, LINES)
    assert run_cli("--replay", str(log), "--alerts", str(out), "--rules", str(rules)).code == 0
    assert [alert["group"] for alert in read_alerts(out) if alert["state"] == "firing"] == SHOWN


@pytest.mark.parametrize("value", sorted(HUB_REASONS))
def test_the_guard_keeps_each_hub_reason(value: str) -> None:
    assert default_value_guard()(value) == value


@pytest.mark.parametrize("value", [
    "token=abc123def456", "api_key", "invalid_token?x", "invalid_token2", "Invalid_Token",
    "session_token", "missing_token " + TOKEN,
])
def test_the_guard_still_redacts_what_only_looks_like_a_reason(value: str) -> None:
    guard = known_secrets_guard({"HUB_TOKEN": TOKEN}, home=Path("/nonexistent"))
    assert guard(value) == REDACTED
