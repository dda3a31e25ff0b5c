"""With a real hub: after a scripted run of fails, lease expiries and dead-letters, the
retries table holds exactly what the hub's metrics counted, survives a restart, and old rows
are pruned by the running hub."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from baseline_hub import read_retries_since
from tests.conftest import HubProcess, start_hub

pytestmark = pytest.mark.e2e

SHORT_LEASE_S = 0.2


def _job(client: httpx.Client, hub: HubProcess, max_attempts: int) -> str:
    response = client.post(f"{hub.data_url}/jobs", json={"kind": "k",
                                                         "max_attempts": max_attempts})
    assert response.status_code == 201
    job_id: str = response.json()["job_id"]
    return job_id


def _claim(client: httpx.Client, hub: HubProcess, job_id: str, lease_s: float = 30) -> None:
    response = client.post(f"{hub.data_url}/jobs/claim", json={"node_id": "w",
                                                               "lease_s": lease_s})
    assert response.json()["job"]["job_id"] == job_id  # one job in play at a time: FIFO


def _fail(client: httpx.Client, hub: HubProcess, job_id: str, expect: str) -> None:
    response = client.post(f"{hub.data_url}/jobs/{job_id}/fail",
                           json={"node_id": "w", "error": "boom"})
    assert response.json()["state"] == expect


def _expire(client: httpx.Client, hub: HubProcess, job_id: str, expect: str) -> None:
    _claim(client, hub, job_id, SHORT_LEASE_S)
    deadline = time.monotonic() + 10
    while client.get(f"{hub.data_url}/jobs/{job_id}").json()["state"] == "inflight":
        assert time.monotonic() < deadline, "the sweeper never expired the lease"
        time.sleep(0.05)
    assert client.get(f"{hub.data_url}/jobs/{job_id}").json()["state"] == expect


def _scripted_run(hub: HubProcess) -> None:
    """Two retries of each cause, and three dead-letters that are no retries."""
    with httpx.Client(headers=hub.auth, timeout=5) as client:
        a = _job(client, hub, 3)
        for expect in ("queued", "queued"):  # failed, failed
            _claim(client, hub, a)
            _fail(client, hub, a, expect)
        _claim(client, hub, a)
        assert client.post(f"{hub.data_url}/jobs/{a}/complete",
                           json={"node_id": "w"}).json()["state"] == "done"
        b = _job(client, hub, 2)
        _expire(client, hub, b, "queued")  # lease_expired
        _expire(client, hub, b, "dead")  # dead-letter by the sweeper
        c = _job(client, hub, 1)
        _claim(client, hub, c)
        _fail(client, hub, c, "dead")  # dead-letter by a fail
        d = _job(client, hub, 2)
        _expire(client, hub, d, "queued")  # lease_expired
        _claim(client, hub, d)
        _fail(client, hub, d, "dead")


def _observed(hub: HubProcess) -> tuple[Counter[str], int]:
    """What the hub's observers counted: the retry counter by cause, and retry_rate_1m."""
    text = httpx.get(f"{hub.data_url}/metrics?format=prometheus").text
    counted: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "hub_jobs_retries_total":
                counted[sample.labels["cause"]] += int(sample.value)
    rate = httpx.get(f"{hub.data_url}/metrics").json()["retry_rate_1m"]
    return counted, int(rate)


def _table(home: Path, start: float = 0) -> Counter[str]:
    return Counter(retry.cause for retry in read_retries_since(home / "state" / "hub.db", start))


def test_the_table_matches_the_observers_survives_a_restart_and_is_pruned(
        hub_home: Path) -> None:
    hub = start_hub(hub_home)
    try:
        _scripted_run(hub)
        counted, rate = _observed(hub)
        expected = Counter({"failed": 2, "lease_expired": 2})
        assert counted == expected and rate == 4
        assert _table(hub_home) == expected  # read while the hub runs
    finally:
        assert hub.stop() == 0
    assert _table(hub_home) == expected  # read with the hub down
    recent = [r.at for r in read_retries_since(hub_home / "state" / "hub.db", 0)]
    assert all(time.time() - 600 < at <= time.time() for at in recent)  # epoch seconds
    with sqlite3.connect(hub_home / "state" / "hub.db") as conn:
        conn.executemany("INSERT INTO retries(at, cause) VALUES (?, ?)",
                         [(time.time() - 7200, "failed"), (time.time() - 3700, "lease_expired")])
    conn.close()
    assert _table(hub_home) == expected + Counter({"failed": 1, "lease_expired": 1})
    hub = start_hub(hub_home)
    try:
        deadline = time.monotonic() + 5
        while _table(hub_home) != expected:  # the sweeper's first passes prune the old rows
            assert time.monotonic() < deadline, _table(hub_home)
            time.sleep(0.05)
        assert sorted(r.at for r in read_retries_since(hub_home / "state" / "hub.db", 0)) == (
            sorted(recent))
    finally:
        assert hub.stop() == 0
