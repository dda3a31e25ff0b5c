"""The bare hub (issue 2): ``GET /health`` and a job's life, in-process and over loopback."""

from __future__ import annotations

import time

import orjson

from .framework import Row, Settings, Variant, measure
from .hubs import (
    CONCURRENCY,
    RawConnection,
    clients,
    expect,
    in_process_hub,
    loopback_hub,
    raw_timed,
    sync_timed,
)


def bench_health(settings: Settings) -> list[Row]:
    """``GET /health`` on the control plane: the floor cost of one request through the hub."""
    with in_process_hub() as local, loopback_hub() as remote, clients(remote) as pair:
        client, loop = pair
        url = f"{remote.control_url}/health"

        async def in_process(n: int) -> None:
            for _ in range(n):
                await local.control.call("GET", "/health")

        def sequential(n: int) -> None:
            for _ in range(n):
                expect(client.get(url), 200)

        async def raw(conn: RawConnection, index: int, n: int) -> None:
            for _ in range(n):
                await conn.request("GET", "/health")

        def raw_variant(concurrency: int, full_ops: int) -> Variant:
            return Variant(f"loopback raw c={concurrency}", settings.ops(full_ops),
                           raw_timed(loop, remote.control_url, remote.token, concurrency, raw),
                           "in-process", remote.cpu_s)

        variants = [
            Variant("in-process", settings.ops(4000), local.timed(in_process),
                    cpu_s=time.process_time),
            Variant("loopback httpx", settings.ops(1500), sync_timed(sequential), "in-process",
                    remote.cpu_s),
            raw_variant(1, 3000),
            raw_variant(CONCURRENCY, 3000),
        ]
        return measure("health", "GET /health", "req/s", variants, settings)


_SUBMIT = orjson.dumps({"kind": "bench", "payload": {"n": 1}})


def bench_jobs(settings: Settings) -> list[Row]:
    """One job's life: ``POST /jobs``, ``POST /jobs/claim``, ``POST /jobs/{id}/complete``,
    authenticated, on the data plane. The unit is cycles (3 requests, 3 SQLite writes)."""
    with in_process_hub() as local, loopback_hub() as remote, clients(remote) as pair:
        client, loop = pair
        base = remote.data_url

        async def in_process(n: int) -> None:
            claim = orjson.dumps({"node_id": "bench-0"})
            for _ in range(n):
                await local.data.call("POST", "/jobs", _SUBMIT, expect=201)
                job = orjson.loads(await local.data.call("POST", "/jobs/claim", claim))["job"]
                await local.data.call("POST", f"/jobs/{job['job_id']}/complete", claim)

        def sequential(n: int) -> None:
            node = {"node_id": "bench-0"}
            for _ in range(n):
                expect(client.post(f"{base}/jobs", content=_SUBMIT,
                                    headers={"content-type": "application/json"}), 201)
                job = expect(client.post(f"{base}/jobs/claim", json=node), 200).json()["job"]
                expect(client.post(f"{base}/jobs/{job['job_id']}/complete", json=node), 200)

        async def raw(conn: RawConnection, index: int, n: int) -> None:
            # Each worker submits before it claims, so a claim never finds the queue empty;
            # it may take another worker's job, which it then completes as its holder.
            node = orjson.dumps({"node_id": f"bench-{index}"})
            for _ in range(n):
                await conn.request("POST", "/jobs", _SUBMIT, expect=201)
                job = orjson.loads(await conn.request("POST", "/jobs/claim", node))["job"]
                await conn.request("POST", f"/jobs/{job['job_id']}/complete", node)

        def raw_variant(concurrency: int, full_ops: int) -> Variant:
            return Variant(f"loopback raw c={concurrency}", settings.ops(full_ops),
                           raw_timed(loop, base, remote.token, concurrency, raw), "in-process",
                           remote.cpu_s)

        variants = [
            Variant("in-process", settings.ops(1200), local.timed(in_process),
                    cpu_s=time.process_time),
            Variant("loopback httpx", settings.ops(500), sync_timed(sequential), "in-process",
                    remote.cpu_s),
            raw_variant(1, 800),
            raw_variant(CONCURRENCY, 800),
        ]
        return measure("jobs", "submit+claim+complete", "cycles/s", variants, settings)
