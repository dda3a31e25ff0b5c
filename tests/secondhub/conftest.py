"""Fixtures: second hubs in temporary folders, stopped after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .driver import Driver, MetricsMismatch
from .harness import SecondHub
from .ledger import Ledger

MakeHub = Callable[..., SecondHub]
MakeDriver = Callable[[SecondHub], Driver]


@pytest.fixture
def make_hub(tmp_path: Path) -> Iterator[MakeHub]:
    """``make_hub(name, observe=..., knobs=..., ...)``: a :class:`SecondHub` (not started)
    in ``tmp_path / name``; every one made is stopped at teardown."""
    made: list[SecondHub] = []

    def make(name: str = "hub", **options: Any) -> SecondHub:
        hub = SecondHub(tmp_path / name, **options)
        made.append(hub)
        return hub

    yield make
    for hub in made:
        hub.close()


def _expects_mismatch(node: pytest.Item) -> bool:
    """The test is marked to fail on a metrics mismatch (``layer.needs_otel``, active)."""
    marker = node.get_closest_marker("xfail")
    if marker is None or marker.kwargs.get("raises") is not MetricsMismatch:
        return False
    return bool(marker.args[0] if marker.args else marker.kwargs.get("condition", True))


@pytest.fixture
def make_driver(request: pytest.FixtureRequest) -> Iterator[MakeDriver]:
    """``make_driver(hub)``: a :class:`Driver` with a fresh ledger set to the hub's knobs.

    In a test expected to fail on metrics (otel lacks a piece), the driver defers metrics
    mismatches, so the whole test still runs; the test ends with ``raise_deferred()``.
    """
    made: list[Driver] = []
    defer = _expects_mismatch(request.node)

    def make(hub: SecondHub) -> Driver:
        knobs = hub.knobs
        driver = Driver(hub, Ledger(stale_s=knobs.stale_s, dead_s=knobs.dead_s,
                                    max_attempts=knobs.max_tries, sweep_s=knobs.sweep_s),
                        defer_metrics=defer)
        made.append(driver)
        return driver

    yield make
    for driver in made:
        driver.close()
