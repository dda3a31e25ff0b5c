"""Everything the hub keeps under its home is owner-only (files 0600, folders 0700), whatever
the umask, and what an earlier run left looser is tightened at start."""

from __future__ import annotations

import logging
import os
import signal
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from baseline_hub import HubConfig
from baseline_hub.audit import AuditLog
from baseline_hub.owneronly import make_dir
from baseline_hub.planelog import open_plane_log
from tests.conftest import HubProcess, start_hub

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


@contextmanager
def umask(mask: int) -> Iterator[None]:
    """The process umask (inherited by a hub started meanwhile), restored afterwards."""
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes_below(home: Path) -> dict[str, int]:
    """``relative path: mode`` for every file and folder below ``home`` (not home itself)."""
    return {str(path.relative_to(home)): mode(path) for path in sorted(home.rglob("*"))}


def exercise(hub: HubProcess) -> None:
    """Requests that write to every file: both plane logs, the audit log and the store."""
    with httpx.Client(timeout=5) as client:
        client.get(f"{hub.control_url}/nodes")  # AUTH_FAILURE
        client.post(f"{hub.control_url}/nodes/register", headers=hub.auth,
                    json={"node_id": "n1", "meta": {"site": "a"}})
        client.post(f"{hub.data_url}/jobs", headers=hub.auth,
                    json={"kind": "k", "payload": {"x": 1}})


def test_a_fresh_home_is_owner_only_even_with_umask_0(hub_home: Path) -> None:
    home = hub_home / "new" / "home"  # the hub creates it, and its missing parent
    with umask(0):
        hub = start_hub(home, token=None)
    try:
        exercise(hub)
        while_running = modes_below(home)
    finally:
        assert hub.stop() == 0
    expected = {"logs", "logs/hub_control.log", "logs/hub_data.log",
                "logs/hub_security_audit.jsonl", "state", "state/hub.db", "state/hub.db-wal",
                "state/hub.db-shm", "state/hub.lock", "secrets", "secrets/hub_token", "configs"}
    assert set(while_running) >= expected
    folders = {"logs", "state", "secrets", "configs"}
    assert {name: m for name, m in while_running.items() if name in folders} == dict.fromkeys(
        folders, 0o700)
    assert {name: m for name, m in while_running.items() if name not in folders} == dict.fromkeys(
        set(while_running) - folders, 0o600)
    assert mode(home) == mode(home.parent) == 0o700


def test_looser_files_from_an_earlier_run_are_tightened_at_start(hub_home: Path) -> None:
    first = start_hub(hub_home)
    exercise(first)
    first.stop(signal.SIGKILL)  # leaves hub.db-wal and hub.db-shm behind
    (hub_home / "logs" / "hub_control.log.1").write_text("an old rotated copy\n")
    (hub_home / "logs" / "hub_security_audit.jsonl.5").write_text("{}\n")
    loosened = modes_below(hub_home)
    assert {"state/hub.db-wal", "state/hub.db-shm"} <= set(loosened)
    for name in loosened:
        os.chmod(hub_home / name, 0o777 if (hub_home / name).is_dir() else 0o666)

    again = start_hub(hub_home)
    try:
        output = "".join(again.output)
        after = modes_below(hub_home)
    finally:
        assert again.stop() == 0
    for name in loosened:
        assert after[name] & 0o077 == 0, name
        assert f"{hub_home / name} was open to other users" in output, name


def test_the_audit_log_and_its_rotated_copies_are_owner_only(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "logs" / "audit.jsonl", rotate_at_bytes=64, keep=3)
    with umask(0):
        for i in range(10):
            log.write({"event": "AUTH_FAILURE", "i": i, "pad": "x" * 40})
        log.close()
    files = modes_below(tmp_path)
    assert set(files) == {"logs", "logs/audit.jsonl", "logs/audit.jsonl.1",
                          "logs/audit.jsonl.2", "logs/audit.jsonl.3"}
    assert files == {**dict.fromkeys(files, 0o600), "logs": 0o700}


def test_a_plane_log_is_created_owner_only_again_after_rotation(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "hub_control.log"
    with umask(0):
        log = open_plane_log("control", path)
        try:
            log.info("before")
            [handler] = log.logger.handlers
            assert isinstance(handler, logging.handlers.RotatingFileHandler)
            handler.doRollover()
            log.info("after")
        finally:
            log.close()
    assert modes_below(tmp_path) == {"logs": 0o700, "logs/hub_control.log": 0o600,
                                     "logs/hub_control.log.1": 0o600}


def test_paths_create_tightens_and_names_what_it_tightened(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    paths = HubConfig(home=tmp_path).paths
    paths.logs_dir.mkdir(mode=0o755)
    paths.audit_log.write_text("")
    os.chmod(paths.audit_log, 0o644)
    with caplog.at_level(logging.WARNING, logger="baseline_hub.owneronly"):
        paths.create()
        paths.create()  # nothing left to tighten: no second warning
    assert (mode(paths.logs_dir), mode(paths.audit_log)) == (0o700, 0o600)
    assert [record.getMessage().split(" was ")[0] for record in caplog.records] == [
        str(paths.logs_dir), str(paths.audit_log)]


def test_a_symlink_in_the_home_is_not_followed_to_tighten_its_target(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("not the hub's")
    os.chmod(victim, 0o644)
    paths = HubConfig(home=tmp_path / "home").paths
    paths.logs_dir.mkdir(parents=True, mode=0o700)
    paths.control_log.symlink_to(victim)  # planted where a log goes
    with caplog.at_level(logging.WARNING, logger="baseline_hub.owneronly"):
        paths.create()
    assert mode(victim) == 0o644
    assert [record.getMessage() for record in caplog.records] == [
        f"{paths.control_log} is a symbolic link; its target's mode is left as it is"]


def test_make_dir_gives_exactly_0700_under_any_umask(tmp_path: Path) -> None:
    with umask(0o277):  # would otherwise leave the owner without write and search bits
        make_dir(tmp_path / "a" / "b")
    assert (mode(tmp_path / "a"), mode(tmp_path / "a" / "b")) == (0o700, 0o700)


def test_make_dir_refuses_a_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(FileExistsError):
        make_dir(tmp_path / "file")
