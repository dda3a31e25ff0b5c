from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from baseline_hub import HubConfig, HubContext
from baseline_hub.registry import node_status
from tests.hub.conftest import FakeClock, open_hub


def test_status_follows_heartbeat_age_with_strict_thresholds() -> None:
    assert node_status(30.0, 30, 120) == "online"
    assert node_status(30.001, 30, 120) == "stale"
    assert node_status(120.0, 30, 120) == "stale"
    assert node_status(120.001, 30, 120) == "dead"


def test_node_goes_stale_then_dead_and_heartbeat_revives_it(hub: HubContext,
                                                            clock: FakeClock) -> None:
    hub.registry.register("n1", "worker", {"zone": "a"})
    assert hub.registry.counts() == {"online": 1, "stale": 0, "dead": 0}
    clock.advance(31)
    assert hub.registry.counts() == {"online": 0, "stale": 1, "dead": 0}
    assert hub.registry.list()[0]["status"] == "stale"
    clock.advance(90)
    assert hub.registry.counts() == {"online": 0, "stale": 0, "dead": 1}
    assert hub.registry.heartbeat("n1")
    assert hub.registry.counts() == {"online": 1, "stale": 0, "dead": 0}


def test_heartbeat_of_unknown_node_is_refused(hub: HubContext) -> None:
    assert not hub.registry.heartbeat("ghost")
    assert hub.registry.counts() == {"online": 0, "stale": 0, "dead": 0}


def test_register_is_idempotent_and_keeps_registered_at(hub: HubContext,
                                                        clock: FakeClock) -> None:
    hub.registry.register("n1", "a", {})
    first = hub.registry.list()[0]
    clock.advance(5)
    hub.registry.register("n1", "b", {"k": 1})
    nodes = hub.registry.list()
    assert len(nodes) == 1
    assert nodes[0]["registered_at"] == first["registered_at"]
    assert nodes[0]["last_seen"] != first["last_seen"]
    assert (nodes[0]["name"], nodes[0]["meta"]) == ("b", {"k": 1})


def test_delete_removes_node_from_list_and_counts(hub: HubContext) -> None:
    hub.registry.register("n1", None, {})
    hub.registry.delete("n1")
    hub.registry.delete("n1")  # idempotent
    assert hub.registry.list() == []
    assert hub.registry.counts() == {"online": 0, "stale": 0, "dead": 0}


def test_nodes_survive_reopening_the_store(config: HubConfig, clock: FakeClock) -> None:
    first = open_hub(config, clock)
    first.registry.register("n1", "kept", {"x": [1, 2]})
    first.close()
    second = open_hub(config, clock)
    try:
        assert [n["node_id"] for n in second.registry.list()] == ["n1"]
        assert second.registry.counts()["online"] == 1
    finally:
        second.close()


@settings(max_examples=40, deadline=None)
@given(ages=st.lists(st.floats(min_value=0, max_value=300, allow_nan=False), max_size=40),
       deleted=st.sets(st.integers(min_value=0, max_value=39), max_size=10))
def test_indexed_counts_equal_statuses_computed_row_by_row(
    ages: list[float], deleted: set[int]
) -> None:
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as tmp:
        hub = open_hub(HubConfig(home=Path(tmp), node_stale_s=30, node_dead_s=120), clock)
        try:
            start = clock.now
            for i, age in enumerate(sorted(ages, reverse=True)):
                clock.now = start + 300 - age
                hub.registry.register(f"n{i}", None, {})
            for i in deleted:
                hub.registry.delete(f"n{i}")
            clock.now = start + 300
            expected = {"online": 0, "stale": 0, "dead": 0}
            for node in hub.registry.list():
                expected[node["status"]] += 1
            assert hub.registry.counts() == expected
        finally:
            hub.close()
