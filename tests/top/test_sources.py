"""Reading a snapshot: /metrics answers of every kind, the alerts tail, the status file."""

from __future__ import annotations

import os
import socket
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from otel import REDACTED
from sheratan_ops.top.model import AlertState
from sheratan_ops.top.sources import (
    SCAN_MAX_BYTES,
    fetch,
    fetch_plane,
    read_alerts,
    read_watcher_status,
)
from tests.top.conftest import scrubber

CONTROL_BODY = {"plane": "control", "generated_at": "2026-11-29T10:15:04.5Z", "nodes_online": 3,
                "nodes_stale": 1, "nodes_dead": 0, "auth_fail_rate_1m": 0,
                "port_mismatch_rate_1m": 2}


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler), timeout=1.0)


def _answer(status: int, content: bytes,
            seen: list[httpx.Request] | None = None) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, content=content)
    return _client(handler)


def _raising(exc: Exception) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc
    return _client(handler)


def test_a_metrics_answer_is_reduced_to_the_planes_keys() -> None:
    seen: list[httpx.Request] = []
    body = {**CONTROL_BODY, "queue_depth": 9, "nodes_dead": True, "nodes_stale": 1.0}
    with _answer(200, orjson.dumps(body), seen) as client:
        reading = fetch_plane(client, "control", "http://hub:8787/")
    assert reading.ok and reading.url == "http://hub:8787"
    assert str(seen[0].url) == "http://hub:8787/metrics"
    assert seen[0].headers["accept"] == "application/json"
    assert "authorization" not in seen[0].headers  # /metrics needs no token
    assert reading.values == {"nodes_online": 3, "nodes_stale": 1, "auth_fail_rate_1m": 0,
                              "port_mismatch_rate_1m": 2}  # a bool is not a count
    assert reading.generated_at == "2026-11-29T10:15:04.5Z"


def test_metrics_disabled_on_the_hub_is_an_answer_with_its_reason() -> None:
    body = b'{"error":"metrics_unavailable","reason":"disabled"}'
    with _answer(503, body) as client:
        reading = fetch_plane(client, "data", "http://hub:8788")
    assert reading.metrics_off == "disabled" and reading.answered and not reading.ok
    assert reading.error == "hub up, metrics disabled (disabled)" and reading.values == {}


@pytest.mark.parametrize(("status", "content", "expected"), [
    (503, b'{"error":"metrics_unavailable","reason":"shut_down"}',
     "metrics unavailable (HTTP 503: metrics_unavailable shut_down)"),
    (500, b'{"error":"metrics_unavailable","reason":"disabled"}',
     "no metrics (HTTP 500: metrics_unavailable disabled)"),
    (503, b'{"error":"metrics_unavailable","reason":"OTEL_SDK_DISABLED"}',
     "metrics unavailable (HTTP 503: metrics_unavailable OTEL_SDK_DISABLED)"),
    (503, b"Service Unavailable", "metrics unavailable (HTTP 503)"),
    (404, b'{"error":"not_found"}', "no metrics (HTTP 404: not_found)"),
    (500, b"", "no metrics (HTTP 500)"),
    (200, b"<html>router login</html>", "the answer is not JSON (is this the hub?)"),
    (200, b"[1, 2]", "the answer is not a metrics object"),
    (200, b'{"plane":"data","queue_depth":1}', "this URL serves the data plane"),
])
def test_answers_that_are_not_metrics_become_a_reason(status: int, content: bytes,
                                                      expected: str) -> None:
    with _answer(status, content) as client:
        reading = fetch_plane(client, "control", "http://hub:8787")
    assert not reading.ok and reading.error == expected and reading.values == {}
    assert reading.metrics_off is None and not reading.answered


@pytest.mark.parametrize(("exc", "expected"), [
    (httpx.ConnectError("[Errno 111] Connection refused"),
     "hub unreachable: connection refused"),
    (httpx.ConnectError("[Errno -2] Name or service not known"),
     "hub unreachable: [Errno -2] Name or service not known"),
    (httpx.ReadTimeout("timed out"), "hub unreachable: no answer within the timeout"),
    (httpx.RemoteProtocolError("Server disconnected without sending a response."),
     "hub unreachable: RemoteProtocolError: Server disconnected without sending a response."),
])
def test_transport_failures_say_hub_unreachable(exc: Exception, expected: str) -> None:
    with _raising(exc) as client:
        assert fetch_plane(client, "data", "http://hub:8788").error == expected


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) but never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def test_a_real_refused_connection_and_a_real_timeout(silent_port: int) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # bound, never listening: refused
        with httpx.Client(timeout=0.3, trust_env=False) as client:
            refused = fetch_plane(client, "control", f"http://127.0.0.1:{closed}")
            started = time.monotonic()
            silent = fetch_plane(client, "control", f"http://127.0.0.1:{silent_port}")
            elapsed_s = time.monotonic() - started
    assert refused.error == "hub unreachable: connection refused"
    assert silent.error == "hub unreachable: no answer within the timeout"
    assert elapsed_s < 2


def _alert_line(alert_id: str, state: str = "firing", *, ts: str = "2026-11-29T10:14:00Z",
                **extra: object) -> bytes:
    body = {"ts": ts, "alert_id": alert_id, "rule": "auth_failure_burst",
            "event": "AUTH_FAILURE", "state": state, "severity": "warning", "count": 11,
            "threshold": 10, "window_s": 60, "group": {}, "first_seen": ts, "last_seen": ts}
    body.update(extra)
    return orjson.dumps(body) + b"\n"


def test_episodes_still_firing_are_told_from_resolved_ones(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    path.write_bytes(_alert_line("a", ts="2026-11-29T10:00:00Z")
                     + _alert_line("b", ts="2026-11-29T10:01:00Z", group={"client": "10.0.0.9"})
                     + _alert_line("a", "resolved", ts="2026-11-29T10:02:00Z")
                     + _alert_line("b", ts="2026-11-29T10:07:00Z",  # repeated while firing
                                   group={"client": "10.0.0.9"}))
    tail = read_alerts(path, 10)
    assert tail.firing == 1 and tail.skipped == 0 and not tail.missing
    assert [(r.alert_id, r.state, r.still_firing) for r in tail.rows] == [
        ("b", AlertState.FIRING, True),
        ("a", AlertState.RESOLVED, False),
        ("b", AlertState.FIRING, False),  # the repeat after it is the current line
        ("a", AlertState.FIRING, False),
    ]
    assert tail.rows[0].group == {"client": "10.0.0.9"}
    assert [r.alert_id for r in read_alerts(path, 2).rows] == ["b", "a"]
    none_shown = read_alerts(path, 0)
    assert none_shown.rows == () and none_shown.firing == 1


def test_a_missing_alerts_file_is_no_alert_yet(tmp_path: Path) -> None:
    tail = read_alerts(tmp_path / "absent.jsonl", 8)
    assert tail.missing and tail.rows == () and tail.error is None


def test_malformed_alert_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    path.write_bytes(
        b"not json\n"
        + b"\x00\xff\xfe binary\n"
        + b"[1, 2, 3]\n"
        + b'{"ts": "x", "rule": "r", "state": "firing"}\n'  # no alert_id
        + _alert_line("c", state="pending")  # not a known state
        + _alert_line("d", count="many", group=["not", "an", "object"], severity=7)
        + b"\n"
        + b'{"ts": "2026-11-29T10:15:00Z", "alert_id": "e", "ru'  # being appended
    )
    tail = read_alerts(path, 8)
    assert tail.skipped == 6
    (row,) = tail.rows
    assert row.alert_id == "d" and row.count is None and row.group == {} and row.severity == "?"


def test_the_scan_window_never_shows_a_cut_line(tmp_path: Path) -> None:
    # Lines of 500 bytes: the window starts mid-line, and that cut line is not "malformed".
    def padded(index: int, size: int) -> bytes:
        line = _alert_line(f"id{index:06d}", pad="")
        return _alert_line(f"id{index:06d}", pad="x" * (size - len(line)))

    for size, whole_lines in ((500, SCAN_MAX_BYTES // 500), (512, SCAN_MAX_BYTES // 512)):
        path = tmp_path / f"alerts_{size}.jsonl"
        path.write_bytes(b"".join(padded(i, size) for i in range(3000)))
        tail = read_alerts(path, 1)
        # Every distinct id fires once: the firing count is the number of whole lines read.
        assert (tail.firing, tail.skipped) == (whole_lines, 0), size
        assert tail.rows[0].alert_id == "id002999"


def test_a_50_mb_alerts_file_costs_what_a_small_one_does(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    old = _alert_line("old", "resolved")
    with path.open("wb") as handle:
        block = old * 4096
        while handle.tell() < 50 * 1024 * 1024:
            handle.write(block)
        handle.write(_alert_line("newest", ts="2026-11-29T10:15:00Z"))
    assert path.stat().st_size >= 50 * 1024 * 1024
    tracemalloc.start()
    try:
        started = time.perf_counter()
        tail = read_alerts(path, 8)
        elapsed_s = time.perf_counter() - started
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert tail.rows[0].alert_id == "newest" and tail.rows[0].still_firing
    assert tail.firing == 1 and len(tail.rows) == 8
    assert elapsed_s < 0.5
    assert peak_bytes < 8 * SCAN_MAX_BYTES  # the window and its parse, never the file
    # Nothing is held open between refreshes (a Windows hub must be able to rotate it).
    if Path("/proc/self/fd").is_dir():
        open_files = {os.path.realpath(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")}
        assert str(path.resolve()) not in open_files
    path.unlink()


def _status(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "watcher_status.json"
    path.write_bytes(content)
    return path


def test_a_watcher_status_is_read(tmp_path: Path) -> None:
    status = read_watcher_status(_status(tmp_path, orjson.dumps({
        "state": "following", "pid": 22195, "lines_read": 19, "lag_bytes": 0,
        "updated_at": "2026-11-29T02:03:18.467261Z", "log": "/x/hub_security_audit.jsonl",
        "nested": {"dropped": True}, "flag": True})))
    assert status.error is None and not status.missing
    assert status.fields["state"] == "following" and status.fields["pid"] == 22195
    assert "nested" not in status.fields and "flag" not in status.fields
    assert status.updated_at is not None and status.updated_at.microsecond == 467261


@pytest.mark.parametrize(("content", "error"), [
    (b"{\"state\": \"follo", "not valid JSON"),  # a torn write
    (b"\xff\xfe garbage", "not valid JSON"),
    (b"[]", "not a JSON object"),
    (b"{" + b" " * (70 * 1024) + b"}", "too large to be a watcher status"),
])
def test_a_malformed_watcher_status_is_a_reason(tmp_path: Path, content: bytes,
                                                error: str) -> None:
    assert read_watcher_status(_status(tmp_path, content)).error == error


def test_a_status_with_odd_fields_is_still_shown(tmp_path: Path) -> None:
    status = read_watcher_status(_status(tmp_path, b'{"state": 3, "updated_at": "yesterday"}'))
    assert status.error is None and status.fields == {"state": 3, "updated_at": "yesterday"}
    assert status.updated_at is None
    assert read_watcher_status(tmp_path / "absent.json").missing


def test_fetch_reads_everything_below_the_home(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "state").mkdir()
    (tmp_path / "logs" / "alerts.jsonl").write_bytes(_alert_line("a"))
    (tmp_path / "state" / "watcher_status.json").write_bytes(b'{"state": "following"}')

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.port == 8787:
            return httpx.Response(200, content=orjson.dumps(CONTROL_BODY))
        return httpx.Response(200, json={"plane": "data", "queue_depth": 5,
                                         "inflight_jobs": 2, "retry_rate_1m": 1})

    with _client(handler) as client:
        snapshot = fetch(client, control_url="http://h:8787", data_url="http://h:8788",
                         home=tmp_path, alerts=8, scrubber=scrubber())
    assert snapshot.taken_at.tzinfo is not None
    assert snapshot.control.values["nodes_stale"] == 1
    assert snapshot.data.values == {"queue_depth": 5, "inflight_jobs": 2, "retry_rate_1m": 1}
    assert snapshot.alerts.firing == 1 and snapshot.watcher.fields["state"] == "following"


_TOKEN = "hubtok-Q3vX9pLm2RtY7wZa4KcN8bE"


def test_fetch_hands_back_only_strings_that_are_safe_to_show(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "state").mkdir()
    (tmp_path / "logs" / "alerts.jsonl").write_bytes(_alert_line(
        "a", rule="burst\x1b[2J", severity="warn\u202eing",
        group={"client": _TOKEN, "node": "n\r\nFORGED"}))
    (tmp_path / "state" / "watcher_status.json").write_bytes(orjson.dumps(
        {"state": "follow\x1b]0;pwned\x07ing", "updated_at": "2026-11-29T10:15:03Z"}))

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"error": "down\x9b2J", "reason": f"token {_TOKEN}"})

    with _client(handler) as client:
        snapshot = fetch(client, control_url="http://h:8787", data_url="http://h:8788",
                         home=tmp_path, alerts=8, scrubber=scrubber(_TOKEN))
    (row,) = snapshot.alerts.rows
    assert row.rule == "burst\\x1b[2J" and row.severity == "warn\\u202eing"
    assert row.group == {"client": REDACTED, "node": "n\\x0d\\x0aFORGED"}
    assert snapshot.watcher.fields["state"] == "follow\\x1b]0;pwned\\x07ing"
    assert snapshot.watcher.updated_at is not None  # parsed before it was scrubbed
    assert snapshot.control.error == (
        f"metrics unavailable (HTTP 503: down\\x9b2J token {REDACTED})")


def _target_with_content(tmp_path: Path) -> Path:
    target = tmp_path / "elsewhere.jsonl"
    target.write_bytes(_alert_line("t", rule="TARGET-CONTENT"))
    return target


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt",
                    reason="creating symlinks needs privileges on Windows")
def test_a_symlink_where_a_file_should_be_is_not_followed(tmp_path: Path) -> None:
    target = _target_with_content(tmp_path)
    alerts = tmp_path / "alerts.jsonl"
    alerts.symlink_to(target)
    tail = read_alerts(alerts, 8)
    assert tail.error == "alerts.jsonl is a symbolic link, not a regular file; not read"
    assert tail.rows == () and tail.firing == 0 and not tail.missing
    status = tmp_path / "watcher_status.json"
    status.symlink_to(target)
    read = read_watcher_status(status)
    assert read.error == "watcher_status.json is a symbolic link, not a regular file; not read"
    assert read.fields == {}
    dangling = tmp_path / "dangling.jsonl"
    dangling.symlink_to(tmp_path / "nowhere")
    assert read_alerts(dangling, 8).error == (
        "dangling.jsonl is a symbolic link, not a regular file; not read")


@pytest.mark.timeout(10)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_where_a_file_should_be_is_not_waited_on(tmp_path: Path) -> None:
    alerts = tmp_path / "alerts.jsonl"
    os.mkfifo(alerts)  # with no writer: a plain open would block for ever
    status = tmp_path / "watcher_status.json"
    os.mkfifo(status)
    started = time.monotonic()
    tail = read_alerts(alerts, 8)
    read = read_watcher_status(status)
    assert time.monotonic() - started < 2
    assert tail.error == "alerts.jsonl is a FIFO, not a regular file; not read"
    assert read.error == "watcher_status.json is a FIFO, not a regular file; not read"


def test_a_folder_where_a_file_should_be_is_a_reason(tmp_path: Path) -> None:
    (tmp_path / "alerts.jsonl").mkdir()
    assert read_alerts(tmp_path / "alerts.jsonl", 8).error == (
        "alerts.jsonl is a folder, not a regular file; not read")
