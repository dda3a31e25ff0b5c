from __future__ import annotations

from pathlib import Path

import pytest

from baseline_hub import ConfigError, HubConfig
from baseline_hub.token import resolve_token


def test_defaults_match_the_contract() -> None:
    config = HubConfig.from_env({})
    assert (config.home, config.host, config.control_port, config.data_port) == (
        Path(".sheratan"), "127.0.0.1", 8787, 8788)
    assert (config.node_stale_s, config.node_dead_s, config.job_lease_s,
            config.job_max_attempts, config.token) == (30, 120, 30, 3, None)


@pytest.mark.parametrize(("variable", "value"), [
    ("HUB_CONTROL_PORT", "٨٧٨٧"),
    ("HUB_DATA_PORT", "8_788"),
    ("HUB_CONTROL_PORT", "-1"),
    ("HUB_JOB_MAX_ATTEMPTS", "1_000"),
    ("HUB_JOB_LEASE_S", "1e300"),
    ("HUB_JOB_LEASE_S", "86401"),
    ("HUB_NODE_STALE_S", "inf"),
    ("HUB_NODE_DEAD_S", "1e20"),
    ("HUB_NODE_STALE_S", "3_0"),
    ("HUB_TOKEN", "äöüäöüäöüäöüäöüäöü"),
    ("HUB_TOKEN", 'abcd"efgh\\ijklmnop'),
    ("HUB_TOKEN", "has space in it 0123"),
    ("HUB_TOKEN", "=leading-equals-0123456"),
])
def test_invalid_values_name_their_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as exc:
        HubConfig.from_env({variable: value})
    assert exc.value.field == variable
    if variable == "HUB_TOKEN":
        assert value not in str(exc.value)


@pytest.mark.parametrize("token", ["abcdefghijklmnop", "A-b.c_d~e+f/g0123456==",
                                   "x" * 1024])
def test_rfc6750_tokens_are_accepted(token: str) -> None:
    assert HubConfig.from_env({"HUB_TOKEN": token}).token == token


@pytest.mark.parametrize("content", [b"\xff\xfe\x00bad", b"short\n"])
def test_an_unusable_token_file_is_a_config_error(tmp_path: Path, content: bytes) -> None:
    config = HubConfig(home=tmp_path)
    config.paths.create()
    config.paths.token_file.write_bytes(content)
    with pytest.raises(ConfigError) as exc:
        resolve_token(config)
    assert "hub_token" in exc.value.field


def test_a_folder_where_the_token_file_should_be_is_a_config_error(tmp_path: Path) -> None:
    config = HubConfig(home=tmp_path)
    config.paths.token_file.mkdir(parents=True)
    with pytest.raises(ConfigError):
        resolve_token(config)


def test_the_secrets_folder_is_private(tmp_path: Path) -> None:
    config = HubConfig(home=tmp_path / "home")
    config.paths.create()
    assert config.paths.secrets_dir.stat().st_mode & 0o077 == 0
