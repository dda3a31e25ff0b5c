"""Collectors fail alone: a crashing collector, a hub that never answers, odd timestamps."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sheratan_ops.diag import EXIT_OK, main
from sheratan_ops.diag.bundle import zip_date_time

from .conftest import DOWN_URLS, ENV_TOKEN, clean_env, make_home, read_json, read_members


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


def _bundle(capsys: pytest.CaptureFixture[str]) -> Path:
    return Path(capsys.readouterr().out.strip().splitlines()[-1])


def test_a_crashing_collector_costs_only_its_own_member(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import sheratan_ops.diag.collectors as collectors

    def boom(config: object) -> collectors.Output:
        raise RuntimeError("registry exploded")

    monkeypatch.setattr(collectors, "collect_registry", boom)
    home = make_home(tmp_path / "home", logs={"hub_control.log": "still here\n"})
    code = main(["--out", str(tmp_path / "out"), *DOWN_URLS],
                env=clean_env(SHERATAN_HOME=str(home)))
    assert code == EXIT_OK
    members = read_members(_bundle(capsys))
    assert read_json(members, "registry.json") == {
        "collector": "registry", "error": "RuntimeError: registry exploded"}
    assert members["logs/hub_control.log"] == b"still here\n"
    manifest = read_json(members, "manifest.json")
    assert manifest["collectors"]["registry"]["status"] == "error"
    assert manifest["collectors"]["log_hub_control"]["status"] == "ok"


def test_a_hub_that_never_answers_times_out_and_the_bundle_is_still_written(
        tmp_path: Path, silent_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{silent_port}"
    started = time.monotonic()
    code = main(["--out", str(tmp_path / "out"), "--timeout-s", "0.5",
                 "--control-url", url, "--data-url", url],
                env=clean_env(SHERATAN_HOME=str(make_home(tmp_path / "home")),
                              HUB_TOKEN=ENV_TOKEN))
    elapsed_s = time.monotonic() - started
    assert code == EXIT_OK
    assert elapsed_s < 5  # the four probes run side by side, each bounded by --timeout-s
    members = read_members(_bundle(capsys))
    health = read_json(members, "health/control.json")
    assert health == {"plane": "control", "reachable": False,
                      "error": "unreachable: no answer within 0.5 s"}


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [(0, (1980, 1, 1, 0, 0, 0)), (1795000000, (2026, 11, 18, 11, 6, 40))],
)
def test_zip_times_come_from_the_timestamp_clamped_to_the_zip_epoch(
        epoch: int, expected: tuple[int, ...]) -> None:
    assert zip_date_time(datetime.fromtimestamp(epoch, UTC)) == expected


def test_a_source_date_epoch_before_1980_still_names_the_bundle_by_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--out", str(tmp_path / "out"), *DOWN_URLS],
                env=clean_env(SHERATAN_HOME=str(make_home(tmp_path / "h")),
                              SOURCE_DATE_EPOCH="0", HUB_TOKEN=ENV_TOKEN))
    assert code == EXIT_OK
    bundle = _bundle(capsys)
    assert bundle.name == "diag_bundle_19700101T000000Z.zip"
    manifest = json.loads(read_members(bundle)["manifest.json"])
    assert manifest["timestamp"] == "1970-01-01T00:00:00Z"
