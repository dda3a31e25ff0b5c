"""OTLP export against a real receiver built on opentelemetry-proto, and a dead collector."""

from __future__ import annotations

import threading
import time

import pytest
from opentelemetry._logs import SeverityNumber

from otel import HubTelemetry, Redactor, TelemetryConfig
from tests.otlp_receiver import Receiver, attrs, free_port, wait_for


def test_metrics_arrive_over_otlp_http_with_the_service_name(receiver: Receiver) -> None:
    cfg = TelemetryConfig.from_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_METRIC_EXPORT_INTERVAL": "100",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test,hub_token=leakme123456",
        }
    )
    tel = HubTelemetry(cfg, extra_resource_attributes={"service.version": "1.5.0"})
    try:
        tel.set_node_counts_source(lambda: {"online": 3, "stale": 1, "dead": 0})
        tel.set_job_counts_source(lambda: {"queued": 5, "inflight": 2})
        tel.record_auth_failure("control", "invalid_token")
        tel.record_job_retry("lease_expired")
        tel.record_request("data", "POST", "/jobs", 201, 8788, 0.004)
        wanted = {
            "sheratan.hub.control/hub.nodes",
            "sheratan.hub.control/hub.auth.failures",
            "sheratan.hub.data/hub.queue.depth",
            "sheratan.hub.data/hub.jobs.retries",
            "sheratan.hub.data/http.server.request.duration",
        }
        assert wait_for(lambda: wanted <= set(receiver.metric_points()))
    finally:
        tel.shutdown()
    points = receiver.metric_points()
    resource, nodes = points["sheratan.hub.control/hub.nodes"]
    assert resource["service.name"] == "sheratan-hub"
    assert resource["deployment.environment"] == "test"
    assert resource["service.version"] == "1.5.0"
    assert "hub_token" not in resource  # a secret-looking key never leaves the process
    by_state = {attrs(p.attributes)["state"]: p.as_int for p in nodes}  # type: ignore[attr-defined]
    assert by_state == {"online": 3, "stale": 1, "dead": 0}
    _, depth = points["sheratan.hub.data/hub.queue.depth"]
    assert [p.as_int for p in depth] == [5]  # type: ignore[attr-defined]
    _, durations = points["sheratan.hub.data/http.server.request.duration"]
    assert sum(p.count for p in durations) == 1  # type: ignore[attr-defined]


def test_log_records_are_exported_over_otlp(receiver: Receiver) -> None:
    cfg = TelemetryConfig.from_env({"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": f"{receiver.url}/v1/logs"})
    tel = HubTelemetry(cfg)
    assert tel.logger_provider is not None
    logger = tel.logger_provider.get_logger("sheratan.watcher")
    logger.emit(
        severity_number=SeverityNumber.WARN,
        body="auth_failure_burst firing",
        attributes={"alert.rule": "auth_failure_burst"},
    )
    tel.shutdown()  # flushes the batch processor
    assert not receiver.metrics  # no metrics endpoint configured
    assert len(receiver.logs) == 1
    (resource_logs,) = receiver.logs[0].resource_logs
    assert attrs(resource_logs.resource.attributes)["service.name"] == "sheratan-hub"
    record = resource_logs.scope_logs[0].log_records[0]
    assert record.body.string_value == "auth_failure_burst firing"
    assert record.severity_number == SeverityNumber.WARN.value


def test_token_in_resource_attributes_is_dropped_with_a_redactor(receiver: Receiver) -> None:
    token = "hub-token-abcdef0123456789"
    cfg = TelemetryConfig.from_env(
        {
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"{receiver.url}/v1/metrics",
            "OTEL_RESOURCE_ATTRIBUTES": f"note=contains-{token}",
        }
    )
    tel = HubTelemetry(cfg, redactor=Redactor([token]))
    tel.set_node_counts_source(lambda: {"online": 1})
    tel.shutdown()  # the final collect is exported
    assert receiver.metrics
    assert all(token.encode() not in m.SerializeToString() for m in receiver.metrics)


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_shutdown_is_bounded_when_the_collector_is_down(protocol: str) -> None:
    cfg = TelemetryConfig.from_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_METRIC_EXPORT_INTERVAL": "50",
        }
    )
    threads_before = set(threading.enumerate())
    tel = HubTelemetry(cfg)
    tel.set_node_counts_source(lambda: {"online": 1})
    started = time.perf_counter()
    for _ in range(2000):
        tel.record_request("control", "GET", "/nodes", 200, 8787, 0.001)
    tap_s = time.perf_counter() - started
    time.sleep(0.3)  # let the exporter fail and start retrying
    started = time.perf_counter()
    tel.shutdown(timeout_s=2.0)
    elapsed_s = time.perf_counter() - started
    assert elapsed_s < 3.0
    assert tap_s < 1.0  # the request path never waits for the exporter
    # The exporters were told to stop, so no retry loop is left behind.
    assert wait_for(lambda: not set(threading.enumerate()) - threads_before, timeout_s=2.0)
