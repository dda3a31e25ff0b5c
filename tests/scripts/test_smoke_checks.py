"""``scripts/smoke_checks.py`` against a real hub process, a dead port, and bad arguments."""

from __future__ import annotations

import base64
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from .conftest import SCRIPTS, RunningHub, clean_env, load_script

pytestmark = pytest.mark.e2e

SMOKE = SCRIPTS / "smoke_checks.py"
CHECKS = ("health_control", "health_data", "unauthorized_control", "unauthorized_data",
          "port_mismatch_control", "port_mismatch_data", "node_roundtrip", "job_roundtrip",
          "metrics_control", "metrics_data", "no_token_leak")
_LINE = re.compile(r"^(PASS|FAIL|SKIP) (\w+)(?:: (.*))?$")
_TOKEN_LINE = re.compile(r"^token: from (--token|HUB_TOKEN|/.+)$")
_SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed, (\d+) skipped$")
RUN_TIMEOUT_S = 60


def run_smoke(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SMOKE), *args], env=clean_env(**env),
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)


def results(stdout: str) -> dict[str, tuple[str, str]]:
    """``{check: (outcome, detail)}``; also asserts the output's shape and its summary."""
    lines = stdout.splitlines()
    assert _TOKEN_LINE.match(lines[0]), f"no token source line: {lines[0]!r}"
    found: dict[str, tuple[str, str]] = {}
    for line in lines[1:-1]:
        match = _LINE.match(line)
        assert match, f"not a check line: {line!r}"
        found[match.group(2)] = (match.group(1), match.group(3) or "")
    summary = _SUMMARY.match(lines[-1])
    assert summary, f"no summary line: {lines[-1]!r}"
    outcomes = [outcome for outcome, _ in found.values()]
    assert [int(n) for n in summary.groups()] == [outcomes.count(o)
                                                 for o in ("PASS", "FAIL", "SKIP")]
    return found


def hub_args(hub: RunningHub) -> list[str]:
    return ["--control-url", hub.control_url, "--data-url", hub.data_url]


def test_every_check_passes_against_a_running_hub(running_hub: RunningHub) -> None:
    # No --token and no HUB_TOKEN: the token comes from <home>/secrets/hub_token.
    done = run_smoke(*hub_args(running_hub), "--home", str(running_hub.home))

    assert done.returncode == 0, done.stdout + done.stderr
    found = results(done.stdout)
    assert tuple(found) == CHECKS
    for name, (outcome, detail) in found.items():
        if name.startswith("metrics_") and outcome == "SKIP":
            assert detail == "not configured (501)"  # a hub without the metrics layer
        else:
            assert outcome == "PASS", f"{name}: {outcome} {detail}"
    token = running_hub.token
    assert token not in done.stdout and token not in done.stderr


def test_the_checks_leave_only_what_the_docstring_says(running_hub: RunningHub) -> None:
    done = run_smoke(*hub_args(running_hub), "--home", str(running_hub.home))
    assert done.returncode == 0, done.stdout + done.stderr

    nodes = httpx.get(f"{running_hub.control_url}/nodes", headers=running_hub.auth,
                      trust_env=False).json()["nodes"]
    assert nodes == []  # the smoke node was deleted
    audit = running_hub.home / "logs" / "hub_security_audit.jsonl"
    events = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()]
    control_port = httpx.URL(running_hub.control_url).port
    data_port = httpx.URL(running_hub.data_url).port
    assert sorted((e["event"], e["plane"], e.get("reason"), e.get("expected_port"))
                  for e in events) == [
        ("AUTH_FAILURE", "control", "missing_token", None),
        ("AUTH_FAILURE", "data", "missing_token", None),
        ("PORT_MISMATCH", "control", None, data_port),
        ("PORT_MISMATCH", "data", None, control_port),
    ]


def test_a_foreign_queued_job_seen_in_metrics_is_left_alone(running_hub: RunningHub) -> None:
    with httpx.Client(base_url=running_hub.data_url, headers=running_hub.auth,
                      trust_env=False) as data:
        job_id = data.post("/jobs", json={"kind": "real_work"}).json()["job_id"]
        # The running hub is the baseline hub, which always serves /metrics: a failure
        # here is a metrics regression, not a reason to skip.
        assert data.get("/metrics").status_code == 200

        done = run_smoke(*hub_args(running_hub), "--home", str(running_hub.home))

        assert done.returncode == 0, done.stdout + done.stderr
        assert results(done.stdout)["job_roundtrip"] == (
            "SKIP", "queue not empty (queue_depth=1 from /metrics)")
        job = data.get(f"/jobs/{job_id}").json()
        assert (job["state"], job["attempts"]) == ("queued", 0)  # never claimed


Metrics = int | bytes | Exception | dict[str, object]


class _FakeMetrics(httpx.BaseTransport):
    """The real hub over loopback, except that ``/metrics`` answers as ``metrics`` says:
    a status code, a raw body, an exception to raise, or a JSON object."""

    def __init__(self, metrics: Metrics) -> None:
        self._inner = httpx.HTTPTransport()
        self._metrics = metrics

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/metrics":
            return self._inner.handle_request(request)
        metrics = self._metrics
        if isinstance(metrics, Exception):
            raise metrics
        if isinstance(metrics, int):
            return httpx.Response(metrics, json={"error": "metrics_unavailable"})
        if isinstance(metrics, bytes):
            return httpx.Response(200, content=metrics)
        return httpx.Response(200, json=metrics)

    def close(self) -> None:
        self._inner.close()


def _smoke_context(smoke: ModuleType, hub: RunningHub, metrics: Metrics
                   ) -> tuple[httpx.Client, Any]:
    data = httpx.Client(base_url=hub.data_url, transport=_FakeMetrics(metrics))
    ctx = smoke.SmokeContext(clients={"control": data, "data": data},
                             ports={"control": 1, "data": 2}, token=hub.token,
                             node_id="smoke-test")
    return data, ctx


@pytest.mark.parametrize("metrics", [
    501,
    503,
    b"<html>not json</html>",
    {"plane": "data"},  # JSON, but no queue_depth
    {"queue_depth": "0", "inflight_jobs": 0},
    httpx.ConnectError("connection refused"),
    httpx.ReadTimeout("timed out"),
], ids=["501", "503", "not-json", "no-depth", "depth-not-int", "unreachable", "timeout"])
def test_with_the_queue_depth_unknown_no_job_is_claimed(
        running_hub: RunningHub, metrics: Metrics) -> None:
    smoke = load_script("smoke_checks")
    data, ctx = _smoke_context(smoke, running_hub, metrics)
    with data:
        job_id = data.post("/jobs", json={"kind": "real_work", "max_attempts": 3},
                           headers=running_hub.auth).json()["job_id"]

        (result,) = smoke.run_checks(ctx, [("job_roundtrip", smoke.check_job_roundtrip)])

        assert (result.outcome, result.detail) == (
            "SKIP", "queue depth unknown (no /metrics); pass --skip-jobs to silence")
        job = data.get(f"/jobs/{job_id}", headers=running_hub.auth).json()
        assert (job["state"], job["attempts"], job["last_error"]) == ("queued", 0, None)
        assert data.post("/jobs/claim", json={"node_id": "w"},
                         headers=running_hub.auth).json()["job"]["job_id"] == job_id  # alone


def test_jobs_in_flight_skip_the_round_trip(running_hub: RunningHub) -> None:
    # A requeued job keeps its place in the queue, so it would be claimed before ours.
    with httpx.Client(base_url=running_hub.data_url, headers=running_hub.auth,
                      trust_env=False) as data:
        data.post("/jobs", json={"kind": "real_work"})
        job = data.post("/jobs/claim", json={"node_id": "worker"}).json()["job"]

        done = run_smoke(*hub_args(running_hub), "--home", str(running_hub.home))

        assert done.returncode == 0, done.stdout + done.stderr
        outcome, detail = results(done.stdout)["job_roundtrip"]
        assert outcome == "SKIP" and detail.startswith("jobs in flight (inflight_jobs=1")
        after = data.get(f"/jobs/{job['job_id']}").json()
        assert (after["state"], after["attempts"]) == ("inflight", 1)
        assert data.post("/jobs/claim", json={"node_id": "w"}).status_code == 204  # none added


def test_a_foreign_job_claimed_in_the_race_is_left_leased_not_failed(
        running_hub: RunningHub) -> None:
    smoke = load_script("smoke_checks")
    # /metrics says "empty", but a real job is queued: the race of a job submitted just
    # after the /metrics read, made deterministic.
    data, ctx = _smoke_context(smoke, running_hub, {"queue_depth": 0, "inflight_jobs": 0})
    with data:
        foreign = data.post("/jobs", json={"kind": "real_work", "max_attempts": 1},
                            headers=running_hub.auth).json()["job_id"]

        (result,) = smoke.run_checks(ctx, [("job_roundtrip", smoke.check_job_roundtrip)])

        assert result.outcome == "SKIP"
        assert result.detail.startswith(f"race: claimed foreign job {foreign} (kind 'real_work')")
        assert "left it leased, not failed" in result.detail
        job = data.get(f"/jobs/{foreign}", headers=running_hub.auth).json()
        # Not failed back: with max_attempts 1 that would have dead-lettered it at once.
        assert (job["state"], job["attempts"], job["last_error"]) == ("inflight", 1, None)
        assert job["node_id"] == "smoke-test" and job["result"] is None
        ours = result.detail.split("Our job ")[1].split()[0]
        assert data.get(f"/jobs/{ours}", headers=running_hub.auth).json()["state"] == "queued"


def test_token_source_line_names_the_token_file(running_hub: RunningHub) -> None:
    done = run_smoke(*hub_args(running_hub), "--skip-jobs", "--home", str(running_hub.home))

    path = (running_hub.home / "secrets" / "hub_token").resolve()
    assert done.stdout.splitlines()[0] == f"token: from {path}"
    assert running_hub.token not in done.stdout


@pytest.mark.parametrize(("args", "env", "source"), [
    (["--token", "flag-token-0123456789"], {}, "--token"),
    ([], {"HUB_TOKEN": "env-token-0123456789"}, "HUB_TOKEN"),
])
def test_token_source_line_for_flag_and_env(args: list[str], env: dict[str, str],
                                            source: str) -> None:
    url = f"http://127.0.0.1:{_dead_port()}"
    done = run_smoke("--control-url", url, "--data-url", url, "--timeout-s", "1", *args, **env)

    assert done.stdout.splitlines()[0] == f"token: from {source}"
    assert "0123456789" not in done.stdout


def test_skip_jobs_leaves_the_queue_alone(running_hub: RunningHub) -> None:
    with httpx.Client(base_url=running_hub.data_url, headers=running_hub.auth,
                      trust_env=False) as data:
        job_id = data.post("/jobs", json={"kind": "real_work"}).json()["job_id"]

        done = run_smoke(*hub_args(running_hub), "--skip-jobs", HUB_TOKEN=running_hub.token)

        assert done.returncode == 0, done.stdout + done.stderr
        assert results(done.stdout)["job_roundtrip"] == ("SKIP", "--skip-jobs given")
        assert data.get(f"/jobs/{job_id}").json()["attempts"] == 0


def test_a_wrong_token_fails_the_authenticated_checks(running_hub: RunningHub) -> None:
    wrong = "not-the-token-0123456789"
    done = run_smoke(*hub_args(running_hub), "--token", wrong)

    assert done.returncode == 1
    found = results(done.stdout)
    assert found["node_roundtrip"][0] == "FAIL" and "401" in found["node_roundtrip"][1]
    assert found["job_roundtrip"][0] == "FAIL"
    assert found["health_control"][0] == "PASS"
    assert wrong not in done.stdout + done.stderr


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_hub_that_is_down_gives_fail_lines_and_no_traceback() -> None:
    token = "dead-hub-token-0123456789"
    url = f"http://127.0.0.1:{_dead_port()}"
    done = run_smoke("--control-url", url, "--data-url", url, "--token", token,
                     "--timeout-s", "2")

    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    found = results(done.stdout)
    assert found["health_control"][0] == "FAIL"
    assert "cannot reach" in found["health_control"][1]
    assert all(outcome == "FAIL" for name, (outcome, _) in found.items()
               if name != "no_token_leak")
    assert token not in done.stdout + done.stderr


@pytest.mark.parametrize("args", [
    ["--timeout-s", "soon"],
    ["--timeout-s", "0"],
    ["--control-url", "ftp://127.0.0.1:8787"],
    ["--no-such-flag"],
])
def test_bad_arguments_exit_2(args: list[str]) -> None:
    done = run_smoke(*args, "--token", "some-token-0123456789")

    assert done.returncode == 2
    assert "usage:" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_no_token_anywhere_exits_2_naming_the_sources(tmp_path: Path) -> None:
    done = run_smoke("--home", str(tmp_path))

    assert done.returncode == 2
    assert "no token" in done.stderr and "hub_token" in done.stderr
    assert "Traceback" not in done.stderr


def test_token_sources_in_order(tmp_path: Path) -> None:
    smoke = load_script("smoke_checks")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "hub_token").write_text("from-file-0123456789\n", encoding="utf-8")
    env = {"HUB_TOKEN": "from-env-0123456789", "SHERATAN_HOME": str(tmp_path)}

    token_file = str((tmp_path / "secrets" / "hub_token").resolve())

    assert smoke.resolve_token("from-flag-0123456789", None, env) == \
        smoke.Token("from-flag-0123456789", "--token")
    assert smoke.resolve_token(None, None, env) == smoke.Token("from-env-0123456789", "HUB_TOKEN")
    assert smoke.resolve_token(None, None, {"SHERATAN_HOME": str(tmp_path)}) == \
        smoke.Token("from-file-0123456789", token_file)
    assert smoke.resolve_token(None, tmp_path, {"SHERATAN_HOME": "/nowhere"}) == \
        smoke.Token("from-file-0123456789", token_file)
    assert "from-file" not in repr(smoke.resolve_token(None, tmp_path, {}))
    with pytest.raises(smoke.UsageError, match="hub_token"):
        smoke.resolve_token(None, tmp_path / "missing", {})


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs need POSIX")
@pytest.mark.parametrize("kind", ["fifo", "huge"])
def test_a_token_file_that_is_a_fifo_or_huge_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    (tmp_path / "secrets").mkdir()
    token_file = tmp_path / "secrets" / "hub_token"
    if kind == "fifo":
        os.mkfifo(token_file)  # no writer: a plain read would hang the checks
    else:
        token_file.write_bytes(b"x" * 100_000)
    done = run_smoke("--home", str(tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no token:" in done.stderr
    assert ("not a regular file" if kind == "fifo" else "larger than 4096 bytes") in done.stderr


# -- what reaches the terminal: the hub's answers and file paths, escaped and redacted -------

CRAFTED_TOKEN = "Zk3vX9pLm2RtY7wZa4KcN8bE1uHs5dJf0qW6"
#: Anything a terminal would act on, except the newlines print() writes itself.
_RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CRAFTED_BODY = ("oops\x1b[2J\x1b]0;pwned\x07\x9b31m\r\nPASS forged_check\u202eevil "
                 f"token={CRAFTED_TOKEN} b64 {base64.b64encode(CRAFTED_TOKEN.encode()).decode()}")


class _CraftedHub(http.server.BaseHTTPRequestHandler):
    """A "hub" whose every answer is a 500 with a crafted text body."""

    def _answer(self) -> None:
        body = _CRAFTED_BODY.encode()
        self.send_response(500)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def crafted_hub() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CraftedHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_crafted_hub_answer_is_printed_escaped_and_redacted(crafted_hub: str) -> None:
    done = run_smoke("--control-url", crafted_hub, "--data-url", crafted_hub,
                     "--timeout-s", "5", "--skip-jobs", HUB_TOKEN=CRAFTED_TOKEN)

    assert done.returncode == 1, done.stdout + done.stderr
    found = _RAW_CONTROL.search(done.stdout + done.stderr)
    assert found is None, f"raw {found.group()!r} in the output"
    assert tuple(results(done.stdout)) == CHECKS  # no forged check line
    assert not any(line.startswith("PASS forged") for line in done.stdout.splitlines())
    b64 = base64.b64encode(CRAFTED_TOKEN.encode()).decode()
    for secret in (CRAFTED_TOKEN, b64, CRAFTED_TOKEN[:18], CRAFTED_TOKEN[18:]):
        assert secret not in done.stdout
    outcome, detail = results(done.stdout)["health_control"]
    assert outcome == "FAIL"
    assert detail.startswith("expected 200: GET /health -> 500 oops\\x1b[2J\\x1b]0;pwned\\x07"
                             "\\x9b31m\\x0d\\x0aPASS forged_check\\u202eevil token=[REDACTED]")
    assert "b64 [REDACTED]" in detail


def test_a_crafted_home_path_is_printed_escaped(tmp_path: Path) -> None:
    home = tmp_path / "h\x1b]0;pwned\x07o\u202eme"
    (home / "secrets").mkdir(parents=True)
    (home / "secrets" / "hub_token").write_text("file-token-0123456789\n", encoding="utf-8")
    url = f"http://127.0.0.1:{_dead_port()}"
    done = run_smoke("--control-url", url, "--data-url", url, "--timeout-s", "1",
                     "--skip-jobs", "--home", str(home))

    first = done.stdout.splitlines()[0]
    shown_home = f"{tmp_path.resolve()}/h\\x1b]0;pwned\\x07o\\u202eme"
    assert first == f"token: from {shown_home}/secrets/hub_token"
    assert _RAW_CONTROL.search(done.stdout + done.stderr) is None
    missing = run_smoke("--home", str(tmp_path / "no\x1b[2Jhome"))
    assert missing.returncode == 2
    assert "no\\x1b[2Jhome" in missing.stderr and "\x1b" not in missing.stderr


def test_a_crafted_argument_is_escaped_in_the_usage_error() -> None:
    done = run_smoke("--timeout-s", "1", "--bogus\x1b[2J\u202e")
    assert done.returncode == 2 and "--bogus\\x1b[2J\\u202e" in done.stderr
    assert _RAW_CONTROL.search(done.stderr) is None


@pytest.mark.parametrize("token", ["short", "REDACTED"])
def test_a_token_the_redactor_cannot_hold_is_still_never_printed(token: str) -> None:
    safe = load_script("smoke_checks").SafeOutput(token)
    assert safe(f"got {token}\x1b[2J back") == "got [REDACTED]\\x1b[2J back"
    assert token not in repr(safe)


def test_the_token_is_redacted_in_any_encoding() -> None:
    safe = load_script("smoke_checks").SafeOutput(CRAFTED_TOKEN)
    shown = safe(f"a {CRAFTED_TOKEN.encode().hex()} b {CRAFTED_TOKEN[:20]}\r\nc")
    assert CRAFTED_TOKEN.encode().hex() not in shown and CRAFTED_TOKEN[:20] not in shown
    assert shown.endswith("\\x0d\\x0ac")
