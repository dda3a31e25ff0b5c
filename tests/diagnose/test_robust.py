"""Robust bundles: bad values, huge registries, overlong lines, name collisions, no trace of
where or who, owner-only files, and console output that cannot drive the terminal."""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from otel import KnownSecrets
from sheratan_ops.diag import EXIT_OK, LayeredRedactor, LeakGate, main, write_bundle
from sheratan_ops.diag.bundle import bundle_names

from .conftest import (
    DIAGNOSE,
    DOWN_URLS,
    ENV_TOKEN,
    clean_env,
    make_home,
    read_json,
    read_members,
    run_cli,
)

MIB = 1024 * 1024


def _bundle(capsys: pytest.CaptureFixture[str]) -> Path:
    return Path(capsys.readouterr().out.strip().splitlines()[-1])


def _set_meta(home: Path, node_id: str, meta_text: str) -> None:
    conn = sqlite3.connect(home / "state" / "hub.db")
    try:
        with conn:
            conn.execute("UPDATE nodes SET meta = ? WHERE node_id = ?", (meta_text, node_id))
    finally:
        conn.close()


# -- values strict JSON cannot hold -------------------------------------------------------


def test_nan_and_infinity_in_meta_become_notes_and_the_registry_survives(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = time.time()
    home = make_home(tmp_path / "home", nodes=[("a", {"ok": 1}, now), ("b", {}, now),
                                               ("c", {"zone": "x"}, now)])
    _set_meta(home, "b", '{"load": NaN, "peak": Infinity, "floor": [-Infinity], "n": 2}')
    code = main(["--out", str(tmp_path / "out"), *DOWN_URLS],
                env=clean_env(SHERATAN_HOME=str(home)))
    assert code == EXIT_OK
    members = read_members(_bundle(capsys))
    nodes = read_json(members, "registry.json")["nodes"]
    assert [n["meta"] for n in nodes] == [
        {"ok": 1}, {"load": "NaN", "peak": "Infinity", "floor": ["-Infinity"], "n": 2},
        {"zone": "x"}]
    entry = read_json(members, "manifest.json")["collectors"]["registry"]
    assert entry["status"] == "ok" and entry["replaced_values"] == 3
    assert "NaN" in entry["note"]


def test_a_lone_surrogate_and_a_deeply_nested_meta_do_not_cost_the_registry(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = time.time()
    home = make_home(tmp_path / "home", nodes=[("a", {}, now), ("b", {}, now), ("c", {}, now)])
    _set_meta(home, "a", '{"s": "x\\ud800y"}')
    _set_meta(home, "b", "[" * 5000 + "]" * 5000)
    conn = sqlite3.connect(home / "state" / "hub.db")
    with conn:
        conn.execute("UPDATE nodes SET last_seen = 'garbage' WHERE node_id = 'c'")
    conn.close()
    code = main(["--out", str(tmp_path / "out"), *DOWN_URLS],
                env=clean_env(SHERATAN_HOME=str(home)))
    assert code == EXIT_OK
    members = read_members(_bundle(capsys))
    nodes = {n["node_id"]: n for n in read_json(members, "registry.json")["nodes"]}
    assert nodes["a"]["meta"] == {"s": "x\ufffdy"}
    assert nodes["b"]["meta"] == "[" * 5000 + "]" * 5000  # kept as its text
    assert (nodes["c"]["status"], nodes["c"]["last_seen"]) == ("unknown", None)
    metrics = read_json(members, "metrics/control.json")
    assert metrics["reading"]["nodes_online"] == 2  # c is not counted


def test_a_redaction_failure_costs_only_that_collectors_member(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    real = LayeredRedactor.structure

    def fragile(self: LayeredRedactor, value: object) -> object:
        if isinstance(value, dict) and "nodes" in value:
            raise RuntimeError("cannot handle node-secret-detail-5521")
        return real(self, value)

    monkeypatch.setattr(LayeredRedactor, "structure", fragile)
    home = make_home(tmp_path / "home", nodes=[("a", {}, time.time())],
                     logs={"hub_control.log": "still here\n"})
    code = main(["--out", str(tmp_path / "out"), *DOWN_URLS],
                env=clean_env(SHERATAN_HOME=str(home)))
    assert code == EXIT_OK
    members = read_members(_bundle(capsys))
    error = "the collected data could not be redacted or serialized (RuntimeError)"
    assert read_json(members, "registry.json") == {"collector": "registry", "error": error}
    assert members["logs/hub_control.log"] == b"still here\n"
    entry = read_json(members, "manifest.json")["collectors"]["registry"]
    assert (entry["status"], entry["error"]) == ("error", error)
    assert all(b"node-secret-detail-5521" not in data for data in members.values())


# -- the registry's caps -----------------------------------------------------------------


def test_meta_over_the_cap_is_replaced_by_a_note_with_its_size(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import sheratan_ops.diag.registry as registry

    monkeypatch.setattr(registry, "META_MAX_BYTES", 1024)
    now = time.time()
    big = {"blob": "b" * 3000}
    home = make_home(tmp_path / "home", nodes=[("a", {"small": 1}, now), ("b", big, now)])
    code = main(["--out", str(tmp_path / "out"), *DOWN_URLS],
                env=clean_env(SHERATAN_HOME=str(home)))
    assert code == EXIT_OK
    members = read_members(_bundle(capsys))
    doc = read_json(members, "registry.json")
    assert doc["nodes"][0]["meta"] == {"small": 1} and "meta_cut" not in doc["nodes"][0]
    assert doc["nodes"][1]["meta"] is None
    assert doc["nodes"][1]["meta_cut"] == {"meta_bytes": len(json.dumps(big)),
                                           "limit_bytes": 1024}
    assert (doc["total"], doc["listed"], doc["cut"]["meta_cut"]) == (2, 2, 1)
    entry = read_json(members, "manifest.json")["collectors"]["registry"]
    assert entry["status"] == "cut" and "meta of 1 node(s) left out" in entry["note"]


def test_the_registry_member_is_capped_and_says_how_many_nodes_it_lists(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import sheratan_ops.diag.registry as registry

    monkeypatch.setattr(registry, "REGISTRY_MAX_BYTES", 40_000)
    now = time.time()
    home = make_home(tmp_path / "home",
                     nodes=[(f"n{i:03d}", {"pad": "p" * 1000}, now) for i in range(100)])
    code = main(["--out", str(tmp_path / "out"), *DOWN_URLS],
                env=clean_env(SHERATAN_HOME=str(home)))
    assert code == EXIT_OK
    members = read_members(_bundle(capsys))
    assert 35_000 < len(members["registry.json"]) <= 40_000
    doc = read_json(members, "registry.json")
    listed = doc["listed"]
    assert doc["total"] == 100 and 0 < listed < 100 and len(doc["nodes"]) == listed
    assert doc["cut"]["nodes_not_listed"] == 100 - listed
    assert [n["node_id"] for n in doc["nodes"]] == [f"n{i:03d}" for i in range(listed)]
    entry = read_json(members, "manifest.json")["collectors"]["registry"]
    assert entry["status"] == "cut" and f"{listed} of 100 nodes listed" in entry["note"]


def test_forty_nodes_of_900_kb_meta_are_quick_and_small(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    conn = sqlite3.connect(home / "state" / "hub.db")
    now = time.time()
    with conn:
        for i in range(40):
            meta = json.dumps({"inventory": [{"pkg": f"p{j}", "note": "lorem ipsum " * 6}
                                             for j in range(9000)]})
            assert len(meta) > 900_000
            conn.execute("INSERT INTO nodes (node_id, name, meta, registered_at, last_seen) "
                         "VALUES (?, ?, ?, ?, ?)", (f"node-{i:02d}", f"N{i}", meta, now, now))
    conn.close()
    started = time.monotonic()
    run = run_cli(["--out", str(tmp_path / "out"), *DOWN_URLS],
                  clean_env(SHERATAN_HOME=str(home)), cwd=tmp_path)
    elapsed_s = time.monotonic() - started
    assert run.returncode == EXIT_OK, run.stderr
    assert elapsed_s < 15  # was minutes before the caps (see the commit message)
    members = read_members(run.bundle)
    assert len(members["registry.json"]) < 64 * 1024
    doc = read_json(members, "registry.json")
    assert doc["listed"] == doc["total"] == 40
    assert all(n["meta"] is None and n["meta_cut"]["meta_bytes"] > 900_000
               for n in doc["nodes"])


# -- overlong log lines ------------------------------------------------------------------


def test_a_last_line_over_the_tail_cap_keeps_the_lines_before_it(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    size = 4 * MIB + 10
    (home / "logs" / "hub_data.log").write_bytes(b"first\nsecond\n" + b"z" * size)
    run = run_cli(["--out", str(tmp_path / "out"), *DOWN_URLS],
                  clean_env(SHERATAN_HOME=str(home)), cwd=tmp_path)
    members = read_members(run.bundle)
    assert members["logs/hub_data.log"] == (
        b"first\nsecond\n[diagnose: a line of %d bytes was cut here: longer than the "
        b"4194304-byte tail cap]" % size)
    entry = read_json(members, "manifest.json")["collectors"]["log_hub_data"]
    assert entry["status"] == "cut"
    assert entry["detail"]["cut_lines"] == 1 and entry["detail"]["lines"] == 3
    assert "longer than the 4194304-byte tail cap" in entry["note"]


# -- names, modes, traces ----------------------------------------------------------------


def test_two_runs_with_the_same_timestamp_never_collide(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", logs={"hub_control.log": "x\n"})
    out = tmp_path / "out"
    out.mkdir()
    env = clean_env(SHERATAN_HOME=str(home), SOURCE_DATE_EPOCH="1795000000")
    existing = out / "diag_bundle_20261118T110640Z_1.zip"
    existing.write_bytes(b"someone else's file")
    names = [run_cli(["--out", str(out), *DOWN_URLS], env, cwd=tmp_path).bundle.name
             for _ in range(3)]
    assert names == ["diag_bundle_20261118T110640Z.zip", "diag_bundle_20261118T110640Z_2.zip",
                     "diag_bundle_20261118T110640Z_3.zip"]
    assert existing.read_bytes() == b"someone else's file"  # never overwritten
    first, *others = (out / name for name in names)
    assert all(other.read_bytes() == first.read_bytes() for other in others)  # reproducible


@pytest.mark.parametrize("links", [True, False], ids=["link", "no-hard-links"])
def test_concurrent_writers_each_get_their_own_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, links: bool) -> None:
    if not links:
        def no_link(src: object, dst: object) -> None:
            raise PermissionError(1, "Operation not permitted")
        monkeypatch.setattr(os, "link", no_link)
    gate = LeakGate(KnownSecrets(()).redactor())
    stamp = datetime(2026, 11, 29, tzinfo=UTC)
    paths: list[Path] = []
    lock = threading.Lock()

    def write(i: int) -> None:
        path = write_bundle(tmp_path, "diag_bundle_X.zip", {"m.txt": f"writer {i}\n".encode()},
                           timestamp=stamp, gate=gate)
        with lock:
            paths.append(path)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(p.name for p in paths) == sorted(bundle_names("diag_bundle_X.zip")[:8])
    contents = {read_members(p)["m.txt"] for p in paths}
    assert len(contents) == 8  # each writer's own bundle, none overwritten
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_the_bundle_and_new_folders_are_owner_only_whatever_the_umask(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = make_home(tmp_path / "home")
    existing = tmp_path / "shared"
    existing.mkdir(mode=0o755)
    os.chmod(existing, 0o755)
    out = existing / "new" / "deeper"
    old = os.umask(0)
    try:
        code = main(["--out", str(out), *DOWN_URLS], env=clean_env(SHERATAN_HOME=str(home)))
    finally:
        os.umask(old)
    assert code == EXIT_OK
    bundle = _bundle(capsys)
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert stat.S_IMODE(out.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(existing.stat().st_mode) == 0o755  # not ours: left alone


def _words(value: str) -> re.Pattern[bytes]:
    """``value`` not inside a longer run of letters, digits or hex."""
    return re.compile(rb"(?<![0-9A-Za-z])" + re.escape(value.encode()) + rb"(?![0-9A-Za-z])")


def test_no_member_holds_the_home_path_a_pid_the_host_or_the_user(tmp_path: Path) -> None:
    home = tmp_path / "users" / "alice-on-host-zq81" / "sheratan-home"
    make_home(home, nodes=[("n1", {"cwd": str(home / "work")}, time.time())],
              logs={"hub_control.log": f"started; home {home}; token file "
                                       f"{home / 'secrets' / 'hub_token'}\n"})
    (home / "logs" / "hub_data.log").mkdir()  # an error that names a file
    (home / "state" / "watcher_status.json").write_text(json.dumps({
        "pid": os.getpid(), "mode": "follow", "state": "following",
        "log": str(home / "logs" / "hub_security_audit.jsonl"), "host": socket.gethostname(),
        "user": getpass.getuser()}))
    proc = subprocess.Popen(
        [sys.executable, str(DIAGNOSE), "--out", str(tmp_path / "out"), *DOWN_URLS],
        cwd=tmp_path, env=clean_env(SHERATAN_HOME=str(home)), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_OK, stderr
    members = read_members(Path(stdout.strip().splitlines()[-1]))
    needles = [str(home.absolute()).encode(), str(home.resolve()).encode(),
               b"alice-on-host-zq81", str(tmp_path).encode()]
    patterns = [_words(str(proc.pid)), _words(str(os.getpid()))]
    host, user = socket.gethostname(), getpass.getuser()
    if len(host) >= 6:
        patterns.append(_words(host))
    if len(user) >= 6:  # "root" is inside ordinary words
        patterns.append(_words(user))
    for name, data in members.items():
        for needle in needles:
            assert needle not in data, (name, needle)
        for pattern in patterns:
            assert not pattern.search(data), (name, pattern.pattern)
    control = members["logs/hub_control.log"].decode()
    assert "home $SHERATAN_HOME; token file $SHERATAN_HOME/secrets/hub_token" in control
    manifest = read_json(members, "manifest.json")
    assert manifest["collectors"]["log_hub_data"]["error"] == (
        "hub_data.log is a folder, not a regular file; not read")
    assert manifest["redactions"]["paths"]["home_path"] >= 3
    status = read_json(members, "watcher/status.json")
    assert status == {"mode": "follow", "state": "following",
                      "log": "logs/hub_security_audit.jsonl"}


# -- the console ---------------------------------------------------------------------------


@pytest.mark.skipif(os.name == "nt", reason="a file name with ESC needs POSIX")
def test_console_output_cannot_drive_the_terminal(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    out = tmp_path / "out\x1b[2Jx"
    run = run_cli(["--out", str(out), *DOWN_URLS], clean_env(SHERATAN_HOME=str(home)),
                  cwd=tmp_path)
    assert run.returncode == EXIT_OK, run.stderr
    assert "\x1b" not in run.stdout + run.stderr
    assert run.stdout.strip().splitlines()[-1] == str(out).replace("\x1b", "\\x1b") + "/" + \
        next(out.iterdir()).name
    bundle = next(out.iterdir())
    with zipfile.ZipFile(bundle, "a") as archive:
        archive.writestr("evil\x1b]0;owned\x07.txt", b"x")
    verify = run_cli(["--verify", str(bundle), "--home", str(home)], clean_env(), cwd=tmp_path)
    assert verify.returncode == 4
    assert "\x1b" not in verify.stdout + verify.stderr and "\x07" not in verify.stdout
    assert "TAMPERED evil\\x1b]0;owned\\x07.txt: not listed in the manifest" in verify.stdout


def test_the_env_token_is_enough_for_a_home_that_does_not_exist(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # --allow-empty: a missing home is refused otherwise (tests/diagnose/test_home.py)
    code = main(["--out", str(tmp_path / "out"), "--allow-empty", *DOWN_URLS],
                env=clean_env(SHERATAN_HOME=str(tmp_path / "none"), HUB_TOKEN=ENV_TOKEN))
    assert code == EXIT_OK
    captured: Any = capsys.readouterr()
    assert "token: HUB_TOKEN" in captured.err
