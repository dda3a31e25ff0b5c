"""The job round trip, which must not take one of someone else's jobs.

``POST /jobs/claim`` is FIFO over every kind (by submission order; a requeued job keeps
its place), and the API cannot delete a job. Claiming a job that someone else submitted
therefore costs that job an attempt whatever we do next: completing it would lie about its
result, and failing it back or letting its lease expire both use the attempt up. So:

1. The check runs only when the data plane's ``/metrics`` says ``queue_depth`` is 0 *and*
   ``inflight_jobs`` is 0 (an inflight job that is requeued would go ahead of ours). When
   ``/metrics`` cannot say (501, 503, unreachable, not JSON) it reports
   ``SKIP job_roundtrip: queue depth unknown (no /metrics); ...`` and claims nothing;
   ``--skip-jobs`` silences it.
2. It submits its own job (kind ``smoke_check``, ``max_attempts`` 1, so a smoke job that is
   ever orphaned is dead-lettered instead of reaching a real worker again), claims once
   with a short lease, completes it and reads it back.

The residual race: a job submitted or requeued in the milliseconds between the
``/metrics`` read and our submit is claimed instead of ours. That job is *not* failed back
(``/fail`` would spend an attempt at once and may dead-letter it): it is left leased, and
the check reports it by id. The hub requeues it when the ``CLAIM_LEASE_S`` lease expires;
that still costs it one attempt, which is the least the API allows. Our own job is then
left queued, and the SKIP line says so.
"""

from __future__ import annotations

from typing import Any, TypeGuard

import httpx

from .context import (
    SMOKE_JOB_KIND,
    CheckFailed,
    CheckSkipped,
    SmokeContext,
    describe,
    expect,
    expect_fields,
)

#: Lease on the one claim this check makes: short, so a job claimed in the residual race
#: (or ours, if the smoke check dies mid-way) goes back to the queue soon.
CLAIM_LEASE_S = 10.0

UNKNOWN_DEPTH = "queue depth unknown (no /metrics); pass --skip-jobs to silence"


def check_job_roundtrip(ctx: SmokeContext) -> None:
    if ctx.skip_jobs:
        raise CheckSkipped("--skip-jobs given")
    counts = _job_counts_from_metrics(ctx)
    if counts is None:
        raise CheckSkipped(UNKNOWN_DEPTH)
    queued, inflight = counts
    if queued:
        raise CheckSkipped(f"queue not empty (queue_depth={queued} from /metrics)")
    if inflight:
        raise CheckSkipped(f"jobs in flight (inflight_jobs={inflight} from /metrics); a requeued"
                           " one would be claimed before ours")
    payload = {"smoke_id": ctx.node_id}
    body = expect(ctx.request("data", "POST", "/jobs", body={
        "kind": SMOKE_JOB_KIND, "payload": payload, "max_attempts": 1}), 201)
    expect_fields("submit", body, {"state": "queued"})
    job_id = body.get("job_id")
    if not isinstance(job_id, str) or not job_id:
        raise CheckFailed(f"submit: no job_id in {body!r}")
    job = _claim(ctx)
    if job is None:
        state = expect(ctx.request("data", "GET", f"/jobs/{job_id}"), 200).get("state")
        raise CheckFailed(f"claim answered 204 while our job {job_id} was {state!r}"
                          if state == "queued" else
                          f"another worker claimed our job {job_id} (now {state!r})")
    if job["job_id"] != job_id:
        raise CheckSkipped(
            f"race: claimed foreign job {job['job_id']} (kind {job.get('kind')!r}) although"
            f" /metrics showed an empty queue; left it leased, not failed: the hub requeues it"
            f" when its {CLAIM_LEASE_S:g} s lease expires (one attempt used). Our job {job_id}"
            f" stays queued (kind {SMOKE_JOB_KIND!r}, max_attempts 1)")
    expect_fields("claim", job, {"state": "inflight", "node_id": ctx.node_id,
                                 "kind": SMOKE_JOB_KIND, "payload": payload, "attempts": 1})
    result = {"smoke": True}
    body = expect(ctx.request("data", "POST", f"/jobs/{job_id}/complete",
                              body={"node_id": ctx.node_id, "result": result}), 200)
    expect_fields("complete", body, {"job_id": job_id, "state": "done"})
    body = expect(ctx.request("data", "GET", f"/jobs/{job_id}"), 200)
    expect_fields("read back", body, {"job_id": job_id, "state": "done", "result": result})


def _claim(ctx: SmokeContext) -> dict[str, Any] | None:
    response = ctx.request("data", "POST", "/jobs/claim",
                           body={"node_id": ctx.node_id, "lease_s": CLAIM_LEASE_S})
    if response.status_code == 204:
        return None
    body = expect(response, 200)
    job = body.get("job") if isinstance(body, dict) else None
    if not isinstance(job, dict) or not isinstance(job.get("job_id"), str):
        raise CheckFailed(f"claim: no job in {describe(response)}")
    return job


def _job_counts_from_metrics(ctx: SmokeContext) -> tuple[int, int] | None:
    """``(queue_depth, inflight_jobs)`` from the data plane's JSON ``/metrics``, or None
    when it cannot tell (not configured, unavailable, unreachable, or not the contract's
    shape). A data plane already known to be unreachable still fails the check."""
    try:
        response = ctx.request("data", "GET", "/metrics", auth=False,
                               headers={"Accept": "application/json"})
    except httpx.TransportError:
        return None
    if response.status_code != 200:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    queued, inflight = body.get("queue_depth"), body.get("inflight_jobs")
    if not (_count(queued) and _count(inflight)):
        return None
    return queued, inflight


def _count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
