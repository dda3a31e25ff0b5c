"""The hub leaves a salted fingerprint of its token under ``state/`` (never the token)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from baseline_hub import HubConfig
from otel import read_fingerprint
from tests.conftest import TEST_TOKEN, HubProcess, start_hub
from tests.hub.conftest import run_hub_cli

pytestmark = pytest.mark.e2e

OTHER_TOKEN = "another-token-9876543210zyxw"


def fingerprint_path(home: Path) -> Path:
    return HubConfig(home=home).paths.token_fingerprint


def test_the_fingerprint_matches_the_token_and_never_holds_it(hub_process: HubProcess) -> None:
    path = fingerprint_path(hub_process.home)
    assert path == hub_process.home / "state" / "hub_token.fingerprint.json"
    fingerprint = read_fingerprint(path)
    assert fingerprint is not None
    assert fingerprint.matches(TEST_TOKEN)
    assert not fingerprint.matches(OTHER_TOKEN)
    assert not fingerprint.matches(TEST_TOKEN[:-1] + "x")
    text = path.read_bytes()
    assert TEST_TOKEN.encode() not in text
    assert TEST_TOKEN[:12].encode() not in text
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_every_start_rewrites_it_for_the_token_then_in_use(hub_home: Path) -> None:
    first = start_hub(hub_home)
    assert first.stop() == 0
    before = fingerprint_path(hub_home).read_bytes()
    again = start_hub(hub_home, token=OTHER_TOKEN)
    try:
        fingerprint = read_fingerprint(fingerprint_path(hub_home))
        assert fingerprint is not None
        assert fingerprint.matches(OTHER_TOKEN)
        assert not fingerprint.matches(TEST_TOKEN)
        assert fingerprint_path(hub_home).read_bytes() != before
    finally:
        assert again.stop() == 0


def test_a_generated_token_gets_its_fingerprint_too(hub_home: Path) -> None:
    hub = start_hub(hub_home, token=None)
    try:
        fingerprint = read_fingerprint(fingerprint_path(hub_home))
        assert fingerprint is not None and fingerprint.matches(hub.token)
    finally:
        assert hub.stop() == 0


def test_a_hub_refused_by_the_home_lock_leaves_the_fingerprint_alone(
    hub_process: HubProcess,
) -> None:
    result = run_hub_cli({"HUB_TOKEN": OTHER_TOKEN}, hub_process.home)
    assert result.returncode == 1, result.stderr
    fingerprint = read_fingerprint(fingerprint_path(hub_process.home))
    assert fingerprint is not None and fingerprint.matches(TEST_TOKEN)


def test_an_unwritable_fingerprint_stops_the_start_with_exit_2(hub_home: Path) -> None:
    path = fingerprint_path(hub_home)
    path.mkdir(parents=True)  # a folder in the way: os.replace cannot put the file there
    result = run_hub_cli({"HUB_TOKEN": TEST_TOKEN}, hub_home)
    assert result.returncode == 2, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert line.startswith(f"error: {path}: cannot write the token fingerprint"), line
    assert "Traceback" not in result.stderr + result.stdout
    assert TEST_TOKEN not in result.stderr + result.stdout
