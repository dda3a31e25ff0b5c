"""Smoke checks for a running Sheratan hub (CONTRACT section 2).

Usage, from the repository root::

    python scripts/smoke_checks.py --control-url http://127.0.0.1:8787 \
        --data-url http://127.0.0.1:8788 [--token TOKEN] [--home DIR] [--timeout-s N]

It prints one line per check, ``PASS <name>``, ``FAIL <name>: <why>`` or
``SKIP <name>: <why>``, then a summary line, and exits 0 when no check failed, 1 when one did,
and 2 for bad usage (a bad argument, or no token to be found).

The token comes from ``--token``, else ``HUB_TOKEN``, else ``<home>/secrets/hub_token`` with
home from ``--home``, else ``SHERATAN_HOME``, else ``./.sheratan``. It is never printed: every
message is scrubbed, and one check asserts that no response the hub sent contained it.

This script is a plain HTTP client of the v1.5 API; it does not import the hub, so it checks
any hub that keeps the contract, the user's production hub included.

What the checks change on the hub, and why that is the least invasive honest choice:

* The 401 and 421 checks write two ``AUTH_FAILURE`` (reason ``missing_token``) and two
  ``PORT_MISMATCH`` audit lines, from the loopback client that the default watcher rules
  ignore. The 421 requests carry no token, which also checks that port isolation comes
  before auth.
* The node round trip registers a node with a unique id (``smoke-<random>``), heartbeats it,
  and always deletes it again, even when a step fails.
* The job round trip is the delicate one. ``POST /jobs/claim`` is FIFO over every kind, and
  the API cannot delete a job, so claiming a job that someone else submitted takes one of
  that job's attempts whatever we do next (completing it would be a lie about its result;
  failing it back or letting its lease expire both use up the attempt). The check therefore
  only runs on an empty queue:

  1. If the data plane's ``/metrics`` answers 200 and ``queue_depth`` > 0, it reports
     ``SKIP job_roundtrip: queue not empty`` without claiming anything.
  2. Otherwise it probes with one claim. On an empty queue a claim answers 204 and changes
     nothing. If the probe does get a job (the queue was not empty and ``/metrics`` could
     not tell us), that job is handed back at once with ``POST /jobs/{id}/fail`` and an
     error saying so, which requeues it immediately (a lease expiry would only delay it),
     and the check reports SKIP naming the job. This can only happen while ``/metrics`` is
     not configured, and ``--skip-jobs`` avoids it altogether.
  3. On an empty queue it submits its own job (kind ``smoke_check``, ``max_attempts`` 1, so
     a smoke job that is ever orphaned is dead-lettered instead of reaching a real worker),
     claims with a short lease until it holds its own job (bounded; a job that a concurrent
     requeue put ahead of it is handed back as in step 2), completes it, and reads it back.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2

DEFAULT_CONTROL_URL = "http://127.0.0.1:8787"
DEFAULT_DATA_URL = "http://127.0.0.1:8788"
DEFAULT_HOME = Path(".sheratan")
DEFAULT_TIMEOUT_S = 5.0

SMOKE_JOB_KIND = "smoke_check"
#: Lease on the claims this script makes: short, so a smoke check that dies mid-way leaves
#: nothing inflight for long.
CLAIM_LEASE_S = 10.0
#: Claims made after submitting our own job before giving up on getting it back.
MAX_OWN_CLAIMS = 3
MAX_DETAIL_CHARS = 200

REDACTED = "[REDACTED]"

CONTROL_METRIC_KEYS = ("plane", "generated_at", "nodes_online", "nodes_stale", "nodes_dead",
                       "auth_fail_rate_1m", "port_mismatch_rate_1m")
DATA_METRIC_KEYS = ("plane", "generated_at", "queue_depth", "inflight_jobs", "retry_rate_1m")

Outcome = Literal["PASS", "FAIL", "SKIP"]
PlaneName = Literal["control", "data"]


class CheckFailed(Exception):
    """A check found the hub not behaving as the contract says."""


class CheckSkipped(Exception):
    """A check could not run honestly (say, a busy queue); not a failure."""


class UsageError(Exception):
    """The user must fix the invocation (exit 2)."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check."""

    name: str
    outcome: Outcome
    detail: str = ""

    def line(self) -> str:
        return f"{self.outcome} {self.name}" + (f": {self.detail}" if self.detail else "")


@dataclass
class SmokeContext:
    """The clients of both planes and what the checks learn along the way.

    Every response body and header passes through ``request`` and is kept, so that the last
    check can assert the token never came back.
    """

    clients: Mapping[PlaneName, httpx.Client]
    ports: Mapping[PlaneName, int]
    token: str
    node_id: str
    skip_jobs: bool = False
    unreachable: dict[PlaneName, str] = field(default_factory=dict)
    seen: list[bytes] = field(default_factory=list)

    def request(self, plane: PlaneName, method: str, path: str, *, auth: bool = True,
                body: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None) -> httpx.Response:
        if plane in self.unreachable:
            raise CheckFailed(f"{plane} plane unreachable ({self.unreachable[plane]})")
        all_headers = dict(headers or {})
        if auth:
            all_headers["Authorization"] = f"Bearer {self.token}"
        response = self.clients[plane].request(method, path, json=body, headers=all_headers)
        self.seen.append(response.content)
        self.seen.extend(f"{name}: {value}".encode() for name, value in
                         response.headers.multi_items())
        return response


def _describe(response: httpx.Response) -> str:
    text = response.text
    if len(text) > MAX_DETAIL_CHARS:
        text = text[:MAX_DETAIL_CHARS] + "..."
    return f"{response.request.method} {response.request.url.path} -> {response.status_code} {text}"


def _expect(response: httpx.Response, status: int) -> Any:
    """Return the JSON body if the status is ``status``, else raise CheckFailed."""
    if response.status_code != status:
        hint = " (is the token right?)" if response.status_code == 401 else ""
        raise CheckFailed(f"expected {status}: {_describe(response)}{hint}")
    if status == 204:
        return None
    try:
        return response.json()
    except ValueError:
        raise CheckFailed(f"not JSON: {_describe(response)}") from None


def _expect_fields(what: str, body: Any, expected: Mapping[str, object]) -> None:
    if not isinstance(body, dict):
        raise CheckFailed(f"{what}: expected a JSON object, got {body!r}"[:MAX_DETAIL_CHARS])
    for key, value in expected.items():
        if body.get(key) != value:
            raise CheckFailed(f"{what}: {key}={body.get(key)!r}, expected {value!r}")


# --- the checks -------------------------------------------------------------------------------


def check_health(ctx: SmokeContext, plane: PlaneName) -> None:
    try:
        response = ctx.request(plane, "GET", "/health", auth=False)
    except httpx.TransportError as exc:
        ctx.unreachable[plane] = _transport_detail(exc)
        raise
    body = _expect(response, 200)
    _expect_fields("health", body, {"status": "ok", "plane": plane})
    version = body.get("version")
    if not isinstance(version, str) or not version:
        raise CheckFailed(f"health: no version in {body!r}"[:MAX_DETAIL_CHARS])


def check_unauthorized(ctx: SmokeContext, plane: PlaneName) -> None:
    # Read-only routes: an auth bug must not turn the check into a write.
    path = "/nodes" if plane == "control" else f"/jobs/{ctx.node_id}"
    body = _expect(ctx.request(plane, "GET", path, auth=False), 401)
    if body != {"error": "unauthorized"}:
        raise CheckFailed(f"401 body {body!r}, expected {{'error': 'unauthorized'}}")


def check_port_mismatch(ctx: SmokeContext, plane: PlaneName) -> None:
    # A route of the other plane, without a token: port isolation must answer before auth.
    if plane == "control":
        response = ctx.request(plane, "POST", "/jobs", auth=False, body={"kind": SMOKE_JOB_KIND})
    else:
        response = ctx.request(plane, "POST", "/nodes/register", auth=False,
                               body={"node_id": ctx.node_id})
    other: PlaneName = "data" if plane == "control" else "control"
    body = _expect(response, 421)
    _expect_fields("421", body, {"error": "port_mismatch", "expected_port": ctx.ports[other]})


def check_node_roundtrip(ctx: SmokeContext) -> None:
    node = ctx.node_id
    try:
        body = _expect(ctx.request("control", "POST", "/nodes/register",
                                   body={"node_id": node, "name": "smoke_checks",
                                         "meta": {"smoke": True}}), 200)
        _expect_fields("register", body, {"node_id": node, "status": "online"})
        body = _expect(ctx.request("control", "POST", f"/nodes/{node}/heartbeat"), 200)
        _expect_fields("heartbeat", body, {"node_id": node, "status": "online"})
        listed = _expect(ctx.request("control", "GET", "/nodes"), 200)
        mine = [n for n in listed.get("nodes", []) if n.get("node_id") == node]
        if len(mine) != 1 or mine[0].get("status") != "online":
            raise CheckFailed(f"GET /nodes: expected {node} online once, got {mine!r}"
                              [:MAX_DETAIL_CHARS])
    finally:
        deleted = ctx.request("control", "DELETE", f"/nodes/{node}")
    if deleted.status_code != 204:
        raise CheckFailed(f"delete: {_describe(deleted)}")
    after = ctx.request("control", "POST", f"/nodes/{node}/heartbeat")
    if after.status_code != 404:
        raise CheckFailed(f"heartbeat after delete: expected 404, {_describe(after)}")


def _claim(ctx: SmokeContext) -> dict[str, Any] | None:
    response = ctx.request("data", "POST", "/jobs/claim",
                           body={"node_id": ctx.node_id, "lease_s": CLAIM_LEASE_S})
    if response.status_code == 204:
        return None
    body = _expect(response, 200)
    job = body.get("job") if isinstance(body, dict) else None
    if not isinstance(job, dict) or not isinstance(job.get("job_id"), str):
        raise CheckFailed(f"claim: no job in {_describe(response)}")
    return job


def _hand_back(ctx: SmokeContext, job: dict[str, Any]) -> str:
    """Requeue a job that is not ours at once; return a description for the SKIP line."""
    job_id = job["job_id"]
    response = ctx.request("data", "POST", f"/jobs/{job_id}/fail", body={
        "node_id": ctx.node_id,
        "error": "handed back unrun by smoke_checks (claimed while probing for an empty queue)",
    })
    if response.status_code != 200:
        return f"claimed foreign job {job_id} and could not hand it back: {_describe(response)}"
    state = response.json().get("state")
    return f"claimed foreign job {job_id} (kind {job.get('kind')!r}) and handed it back: {state}"


def _queue_depth_from_metrics(ctx: SmokeContext) -> int | None:
    response = ctx.request("data", "GET", "/metrics", auth=False,
                           headers={"Accept": "application/json"})
    if response.status_code != 200:
        return None
    try:
        depth = response.json().get("queue_depth")
    except (ValueError, AttributeError):
        return None
    return depth if isinstance(depth, int) else None


def check_job_roundtrip(ctx: SmokeContext) -> None:
    if ctx.skip_jobs:
        raise CheckSkipped("--skip-jobs given")
    depth = _queue_depth_from_metrics(ctx)
    if depth:
        raise CheckSkipped(f"queue not empty (queue_depth={depth} from /metrics)")
    probe = _claim(ctx)
    if probe is not None:
        raise CheckSkipped(f"queue not empty; {_hand_back(ctx, probe)}")
    payload = {"smoke_id": ctx.node_id}
    body = _expect(ctx.request("data", "POST", "/jobs", body={
        "kind": SMOKE_JOB_KIND, "payload": payload, "max_attempts": 1}), 201)
    _expect_fields("submit", body, {"state": "queued"})
    job_id = body.get("job_id")
    if not isinstance(job_id, str) or not job_id:
        raise CheckFailed(f"submit: no job_id in {body!r}")
    handed_back: list[str] = []
    for _ in range(MAX_OWN_CLAIMS):
        job = _claim(ctx)
        if job is None:
            state = _expect(ctx.request("data", "GET", f"/jobs/{job_id}"), 200).get("state")
            raise CheckFailed(f"claim answered 204 while our job {job_id} was {state!r}"
                              if state == "queued" else
                              f"another worker claimed our job {job_id} (now {state!r})")
        if job["job_id"] == job_id:
            break
        handed_back.append(_hand_back(ctx, job))
    else:
        raise CheckSkipped(f"queue busy; our job {job_id} left queued with max_attempts 1; "
                           + "; ".join(handed_back))
    _expect_fields("claim", job, {"state": "inflight", "node_id": ctx.node_id,
                                  "kind": SMOKE_JOB_KIND, "payload": payload, "attempts": 1})
    result = {"smoke": True}
    body = _expect(ctx.request("data", "POST", f"/jobs/{job_id}/complete",
                               body={"node_id": ctx.node_id, "result": result}), 200)
    _expect_fields("complete", body, {"job_id": job_id, "state": "done"})
    body = _expect(ctx.request("data", "GET", f"/jobs/{job_id}"), 200)
    _expect_fields("read back", body, {"job_id": job_id, "state": "done", "result": result})
    if handed_back:
        raise CheckSkipped("round trip passed, but " + "; ".join(handed_back))


def check_metrics(ctx: SmokeContext, plane: PlaneName) -> None:
    response = ctx.request(plane, "GET", "/metrics", auth=False,
                           headers={"Accept": "application/json"})
    if response.status_code == 501:
        raise CheckSkipped("not configured (501)")
    body = _expect(response, 200)
    if not isinstance(body, dict):
        raise CheckFailed(f"expected a JSON object: {_describe(response)}")
    keys = CONTROL_METRIC_KEYS if plane == "control" else DATA_METRIC_KEYS
    missing = [key for key in keys if key not in body]
    if missing:
        raise CheckFailed(f"missing keys {missing}")
    _expect_fields("metrics", body, {"plane": plane})
    if not isinstance(body["generated_at"], str):
        raise CheckFailed(f"generated_at is not a string: {body['generated_at']!r}")
    bad = [key for key in keys[2:]
           if not isinstance(body[key], int | float) or isinstance(body[key], bool)
           or body[key] < 0]
    if bad:
        raise CheckFailed(f"not a number >= 0: {', '.join(f'{k}={body[k]!r}' for k in bad)}")


def check_no_token_leak(ctx: SmokeContext) -> None:
    secret = ctx.token.encode()
    leaks = sum(secret in seen for seen in ctx.seen)
    if leaks:
        raise CheckFailed(f"the token came back in {leaks} response bodies or headers")
    if not ctx.seen:
        raise CheckSkipped("no responses received")


Check = tuple[str, Callable[[SmokeContext], None]]


def all_checks() -> list[Check]:
    """Every check, in the order it runs (health first: it marks a plane unreachable)."""
    checks: list[Check] = []
    for kind, fn in (("health", check_health), ("unauthorized", check_unauthorized),
                     ("port_mismatch", check_port_mismatch)):
        for plane in ("control", "data"):
            checks.append((f"{kind}_{plane}", _bind(fn, plane)))
    checks += [("node_roundtrip", check_node_roundtrip), ("job_roundtrip", check_job_roundtrip)]
    checks += [(f"metrics_{plane}", _bind(check_metrics, plane)) for plane in ("control", "data")]
    checks.append(("no_token_leak", check_no_token_leak))
    return checks


def _bind(fn: Callable[[SmokeContext, PlaneName], None], plane: PlaneName
          ) -> Callable[[SmokeContext], None]:
    return lambda ctx: fn(ctx, plane)


def _transport_detail(exc: httpx.TransportError) -> str:
    try:
        url: object = exc.request.url
    except RuntimeError:  # an error raised before the request was attached
        url = "?"
    reason = str(exc) or type(exc).__name__
    return f"cannot reach {url}: {type(exc).__name__}: {reason}"


def run_checks(ctx: SmokeContext, checks: Sequence[Check]) -> Iterator[CheckResult]:
    """Run each check and turn what it raises into a result; never raises itself."""
    for name, check in checks:
        try:
            check(ctx)
        except CheckSkipped as exc:
            yield CheckResult(name, "SKIP", str(exc))
        except CheckFailed as exc:
            yield CheckResult(name, "FAIL", str(exc))
        except httpx.TransportError as exc:
            yield CheckResult(name, "FAIL", _transport_detail(exc))
        except Exception as exc:  # a smoke check reports; it does not crash with a traceback
            yield CheckResult(name, "FAIL", f"unexpected {type(exc).__name__}: {exc}")
        else:
            yield CheckResult(name, "PASS")


# --- the edge: arguments, token, output ---------------------------------------------------------


def _url(value: str) -> str:
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError) as exc:
        raise argparse.ArgumentTypeError(f"not a URL: {value!r} ({exc})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise argparse.ArgumentTypeError(f"expected http(s)://host:port, got {value!r}")
    return value.rstrip("/")


def _timeout(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {value!r}") from None
    if not 0 < seconds <= 300:
        raise argparse.ArgumentTypeError(f"must be > 0 and <= 300, got {value!r}")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smoke_checks.py",
        description="Check a running Sheratan hub: health, 401, 421, node and job round trips,"
                    " /metrics. Exit 0: all passed; 1: a check failed; 2: bad usage.",
    )
    parser.add_argument("--control-url", type=_url, default=DEFAULT_CONTROL_URL,
                        help=f"control plane base URL (default {DEFAULT_CONTROL_URL})")
    parser.add_argument("--data-url", type=_url, default=DEFAULT_DATA_URL,
                        help=f"data plane base URL (default {DEFAULT_DATA_URL})")
    parser.add_argument("--token", help="bearer token (default: HUB_TOKEN, else the token file)")
    parser.add_argument("--home", type=Path,
                        help="SHERATAN_HOME holding secrets/hub_token"
                             " (default: SHERATAN_HOME, else ./.sheratan)")
    parser.add_argument("--timeout-s", type=_timeout, default=DEFAULT_TIMEOUT_S,
                        help=f"per-request timeout in seconds (default {DEFAULT_TIMEOUT_S:g})")
    parser.add_argument("--skip-jobs", action="store_true",
                        help="do not touch the job queue (see the module docstring)")
    return parser


def resolve_token(token: str | None, home: Path | None, env: Mapping[str, str]) -> str:
    """``--token``, else ``HUB_TOKEN``, else ``<home>/secrets/hub_token``.

    Raises:
        UsageError: when no token is found; the message names the sources, never a value.
    """
    if token:
        return token
    if env.get("HUB_TOKEN"):
        return env["HUB_TOKEN"]
    home = home or Path(env.get("SHERATAN_HOME") or DEFAULT_HOME)
    path = home / "secrets" / "hub_token"
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise UsageError(f"no token: --token and HUB_TOKEN are unset and {path} cannot be read"
                         f" ({exc.strerror}); pass --token or --home") from None
    if not value:
        raise UsageError(f"no token: {path} is empty")
    return value


def _port(url: str) -> int:
    parsed = httpx.URL(url)
    return parsed.port or (443 if parsed.scheme == "https" else 80)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        token = resolve_token(args.token, args.home, os.environ)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    timeout = httpx.Timeout(args.timeout_s)
    # trust_env=False: a proxy from the environment must not carry loopback checks elsewhere.
    with httpx.Client(base_url=args.control_url, timeout=timeout, trust_env=False) as control, \
            httpx.Client(base_url=args.data_url, timeout=timeout, trust_env=False) as data:
        ctx = SmokeContext(
            clients={"control": control, "data": data},
            ports={"control": _port(args.control_url), "data": _port(args.data_url)},
            token=token,
            node_id=f"smoke-{uuid.uuid4().hex[:12]}",
            skip_jobs=args.skip_jobs,
        )
        counts = dict.fromkeys(("PASS", "FAIL", "SKIP"), 0)
        for result in run_checks(ctx, all_checks()):
            counts[result.outcome] += 1
            print(result.line().replace(token, REDACTED), flush=True)
    print(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
    return EXIT_CHECK_FAILED if counts["FAIL"] else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

