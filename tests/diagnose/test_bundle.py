"""The CLI with the hub down: empty homes, planted secrets, reproducibility, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.scripts.conftest import checkout_env

from .conftest import (
    CONTRACT_MEMBERS,
    DOWN_URLS,
    ENV_TOKEN,
    clean_env,
    make_home,
    read_json,
    read_members,
    run_cli,
)

TOKEN = "planted-hub-token-6a7b8c9d0e1f"
DB_PASSWORD = "db-pass-Zq81!xw"


@pytest.mark.parametrize("exists", [True, False], ids=["empty", "missing"])
def test_empty_home_gives_a_bundle_with_a_manifest(tmp_path: Path, out_dir: Path,
                                                   exists: bool) -> None:
    home = tmp_path / "home"
    if exists:
        home.mkdir()
    # Asked for: without --allow-empty such a home gives no bundle (tests/diagnose/test_home.py).
    run = run_cli(["--out", str(out_dir), "--allow-empty", *DOWN_URLS],
                  clean_env(SHERATAN_HOME=str(home), HUB_TOKEN=ENV_TOKEN), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.bundle.parent == out_dir
    members = read_members(run.bundle)
    assert set(members) >= CONTRACT_MEMBERS
    manifest = read_json(members, "manifest.json")
    assert manifest["tool_version"] and manifest["timestamp"].endswith("Z")
    assert manifest["collectors"]["registry"]["status"] == "absent"
    assert manifest["collectors"]["log_hub_control"]["status"] == "absent"
    assert manifest["collectors"]["metrics_control"]["status"] == "error"
    assert not home.exists() or not any(home.iterdir())  # nothing created in the home
    assert [p.name for p in out_dir.iterdir()] == [run.bundle.name]  # no temp file left


def _secret_home(home: Path) -> Path:
    now = time.time()
    control = (
        "2026-11-29T10:00:00.000Z INFO control GET /health 200 0.4ms client=127.0.0.1\n"
        f"2026-11-29T10:00:01.000Z INFO control debug Authorization: Bearer {TOKEN}\n"
        f"2026-11-29T10:00:02.000Z INFO control raw {TOKEN} in an odd place\n"
        f"2026-11-29T10:00:03.000Z INFO control db url postgres://app:{DB_PASSWORD}@db/x\n"
    )
    audit = json.dumps({"ts": "2026-11-29T10:00:04.000001Z", "event": "AUTH_FAILURE",
                        "plane": "control", "port": 8787, "client": "10.0.0.7",
                        "method": "GET", "path": f"/nodes/{TOKEN}", "reason": "invalid_token"})
    return make_home(
        home, token=TOKEN,
        nodes=[("node-a", {"api_key": "sk-meta-secret-value-42", "zone": "a"}, now),
               ("node-b", {"nested": {"password": "pw-nested-value-77"}}, now - 60)],
        job_states=["queued", "queued", "inflight", "done"],
        logs={"hub_control.log": control, "hub_security_audit.jsonl": audit + "\n",
              "hub_data.log": f"2026-11-29T10:00:05.000Z INFO data connect {DB_PASSWORD}\n"},
    )


@pytest.mark.parametrize("token_from", ["file", "env"])
def test_planted_secrets_never_reach_any_member(tmp_path: Path, out_dir: Path,
                                                token_from: str) -> None:
    home = _secret_home(tmp_path / "home")
    env = clean_env(SHERATAN_HOME=str(home), DB_PASSWORD=DB_PASSWORD)
    if token_from == "env":
        (home / "secrets" / "hub_token").unlink()
        env["HUB_TOKEN"] = TOKEN
    run = run_cli(["--out", str(out_dir), *DOWN_URLS], env, cwd=tmp_path)
    members = read_members(run.bundle)
    secrets = (TOKEN, DB_PASSWORD, "sk-meta-secret-value-42", "pw-nested-value-77")
    for name, data in members.items():
        for secret in secrets:
            assert secret.encode() not in data, (name, secret)
    for secret in secrets:
        assert secret not in run.stdout + run.stderr
        assert secret.encode() not in run.bundle.read_bytes()
    # The evidence around the secrets is still there.
    control_log = members["logs/hub_control.log"].decode()
    assert "Authorization: Bearer [REDACTED]" in control_log
    assert "raw [REDACTED] in an odd place" in control_log
    assert json.loads(members["logs/hub_security_audit.jsonl"])["path"] == "/nodes/[REDACTED]"
    nodes = read_json(members, "registry.json")["nodes"]
    assert nodes[0]["meta"] == {"api_key": "[REDACTED]", "zone": "a"}
    assert nodes[1]["meta"] == {"nested": {"password": "[REDACTED]"}}
    token = read_json(members, "manifest.json")["token"]
    assert token == {"value_known": True, "found_by": [
        "HUB_TOKEN" if token_from == "env" else "token file secrets/hub_token",
        "fingerprint state/hub_token.fingerprint.json"]}
    assert ("token: HUB_TOKEN" if token_from == "env"
            else f"token: token file {home / 'secrets' / 'hub_token'}") in run.stderr
    assert {n["status"] for n in nodes} == {"online", "stale"}
    assert "DB_PASSWORD" in members["env_keys.txt"].decode().splitlines()
    redactions = read_json(members, "manifest.json")["redactions"]
    assert redactions["key_names"]["secret_field"] == 2
    assert redactions["known_values"]["known_secret"] >= 4
    data = read_json(members, "metrics/data.json")["reading"]
    assert (data["queue_depth"], data["inflight_jobs"]) == (2, 1)


def test_the_tool_records_neither_its_arguments_nor_env_values(tmp_path: Path,
                                                               out_dir: Path) -> None:
    home = make_home(tmp_path / "home-argv-marker-31337")
    env = clean_env(SHERATAN_HOME=str(home), PLAIN_SETTING="plain-value-marker-4242")
    run = run_cli(["--out", str(out_dir), "--lines", "7", "--timeout-s", "1.5",
                   "--control-url", "http://127.0.0.1:9", "--data-url", "http://127.0.0.1:19"],
                  env, cwd=tmp_path)
    for name, data in read_members(run.bundle).items():
        for marker in (b"home-argv-marker-31337", b"plain-value-marker-4242", b"127.0.0.1:19",
                       b"--lines", str(out_dir).encode()):
            assert marker not in data, (name, marker)


def test_two_runs_with_source_date_epoch_are_byte_identical(tmp_path: Path) -> None:
    home = _secret_home(tmp_path / "home")
    env = clean_env(SHERATAN_HOME=str(home), SOURCE_DATE_EPOCH="1795000000", HUB_TOKEN=TOKEN)
    runs = []
    for i in range(2):
        out = tmp_path / f"out{i}"
        runs.append(run_cli(["--out", str(out), *DOWN_URLS], env, cwd=tmp_path))
        time.sleep(1.1)  # a clock-dependent value would now differ
    first, second = runs[0].bundle, runs[1].bundle
    assert first.name == second.name == "diag_bundle_20261118T110640Z.zip"
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    for info in infos:
        assert info.date_time == (2026, 11, 18, 11, 6, 40)
        assert info.external_attr == 0o100644 << 16
        assert info.compress_type == zipfile.ZIP_DEFLATED
    manifest = read_json(read_members(first), "manifest.json")
    assert manifest["timestamp"] == "2026-11-18T11:06:40Z"
    assert manifest["timestamp_source"] == "SOURCE_DATE_EPOCH"
    assert all(c["duration_ms"] is None for c in manifest["collectors"].values())


def test_without_source_date_epoch_the_name_and_durations_come_from_the_clock(
        tmp_path: Path, out_dir: Path) -> None:
    before = time.gmtime(time.time() - 1)
    run = run_cli(["--out", str(out_dir), *DOWN_URLS],
                  clean_env(SHERATAN_HOME=str(make_home(tmp_path / "h")), HUB_TOKEN=ENV_TOKEN),
                  cwd=tmp_path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", before)
    assert run.bundle.name >= f"diag_bundle_{stamp}.zip"
    manifest = read_json(read_members(run.bundle), "manifest.json")
    assert manifest["timestamp_source"] == "clock"
    assert all(isinstance(c["duration_ms"], float) for c in manifest["collectors"].values())


def test_lines_limits_every_log_tail(tmp_path: Path, out_dir: Path) -> None:
    lines = "".join(f"line {i}\n" for i in range(500))
    home = make_home(tmp_path / "home", logs={"hub_control.log": lines})
    run = run_cli(["--out", str(out_dir), "--lines", "3", *DOWN_URLS],
                  clean_env(SHERATAN_HOME=str(home)), cwd=tmp_path)
    assert read_members(run.bundle)["logs/hub_control.log"] == b"line 497\nline 498\nline 499\n"
    default = run_cli(["--out", str(tmp_path), *DOWN_URLS],
                      clean_env(SHERATAN_HOME=str(home)), cwd=tmp_path)
    log = read_members(default.bundle)["logs/hub_control.log"].decode().splitlines()
    assert log[0] == "line 300" and len(log) == 200


def test_watcher_status_and_alerts_are_included_when_present(tmp_path: Path,
                                                             out_dir: Path) -> None:
    home = make_home(tmp_path / "home", logs={"alerts.jsonl": '{"alert_id":"a1"}\n'})
    (home / "state" / "watcher_status.json").write_text(json.dumps({
        "state": "following", "lines_read": 5, "session_token": "tok-abcdef123456",
        "pid": 4242, "log": str(home / "logs" / "hub_security_audit.jsonl"),
        "alerts": 3, "mode": "follow", "lag_bytes": "not-a-number"}))
    run = run_cli(["--out", str(out_dir), *DOWN_URLS], clean_env(SHERATAN_HOME=str(home)),
                  cwd=tmp_path)
    members = read_members(run.bundle)
    assert members["logs/alerts.jsonl"] == b'{"alert_id":"a1"}\n'
    status = read_json(members, "watcher/status.json")
    # Allow-listed: no pid, no unknown field, no value of the wrong type; the path is the
    # home's, relative.
    assert status == {"state": "following", "lines_read": 5, "alerts": 3, "mode": "follow",
                      "log": "logs/hub_security_audit.jsonl"}
    manifest = read_json(members, "manifest.json")
    assert manifest["redactions"]["allowlist"]["dropped_fields"] >= 3


@pytest.mark.parametrize(
    ("args", "env_extra", "needle"),
    [
        (["--lines", "0"], {}, "--lines"),
        (["--lines", "many"], {}, "--lines"),
        (["--timeout-s", "-1"], {}, "--timeout-s"),
        (["--timeout-s", "nan"], {}, "--timeout-s"),
        (["--control-url", "http://10.1.2.3:8787"], {}, "not a loopback"),
        (["--data-url", "https://127.0.0.1:8788"], {}, "only http://"),
        (["--control-url", "notaurl"], {},
         "--control-url: only http:// is supported, got 'notaurl'"),
        (["--control-url", "http://127.0.0.1:99999"], {}, "bad port in"),
        (["--data-url", "http://127.0.0.1:0"], {}, "--data-url: bad port in"),
        (["--control-url", "http://admin:s3cret-pw-value@127.0.0.1:1"], {}, "credentials"),
        (["--control-url", "http://127.0.0.1:1/health?x=1"], {}, "base URL"),
        (["--bogus"], {}, "unrecognized"),
        ([], {"SOURCE_DATE_EPOCH": "yesterday"}, "SOURCE_DATE_EPOCH"),
        (["--verify", "no-such-bundle.zip"], {}, "no such file"),
        # the runbook's --verify "$(ls -t diag_bundle_*.zip | head -n 1)" with no bundle yet
        (["--verify", ""], {}, "--verify: . is a folder, not a bundle"),
    ],
)
def test_bad_input_is_a_clear_error_with_exit_2(tmp_path: Path, args: list[str],
                                                env_extra: dict[str, str], needle: str) -> None:
    run = run_cli(["--out", str(tmp_path / "out"), *args],
                  clean_env(SHERATAN_HOME=str(tmp_path / "h"), **env_extra), cwd=tmp_path)
    assert run.returncode == 2
    assert needle in run.stderr
    assert "Traceback" not in run.stderr
    assert "s3cret-pw-value" not in run.stderr + run.stdout
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_out_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("x")
    run = run_cli(["--out", str(target), *DOWN_URLS], clean_env(), cwd=tmp_path)
    assert run.returncode == 2 and "--out" in run.stderr


def test_an_unwritable_out_means_no_bundle_and_exit_1(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    run = run_cli(["--out", str(blocker / "sub"), *DOWN_URLS],
                  clean_env(SHERATAN_HOME=str(make_home(tmp_path / "h")), HUB_TOKEN=ENV_TOKEN),
                  cwd=tmp_path)
    assert run.returncode == 1
    assert "no bundle written" in run.stderr and "Traceback" not in run.stderr


def test_a_bad_hub_env_value_warns_and_falls_back(tmp_path: Path, out_dir: Path) -> None:
    env = clean_env(SHERATAN_HOME=str(make_home(tmp_path / "h")), HUB_CONTROL_PORT="eighty",
                    HUB_HOST="10.9.9.9", HUB_TOKEN=ENV_TOKEN)
    run = run_cli(["--out", str(out_dir)], env, cwd=tmp_path)
    assert "warning: HUB_CONTROL_PORT" in run.stderr
    health = read_json(read_members(run.bundle), "health/control.json")
    assert health["error"] == "not contacted: HUB_HOST is not a loopback address"


def test_verify_refuses_a_huge_member_without_inflating_it(tmp_path: Path) -> None:
    bomb = tmp_path / "diag_bundle_20261129T000000Z.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("logs/hub_control.log", "w", force_zip64=True) as member:
            block = b"\0" * (1024 * 1024)
            for _ in range(200):  # 200 MiB of zeros, about 200 KiB compressed
                member.write(block)
        archive.writestr("manifest.json", "{}")
    script = Path(__file__).resolve().parents[2] / "scripts" / "diagnose.py"
    result = subprocess.run([sys.executable, str(script), "--verify", str(bomb)],
                            env=checkout_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    # The refusal comes from the zip's directory, before any member is inflated.
    assert "larger than any bundle member can be" in result.stdout + result.stderr
