"""In-process hub fixtures: a HubContext on a temporary home, a fake clock, plane clients."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message

from baseline_hub import HubConfig, HubContext, PlaneInfo, build_plane_app
from baseline_hub.observer import HubObserver
from tests.conftest import REPO, TEST_TOKEN

CONTROL = PlaneInfo("control", 8787, 8788)
DATA = PlaneInfo("data", 8788, 8787)
CLIENT = ("10.0.0.7", 50123)


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config(hub_home: Path) -> HubConfig:
    return HubConfig(home=hub_home, node_stale_s=30, node_dead_s=120, job_lease_s=30)


def open_hub(config: HubConfig, clock: FakeClock,
             observers: tuple[HubObserver, ...] = ()) -> HubContext:
    return HubContext.open(config, TEST_TOKEN, observers=observers, wall_clock=clock)


@pytest.fixture
def hub(config: HubConfig, clock: FakeClock) -> Iterator[HubContext]:
    context = open_hub(config, clock)
    yield context
    context.close()


def plane_client(hub: HubContext, plane: PlaneInfo, *, auth: bool = True) -> TestClient:
    headers = {"Authorization": f"Bearer {TEST_TOKEN}"} if auth else {}
    return TestClient(build_plane_app(plane, hub), client=CLIENT, headers=headers)


@pytest.fixture
def control(hub: HubContext) -> Iterator[TestClient]:
    with plane_client(hub, CONTROL) as client:
        yield client


@pytest.fixture
def data(hub: HubContext) -> Iterator[TestClient]:
    with plane_client(hub, DATA) as client:
        yield client


def run_hub_cli(env: dict[str, str], home: Path,
                timeout_s: float = 15) -> subprocess.CompletedProcess[str]:
    """Run ``python -m baseline_hub`` to its exit (for start-up errors), on ephemeral ports."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    full.update({"SHERATAN_HOME": str(home), "HUB_CONTROL_PORT": "0", "HUB_DATA_PORT": "0"})
    full.update(env)
    return subprocess.run([sys.executable, "-m", "baseline_hub"], env=full, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout_s)


@dataclass
class RawResponse:
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""


def raw_request(
    app: ASGIApp, method: str, path: str, headers: list[tuple[bytes, bytes]],
    *, body: bytes = b"", peer: tuple[str, int] | None = CLIENT, port: int = 8787,
) -> RawResponse:
    """One request straight through ASGI, with headers exactly as given: values no HTTP
    client would send (control characters, absurd lengths) reach the app as they are."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "headers": headers, "client": peer,
             "server": ("127.0.0.1", port), "state": {}}
    response = RawResponse()

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            response.status = message["status"]
            response.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            response.body += message.get("body", b"")

    async def call() -> None:
        await app(scope, receive, send)

    asyncio.run(call())
    return response
