"""diagnose names the home it read, and writes no bundle from a missing or empty one unless
told to (``--allow-empty``); a hub that is down is still fine."""

from __future__ import annotations

from pathlib import Path

import pytest

from sheratan_ops.diag import EXIT_NO_TOKEN, EXIT_OK, EXIT_USAGE, main

from .conftest import DOWN_URLS, ENV_TOKEN, clean_env, make_home, read_json, read_members


def _diagnose(argv: list[str], capsys: pytest.CaptureFixture[str],
              **env: str) -> tuple[int, str, str]:
    code = main([*argv, *DOWN_URLS], env=clean_env(HUB_TOKEN=ENV_TOKEN, **env))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("kind", ["missing", "no logs", "nothing in it"])
def test_a_missing_or_empty_home_gives_no_bundle_and_names_the_flag(
        tmp_path: Path, out_dir: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    home = tmp_path / "home"
    if kind != "missing":
        home.mkdir()
    if kind == "nothing in it":
        (home / "logs").mkdir()
    code, out, err = _diagnose(["--out", str(out_dir)], capsys, SHERATAN_HOME=str(home))
    assert code == EXIT_USAGE and out == ""
    assert "no bundle written" in err and str(home) in err and "--allow-empty" in err
    assert "from SHERATAN_HOME" in err and "Traceback" not in err
    assert list(out_dir.iterdir()) == []
    assert kind != "missing" or not home.exists()


def test_the_default_home_of_the_wrong_folder_is_named(
        tmp_path: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = _diagnose(["--out", str(out_dir)], capsys)
    assert code == EXIT_USAGE
    assert f"the home {tmp_path / '.sheratan'} does not exist" in err
    assert "SHERATAN_HOME is unset" in err
    assert not (tmp_path / ".sheratan").exists()


def test_allow_empty_writes_a_bundle_from_a_missing_home(
        tmp_path: Path, out_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "nowhere"
    code, out, err = _diagnose(["--out", str(out_dir), "--home", str(home), "--allow-empty"],
                               capsys)
    assert code == EXIT_OK, err
    members = read_members(Path(out.strip().splitlines()[-1]))
    manifest = read_json(members, "manifest.json")
    assert manifest["collectors"]["log_hub_control"]["status"] == "absent"
    assert f"home: {home} (from --home)" in err
    assert not home.exists()


def test_a_stopped_hubs_home_is_read_and_its_files_are_listed(
        tmp_path: Path, out_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = make_home(tmp_path / "home", logs={"hub_control.log": "a line\n"})
    code, out, err = _diagnose(["--out", str(out_dir)], capsys, SHERATAN_HOME=str(home))
    assert code == EXIT_OK, err
    assert f"home: {home} (from SHERATAN_HOME)" in err
    assert "  found: state/hub.db, logs/hub_control.log" in err
    assert "  missing: logs/hub_data.log, logs/hub_security_audit.jsonl, logs/alerts.jsonl, " \
           "state/watcher_status.json" in err
    members = read_members(Path(out.strip().splitlines()[-1]))
    assert members["logs/hub_control.log"] == b"a line\n"


def test_a_node_age_the_hub_would_refuse_warns_and_is_not_misread(
        tmp_path: Path, out_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = make_home(tmp_path / "home")
    code, _, err = _diagnose(["--out", str(out_dir)], capsys, SHERATAN_HOME=str(home),
                             HUB_NODE_STALE_S="3_0")
    assert code == EXIT_OK, err
    assert ("warning: HUB_NODE_STALE_S: expected a number of seconds, got '3_0'; the hub "
            "would not start with it; using the defaults 30 and 120") in err


def test_allow_empty_from_the_wrong_folder_without_a_token_says_to_point_at_the_home(
        tmp_path: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(["--out", str(out_dir), "--allow-empty", *DOWN_URLS], env=clean_env())
    err = capsys.readouterr().err
    assert code == EXIT_NO_TOKEN
    assert err.startswith(f"home: {tmp_path / '.sheratan'} (SHERATAN_HOME is unset")
    ways = err.split("Give it the token in one of these ways:\n", 1)[1].splitlines()
    assert ways[0] == (f"  - if {tmp_path / '.sheratan'} is not the hub's home (run from "
                       "another folder, say), pass --home PATH or set SHERATAN_HOME to the "
                       "folder the hub runs with")
    assert not (tmp_path / ".sheratan").exists()
