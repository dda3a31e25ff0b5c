"""The event-time engine: firing, grouping, ignoring, resolving, repeating, garbage."""

from __future__ import annotations

import json
from datetime import timedelta

import orjson
import pytest

from tests.watcher.conftest import audit, burst, ts
from watcher import Counters, Engine, Rule, RuleSet, default_rules, parse_rules
from watcher._engine import DEFAULT_MAX_GROUPS_PER_RULE, SWEEP_EVERY_WINDOWS
from watcher._groups import RuleState


def evaluate(lines: list[bytes], rules: RuleSet | None = None,
             counters: Counters | None = None) -> list[dict[str, object]]:
    engine = Engine(rules or default_rules(), counters or Counters())
    engine.feed(lines)
    return [alert.to_dict() for alert in engine.take_alerts()]


def evaluate_in_parts(parts: list[list[bytes]], rules: RuleSet | None = None, *,
                      max_groups_per_rule: int = DEFAULT_MAX_GROUPS_PER_RULE,
                      ) -> tuple[list[dict[str, object]], int]:
    """Feeds each part to a fresh engine restored from the one before's snapshot (through
    JSON), as a watcher restarted between the parts would. Returns the alerts and the number
    of groups dropped."""
    alerts: list[dict[str, object]] = []
    snapshot: object = None
    dropped = 0
    for part in parts:
        counters = Counters()
        engine = Engine(rules or default_rules(), counters,
                        max_groups_per_rule=max_groups_per_rule)
        if snapshot is not None:
            assert engine.restore(orjson.loads(orjson.dumps(snapshot))) == []
        engine.feed(part)
        alerts += [a.to_dict() for a in engine.take_alerts()]
        snapshot, dropped = engine.snapshot(), dropped + counters.groups_dropped
    return alerts, dropped


def firing(alerts: list[dict[str, object]]) -> list[dict[str, object]]:
    return [a for a in alerts if a["state"] == "firing"]


def test_a_burst_over_the_threshold_fires_once_with_the_contract_fields() -> None:
    alerts = evaluate(burst(0, 11))
    assert len(alerts) == 1
    alert = alerts[0]
    assert set(alert) >= {"ts", "alert_id", "rule", "event", "state", "severity", "count",
                          "threshold", "window_s", "group", "first_seen", "last_seen"}
    assert alert["rule"] == "auth_failure_burst"
    assert alert["event"] == "AUTH_FAILURE"
    assert alert["state"] == "firing"
    assert alert["severity"] == "warning"
    assert alert["count"] == 11
    assert alert["threshold"] == 10
    assert alert["window_s"] == 60
    assert alert["group"] == {}
    assert alert["ts"] == ts(10)
    assert alert["first_seen"] == ts(0)
    assert alert["last_seen"] == ts(10)


def test_exactly_the_threshold_does_not_fire() -> None:
    assert evaluate(burst(0, 10)) == []


def test_events_outside_the_window_do_not_count() -> None:
    assert evaluate(burst(0, 20, step_s=7)) == []  # never more than 9 within 60 s


@pytest.mark.parametrize("client", ["127.0.0.1", "::1"])
def test_loopback_bursts_are_ignored_by_default(client: str) -> None:
    assert evaluate(burst(0, 50, client=client)) == []
    assert evaluate(burst(0, 50, client=client, event="PORT_MISMATCH")) == []


def test_port_mismatches_are_grouped_per_client() -> None:
    lines = []
    for i in range(8):
        lines.append(audit(i, "PORT_MISMATCH", "10.0.0.1"))
        lines.append(audit(i + 0.5, "PORT_MISMATCH", "10.0.0.2"))
        if i < 5:
            lines.append(audit(i + 0.7, "PORT_MISMATCH", "10.0.0.3"))  # 5: not over
    alerts = evaluate(lines)
    assert [(a["group"], a["count"]) for a in alerts] == [
        ({"client": "10.0.0.1"}, 6), ({"client": "10.0.0.2"}, 6)]
    assert alerts[0]["alert_id"] != alerts[1]["alert_id"]


def test_a_global_rule_counts_all_clients_together() -> None:
    lines = [audit(i, client=f"10.0.0.{i}") for i in range(11)]
    assert [a["count"] for a in evaluate(lines)] == [11]


def test_resolves_when_the_window_count_is_back_at_the_threshold() -> None:
    # 11 events at 0..10 s; the first expires at 60 s, so at 60 s the count is 10.
    alerts = evaluate([*burst(0, 11), audit(100, "LEAK_BLOCKED")])
    assert [a["state"] for a in alerts] == ["firing", "resolved"]
    resolved = alerts[1]
    assert resolved["ts"] == ts(60)
    assert resolved["count"] == 10
    assert resolved["alert_id"] == alerts[0]["alert_id"]
    assert resolved["first_seen"] == ts(0)
    assert resolved["last_seen"] == ts(10)


def test_no_resolve_without_later_event_time() -> None:
    assert [a["state"] for a in evaluate(burst(0, 11))] == ["firing"]


def test_a_continuing_burst_repeats_after_repeat_after_s_with_the_same_id() -> None:
    lines = burst(0, 400, event="PORT_MISMATCH", client="10.9.9.9")  # 1/s for 400 s
    alerts = evaluate(lines)
    assert [a["state"] for a in alerts] == ["firing", "firing"]
    first, repeat = alerts
    assert first["ts"] == ts(5)
    assert repeat["ts"] == ts(305)
    assert repeat["alert_id"] == first["alert_id"]
    assert repeat["count"] == 60


def test_a_new_episode_gets_a_new_id_and_the_same_log_the_same_ids() -> None:
    lines = [*burst(0, 11), *burst(200, 11), audit(400, "LEAK_BLOCKED")]
    alerts = evaluate(lines)
    ids = [a["alert_id"] for a in firing(alerts)]
    assert len(ids) == 2
    assert ids[0] != ids[1]
    assert evaluate(lines) == alerts


def test_late_events_inside_the_window_count_and_older_ones_are_dropped() -> None:
    counters = Counters()
    lines = [audit(100, "LEAK_BLOCKED"), *burst(50, 11), audit(10)]
    alerts = evaluate(lines, counters=counters)
    assert [a["count"] for a in alerts] == [11]
    assert alerts[0]["ts"] == ts(100)  # noticed at the clock, not at the late event
    assert counters.late_events == 1


def test_unknown_events_and_fields_are_ignored() -> None:
    lines = [audit(i, extra_field={"nested": [1, 2]}) for i in range(11)]
    lines.insert(3, audit(3.5, "SOMETHING_NEW"))
    assert [a["count"] for a in evaluate(lines)] == [11]


def test_garbage_is_counted_and_the_real_alerts_are_still_found() -> None:
    garbage = [
        b"\x00\x01\x02\xff\xfe binary",
        b'{"ts": "2025-01-01T00:00:01Z", "event": ',  # malformed JSON
        b"[1, 2, 3]",  # JSON, not an object
        b'"just a string"',
        b"42",
        b'{"event": "AUTH_FAILURE", "client": "10.0.0.7"}',  # no ts
        b'{"ts": "' + ts(2).encode() + b'"}',  # no event
        b'{"ts": "yesterday", "event": "AUTH_FAILURE"}',
        b'{"ts": 12345, "event": "AUTH_FAILURE"}',
        b'{"ts": "' + ts(2).encode() + b'", "event": "AUTH_FAILURE", "client": "\xe9t\xe9"}',
        b"",  # blank lines are not errors
        b"   ",
    ]
    lines: list[bytes] = []
    for index, line in enumerate(burst(0, 11)):
        lines.append(line)
        lines.append(garbage[index % len(garbage)])
    counters = Counters()
    alerts = evaluate(lines, counters=counters)
    assert [a["count"] for a in alerts] == [11]
    assert counters.parse_errors == 6  # binary, malformed, array, string, number, non-UTF-8
    assert counters.invalid_events == 4
    assert counters.lines_read == len(lines)


PLANTED = "s3cr3t-TOKEN-value-0123456789"


@pytest.mark.parametrize("client", [10**30, -(10**30), 2**63, 10**4000],
                         ids=["1e30", "-1e30", "2^63", "1e4000"])
def test_a_group_value_beyond_64_bits_becomes_null_instead_of_a_crash(client: int) -> None:
    # json.dumps writes what orjson refuses: integers of any size. msgspec reads them back.
    lines = [json.dumps({"ts": ts(i), "event": "PORT_MISMATCH", "client": client}).encode()
             for i in range(6)]
    lines += burst(10, 11)
    engine = Engine(default_rules(), Counters())
    engine.feed(lines)
    alerts = engine.take_alerts()
    assert [(a.rule, a.group) for a in alerts] == [
        ("port_mismatch_burst", (("client", None),)), ("auth_failure_burst", ())]
    assert all(orjson.loads(a.to_line()) for a in alerts)
    orjson.dumps(engine.snapshot())  # the checkpoint holds the group key too


def _year_one(second: int) -> bytes:
    """An AUTH_FAILURE line stamped before 0001-01-01T00:00Z, the first instant UTC can hold."""
    return orjson.dumps({"ts": f"0001-01-01T00:00:{second:02d}.000000+23:59",
                         "event": "AUTH_FAILURE", "client": "10.0.0.7"})


def test_lines_before_the_first_printable_time_are_invalid_not_a_crash() -> None:
    counters = Counters()
    engine = Engine(default_rules(), counters)
    engine.feed([_year_one(i) for i in range(11)])  # would fire, at a time nothing can print
    assert engine.take_alerts() == [] and engine.clock_us is None
    assert counters.invalid_events == 11
    engine.feed([*burst(0, 11), *(_year_one(i) for i in range(11))])  # now they are late
    assert [a.to_dict()["count"] for a in engine.take_alerts()] == [11]
    assert (counters.invalid_events, counters.late_events) == (11, 11)


def test_planted_tokens_never_reach_an_alert() -> None:
    rules = parse_rules({"ignore_clients": [], "rules": [
        {"name": "by_everything", "event": "AUTH_FAILURE", "threshold": 2, "window_s": 60,
         "severity": "warning", "group_by": ["client", "path", "reason", "method"]}]})
    lines = [
        audit(i, path=f"/nodes?token={PLANTED}", token=PLANTED,
              authorization=f"Bearer {PLANTED}", reason=f"Bearer {PLANTED}",
              method=f"token={PLANTED}", headers={"Authorization": PLANTED})
        for i in range(5)
    ]
    alerts = evaluate(lines, rules)
    assert alerts
    text = orjson.dumps(alerts).decode()
    assert PLANTED not in text
    assert "token=" not in text
    assert alerts[0]["group"] == {"client": "10.0.0.7", "path": "/nodes",
                                  "reason": "[redacted]", "method": "[redacted]"}


def test_idle_groups_are_evicted_so_memory_stays_bounded() -> None:
    counters = Counters()
    engine = Engine(default_rules(), counters, max_groups_per_rule=50)
    engine.feed([audit(i * 0.01, "PORT_MISMATCH", f"10.1.{i // 250}.{i % 250}")
                 for i in range(1000)])
    assert counters.groups_dropped > 0
    assert len(_snapshot_groups(engine, "port_mismatch_burst")) <= 50
    engine.feed([audit(500, "LEAK_BLOCKED")])  # a window later, everything is idle
    assert _snapshot_groups(engine, "port_mismatch_burst") == []


def _snapshot_groups(engine: Engine, rule: str) -> list[object]:
    """The groups of ``rule`` in the engine's snapshot."""
    rules = engine.snapshot()["rules"]
    assert isinstance(rules, dict)
    groups = rules[rule]["groups"]
    assert isinstance(groups, list)
    return groups


def test_idle_groups_leave_memory_without_pressure_within_a_few_windows() -> None:
    engine = Engine(default_rules(), Counters())
    engine.feed([audit(i, "PORT_MISMATCH", f"10.1.0.{i}") for i in range(100)])
    groups = engine._states[1].groups
    assert len(groups) == 100
    window_s = 60
    engine.feed([audit(100 + window_s, "LEAK_BLOCKED")])
    assert len(groups) == 100  # the sweep comes every few windows, not every line
    engine.feed([audit(100 + (SWEEP_EVERY_WINDOWS + 1) * window_s, "LEAK_BLOCKED")])
    assert len(groups) == 0


def test_at_the_group_bound_a_restored_engine_drops_the_same_group_as_a_running_one() -> None:
    # 10.9.9.1 goes idle, is left out of the checkpoint, and comes back bursting just before
    # the bound is reached. Dropping by creation order would drop it in the running engine
    # (where it is old) and not in the restored one (where it is new).
    first = [audit(0, "PORT_MISMATCH", "10.9.9.1"), audit(90, "PORT_MISMATCH", "10.9.9.2"),
             audit(100, "PORT_MISMATCH", "10.9.9.3")]
    second = [audit(110 + i * 0.1, "PORT_MISMATCH", "10.9.9.1") for i in range(5)]
    second += [audit(115 + i * 0.01, "PORT_MISMATCH", f"172.16.0.{i}") for i in range(18)]
    second.append(audit(121, "PORT_MISMATCH", "10.9.9.1"))

    whole = evaluate_in_parts([first + second], max_groups_per_rule=20)
    assert whole == evaluate_in_parts([first, second], max_groups_per_rule=20)
    alerts, dropped = whole
    assert dropped == 2  # a tenth of the bound: 10.9.9.2 and .3, the least recently active
    assert [a["group"] for a in alerts] == [{"client": "10.9.9.1"}]


def test_at_the_group_bound_a_tenth_goes_least_recently_active_first_ties_by_key() -> None:
    counters = Counters()
    engine = Engine(default_rules(), counters, max_groups_per_rule=20)
    state = engine._states[1]
    lines = [audit(1, "PORT_MISMATCH", "10.0.0.1"),
             audit(2, "PORT_MISMATCH", "10.0.0.9"), audit(2, "PORT_MISMATCH", "10.0.0.2")]
    lines += [audit(3 + i, "PORT_MISMATCH", f"10.1.0.{i}") for i in range(17)]
    engine.feed(lines)
    assert len(state.groups) == 20 and counters.groups_dropped == 0
    engine.feed([audit(30, "PORT_MISMATCH", "10.2.0.1")])  # the 21st: room for two is made
    # The oldest, then of the two last active at 2 s the one whose key sorts first.
    assert counters.groups_dropped == 2
    assert {("10.0.0.1",), ("10.0.0.2",)}.isdisjoint(state.groups)
    assert ("10.0.0.9",) in state.groups and ("10.2.0.1",) in state.groups


def _per_client(threshold: int, window_s: int) -> RuleSet:
    return parse_rules({"rules": [{"name": "r", "event": "PORT_MISMATCH", "severity": "info",
                                   "threshold": threshold, "window_s": window_s,
                                   "group_by": ["client"]}]})


def test_over_the_bound_with_firing_groups_a_restored_engine_still_agrees() -> None:
    # The bound of 2 fills with firing groups, C is let in over it. A's group goes idle; at
    # 20 s a running engine still holds it and a restored one (whose checkpoint left it out)
    # does not. Both must treat A as a new group, and drop the same groups or none.
    def at(second: float, client: str) -> bytes:
        return audit(second, "PORT_MISMATCH", client)
    first = [at(0, "A"), at(0, "A"), at(8, "B"), at(8, "B"), at(9, "C"), at(9, "C"),
             at(12, "B"), at(13, "C")]
    second = [at(20, "A"), at(21, "B")]

    rules = _per_client(1, 10)
    whole = evaluate_in_parts([first + second], rules, max_groups_per_rule=2)
    assert whole == evaluate_in_parts([first, second], rules, max_groups_per_rule=2)
    alerts, dropped = whole
    # A comes back as a new group at the bound: B, least recently active, makes room; then B
    # comes back as new and C makes room (so B starts over at 21 s instead of firing).
    assert dropped == 2
    assert [(a["state"], a["group"]) for a in alerts] == [
        ("firing", {"client": "A"}), ("firing", {"client": "B"}), ("firing", {"client": "C"}),
        ("resolved", {"client": "A"}), ("resolved", {"client": "B"}),
        ("resolved", {"client": "C"})]


def test_firing_groups_do_not_count_toward_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    # A rule that fires at every client's first event fills any bound with firing groups.
    # They are never dropped, so making room would find nothing to drop: it must not be
    # tried for every new client (each try scans every group).
    calls: list[RuleState] = []
    make_room = Engine._make_room

    def counted(self: Engine, state: RuleState) -> None:
        calls.append(state)
        make_room(self, state)

    monkeypatch.setattr(Engine, "_make_room", counted)
    counters = Counters()
    engine = Engine(_per_client(0, 60), counters, max_groups_per_rule=10)
    engine.feed([audit(i * 0.01, "PORT_MISMATCH", f"10.4.0.{i}") for i in range(200)])
    assert len(engine.take_alerts()) == 200 and counters.groups_dropped == 0
    assert calls == []


def test_events_of_one_instant_leaving_together_resolve_at_that_instant() -> None:
    # Two events at 0 s, four more: 6 > 5 fires. At 60 s both 0 s events leave at once, and
    # the line stamped 60 s trims them before the resolve due at 60 s runs.
    lines = [audit(0, "PORT_MISMATCH"), audit(0, "PORT_MISMATCH"),
             *(audit(s, "PORT_MISMATCH") for s in range(1, 5)), audit(60, "PORT_MISMATCH"),
             audit(61, "LEAK_BLOCKED")]
    whole = evaluate(lines)
    assert [(a["state"], a["ts"], a["count"]) for a in whole] == [
        ("firing", ts(4), 6), ("resolved", ts(60), 5)]
    for cut in range(1, len(lines)):  # a checkpoint at every line, that one included
        assert evaluate_in_parts([lines[:cut], lines[cut:]])[0] == whole, cut


def test_a_snapshot_with_times_no_alert_could_print_is_refused() -> None:
    engine = Engine(default_rules(), Counters())
    engine.feed(burst(0, 11))
    snapshot = orjson.loads(orjson.dumps(engine.snapshot()))
    snapshot["rules"]["auth_failure_burst"]["groups"][0][2][0] = -(10**17)  # first seen
    with pytest.raises(ValueError, match="outside the years 1 to 9999"):
        Engine(default_rules(), Counters()).restore(snapshot)


def test_a_snapshot_restores_the_exact_state() -> None:
    lines = [*burst(0, 30, event="PORT_MISMATCH", client="10.0.0.1"), *burst(10, 15),
             *burst(30, 400, event="PORT_MISMATCH", client="10.0.0.2", step_s=0.9),
             audit(900, "LEAK_BLOCKED")]
    whole = evaluate(lines)
    for cut in (5, 25, 40, 200, len(lines) - 1):
        assert evaluate_in_parts([lines[:cut], lines[cut:]])[0] == whole, cut


def test_a_changed_rule_drops_only_its_own_saved_state() -> None:
    engine = Engine(default_rules(), Counters())
    engine.feed(burst(0, 11))
    snapshot = engine.snapshot()
    changed = parse_rules({"ignore_clients": ["127.0.0.1"], "rules": [
        {"name": "auth_failure_burst", "event": "AUTH_FAILURE", "threshold": 20,
         "window_s": 60, "severity": "warning"}]})
    restored = Engine(changed, Counters())
    assert restored.restore(snapshot) == ["auth_failure_burst", "port_mismatch_burst"]


def test_a_malformed_snapshot_is_rejected() -> None:
    with pytest.raises(ValueError, match="malformed"):
        Engine(default_rules(), Counters()).restore({"clock_us": "x"})


@pytest.mark.parametrize("fraction", ["²²²²²²", "abcdef", " 12345", "-12345", "1_2345"])
def test_odd_timestamp_fractions_never_break_the_engine(fraction: str) -> None:
    counters = Counters()
    odd = orjson.dumps({"ts": ts(0)[:20] + fraction + "Z", "event": "AUTH_FAILURE",
                        "client": "10.0.0.7"})
    alerts = evaluate([audit(0), odd, *burst(1, 11)], counters=counters)
    assert [a["count"] for a in alerts] == [11]


@pytest.mark.parametrize("before", [0.5, 30, 90])  # the same second, minute, or neither
def test_a_timestamp_is_valid_or_not_whatever_line_came_before(before: float) -> None:
    # Non-ASCII digits are not a timestamp, even right after a line of the same second.
    counters = Counters()
    arabic_indic = "\u0661\u0662\u0663\u0664\u0665\u0666"
    odd = orjson.dumps({"ts": ts(0)[:20] + arabic_indic + "Z", "event": "AUTH_FAILURE",
                        "client": "10.0.0.7"})
    evaluate([audit(before, "LEAK_BLOCKED"), odd], counters=counters)
    assert counters.invalid_events == 1


def test_equal_but_different_clients_never_share_a_cached_route() -> None:
    # 0, 0.0 and False are one dict key; only client strings are cached per rule.
    lines = [audit(i * 0.1, "PORT_MISMATCH", client)  # type: ignore[arg-type]  # wrong on purpose
             for i, client in enumerate([0, False, "0", 0.0, ["x"]] * 6)]
    alerts = evaluate(lines)
    # False, 0.0 and a list are no group value (None): 3 per round, so that group fires first.
    assert [(a["group"], a["count"]) for a in alerts] == [
        ({"client": None}, 6), ({"client": 0}, 6), ({"client": "0"}, 6)]


def test_the_engine_refuses_a_rule_that_bypassed_validation() -> None:
    # A RuleSet built in code skips parse_rules: the engine still fails fast, naming the rule.
    rule = Rule(name="tiny", event="AUTH_FAILURE", threshold=0, window_s=60,
                severity="info", repeat_after_s=1e-9)
    with pytest.raises(ValueError, match="'tiny'"):
        Engine(RuleSet(rules=(rule,)), Counters())


@pytest.mark.timeout(10)
def test_a_due_change_that_makes_no_progress_raises_instead_of_spinning() -> None:
    rules = parse_rules({"rules": [{"name": "r", "event": "AUTH_FAILURE", "threshold": 0,
                                    "window_s": 60, "severity": "info", "repeat_after_s": 1}]})
    engine = Engine(rules, Counters())
    engine._states[0].repeat = timedelta(0)  # what repeat_after_s=1e-9 used to round to
    engine.feed([audit(0)])
    with pytest.raises(RuntimeError, match="not after"):
        engine.feed([audit(5)])
