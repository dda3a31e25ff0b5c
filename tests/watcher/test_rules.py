"""Rules: the packaged defaults, validation naming the field, and client ignore lists."""

from __future__ import annotations

import ipaddress
import os
import pkgutil
from pathlib import Path

import orjson
import pytest

from tests.watcher.conftest import CliRunner, Home
from watcher import (
    ClientFilter,
    Rule,
    RulesError,
    active_rules_path,
    default_rules,
    load_rules,
    parse_rules,
)
from watcher._rules import MAX_RULES_FILE_BYTES

CONTRACT_DEFAULTS = {
    "ignore_clients": ["127.0.0.1", "::1"],
    "rules": [
        {"name": "auth_failure_burst", "event": "AUTH_FAILURE", "threshold": 10,
         "window_s": 60, "severity": "warning"},
        {"name": "port_mismatch_burst", "event": "PORT_MISMATCH", "threshold": 5,
         "window_s": 60, "severity": "warning", "group_by": ["client"],
         "repeat_after_s": 300},
    ],
}


def test_packaged_defaults_are_exactly_the_contract_rules() -> None:
    assert default_rules() == parse_rules(CONTRACT_DEFAULTS)
    rules = default_rules()
    assert [r.name for r in rules.rules] == ["auth_failure_burst", "port_mismatch_burst"]
    assert rules.rules[0].repeat_after_s == 300
    assert rules.rules[1].group_by == ("client",)


def test_packaged_defaults_a_loader_cannot_read_are_a_rules_error(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[str, str]] = []

    def no_data(package: str, resource: str) -> bytes | None:
        asked.append((package, resource))
        return None

    monkeypatch.setattr(pkgutil, "get_data", no_data)
    with pytest.raises(RulesError, match=r"default_rules\.json: the packaged defaults cannot"):
        default_rules()
    assert asked == [("watcher", "default_rules.json")]


def _rule(**changes: object) -> dict[str, object]:
    rule: dict[str, object] = {"name": "r", "event": "AUTH_FAILURE", "threshold": 3,
                               "window_s": 10, "severity": "warning"}
    rule.update(changes)
    return rule


def _with_rule(**changes: object) -> dict[str, object]:
    return {"rules": [_rule(**changes)]}


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (_with_rule(threshold="ten"), "rules[0].threshold"),
        (_with_rule(threshold=-1), "rules[0].threshold"),
        (_with_rule(threshold=True), "rules[0].threshold"),
        (_with_rule(window_s=0), "rules[0].window_s"),
        (_with_rule(window_s="60"), "rules[0].window_s"),
        (_with_rule(severity="loud"), "rules[0].severity"),
        (_with_rule(group_by=["token"]), "rules[0].group_by[0]"),
        (_with_rule(group_by="client"), "rules[0].group_by"),
        (_with_rule(repeat_after_s=0), "rules[0].repeat_after_s"),
        (_with_rule(ignore_clients=["10.0.0.0/33"]), "rules[0].ignore_clients[0]"),
        (_with_rule(treshold=3), "rules[0].treshold"),
        (_with_rule(name=""), "rules[0].name"),
        (_with_rule(event=""), "rules[0].event"),
        ({"rules": [{"name": "r"}]}, "rules[0].event"),
        ({"rules": "all"}, "rules"),
        ({}, "rules"),
        ({"rules": [], "ignore_clients": ["localhost"]}, "ignore_clients[0]"),
        ({"rules": [], "extra": 1}, "extra"),
        ({"rules": [_rule(), _rule()]}, "rules[1].name"),
    ],
)
def test_invalid_rules_name_the_field(document: object, field: str) -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules(document)
    assert caught.value.field == field
    assert str(caught.value).startswith(field)


def test_check_rules_accepts_a_valid_file(run_cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_bytes(orjson.dumps(CONTRACT_DEFAULTS))
    result = run_cli("--check-rules", str(path))
    assert result.code == 0
    assert "OK" in result.out


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (orjson.dumps(_with_rule(window_s=-5)), "rules[0].window_s"),
        (orjson.dumps(_with_rule(group_by=["authorization"])), "rules[0].group_by[0]"),
        (b"{not json", "rules.json"),
        (b'{"rules": [], "x": "\xff"}', "rules.json"),  # not UTF-8
        (b"[" * 100_000 + b"]" * 100_000, "rules.json"),  # nested past any recursion limit
        (b'{"rules": [' + b"9" * 5000 + b"]}", "rules.json"),  # a number Python cannot hold
        (orjson.dumps(_with_rule(window_s=0)).replace(b'"window_s":0', b'"window_s":'
                                                      + b"9" * 400),
         "rules[0].window_s"),  # an int, but too big for a float
        (orjson.dumps(_with_rule(threshold=0)).replace(b'"threshold":0', b'"threshold":'
                                                       + b"9" * 400),
         "rules[0].threshold"),
    ],
)
def test_check_rules_rejects_with_exit_2_naming_the_field(
    run_cli: CliRunner, tmp_path: Path, content: bytes, field: str
) -> None:
    path = tmp_path / "rules.json"
    path.write_bytes(content)
    result = run_cli("--check-rules", str(path))
    assert result.code == 2
    assert field in result.err
    assert "Traceback" not in result.err


def test_check_rules_on_a_missing_file_exits_2(run_cli: CliRunner, tmp_path: Path) -> None:
    result = run_cli("--check-rules", str(tmp_path / "absent.json"))
    assert result.code == 2
    assert "absent.json" in result.err


def test_watch_mode_with_bad_rules_exits_2(run_cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_bytes(orjson.dumps(_with_rule(threshold=1.5)))
    result = run_cli("--once", "--rules", str(path))
    assert result.code == 2
    assert "rules[0].threshold" in result.err


@pytest.mark.parametrize(
    ("client", "ignored"),
    [("127.0.0.1", True), ("::1", True), ("::ffff:127.0.0.1", True), ("10.1.2.3", True),
     ("10.2.0.1", False), ("192.168.0.1", False), ("not-an-ip", False), (None, False),
     (["127.0.0.1"], False)],
)
def test_client_filter_matches_ips_and_cidrs(client: object, ignored: bool) -> None:
    networks = [ipaddress.ip_network(spec) for spec in ("127.0.0.1", "::1", "10.1.0.0/16")]
    assert ClientFilter(networks).matches(client) is ignored


def test_rule_ignore_list_adds_to_the_global_one() -> None:
    rules = parse_rules({"ignore_clients": ["127.0.0.1"], "rules": [
        {"name": "r", "event": "AUTH_FAILURE", "threshold": 1, "window_s": 5,
         "severity": "info", "ignore_clients": ["192.168.0.0/24"]}]})
    client_filter = rules.client_filter(rules.rules[0])
    assert client_filter.matches("127.0.0.1")
    assert client_filter.matches("192.168.0.77")
    assert not client_filter.matches("10.0.0.1")


def test_rule_digest_changes_with_its_semantics() -> None:
    base = Rule(name="r", event="E", threshold=1, window_s=5, severity="info")
    changed = Rule(name="r", event="E", threshold=2, window_s=5, severity="info")
    assert base.digest != changed.digest
    assert base.digest == Rule(name="r", event="E", threshold=1, window_s=5,
                               severity="info").digest


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"window_s": 1e-9}, "rules[0].window_s", "must be between 1 and 604800 seconds"),
        ({"window_s": 0.5}, "rules[0].window_s", "must be between 1 and 604800 seconds"),
        ({"window_s": 7 * 86_400 + 1}, "rules[0].window_s", "must be between 1 and 604800 seconds"),
        ({"repeat_after_s": 1e-9}, "rules[0].repeat_after_s",
         "must be between 1 and 2592000 seconds"),
        ({"repeat_after_s": 0.999}, "rules[0].repeat_after_s", "must be between 1 and 2592000"),
        ({"repeat_after_s": 30 * 86_400 + 1}, "rules[0].repeat_after_s", "must be between 1 and"),
        ({"threshold": 1e20}, "rules[0].threshold", "must be an integer between 0 and"),
        ({"threshold": 10.0}, "rules[0].threshold", "must be an integer"),
        ({"threshold": 10**9 + 1}, "rules[0].threshold",
         "must be an integer between 0 and 1000000000"),
    ],
)
def test_check_rules_rejects_degenerate_timings_and_thresholds(
    run_cli: CliRunner, tmp_path: Path, change: dict[str, object], field: str, says: str
) -> None:
    path = tmp_path / "rules.json"
    path.write_bytes(orjson.dumps(_with_rule(**change)))
    result = run_cli("--check-rules", str(path))
    assert result.code == 2
    assert f"{field}: {says}" in result.err
    assert "Traceback" not in result.err


def test_the_bounds_themselves_are_valid() -> None:
    rules = parse_rules({"rules": [
        {"name": "lo", "event": "E", "threshold": 0, "window_s": 1, "severity": "info",
         "repeat_after_s": 1},
        {"name": "hi", "event": "E", "threshold": 10**9, "window_s": 7 * 86_400,
         "severity": "info", "repeat_after_s": 30 * 86_400},
    ]})
    assert [r.name for r in rules.rules] == ["lo", "hi"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and devices need POSIX")
@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_a_rules_path_that_is_no_regular_file_is_refused_at_once(tmp_path: Path,
                                                                 kind: str) -> None:
    path = tmp_path / "alert_rules.json"
    if kind == "fifo":
        os.mkfifo(path)  # no writer: a plain read would wait forever
    elif kind == "device":
        path = Path("/dev/zero")  # endless: a plain read would fill the memory
    else:
        path.mkdir()
    with pytest.raises(RulesError, match="not a regular file"):
        load_rules(path)


def test_a_rules_file_larger_than_the_bound_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "alert_rules.json"
    path.write_bytes(b" " * (MAX_RULES_FILE_BYTES + 1))
    with pytest.raises(RulesError, match=f"larger than {MAX_RULES_FILE_BYTES} bytes"):
        load_rules(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs need POSIX")
def test_anything_named_like_the_homes_rules_file_is_used_so_a_fifo_is_refused_not_passed_over(
        home: Home, run_cli: CliRunner) -> None:
    rules = home.root / "configs" / "alert_rules.json"
    rules.parent.mkdir()
    assert active_rules_path(None, home.root) is None  # nothing there: the packaged rules
    os.mkfifo(rules)
    assert active_rules_path(None, home.root) == rules
    result = run_cli("--once")
    assert result.code == 2
    assert f"invalid rules: {rules}: cannot read: alert_rules.json is a FIFO, not a regular " \
           "file; not read" in result.err
