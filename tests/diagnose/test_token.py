"""Known secrets without being told: the token file, --token-file, the fingerprint, refusal."""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from otel import FINGERPRINT_FILE, KnownSecrets
from sheratan_ops.diag import EXIT_LEAK, EXIT_NO_TOKEN, EXIT_OK, EXIT_USAGE

from .conftest import (
    DOWN_URLS,
    FINGERPRINTED_TOKEN,
    clean_env,
    make_home,
    read_json,
    read_members,
    run_cli,
)

TOKEN = FINGERPRINTED_TOKEN


def _forms(token: str) -> list[bytes]:
    """The shapes a token takes in logs and JSON: plain, Basic-header base64, hex,
    percent-encoded, JSON ``\\u`` escapes."""
    return [token.encode(), base64.b64encode(f"user:{token}".encode())[8:-4],
            token.encode().hex().encode(), quote(token, safe="").encode(),
            "".join(f"\\u{ord(c):04x}" for c in token).encode()]


def _assert_token_absent(members: dict[str, bytes], token: str) -> None:
    gate = KnownSecrets((token,)).redactor()
    for name, data in members.items():
        for form in _forms(token):
            assert form not in data, (name, form)
        assert gate.find_leaks(data) == [], name


def _fingerprint_home(home: Path) -> Path:
    """A stopped hub's home whose token is known only by its fingerprint, with the token in
    a node's name and meta and, in several encodings, in the logs."""
    basic = base64.b64encode(f"ops:{TOKEN}".encode()).decode()
    control = (f"GET /nodes 401 Authorization: Basic {basic}\n"
               f"GET /nodes?x={quote(TOKEN)} 200\n"
               f"debug {TOKEN.encode().hex()}\n"
               f"note {TOKEN}\n")
    return make_home(home, nodes=[(f"node-{TOKEN}", {"cmd": f"run {TOKEN}", "z": 1}, time.time())],
                     logs={"hub_control.log": control})


def test_a_token_known_only_by_fingerprint_is_found_in_every_form(tmp_path: Path) -> None:
    home = _fingerprint_home(tmp_path / "home")
    run = run_cli(["--out", str(tmp_path / "out"), *DOWN_URLS],
                  clean_env(SHERATAN_HOME=str(home)), cwd=tmp_path)
    assert run.returncode == EXIT_OK, run.stderr
    assert "token: known by fingerprint (state/hub_token.fingerprint.json)" in run.stderr
    members = read_members(run.bundle)
    _assert_token_absent(members, TOKEN)
    manifest = read_json(members, "manifest.json")
    assert manifest["token"] == {"value_known": False,
                                 "found_by": ["fingerprint state/hub_token.fingerprint.json"]}
    assert manifest["known_values"]["fingerprints"] == 1
    assert manifest["redactions"]["known_values"]["known_secret"] >= 5
    node = read_json(members, "registry.json")["nodes"][0]
    assert node["meta"] == {"cmd": "run [REDACTED]", "z": 1}
    assert node["node_id"] == "node-[REDACTED]"


def test_no_token_and_no_fingerprint_means_no_bundle_and_exit_5(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", fingerprint=None,
                     logs={"hub_control.log": "hello\n"})
    out = tmp_path / "out"
    run = run_cli(["--out", str(out), *DOWN_URLS], clean_env(SHERATAN_HOME=str(home)),
                  cwd=tmp_path)
    assert run.returncode == EXIT_NO_TOKEN == 5
    assert not out.exists()  # nothing written, not even the folder
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    for needle in ("no bundle written", "HUB_TOKEN", "--token-file PATH",
                   str(home / "secrets" / "hub_token"), str(home / FINGERPRINT_FILE),
                   "start the v1.5 hub once", "state/hub_token.fingerprint.json"):
        assert needle in run.stderr, needle


def test_an_unusable_fingerprint_warns_and_does_not_count(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", fingerprint=None)
    (home / FINGERPRINT_FILE).write_text("{not a fingerprint")
    run = run_cli(["--out", str(tmp_path / "out"), *DOWN_URLS],
                  clean_env(SHERATAN_HOME=str(home)), cwd=tmp_path)
    assert run.returncode == EXIT_NO_TOKEN
    assert "warning: " in run.stderr and "hub_token.fingerprint.json" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("how", ["relative", "absolute"])
def test_token_file_option_makes_the_token_known(tmp_path: Path, how: str) -> None:
    home = _fingerprint_home(tmp_path / "home")
    (home / FINGERPRINT_FILE).unlink()  # only the named file can tell it now
    secret_dir = tmp_path / "vault-dir-8812"
    secret_dir.mkdir()
    (secret_dir / "hub.tok").write_text(TOKEN + "\n")
    other = secret_dir / "other.tok"
    other.write_text("second-token-value-abcdef12\n")
    path = (secret_dir / "hub.tok") if how == "absolute" else Path("vault-dir-8812/hub.tok")
    run = run_cli(["--out", str(tmp_path / "out"), "--token-file", str(path),
                   "--token-file", str(other), *DOWN_URLS],
                  clean_env(SHERATAN_HOME=str(home)), cwd=tmp_path)
    assert run.returncode == EXIT_OK, run.stderr
    assert f"token: --token-file {path}, --token-file {other}" in run.stderr
    members = read_members(run.bundle)
    _assert_token_absent(members, TOKEN)
    token = read_json(members, "manifest.json")["token"]
    # The manifest names the files only: their folders could name the user.
    assert token == {"value_known": True,
                     "found_by": ["token file hub.tok (given with --token-file)",
                                  "token file other.tok (given with --token-file)"]}
    assert all(b"vault-dir-8812" not in data for data in members.values())


@pytest.mark.parametrize("problem", ["missing", "empty", "folder"])
def test_an_unusable_token_file_is_a_usage_error(tmp_path: Path, problem: str) -> None:
    path = tmp_path / "token.txt"
    if problem == "empty":
        path.write_text("\n")
    elif problem == "folder":
        path.mkdir()
    home = make_home(tmp_path / "home")
    run = run_cli(["--out", str(tmp_path / "out"), "--token-file", str(path), *DOWN_URLS],
                  clean_env(SHERATAN_HOME=str(home)), cwd=tmp_path)
    assert run.returncode == EXIT_USAGE
    assert f"--token-file {path}" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("where", ["secrets/hub_token", "state/hub_token.fingerprint.json"])
def test_a_fifo_where_the_token_file_belongs_is_refused_without_blocking(
        tmp_path: Path, where: str) -> None:
    home = make_home(tmp_path / "home", fingerprint=None)
    os.mkfifo(home / where)
    started = time.monotonic()
    run = run_cli(["--out", str(tmp_path / "out"), *DOWN_URLS],
                  clean_env(SHERATAN_HOME=str(home)), cwd=tmp_path)
    assert time.monotonic() - started < 30
    assert run.returncode == EXIT_USAGE
    assert f"{home / where} is not a regular file" in run.stderr
    assert "Traceback" not in run.stderr


def test_the_home_token_file_is_read_without_hub_token(tmp_path: Path) -> None:
    home = _fingerprint_home(tmp_path / "home")
    (home / FINGERPRINT_FILE).unlink()
    (home / "secrets" / "hub_token").write_text(TOKEN + "\n")
    run = run_cli(["--out", str(tmp_path / "out"), *DOWN_URLS],
                  clean_env(SHERATAN_HOME=str(home)), cwd=tmp_path)
    assert run.returncode == EXIT_OK, run.stderr
    assert f"token: token file {home / 'secrets' / 'hub_token'}" in run.stderr
    _assert_token_absent(read_members(run.bundle), TOKEN)


def _bundle(tmp_path: Path) -> Path:
    home = make_home(tmp_path / "home", logs={"hub_control.log": "hello\n"})
    run = run_cli(["--out", str(tmp_path / "out"), *DOWN_URLS],
                  clean_env(SHERATAN_HOME=str(home)), cwd=tmp_path)
    return run.bundle


def _plant(bundle: Path, text: bytes) -> None:
    """Rewrite ``bundle`` with ``text`` in the control log and a manifest that matches."""
    import hashlib
    import zipfile

    members = read_members(bundle)
    members["logs/hub_control.log"] = text
    manifest = json.loads(members["manifest.json"])
    manifest["members"] = [{"name": n, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
                           for n, d in sorted(members.items()) if n != "manifest.json"]
    members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(bundle, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_verify_refuses_to_call_a_bundle_clean_without_the_token(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    empty_home = tmp_path / "elsewhere"
    run = run_cli(["--verify", str(bundle), "--home", str(empty_home)], clean_env(),
                  cwd=tmp_path)
    assert run.returncode == EXIT_NO_TOKEN
    assert "not declared clean" in run.stderr and "--token-file PATH" in run.stderr
    assert "OK " not in run.stdout
    # The same bundle is clean for whoever can find the token.
    ok = run_cli(["--verify", str(bundle), "--home", str(tmp_path / "home")], clean_env(),
                 cwd=tmp_path)
    assert ok.returncode == EXIT_OK, ok.stdout + ok.stderr
    assert "token: known by fingerprint" in ok.stderr


def test_verify_without_the_token_still_reports_a_pattern_leak(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    _plant(bundle, b"Authorization: Bearer abcdef0123456789\n")
    run = run_cli(["--verify", str(bundle), "--home", str(tmp_path / "nowhere")], clean_env(),
                  cwd=tmp_path)
    assert run.returncode == EXIT_LEAK
    assert "LEAK logs/hub_control.log: bearer" in run.stdout


@pytest.mark.parametrize("source", ["fingerprint", "token-file", "env"])
def test_verify_finds_a_planted_token_however_it_knows_it(tmp_path: Path, source: str) -> None:
    bundle = _bundle(tmp_path)
    _plant(bundle, f"odd {TOKEN} spot\n".encode())
    args = ["--verify", str(bundle), "--home", str(tmp_path / "home")]
    env = clean_env()
    if source != "fingerprint":
        (tmp_path / "home" / FINGERPRINT_FILE).unlink()
    if source == "token-file":
        (tmp_path / "t").write_text(TOKEN)
        args += ["--token-file", str(tmp_path / "t")]
    elif source == "env":
        env["HUB_TOKEN"] = TOKEN
    run = run_cli(args, env, cwd=tmp_path)
    assert run.returncode == EXIT_LEAK, run.stdout + run.stderr
    assert "LEAK logs/hub_control.log: known_secret" in run.stdout
    assert TOKEN not in run.stdout + run.stderr


def test_email_addresses_are_masked_in_names_meta_and_logs(tmp_path: Path) -> None:
    home = make_home(
        tmp_path / "home",
        nodes=[("n1", {"owner": "Jane Roe <jane.roe@example.org>", "zone": "b"}, time.time())],
        logs={"hub_security_audit.jsonl": json.dumps(
            {"event": "AUTH_FAILURE", "path": "/nodes/ops.team@example.net/heartbeat"}) + "\n"})
    import sqlite3

    with sqlite3.connect(home / "state" / "hub.db") as conn:
        conn.execute("UPDATE nodes SET name = 'rack-7 (admin@example.com)'")
    conn.close()
    run = run_cli(["--out", str(tmp_path / "out"), *DOWN_URLS],
                  clean_env(SHERATAN_HOME=str(home)), cwd=tmp_path)
    members = read_members(run.bundle)
    for data in members.values():
        assert b"@example." not in data
    node = read_json(members, "registry.json")["nodes"][0]
    assert node["name"] == "rack-7 ([REDACTED])"
    assert node["meta"] == {"owner": "Jane Roe <[REDACTED]>", "zone": "b"}
    audit = json.loads(members["logs/hub_security_audit.jsonl"])
    assert audit["path"] == "/nodes/[REDACTED]/heartbeat"
    assert read_json(members, "manifest.json")["redactions"]["pii"]["email"] == 3
    # Masked, not gated: the bundle was written.
    assert run.returncode == EXIT_OK


def test_help_documents_the_token_option_and_exit_5() -> None:
    import subprocess

    from tests.scripts.conftest import checkout_env

    from .conftest import DIAGNOSE

    result = subprocess.run([sys.executable, str(DIAGNOSE), "--help"], env=checkout_env(),
                            capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0
    assert "--token-file PATH" in result.stdout
    assert "5  the hub token is neither known nor findable" in result.stdout
