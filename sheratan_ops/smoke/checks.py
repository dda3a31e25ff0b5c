"""The checks that need no care beyond their own requests, and the runner for all of them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import httpx

from sheratan_ops.cliargs import metrics_disabled

from .context import (
    MAX_DETAIL_CHARS,
    SMOKE_JOB_KIND,
    CheckFailed,
    CheckResult,
    CheckSkipped,
    PlaneName,
    SmokeContext,
    describe,
    expect,
    expect_fields,
    transport_detail,
)
from .jobs import check_job_roundtrip

CONTROL_METRIC_KEYS = ("plane", "generated_at", "nodes_online", "nodes_stale", "nodes_dead",
                       "auth_fail_rate_1m", "port_mismatch_rate_1m")
DATA_METRIC_KEYS = ("plane", "generated_at", "queue_depth", "inflight_jobs", "retry_rate_1m")

Check = tuple[str, Callable[[SmokeContext], None]]


def check_health(ctx: SmokeContext, plane: PlaneName) -> None:
    try:
        response = ctx.request(plane, "GET", "/health", auth=False)
    except httpx.TransportError as exc:
        ctx.unreachable[plane] = transport_detail(exc)
        raise
    body = expect(response, 200)
    expect_fields("health", body, {"status": "ok", "plane": plane})
    version = body.get("version")
    if not isinstance(version, str) or not version:
        raise CheckFailed(f"health: no version in {body!r}"[:MAX_DETAIL_CHARS])


def check_unauthorized(ctx: SmokeContext, plane: PlaneName) -> None:
    # Read-only routes: an auth bug must not turn the check into a write.
    path = "/nodes" if plane == "control" else f"/jobs/{ctx.node_id}"
    body = expect(ctx.request(plane, "GET", path, auth=False), 401)
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
    body = expect(response, 421)
    expect_fields("421", body, {"error": "port_mismatch", "expected_port": ctx.ports[other]})


def check_node_roundtrip(ctx: SmokeContext) -> None:
    node = ctx.node_id
    try:
        body = expect(ctx.request("control", "POST", "/nodes/register",
                                  body={"node_id": node, "name": "smoke_checks",
                                        "meta": {"smoke": True}}), 200)
        expect_fields("register", body, {"node_id": node, "status": "online"})
        body = expect(ctx.request("control", "POST", f"/nodes/{node}/heartbeat"), 200)
        expect_fields("heartbeat", body, {"node_id": node, "status": "online"})
        listed = expect(ctx.request("control", "GET", "/nodes"), 200)
        mine = [n for n in listed.get("nodes", []) if n.get("node_id") == node]
        if len(mine) != 1 or mine[0].get("status") != "online":
            raise CheckFailed(f"GET /nodes: expected {node} online once, got {mine!r}"
                              [:MAX_DETAIL_CHARS])
    finally:
        deleted = ctx.request("control", "DELETE", f"/nodes/{node}")
    if deleted.status_code != 204:
        raise CheckFailed(f"delete: {describe(deleted)}")
    after = ctx.request("control", "POST", f"/nodes/{node}/heartbeat")
    if after.status_code != 404:
        raise CheckFailed(f"heartbeat after delete: expected 404, {describe(after)}")


def check_metrics(ctx: SmokeContext, plane: PlaneName) -> None:
    response = ctx.request(plane, "GET", "/metrics", auth=False,
                           headers={"Accept": "application/json"})
    if response.status_code == 501:
        raise CheckSkipped("not configured (501)")
    reason = metrics_disabled(response.status_code, response.content)
    if reason is not None:  # the hub's documented answer with OTEL_SDK_DISABLED=true
        raise CheckSkipped(f"metrics are off on the hub (503, reason {reason!r}; "
                           "OTEL_SDK_DISABLED=true)")
    body = expect(response, 200)
    if not isinstance(body, dict):
        raise CheckFailed(f"expected a JSON object: {describe(response)}")
    keys = CONTROL_METRIC_KEYS if plane == "control" else DATA_METRIC_KEYS
    missing = [key for key in keys if key not in body]
    if missing:
        raise CheckFailed(f"missing keys {missing}")
    expect_fields("metrics", body, {"plane": plane})
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
            yield CheckResult(name, "FAIL", transport_detail(exc))
        except Exception as exc:  # a smoke check reports; it does not crash with a traceback
            yield CheckResult(name, "FAIL", f"unexpected {type(exc).__name__}: {exc}")
        else:
            yield CheckResult(name, "PASS")
