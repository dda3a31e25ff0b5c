"""``--demo``: a small simulated fleet that drives the hub's real API over loopback.

Nodes register and heartbeat, one falls silent (stale, then dead), jobs succeed, fail and
are abandoned (lease expiry), and an "intruder" sends bad tokens and cross-port requests in
bursts, so every metric and alert of Track C moves. The intruder connects from 127.0.0.2
where the OS allows it, because the watcher ignores 127.0.0.1 by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

import httpx

from .server import HubRuntime

logger = logging.getLogger(__name__)

TICK_S = 1.0
NODES = [f"demo-node-{i}" for i in range(1, 7)]
SILENT_NODE = NODES[-1]
SILENT_AFTER_TICKS = 10
MAX_QUEUE = 20
BURST_EVERY_TICKS = 30
BURST_AUTH_FAILURES = 12
BURST_PORT_MISMATCHES = 7
INTRUDER_ADDRESS = "127.0.0.2"


def _intruder_transport() -> httpx.AsyncHTTPTransport:
    with contextlib.suppress(OSError):
        import socket

        probe = socket.socket()
        try:
            probe.bind((INTRUDER_ADDRESS, 0))
            return httpx.AsyncHTTPTransport(local_address=INTRUDER_ADDRESS)
        finally:
            probe.close()
    return httpx.AsyncHTTPTransport()


async def run_demo(runtime: HubRuntime) -> None:
    """Drive the fleet until the hub is asked to stop (or this is cancelled). Never raises:
    a failed call is logged and skipped, unless the hub is stopping, when it is the end."""
    print(f"demo: {len(NODES)} nodes, a job stream, and a bad-client burst every "
          f"{BURST_EVERY_TICKS} s from {INTRUDER_ADDRESS}", flush=True)
    auth = {"Authorization": f"Bearer {runtime.token.value}"}
    rng = random.Random(1505)
    async with (
        httpx.AsyncClient(base_url=runtime.control_url, headers=auth, timeout=5) as control,
        httpx.AsyncClient(base_url=runtime.data_url, headers=auth, timeout=5) as data,
        httpx.AsyncClient(transport=_intruder_transport(), timeout=5) as intruder,
    ):
        tick = 0
        while not runtime.stop_requested:
            try:
                await _tick(runtime, tick, rng, control, data, intruder)
            except httpx.HTTPError as exc:
                if runtime.stop_requested:  # the servers went first: the normal end
                    return
                logger.info("demo call failed (%s); carrying on", type(exc).__name__)
            tick += 1
            await asyncio.sleep(TICK_S)


async def _tick(
    runtime: HubRuntime,
    tick: int,
    rng: random.Random,
    control: httpx.AsyncClient,
    data: httpx.AsyncClient,
    intruder: httpx.AsyncClient,
) -> None:
    await _heartbeats(tick, control)
    await _jobs(runtime, tick, rng, data)
    if tick % BURST_EVERY_TICKS == 5:
        await _burst(runtime, intruder)


async def _heartbeats(tick: int, control: httpx.AsyncClient) -> None:
    """Registers the fleet on the first tick; then each node but the silent one beats."""
    for node in NODES:
        if tick == 0:
            await control.post("/nodes/register", json={"node_id": node, "name": node,
                                                         "meta": {"demo": True}})
        elif node != SILENT_NODE or tick < SILENT_AFTER_TICKS:
            await control.post(f"/nodes/{node}/heartbeat")


async def _jobs(runtime: HubRuntime, tick: int, rng: random.Random,
                data: httpx.AsyncClient) -> None:
    """Queues a few jobs (unless the queue is full); one worker claims two and settles them."""
    if runtime.hub.jobs.counts()["queued"] < MAX_QUEUE:
        for _ in range(rng.randint(1, 3)):
            await data.post("/jobs", json={"kind": rng.choice(["render", "index", "sync"]),
                                           "payload": {"tick": tick}, "max_attempts": 3})
    worker = rng.choice(NODES[:-1])
    for _ in range(2):
        claimed = await data.post("/jobs/claim", json={"node_id": worker, "lease_s": 5})
        if claimed.status_code != 200:
            break
        job_id = claimed.json()["job"]["job_id"]
        roll = rng.random()
        if roll < 0.7:
            await data.post(f"/jobs/{job_id}/complete", json={"node_id": worker,
                                                                "result": {"ok": True}})
        elif roll < 0.9:
            await data.post(f"/jobs/{job_id}/fail", json={"node_id": worker,
                                                            "error": "simulated failure"})
        # else: abandoned; the sweeper requeues it when the lease runs out


async def _burst(runtime: HubRuntime, intruder: httpx.AsyncClient) -> None:
    """The intruder: bad or missing tokens, then requests on the wrong plane's port."""
    for i in range(BURST_AUTH_FAILURES):
        headers = {"Authorization": "Bearer not-the-token-0000"} if i % 2 else {}
        await intruder.get(f"{runtime.control_url}/nodes", headers=headers)
    for _ in range(BURST_PORT_MISMATCHES):
        await intruder.post(f"{runtime.data_url}/nodes/register", json={"node_id": "x"})
