"""OTLP through a real, third-party collector: hub (and its watcher) -> rotel -> receiver.

rotel (PyPI ``rotel``, a test extra) ships its Rust collector binary in the wheel. It takes
OTLP over gRPC and HTTP and forwards it as OTLP/HTTP to the test's receiver
(``tests/otlp_receiver.py``). Per protocol of the hub's leg (http/protobuf, gRPC) one rotel
and one hub with ``--watcher`` serve the module's tests: metrics and the watcher's alert log
records must arrive with their names, units, attributes and resource intact, and with rotel
gone the hub keeps answering and still stops within 3 s (CONTRACT section 3).

There is no rotel wheel for Windows: without rotel these tests skip, except under
``CI=true`` on Linux, where a missing rotel is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from baseline_hub import __version__ as HUB_VERSION
from otel._export import layer_version
from tests.conftest import HubProcess, start_hub
from tests.ecosystem.alertmanager import stop_process
from tests.otlp_receiver import Receiver, attrs, free_port, wait_for

pytestmark = pytest.mark.e2e

CONTROL, DATA = "sheratan.hub.control", "sheratan.hub.data"
#: CONTRACT section 3: the instruments each port exports, with their units.
INSTRUMENTS = {
    (CONTROL, "hub.nodes"): "{node}",
    (CONTROL, "hub.auth.failures"): "{failure}",
    (CONTROL, "hub.auth.failure_rate_1m"): "{failure}/min",
    (CONTROL, "hub.port.mismatch_rate_1m"): "{request}/min",
    (CONTROL, "http.server.request.duration"): "s",
    (DATA, "hub.queue.depth"): "{job}",
    (DATA, "hub.jobs.inflight"): "{job}",
    (DATA, "hub.jobs.retry_rate_1m"): "{retry}/min",
}
BURST = 12  # auth failures from 127.0.0.2: above the default rule's threshold of 10
ENVIRONMENT = "rotel-e2e"


def rotel_agent() -> str:
    """The collector binary inside the rotel wheel."""
    spec = importlib.util.find_spec("rotel")
    if spec is not None and spec.origin is not None:
        binary = Path(spec.origin).parent / "rotel-agent"
        if binary.is_file():
            return str(binary)
    if os.environ.get("CI") == "true" and sys.platform.startswith("linux"):
        pytest.fail("rotel is missing, and CI=true on Linux requires these tests to run "
                    "(pip install '.[test]')", pytrace=False)
    pytest.skip("rotel is not installed (no wheel for this platform?): pip install rotel")


@dataclass
class Path3:
    """hub -> rotel -> receiver, for one protocol of the hub's leg."""

    protocol: str
    rotel: subprocess.Popen[bytes]
    hub: HubProcess
    receiver: Receiver
    log: Path


def _start_rotel(binary: str, workdir: Path, receiver: Receiver
                 ) -> tuple[subprocess.Popen[bytes], int, int]:
    grpc_port, http_port = free_port(), free_port()
    log = workdir / "rotel.out"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, "start", "--otlp-grpc-endpoint", f"127.0.0.1:{grpc_port}",
             "--otlp-http-endpoint", f"127.0.0.1:{http_port}", "--exporter", "otlp",
             "--otlp-exporter-endpoint", receiver.url, "--otlp-exporter-protocol", "http",
             "--batch-timeout", "100ms", "--pid-file", str(workdir / "rotel.pid"),
             "--log-file", str(workdir / "rotel.log")],
            stdout=out, stderr=subprocess.STDOUT)
    assert wait_for(lambda: _listening(http_port) and _listening(grpc_port), 10), \
        log.read_text(errors="replace")
    return proc, grpc_port, http_port


def _listening(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
    except httpx.HTTPError as exc:
        return not isinstance(exc, httpx.ConnectError)
    return True


@pytest.fixture(scope="module", params=["http/protobuf", "grpc"])
def path3(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Path3]:
    binary = rotel_agent()
    protocol: str = request.param
    workdir = tmp_path_factory.mktemp("rotel")
    receiver = Receiver()
    receiver.thread.start()
    rotel, grpc_port, http_port = _start_rotel(binary, workdir, receiver)
    port = grpc_port if protocol == "grpc" else http_port
    hub: HubProcess | None = None
    try:
        home = workdir / "home"
        home.mkdir()
        hub = start_hub(home, args=("--watcher",), env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol, "OTEL_METRIC_EXPORT_INTERVAL": "200",
            "OTEL_BLRP_SCHEDULE_DELAY": "100",
            "OTEL_RESOURCE_ATTRIBUTES": f"deployment.environment={ENVIRONMENT}"})
        with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"),
                          timeout=5) as intruder:
            for _ in range(BURST):
                assert intruder.get(f"{hub.control_url}/nodes").status_code == 401
        yield Path3(protocol, rotel, hub, receiver, workdir / "rotel.out")
    finally:
        if hub is not None:
            hub.stop(signal.SIGTERM)  # SIGKILL would orphan its --watcher child
        stop_process(rotel)
        receiver.server.shutdown()
        receiver.server.server_close()


def _metrics(receiver: Receiver) -> dict[tuple[str, str], tuple[dict[str, str], Metric]]:
    """(scope, name) -> (resource attributes, the newest Metric message)."""
    out: dict[tuple[str, str], tuple[dict[str, str], Metric]] = {}
    with receiver.lock:
        requests = list(receiver.metrics)
    for request in requests:
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    out[(sm.scope.name, metric.name)] = (attrs(rm.resource.attributes), metric)
    return out


def _value(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def _typed(pairs: Iterable[KeyValue]) -> dict[str, object]:
    return {kv.key: _value(kv.value) for kv in pairs}


def _alert_records(receiver: Receiver) -> list[tuple[dict[str, str], str, LogRecord]]:
    """(resource attributes, scope name, LogRecord) of every record received."""
    with receiver.lock:
        requests = list(receiver.logs)
    return [(attrs(rl.resource.attributes), sl.scope.name, record)
            for request in requests for rl in request.resource_logs
            for sl in rl.scope_logs for record in sl.log_records]


def test_hub_metrics_arrive_through_rotel_with_names_units_and_attributes(path3: Path3
                                                                         ) -> None:
    def complete() -> bool:
        metrics = _metrics(path3.receiver)
        if not set(INSTRUMENTS) <= set(metrics):
            return False
        failures = metrics[(CONTROL, "hub.auth.failures")][1]
        # protobuf ships no stubs: its repeated fields (data_points) are Any to mypy
        total: int = sum(p.as_int for p in failures.sum.data_points)
        return total == BURST

    assert wait_for(complete, 20), (sorted(_metrics(path3.receiver)),
                                    path3.log.read_text(errors="replace")[-2000:])
    metrics = _metrics(path3.receiver)
    for key, unit in INSTRUMENTS.items():
        resource, metric = metrics[key]
        assert metric.unit == unit, key
        assert resource["service.name"] == "sheratan-hub"
        assert resource["service.version"] == HUB_VERSION
        assert resource["deployment.environment"] == ENVIRONMENT
        assert uuid.UUID(resource["service.instance.id"]).version == 4
    failures = metrics[(CONTROL, "hub.auth.failures")][1]
    assert failures.sum.is_monotonic
    assert [_typed(p.attributes) for p in failures.sum.data_points if p.as_int] == \
        [{"plane": "control", "reason": "missing_token"}]
    nodes = metrics[(CONTROL, "hub.nodes")][1]
    assert {str(_typed(p.attributes)["state"]) for p in nodes.gauge.data_points} == \
        {"online", "stale", "dead"}
    durations = metrics[(CONTROL, "http.server.request.duration")][1]
    [point] = [p for p in durations.histogram.data_points
               if _typed(p.attributes).get("http.response.status_code") == 401]
    assert _typed(point.attributes) == {"http.request.method": "GET", "http.route": "/nodes",
                                        "http.response.status_code": 401,
                                        "server.port": int(path3.hub.control_url
                                                           .rsplit(":", 1)[1])}
    assert point.count == BURST and len(point.bucket_counts) == len(point.explicit_bounds) + 1


def test_the_watchers_alert_log_record_arrives_through_rotel_intact(path3: Path3) -> None:
    def firing() -> list[tuple[dict[str, str], str, LogRecord]]:
        return [r for r in _alert_records(path3.receiver)
                if _typed(r[2].attributes).get("alert.state") == "firing"]

    assert wait_for(lambda: bool(firing()), 20), path3.log.read_text(errors="replace")[-2000:]
    [(resource, scope, record)] = firing()
    assert scope == "sheratan.watcher"
    assert resource["service.name"] == "sheratan-watcher"
    assert resource["service.version"] == layer_version()
    assert record.severity_number == 13 and record.severity_text == "WARN"  # SeverityNumber.WARN
    assert record.body.string_value.startswith("FIRING auth_failure_burst [all]: 11 ")
    attributes = _typed(record.attributes)
    assert attributes["alert.rule"] == "auth_failure_burst"
    assert attributes["alert.event"] == "AUTH_FAILURE"
    assert attributes["alert.severity"] == "warning"
    assert attributes["alert.count"] == 11 and attributes["alert.threshold"] == 10
    assert attributes["alert.window_s"] == 60.0
    assert len(str(attributes["alert.id"])) == 24
    assert record.event_name == "sheratan.watcher.alert"
    assert record.time_unix_nano > 0 and record.observed_time_unix_nano >= record.time_unix_nano


def test_with_rotel_down_the_hub_still_answers_and_stops_within_3_s(path3: Path3) -> None:
    stop_process(path3.rotel)
    with httpx.Client(timeout=5) as client:
        for _ in range(5):
            started = time.monotonic()
            assert client.get(f"{path3.hub.control_url}/health").status_code == 200
            assert time.monotonic() - started < 0.5
    time.sleep(0.5)  # a few export attempts against the dead collector
    started = time.monotonic()
    assert path3.hub.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 3.0
