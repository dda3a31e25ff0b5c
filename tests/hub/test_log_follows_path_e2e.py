"""A real hub whose audit log (or plane log) is deleted, moved away or replaced while it runs
writes the next line into a new file at the same path, loses no line, and still rotates."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

import httpx
import pytest

from baseline_hub.audit import ROTATE_AT_BYTES
from tests.conftest import HubProcess

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(os.name != "posix", reason="needs delete-while-open")]

WRONG = {"Authorization": "Bearer wrong-token-0123456789abcdef"}


def audit_path(hub: HubProcess) -> Path:
    return hub.home / "logs" / "hub_security_audit.jsonl"


def records(data: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in data.splitlines()]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def rejected(client: httpx.Client, url: str, headers: dict[str, str] | None = None) -> None:
    response = client.request("DELETE", url, headers=headers)
    assert response.status_code == 401, response.text


@pytest.mark.parametrize("how", ["delete", "move"])
def test_the_next_auth_failure_goes_to_a_new_file_at_the_path(
        hub_process: HubProcess, how: str) -> None:
    hub, path = hub_process, audit_path(hub_process)
    with httpx.Client(timeout=5) as client:
        rejected(client, f"{hub.control_url}/nodes/before")
        assert [r["path"] for r in records(path.read_bytes())] == ["/nodes/before"]
        moved = path.with_name("moved_away.jsonl")
        if how == "delete":
            path.unlink()
        else:
            path.rename(moved)
        assert not path.exists()
        rejected(client, f"{hub.control_url}/nodes/after", headers=WRONG)
    [line] = records(path.read_bytes())
    assert (line["event"], line["path"], line["reason"]) == (
        "AUTH_FAILURE", "/nodes/after", "invalid_token")
    assert mode(path) == 0o600
    if how == "move":
        assert [r["path"] for r in records(moved.read_bytes())] == ["/nodes/before"]


def test_no_audit_line_is_lost_across_deletes_during_a_burst(hub_process: HubProcess) -> None:
    hub, path = hub_process, audit_path(hub_process)
    total, deletes = 600, 5
    held: list[IO[bytes]] = []  # each deleted file, still readable through our handle
    sent = [0]
    lock = threading.Lock()

    def send(client: httpx.Client) -> None:
        while True:
            with lock:
                if sent[0] == total:
                    return
                sent[0] += 1
                n = sent[0]
            rejected(client, f"{hub.control_url}/nodes/n{n}")

    with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=8)) as client, \
            ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(send, client) for _ in range(8)]
        try:
            for k in range(1, deletes + 1):
                while sent[0] < total * k // (deletes + 1):
                    time.sleep(0.001)
                handle: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed below
                held.append(handle)
                path.unlink()
            for future in futures:
                future.result()
            data = b"".join(handle.read() for handle in held) + path.read_bytes()
        finally:
            for handle in held:
                handle.close()
    paths = sorted(str(r["path"]) for r in records(data))
    assert paths == sorted(f"/nodes/n{n}" for n in range(1, total + 1))  # each exactly once
    assert mode(path) == 0o600


def _filler(path: Path, marker: int) -> None:
    """A sparse file just under the rotation size, whose first line names it."""
    tmp = path.with_name("filler.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, json.dumps({"marker": marker}).encode() + b"\n")
        os.ftruncate(fd, ROTATE_AT_BYTES - 16)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def test_a_replaced_file_is_rotated_by_its_size_keeping_dot_1_to_5(
        hub_process: HubProcess) -> None:
    hub, path = hub_process, audit_path(hub_process)
    with httpx.Client(timeout=5) as client:
        rejected(client, f"{hub.control_url}/nodes/first")
        for marker in range(1, 7):
            _filler(path, marker)
            rejected(client, f"{hub.control_url}/nodes/m{marker}")
            [line] = records(path.read_bytes())
            assert line["path"] == f"/nodes/m{marker}"
    logs = path.parent
    assert sorted(p.name for p in logs.glob("hub_security_audit.jsonl*")) == [
        path.name, *(f"{path.name}.{i}" for i in range(1, 6))]
    for index in range(1, 6):
        rotated = logs / f"{path.name}.{index}"
        with open(rotated, "rb") as handle:
            assert json.loads(handle.readline()) == {"marker": 7 - index}
        assert mode(rotated) == 0o600


def _wait_for(path: Path, text: str, timeout_s: float = 5) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and text in (content := path.read_text()):
            return content
        time.sleep(0.02)
    raise AssertionError(f"{text!r} never appeared in {path}")


def test_a_deleted_plane_log_is_written_again(hub_process: HubProcess) -> None:
    hub = hub_process
    path = hub.home / "logs" / "hub_control.log"
    with httpx.Client(timeout=5) as client:
        client.get(f"{hub.control_url}/nodes/before", headers=hub.auth)
        _wait_for(path, "/nodes/before")
        path.unlink()
        client.get(f"{hub.control_url}/nodes/after", headers=hub.auth)
    content = _wait_for(path, "/nodes/after")
    assert "/nodes/before" not in content
    assert mode(path) == 0o600
