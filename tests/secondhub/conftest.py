"""Fixtures: second hubs in temporary folders, stopped after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .driver import Driver
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


@pytest.fixture
def make_driver() -> Iterator[MakeDriver]:
    """``make_driver(hub)``: a :class:`Driver` with a fresh ledger set to the hub's knobs."""
    made: list[Driver] = []

    def make(hub: SecondHub) -> Driver:
        knobs = hub.knobs
        driver = Driver(hub, Ledger(stale_s=knobs.stale_s, dead_s=knobs.dead_s,
                                    max_attempts=knobs.max_tries, sweep_s=knobs.sweep_s))
        made.append(driver)
        return driver

    yield make
    for driver in made:
        driver.close()
