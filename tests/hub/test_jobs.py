from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baseline_hub import HubConfig, HubContext
from baseline_hub.jobs import JobConflict, JobNotFound
from tests.hub.conftest import FakeClock, open_hub


class RetryRecorder:
    def __init__(self) -> None:
        self.causes: list[str] = []

    def attach(self, state: object) -> None:
        pass

    def security_event(self, event: object) -> None:
        pass

    def job_retry(self, cause: str) -> None:
        self.causes.append(cause)


def test_claim_is_fifo_and_marks_the_job_inflight(hub: HubContext) -> None:
    first = hub.jobs.submit("a", {"n": 1}, None)
    hub.jobs.submit("b", {}, None)
    job = hub.jobs.claim("w1", None)
    assert job is not None
    assert (job["job_id"], job["state"], job["node_id"], job["attempts"]) == (
        first, "inflight", "w1", 1)
    assert hub.jobs.counts() == {"queued": 1, "inflight": 1}


def test_claim_on_an_empty_queue_returns_none(hub: HubContext) -> None:
    assert hub.jobs.claim("w1", None) is None


def test_complete_stores_the_result(hub: HubContext) -> None:
    job_id = hub.jobs.submit("a", {}, None)
    hub.jobs.claim("w1", None)
    assert hub.jobs.complete(job_id, "w1", {"ok": True}) == "done"
    done = hub.jobs.get(job_id)
    assert (done["state"], done["result"]) == ("done", {"ok": True})
    assert hub.jobs.counts() == {"queued": 0, "inflight": 0}


def test_only_the_lease_holder_may_settle_a_job(hub: HubContext) -> None:
    job_id = hub.jobs.submit("a", {}, None)
    hub.jobs.claim("w1", None)
    with pytest.raises(JobConflict) as exc:
        hub.jobs.complete(job_id, "w2", None)
    assert exc.value.error == "not_lease_holder"


def test_a_settled_job_cannot_be_settled_again(hub: HubContext) -> None:
    job_id = hub.jobs.submit("a", {}, None)
    hub.jobs.claim("w1", None)
    hub.jobs.complete(job_id, "w1", None)
    with pytest.raises(JobConflict) as exc:
        hub.jobs.fail(job_id, "w1", "late")
    assert (exc.value.error, exc.value.state) == ("invalid_state", "done")


def test_unknown_job_is_not_found(hub: HubContext) -> None:
    with pytest.raises(JobNotFound):
        hub.jobs.get("nope")
    with pytest.raises(JobNotFound):
        hub.jobs.complete("nope", "w1", None)


def test_fail_requeues_until_attempts_run_out_then_dead_letters(hub: HubContext) -> None:
    job_id = hub.jobs.submit("a", {}, 2)
    hub.jobs.claim("w1", None)
    retry = hub.jobs.fail(job_id, "w1", "boom")
    job = hub.jobs.get(job_id)
    assert (job["state"], retry.cause, retry.state, job["last_error"]) == (
        "queued", "failed", "queued", "boom")
    hub.jobs.claim("w1", None)
    retry = hub.jobs.fail(job_id, "w1", "boom again")
    assert (hub.jobs.get(job_id)["state"], retry.state) == ("dead", "dead")
    assert hub.jobs.claim("w1", None) is None


def test_expired_leases_are_requeued_then_dead_lettered(config: HubConfig,
                                                        clock: FakeClock) -> None:
    recorder = RetryRecorder()
    hub = open_hub(config, clock, (recorder,))
    try:
        job_id = hub.jobs.submit("a", {}, 2)
        hub.jobs.claim("w1", 10)
        clock.advance(9)
        assert hub.jobs.expire_leases() == []
        clock.advance(2)
        [retry] = hub.jobs.expire_leases()
        assert (retry.job_id, retry.cause, retry.state) == (job_id, "lease_expired", "queued")
        hub.jobs.claim("w2", 10)
        clock.advance(11)
        [retry] = hub.jobs.expire_leases()
        assert retry.state == "dead"
        assert hub.jobs.get(job_id)["state"] == "dead"
        assert hub.jobs.counts() == {"queued": 0, "inflight": 0}
    finally:
        hub.close()


def test_jobs_survive_reopening_the_store(config: HubConfig, clock: FakeClock) -> None:
    first = open_hub(config, clock)
    inflight = first.jobs.submit("a", {}, None)
    queued = first.jobs.submit("b", {"k": "v"}, None)
    first.jobs.claim("w1", None)
    first.close()
    second = open_hub(config, clock)
    try:
        assert second.jobs.counts() == {"queued": 1, "inflight": 1}
        assert second.jobs.get(queued)["payload"] == {"k": "v"}
        assert second.jobs.get(inflight)["state"] == "inflight"
    finally:
        second.close()


_OPS = st.lists(st.sampled_from(["submit", "claim", "complete", "fail", "expire", "tick"]),
                max_size=60)


@settings(max_examples=40, deadline=None)
@given(ops=_OPS)
def test_in_memory_counts_always_mirror_the_table(ops: list[str]) -> None:
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as tmp:
        hub = open_hub(HubConfig(home=Path(tmp), job_lease_s=5, job_max_attempts=2), clock)
        try:
            held: list[str] = []
            for op in ops:
                if op == "submit":
                    hub.jobs.submit("k", {}, None)
                elif op == "claim" and (job := hub.jobs.claim("w", None)):
                    held.append(job["job_id"])
                elif op in ("complete", "fail") and held:
                    job_id = held.pop(0)
                    try:
                        if op == "complete":
                            hub.jobs.complete(job_id, "w", None)
                        else:
                            hub.jobs.fail(job_id, "w", "x")
                    except JobConflict:
                        pass  # its lease expired and it was swept meanwhile
                elif op == "expire":
                    hub.jobs.expire_leases()
                elif op == "tick":
                    clock.advance(3)
            conn = hub._conn
            assert conn is not None
            table = dict(conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
            assert hub.jobs.counts() == {"queued": table.get("queued", 0),
                                         "inflight": table.get("inflight", 0)}
        finally:
            hub.close()
