"""File-safe reads: symlinks and FIFOs where the hub's files belong are refused, never
followed and never waited on."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from sheratan_ops.diag import EXIT_OK, tail_lines
from sheratan_ops.diag.files import collect_log, collect_watcher_status
from sheratan_ops.diag.hubdb import query_nodes, read_db
from watcher import NotRegularFile

from .conftest import DOWN_URLS, clean_env, make_home, read_json, read_members, run_cli

needs_symlinks = pytest.mark.skipif(os.name == "nt", reason="symlinks need privileges on Windows")
needs_fifos = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")

#: Content that must never be shipped: it is what a planted symlink points at.
ELSEWHERE = "content-from-elsewhere-91zq\n"


def _outside(tmp_path: Path) -> Path:
    target = tmp_path / "private.txt"
    target.write_text(ELSEWHERE)
    return target


def _run(tmp_path: Path, home: Path) -> tuple[dict[str, bytes], dict[str, dict[str, object]]]:
    started = time.monotonic()
    run = run_cli(["--out", str(tmp_path / "out"), "--timeout-s", "0.5", *DOWN_URLS],
                  clean_env(SHERATAN_HOME=str(home)), cwd=tmp_path)
    # A FIFO must not even eat the collectors' deadline (3 * 0.5 + 2 s).
    assert time.monotonic() - started < 15
    assert run.returncode == EXIT_OK, run.stderr
    members = read_members(run.bundle)
    for data in members.values():
        assert ELSEWHERE.strip().encode() not in data
    return members, read_json(members, "manifest.json")["collectors"]


@needs_symlinks
def test_a_symlinked_log_gives_an_empty_refused_member(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", logs={"hub_data.log": "data line\n"})
    (home / "logs" / "hub_control.log").symlink_to(_outside(tmp_path))
    members, collectors = _run(tmp_path, home)
    assert members["logs/hub_control.log"] == b""
    entry = collectors["log_hub_control"]
    assert entry["status"] == "refused"
    assert entry["error"] == "hub_control.log is a symbolic link, not a regular file; not read"
    assert members["logs/hub_data.log"] == b"data line\n"  # the others are unaffected


@needs_fifos
def test_a_fifo_at_a_logs_place_is_refused_without_blocking(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    os.mkfifo(home / "logs" / "hub_security_audit.jsonl")
    members, collectors = _run(tmp_path, home)
    assert members["logs/hub_security_audit.jsonl"] == b""
    entry = collectors["log_hub_security_audit"]
    assert entry["status"] == "refused"
    assert entry["error"] == ("hub_security_audit.jsonl is a FIFO, not a regular file; "
                              "not read")


@needs_symlinks
def test_a_symlinked_rotated_log_keeps_the_live_lines_and_says_so(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", logs={"hub_control.log": "live 1\nlive 2\n"})
    (home / "logs" / "hub_control.log.1").symlink_to(_outside(tmp_path))
    members, collectors = _run(tmp_path, home)
    assert members["logs/hub_control.log"] == b"live 1\nlive 2\n"
    entry = collectors["log_hub_control"]
    assert entry["status"] == "refused"
    assert "hub_control.log.1 is a symbolic link" in str(entry["error"])


@needs_symlinks
def test_a_symlinked_watcher_status_is_refused(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    target = tmp_path / "status.json"
    target.write_text(json.dumps({"state": ELSEWHERE.strip()}))
    (home / "state" / "watcher_status.json").symlink_to(target)
    members, collectors = _run(tmp_path, home)
    assert "watcher/status.json" not in members
    assert collectors["watcher_status"]["status"] == "refused"
    assert "symbolic link" in str(collectors["watcher_status"]["error"])


@needs_symlinks
@pytest.mark.parametrize("which", ["hub.db", "hub.db-wal"])
def test_a_symlinked_db_is_not_opened(tmp_path: Path, which: str) -> None:
    other = make_home(tmp_path / "other", nodes=[("other-node-xyz", {}, time.time())])
    home = make_home(tmp_path / "home", nodes=[("own-node", {}, time.time())])
    db = home / "state" / "hub.db"
    if which == "hub.db":
        db.unlink()
        db.symlink_to(other / "state" / "hub.db")
    else:
        (home / "state" / "hub.db-shm").write_bytes(b"")
        (home / "state" / "hub.db-wal").symlink_to(_outside(tmp_path))
    members, collectors = _run(tmp_path, home)
    registry = read_json(members, "registry.json")
    assert registry["nodes"] == []
    assert collectors["registry"]["status"] == "refused"
    assert f"{which} is a symbolic link" in str(collectors["registry"]["error"])
    assert all(b"other-node-xyz" not in data for data in members.values())
    metrics = read_json(members, "metrics/control.json")
    assert metrics["source"] == "none" and "symbolic link" in metrics["offline_error"]


@needs_fifos
def test_a_fifo_at_the_db_is_refused_without_blocking(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    (home / "state" / "hub.db").unlink()
    os.mkfifo(home / "state" / "hub.db")
    _, collectors = _run(tmp_path, home)
    assert collectors["registry"]["status"] == "refused"
    assert "hub.db is a FIFO" in str(collectors["registry"]["error"])


@needs_symlinks
def test_tail_lines_refuses_a_symlink_to_a_regular_file(tmp_path: Path) -> None:
    link = tmp_path / "link.log"
    link.symlink_to(_outside(tmp_path))
    with pytest.raises(NotRegularFile) as caught:
        tail_lines(link, 5)
    assert caught.value.kind == "a symbolic link"


def test_a_folder_at_a_logs_place_is_refused(tmp_path: Path) -> None:
    (tmp_path / "hub_data.log").mkdir()
    out = collect_log("logs/hub_data.log", tmp_path / "hub_data.log", 10)
    assert out.status == "refused" and out.members == {"logs/hub_data.log": b""}
    assert out.error == "hub_data.log is a folder, not a regular file; not read"


def test_a_missing_log_is_absent_not_refused(tmp_path: Path) -> None:
    out = collect_log("logs/x.log", tmp_path / "x.log", 10)
    assert out.status == "absent" and out.error is None


def test_the_watcher_status_keeps_only_allow_listed_fields(tmp_path: Path) -> None:
    home = tmp_path / "home"
    status = home / "state" / "watcher_status.json"
    status.parent.mkdir(parents=True)
    status.write_text(json.dumps({
        "pid": 31337, "mode": "follow", "state": "following", "lines_read": 9,
        "log": "/var/log/elsewhere/hub_security_audit.jsonl",
        "alerts": str(home / "logs" / "alerts.jsonl"), "host": "build-box-17",
        "parse_errors": True, "updated_at": "2026-01-01T00:00:00Z", "nested": {"a": 1}}))
    out = collect_watcher_status(status, home)
    assert out.members["watcher/status.json"] == {
        "mode": "follow", "state": "following", "lines_read": 9,
        "log": "hub_security_audit.jsonl", "alerts": "logs/alerts.jsonl",
        "updated_at": "2026-01-01T00:00:00Z"}
    assert out.dropped_fields == 4


@pytest.mark.parametrize(("content", "error"), [
    (b"[1, 2]", "watcher_status.json: not a JSON object"),
    (b"{broken", "watcher_status.json: not JSON"),
    (b"[" * 100_000, "watcher_status.json: not JSON"),
])
def test_a_bad_watcher_status_is_an_error_not_a_crash(tmp_path: Path, content: bytes,
                                                       error: str) -> None:
    path = tmp_path / "watcher_status.json"
    path.write_bytes(content)
    out = collect_watcher_status(path, tmp_path)
    assert (out.status, out.error, out.members) == ("error", error, {})


def test_a_regular_db_with_its_wal_files_passes_the_check(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", nodes=[("n1", {"a": 1}, 5.0)])
    copy = tmp_path / "copy.db"
    shutil.copy(home / "state" / "hub.db", copy)
    read = read_db(copy, query_nodes, timeout_s=1)
    assert (read.open_mode, [row.node_id for row in read.value.rows]) == ("immutable", ["n1"])
    for side in ("copy.db-wal", "copy.db-shm"):
        (tmp_path / side).write_bytes(b"")  # as a running hub has them
    read = read_db(copy, query_nodes, timeout_s=1)
    assert (read.open_mode, [row.node_id for row in read.value.rows]) == ("wal", ["n1"])
