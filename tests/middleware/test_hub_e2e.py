"""C1 on a real hub process: OTLP export, a dead collector, concurrent scrapes, promtool."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import HubProcess, start_hub
from tests.otlp_receiver import Receiver, free_port, number_points, wait_for

pytestmark = pytest.mark.e2e

OTLP_INSTRUMENTS = {"sheratan.hub.control/hub.nodes", "sheratan.hub.control/hub.auth.failures",
                    "sheratan.hub.control/hub.auth.failure_rate_1m",
                    "sheratan.hub.data/hub.queue.depth", "sheratan.hub.data/hub.jobs.inflight",
                    "sheratan.hub.data/hub.jobs.retry_rate_1m",
                    "sheratan.hub.control/http.server.request.duration"}


def test_metrics_reach_an_otlp_collector(hub_home: Path, receiver: Receiver) -> None:
    hub = start_hub(hub_home, env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
                                   "OTEL_METRIC_EXPORT_INTERVAL": "300",
                                   "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test"})
    try:
        with httpx.Client(headers=hub.auth) as client:
            client.post(f"{hub.control_url}/nodes/register", json={"node_id": "n1"})
            client.post(f"{hub.data_url}/jobs", json={"kind": "k"})
            httpx.get(f"{hub.control_url}/nodes")  # an auth failure
        assert wait_for(lambda: set(receiver.metric_points()) >= OTLP_INSTRUMENTS, 15), \
            sorted(receiver.metric_points())
        points = receiver.metric_points()
        resource, nodes = points["sheratan.hub.control/hub.nodes"]
        assert resource["service.name"] == "sheratan-hub"
        assert resource["deployment.environment"] == "test"
        by_state = {p.attributes[0].value.string_value: p.as_int for p in number_points(nodes)}
        assert by_state["online"] == 1
        queue = "sheratan.hub.data/hub.queue.depth"
        assert wait_for(lambda: any(p.as_int == 1 for p in
                                    number_points(receiver.metric_points()[queue][1])))
    finally:
        assert hub.stop() == 0


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_a_dead_collector_neither_slows_requests_nor_shutdown(hub_home: Path,
                                                              protocol: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    hub = start_hub(hub_home, env={"OTEL_EXPORTER_OTLP_ENDPOINT": dead,
                                   "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
                                   "OTEL_METRIC_EXPORT_INTERVAL": "200"})
    try:
        time.sleep(0.5)  # let a few exports fail
        with httpx.Client(headers=hub.auth, timeout=2) as client:
            started = time.monotonic()
            for i in range(20):
                assert client.post(f"{hub.data_url}/jobs", json={"kind": "k"}).status_code == 201
                assert client.get(f"{hub.control_url}/metrics").json()["nodes_online"] == 0, i
            assert time.monotonic() - started < 5
        started = time.monotonic()
        assert hub.stop(signal.SIGTERM) == 0
        assert time.monotonic() - started < 3
    finally:
        hub.stop(signal.SIGKILL)


def test_concurrent_scrapes_on_both_ports_all_succeed(hub_process: HubProcess) -> None:
    hub = hub_process
    urls = [f"{hub.control_url}/metrics", f"{hub.data_url}/metrics"]
    formats = [{}, {"Accept": "text/plain"}, {"Accept": "application/openmetrics-text"}]

    def scrape(i: int) -> int:
        with httpx.Client(timeout=5) as client:
            return client.get(urls[i % 2], headers=formats[i % 3]).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(scrape, range(200)))
    assert statuses == [200] * 200
