"""The hub's variables, read once for the hub and the ops tools alike.

The ops tools must never read a value differently from the hub: where the hub would start,
they use what it uses; where it would refuse, they warn and use the default.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baseline_hub import ConfigError, HubConfig
from baseline_hub.token import resolve_token
from sheratan_home import env as hub_env
from sheratan_ops import hubenv

VARIABLES = ("SHERATAN_HOME", "HUB_HOST", "HUB_CONTROL_PORT", "HUB_DATA_PORT", "HUB_TOKEN",
             "HUB_NODE_STALE_S", "HUB_NODE_DEAD_S", "HUB_JOB_LEASE_S", "HUB_JOB_MAX_ATTEMPTS",
             "HUB_TRUSTED_PROXIES")

#: Strings near the numbers and hosts the variables hold, plus anything at all.
_NUMBERISH = st.text(alphabet="0123456789+-._eE inf nan\t٨", max_size=8)
_VALUES = st.one_of(_NUMBERISH, st.text(max_size=12),
                    st.integers(-70000, 70000).map(str))


@pytest.mark.parametrize("variable", VARIABLES)
@pytest.mark.parametrize("blank", ["", " ", "\t \n"])
def test_an_empty_or_blank_value_counts_as_unset_for_every_variable(variable: str,
                                                                    blank: str) -> None:
    assert HubConfig.from_env({variable: blank}) == HubConfig.from_env({})


def test_an_empty_hub_token_means_the_token_file(tmp_path: Path) -> None:
    config = HubConfig.from_env({"HUB_TOKEN": "", "SHERATAN_HOME": str(tmp_path)})
    assert config.token is None
    config.paths.create()
    source = resolve_token(config)
    assert source.origin == str(config.paths.token_file)
    assert config.paths.token_file.read_text().strip() == source.value


def test_values_are_taken_as_written_but_numbers_may_have_spaces() -> None:
    config = HubConfig.from_env({"HUB_CONTROL_PORT": " 9000 ", "HUB_NODE_STALE_S": "\t5 ",
                                 "SHERATAN_HOME": "/srv/hub"})
    assert (config.control_port, config.node_stale_s, config.home) == (
        9000, 5.0, Path("/srv/hub"))
    with pytest.raises(ConfigError) as exc:
        HubConfig.from_env({"HUB_HOST": " 127.0.0.1"})
    assert exc.value.field == "HUB_HOST"


@pytest.mark.parametrize(("option", "env", "expected"), [
    (Path("opt"), {"SHERATAN_HOME": "/env"}, (Path("opt"), "from --home")),
    (None, {"SHERATAN_HOME": "/env"}, (Path("/env"), "from SHERATAN_HOME")),
    (None, {"SHERATAN_HOME": " "}, (Path(".sheratan"),
                                    "SHERATAN_HOME is unset: the default ./.sheratan of this "
                                    "folder")),
])
def test_a_home_says_where_it_came_from(option: Path | None, env: dict[str, str],
                                        expected: tuple[Path, str]) -> None:
    assert hub_env.resolve_home(option, env) == expected


def _hub(variables: dict[str, str]) -> HubConfig | None:
    try:
        return HubConfig.from_env(variables)
    except ConfigError:
        return None


@given(raw=_VALUES, variable=st.sampled_from(["HUB_CONTROL_PORT", "HUB_DATA_PORT"]))
def test_the_ops_tools_read_every_port_string_as_the_hub_does(raw: str, variable: str) -> None:
    other = "HUB_DATA_PORT" if variable == "HUB_CONTROL_PORT" else "HUB_CONTROL_PORT"
    hub = _hub({variable: raw, other: "0"})  # 0: no clash between the two ports
    warn: list[str] = []
    plane = "control" if variable == "HUB_CONTROL_PORT" else "data"
    ops = hubenv.port({variable: raw}, plane, warn)
    default = hub_env.PORT_DEFAULTS[variable]
    hub_port = None if hub is None else (
        hub.control_port if plane == "control" else hub.data_port)
    if hub_port:  # the hub binds that port: the tools look there, silently
        assert (ops, warn) == (hub_port, [])
    elif hub_port is None or raw.strip():  # refused by the hub, or 0 (nobody can guess it)
        assert ops == default and len(warn) == 1 and variable in warn[0]
    else:  # unset
        assert (ops, warn) == (default, [])


@given(stale=_VALUES, dead=_VALUES)
def test_the_ops_tools_read_every_node_age_as_the_hub_does(stale: str, dead: str) -> None:
    variables = {"HUB_NODE_STALE_S": stale, "HUB_NODE_DEAD_S": dead}
    hub = _hub(variables)
    warn: list[str] = []
    ops = hubenv.node_ages(variables, warn)
    if hub is not None:
        assert (ops, warn) == ((hub.node_stale_s, hub.node_dead_s), [])
    else:
        assert ops == (30.0, 120.0) and len(warn) == 1


@given(raw=st.one_of(st.text(max_size=20), st.sampled_from(
    ["0.0.0.0", "::", "::1", "localhost", "hub.example", " 127.0.0.1", "10.0.0.5"])))
def test_the_ops_tools_read_every_host_as_the_hub_does(raw: str) -> None:
    hub = _hub({"HUB_HOST": raw})
    warn: list[str] = []
    ops = hubenv.host({"HUB_HOST": raw}, warn)
    if hub is None:
        assert ops == "127.0.0.1" and len(warn) == 1 and "HUB_HOST" in warn[0]
    else:
        wildcards = {"0.0.0.0": "127.0.0.1", "::": "::1"}
        assert (ops, warn) == (wildcards.get(hub.host, hub.host), [])


def test_the_3_0_that_the_hub_rejects_is_not_read_as_30_by_diagnose() -> None:
    with pytest.raises(ConfigError):
        HubConfig.from_env({"HUB_NODE_STALE_S": "3_0"})
    warn: list[str] = []
    assert hubenv.node_ages({"HUB_NODE_STALE_S": "3_0", "HUB_NODE_DEAD_S": "40"}, warn) == (
        30.0, 120.0)
    assert warn == ["HUB_NODE_STALE_S: expected a number of seconds, got '3_0'; the hub would "
                    "not start with it; using the defaults 30 and 120"]


@pytest.mark.parametrize(("host", "loopback", "wildcard", "connect", "in_url"), [
    ("127.0.0.1", True, False, "127.0.0.1", "127.0.0.1"),
    ("127.8.9.10", True, False, "127.8.9.10", "127.8.9.10"),
    ("::1", True, False, "::1", "[::1]"),
    ("[::1]", True, False, "[::1]", "[::1]"),
    ("::1%lo", True, False, "::1%lo", "[::1%lo]"),
    ("localhost", True, False, "localhost", "localhost"),
    ("LocalHost", True, False, "LocalHost", "LocalHost"),
    ("0.0.0.0", False, True, "127.0.0.1", "0.0.0.0"),
    ("::", False, True, "::1", "[::]"),
    ("10.0.0.5", False, False, "10.0.0.5", "10.0.0.5"),
    ("fe80::1%eth0", False, False, "fe80::1%eth0", "[fe80::1%eth0]"),
    ("hub.example", False, False, "hub.example", "hub.example"),
])
def test_one_reading_of_a_host_for_the_hub_and_every_tool(host: str, loopback: bool,
                                                          wildcard: bool, connect: str,
                                                          in_url: str) -> None:
    # The banner, diagnose's loopback guard, the ops tools' URLs and the Alertmanager
    # instance all read a host through these.
    assert hub_env.is_loopback(host) is loopback
    assert hub_env.is_wildcard(host) is wildcard
    assert hub_env.connect_host(host) == connect
    assert hub_env.url_host(host) == in_url
