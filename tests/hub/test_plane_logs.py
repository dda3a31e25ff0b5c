"""Plane logs belong to their HubContext: two hubs in one process never write each other's
files, and closing one leaves the other's logs working."""

from __future__ import annotations

from pathlib import Path

from baseline_hub import HubConfig, HubContext
from tests.conftest import TEST_TOKEN


def open_at(home: Path) -> HubContext:
    config = HubConfig(home=home)
    config.paths.create()
    return HubContext.open(config, TEST_TOKEN)


def lines(path: Path) -> list[str]:
    return [line.split(" ", 2)[2] for line in path.read_text().splitlines()]


def test_two_hubs_in_one_process_each_log_to_their_own_home(tmp_path: Path) -> None:
    first, second = open_at(tmp_path / "first"), open_at(tmp_path / "second")
    try:
        for name, hub in (("first", first), ("second", second)):
            hub.plane_logs["control"].info("control line of %s", name)
            hub.plane_logs["data"].info("data line of %s", name)
        first.close()
        second.plane_logs["control"].info("second still logs")
        first.plane_logs["control"].info("first is closed")  # goes nowhere, raises nothing
    finally:
        first.close()
        second.close()
    logs = {name: tmp_path / name / "logs" for name in ("first", "second")}
    assert lines(logs["first"] / "hub_control.log") == ["control control line of first"]
    assert lines(logs["first"] / "hub_data.log") == ["data data line of first"]
    assert lines(logs["second"] / "hub_control.log") == ["control control line of second",
                                                         "control second still logs"]
    assert lines(logs["second"] / "hub_data.log") == ["data data line of second"]


def test_a_closed_hub_holds_no_log_file_open(tmp_path: Path) -> None:
    hub = open_at(tmp_path / "home")
    hub.plane_logs["data"].info("a line")
    [handler] = hub.plane_logs["data"].logger.handlers
    hub.close()
    assert hub.plane_logs["data"].logger.handlers == []
    assert getattr(handler, "stream", None) is None
