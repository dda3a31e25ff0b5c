"""``scripts/smoke_checks.py`` against a real hub process, a dead port, and bad arguments."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .conftest import SCRIPTS, RunningHub, clean_env, load_script

pytestmark = pytest.mark.e2e

SMOKE = SCRIPTS / "smoke_checks.py"
CHECKS = ("health_control", "health_data", "unauthorized_control", "unauthorized_data",
          "port_mismatch_control", "port_mismatch_data", "node_roundtrip", "job_roundtrip",
          "metrics_control", "metrics_data", "no_token_leak")
_LINE = re.compile(r"^(PASS|FAIL|SKIP) (\w+)(?:: (.*))?$")
_SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed, (\d+) skipped$")
RUN_TIMEOUT_S = 60


def run_smoke(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SMOKE), *args], env=clean_env(**env),
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)


def results(stdout: str) -> dict[str, tuple[str, str]]:
    """``{check: (outcome, detail)}``; also asserts the output's shape and its summary."""
    lines = stdout.splitlines()
    found: dict[str, tuple[str, str]] = {}
    for line in lines[:-1]:
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
        if data.get("/metrics").status_code != 200:
            pytest.skip("this hub has no /metrics; the probe path is tested below")

        done = run_smoke(*hub_args(running_hub), "--home", str(running_hub.home))

        assert done.returncode == 0, done.stdout + done.stderr
        assert results(done.stdout)["job_roundtrip"] == (
            "SKIP", "queue not empty (queue_depth=1 from /metrics)")
        job = data.get(f"/jobs/{job_id}").json()
        assert (job["state"], job["attempts"]) == ("queued", 0)  # never claimed


class _WithoutMetrics(httpx.BaseTransport):
    """The real hub over loopback, as if ``/metrics`` were not configured (501)."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/metrics":
            return httpx.Response(501, json={"error": "metrics_not_configured"})
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def test_without_metrics_a_probed_foreign_job_is_handed_back_not_run(
        running_hub: RunningHub) -> None:
    smoke = load_script("smoke_checks")
    control = httpx.Client(base_url=running_hub.control_url, transport=_WithoutMetrics())
    data = httpx.Client(base_url=running_hub.data_url, transport=_WithoutMetrics())
    with control, data:
        job_id = data.post("/jobs", json={"kind": "real_work", "max_attempts": 3},
                           headers=running_hub.auth).json()["job_id"]
        ctx = smoke.SmokeContext(clients={"control": control, "data": data},
                                 ports={"control": 1, "data": 2}, token=running_hub.token,
                                 node_id="smoke-test")

        (result,) = smoke.run_checks(ctx, [("job_roundtrip", smoke.check_job_roundtrip)])

        assert result.outcome == "SKIP"
        assert result.detail.startswith("queue not empty;") and job_id in result.detail
        job = data.get(f"/jobs/{job_id}", headers=running_hub.auth).json()
        assert job["state"] == "queued"  # back in the queue for a real worker, never completed
        assert job["attempts"] == 1 and job["result"] is None
        assert "smoke_checks" in job["last_error"]

        # With the queue empty again (a real worker takes the job), the round trip runs.
        claimed = data.post("/jobs/claim", json={"node_id": "worker"},
                            headers=running_hub.auth).json()["job"]
        data.post(f"/jobs/{claimed['job_id']}/complete", json={"node_id": "worker"},
                  headers=running_hub.auth)
        (result,) = smoke.run_checks(ctx, [("job_roundtrip", smoke.check_job_roundtrip)])
        assert (result.outcome, result.detail) == ("PASS", "")


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

    assert smoke.resolve_token("from-flag-0123456789", None, env) == "from-flag-0123456789"
    assert smoke.resolve_token(None, None, env) == "from-env-0123456789"
    assert smoke.resolve_token(None, None, {"SHERATAN_HOME": str(tmp_path)}) == \
        "from-file-0123456789"
    assert smoke.resolve_token(None, tmp_path, {"SHERATAN_HOME": "/nowhere"}) == \
        "from-file-0123456789"
    with pytest.raises(smoke.UsageError, match="hub_token"):
        smoke.resolve_token(None, tmp_path / "missing", {})
