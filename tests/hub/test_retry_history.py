"""The retry history in hub.db: one row per retry the observers are told of, written with the
requeue, kept across a reopen, pruned after an hour, and readable without the hub."""

from __future__ import annotations

import sqlite3
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from baseline_hub import HubConfig, HubContext, PastRetry, read_retries_since
from baseline_hub.jobs import JobQueue
from baseline_hub.retries import RETRY_HISTORY_S
from tests.hub.conftest import DATA, FakeClock, open_hub, plane_client
from tests.hub.test_jobs import RetryRecorder


def rows(hub: HubContext) -> list[tuple[float, str]]:
    return [(retry.at, retry.cause) for retry in hub.retries_since(0)]


def test_a_failed_job_that_is_requeued_is_one_failed_retry(hub: HubContext,
                                                           clock: FakeClock) -> None:
    job_id = hub.jobs.submit("a", {}, 2)
    hub.jobs.claim("w1", None)
    clock.advance(5)
    assert hub.jobs.fail(job_id, "w1", "boom").state == "queued"
    assert rows(hub) == [(clock.now, "failed")]
    hub.jobs.claim("w1", None)
    assert hub.jobs.fail(job_id, "w1", "boom").state == "dead"
    assert rows(hub) == [(clock.now, "failed")]  # a dead-letter is not a retry


def test_an_expired_lease_that_is_requeued_is_one_lease_expired_retry(
        hub: HubContext, clock: FakeClock) -> None:
    first = hub.jobs.submit("a", {}, 2)
    hub.jobs.submit("b", {}, 1)
    hub.jobs.claim("w1", 10)
    hub.jobs.claim("w2", 10)
    clock.advance(11)
    retries = hub.jobs.expire_leases()
    assert sorted((r.job_id == first, r.state) for r in retries) == [
        (False, "dead"), (True, "queued")]
    assert rows(hub) == [(clock.now, "lease_expired")]


def test_a_refused_fail_records_nothing(hub: HubContext) -> None:
    job_id = hub.jobs.submit("a", {}, 3)
    hub.jobs.claim("w1", None)
    with pytest.raises(Exception, match="not_lease_holder"):
        hub.jobs.fail(job_id, "w2", "not mine")
    assert rows(hub) == []


def test_the_retry_row_and_the_requeue_commit_together(hub: HubContext) -> None:
    conn = hub._conn
    assert conn is not None
    failing = hub.jobs.submit("a", {}, 3)
    hub.jobs.claim("w1", 0.5)
    conn.execute("DROP TABLE retries")  # the row cannot be written: the requeue must not land
    with pytest.raises(sqlite3.OperationalError):
        hub.jobs.fail(failing, "w1", "boom")
    assert hub.jobs.get(failing)["state"] == "inflight"
    assert hub.jobs.counts() == {"queued": 0, "inflight": 1}
    assert not conn.in_transaction


def test_an_expiry_sweep_commits_with_its_retry_rows_or_not_at_all(
        hub: HubContext, clock: FakeClock) -> None:
    conn = hub._conn
    assert conn is not None
    job_id = hub.jobs.submit("a", {}, 3)
    hub.jobs.claim("w1", 10)
    clock.advance(11)
    conn.execute("DROP TABLE retries")
    with pytest.raises(sqlite3.OperationalError):
        hub.jobs.expire_leases()
    assert hub.jobs.get(job_id)["state"] == "inflight"
    assert hub.jobs.counts() == {"queued": 0, "inflight": 1}
    assert not conn.in_transaction


_OPS = st.lists(st.sampled_from(["submit", "claim", "fail", "complete", "sweep", "tick"]),
                min_size=10, max_size=60)


@settings(max_examples=30, deadline=None)
@given(ops=_OPS, max_attempts=st.integers(1, 3))
def test_the_table_records_exactly_the_retries_the_observers_see(
        ops: list[str], max_attempts: int) -> None:
    clock = FakeClock()
    recorder = RetryRecorder()
    with tempfile.TemporaryDirectory() as tmp:
        hub = open_hub(HubConfig(home=Path(tmp), job_lease_s=5), clock, (recorder,))
        try:
            with plane_client(hub, DATA) as data:
                for op in ops:
                    _apply(op, hub, data, clock, max_attempts)
            assert Counter(cause for _, cause in rows(hub)) == Counter(recorder.causes)
        finally:
            hub.close()


def _apply(op: str, hub: HubContext, data: TestClient, clock: FakeClock,
           max_attempts: int) -> None:
    """One step, through the HTTP routes and the sweeper's pass, as the running hub does."""
    if op == "submit":
        data.post("/jobs", json={"kind": "k", "max_attempts": max_attempts})
    elif op == "claim":
        data.post("/jobs/claim", json={"node_id": "w"})
    elif op in ("fail", "complete"):
        assert hub._conn is not None
        inflight = hub._conn.execute(
            "SELECT job_id FROM jobs WHERE state='inflight' ORDER BY seq LIMIT 1").fetchone()
        if inflight is not None:
            body = {"node_id": "w", "error": "x"} if op == "fail" else {"node_id": "w"}
            data.post(f"/jobs/{inflight['job_id']}/{op}", json=body)
    elif op == "sweep":
        hub.sweep_leases()
    else:
        clock.advance(3)


def test_the_history_survives_a_reopen_and_is_readable_without_the_hub(
        config: HubConfig, clock: FakeClock) -> None:
    hub = open_hub(config, clock)
    job_id = hub.jobs.submit("a", {}, 3)
    hub.jobs.claim("w1", None)
    hub.jobs.fail(job_id, "w1", "boom")
    recorded = hub.retries_since(0)
    assert read_retries_since(config.paths.db, 0) == recorded  # while open (WAL files)
    hub.close()
    side_files = [config.paths.db.with_name("hub.db" + s) for s in ("-wal", "-shm")]
    assert not any(side.exists() for side in side_files)
    assert read_retries_since(config.paths.db, 0) == recorded  # after a clean stop
    assert not any(side.exists() for side in side_files)  # the read left nothing behind
    again = open_hub(config, clock)
    try:
        assert again.retries_since(0) == recorded == [PastRetry(clock.now, "failed")]
    finally:
        again.close()


def test_since_is_inclusive_and_oldest_first(hub: HubContext, clock: FakeClock) -> None:
    times = []
    hub.jobs.submit("a", {}, 5)
    for _ in range(3):
        job = hub.jobs.claim("w1", None)
        assert job is not None
        hub.jobs.fail(job["job_id"], "w1", "boom")
        times.append(clock.now)
        clock.advance(10)
    assert [r.at for r in hub.retries_since(times[1])] == times[1:]
    assert hub.retries_since(times[2] + 0.001) == []


def test_rows_older_than_the_history_are_pruned_by_the_sweep(
        hub: HubContext, clock: FakeClock) -> None:
    conn = hub._conn
    assert conn is not None
    start = clock.now
    conn.executemany("INSERT INTO retries(at, cause) VALUES (?, ?)",
                     [(start - RETRY_HISTORY_S - 1, "failed"), (start - 10, "lease_expired"),
                      (start, "failed")])
    hub.sweep_leases()
    assert rows(hub) == [(start - 10, "lease_expired"), (start, "failed")]
    clock.advance(RETRY_HISTORY_S)
    hub.sweep_leases()
    assert rows(hub) == [(start, "failed")]


def test_a_store_from_before_the_table_gains_it_and_keeps_its_jobs(
        config: HubConfig, clock: FakeClock) -> None:
    path = config.paths.db
    path.parent.mkdir(parents=True)
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("PRAGMA journal_mode=WAL")
    old.execute("CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL"
                " UNIQUE, kind TEXT NOT NULL, payload TEXT NOT NULL DEFAULT '{}', state TEXT"
                " NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL,"
                " node_id TEXT, lease_expires_at REAL, result TEXT, last_error TEXT,"
                " created_at REAL NOT NULL, updated_at REAL NOT NULL)")
    old.execute("INSERT INTO jobs(job_id, kind, state, max_attempts, created_at, updated_at)"
                " VALUES ('j1', 'k', 'queued', 3, 1, 1)")
    old.execute("PRAGMA user_version=1")
    old.close()
    assert read_retries_since(path, 0) == []  # no table yet: no retries, and no error
    hub = open_hub(config, clock)
    try:
        assert hub.jobs.get("j1")["state"] == "queued"
        hub.jobs.claim("w1", None)
        hub.jobs.fail("j1", "w1", "boom")
        assert rows(hub) == [(clock.now, "failed")]
    finally:
        hub.close()


def test_a_missing_store_has_no_retries_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "state" / "hub.db"
    assert read_retries_since(path, 0) == []
    assert not path.parent.exists()


def test_the_history_must_be_positive(hub: HubContext) -> None:
    assert hub._conn is not None
    with pytest.raises(ValueError, match="retry_history_s"):
        JobQueue(hub._conn, default_lease_s=30, default_max_attempts=3, clock=FakeClock(),
                 retry_history_s=0)
