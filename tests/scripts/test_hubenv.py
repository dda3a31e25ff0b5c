"""The hub's environment as the ops tools read it, in one place for all three."""

from __future__ import annotations

from pathlib import Path

import pytest

from sheratan_home import env as hub_env
from sheratan_ops import hubenv


def test_unset_or_empty_variables_mean_the_hub_defaults() -> None:
    warn: list[str] = []
    env = {"SHERATAN_HOME": "", "HUB_CONTROL_PORT": " "}
    assert hub_env.home(env) == Path(".sheratan")
    assert (hubenv.host({"HUB_HOST": ""}, warn), hubenv.port(env, "control", warn),
            hubenv.port({}, "data", warn)) == ("127.0.0.1", 8787, 8788)
    assert warn == []


@pytest.mark.parametrize(("bound", "reached"), [("0.0.0.0", "127.0.0.1"), ("::", "::1"),
                                                ("10.0.0.5", "10.0.0.5")])
def test_a_wildcard_bind_is_reached_over_loopback(bound: str, reached: str) -> None:
    warn: list[str] = []
    assert hubenv.host({"HUB_HOST": bound}, warn) == reached
    assert warn == []


def test_a_host_the_hub_would_refuse_warns_and_falls_back() -> None:
    # The hub takes HUB_HOST as written: " :: " is no address it can bind.
    warn: list[str] = []
    assert hubenv.host({"HUB_HOST": " :: "}, warn) == "127.0.0.1"
    assert warn == ["HUB_HOST: not an IP address or host name: ' :: '; the hub would not "
                    "start with it; using 127.0.0.1"]


def test_a_port_is_read_as_the_hub_reads_it() -> None:
    warn: list[str] = []
    assert hubenv.port({"HUB_DATA_PORT": "+9001"}, "data", warn) == 9001
    assert hubenv.port({"HUB_DATA_PORT": "9_001"}, "data", warn) == 8788
    assert warn == ["HUB_DATA_PORT='9_001' is not a port 1..65535; using 8788"]


def test_a_bad_hub_host_is_read_once_for_both_planes_and_said_once() -> None:
    warn: list[str] = []
    urls = hubenv.plane_urls({"HUB_HOST": "bad host!", "HUB_DATA_PORT": "9000"}, warn)
    assert urls == {"control": "http://127.0.0.1:8787", "data": "http://127.0.0.1:9000"}
    assert len(warn) == 1 and "HUB_HOST" in warn[0]
