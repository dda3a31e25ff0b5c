"""OTLP export against a real receiver built on opentelemetry-proto, and a dead collector."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from opentelemetry._logs import SeverityNumber

from otel import HubTelemetry, Redactor, TelemetryConfig
from otel import _export as otel_export
from otel._export import log_exporter, metric_exporter
from tests.otlp_receiver import (
    Receiver,
    attrs,
    free_port,
    histogram_points,
    number_points,
    wait_for,
)


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
    by_state = {attrs(p.attributes)["state"]: p.as_int for p in number_points(nodes)}
    assert by_state == {"online": 3, "stale": 1, "dead": 0}
    _, depth = points["sheratan.hub.data/hub.queue.depth"]
    assert [p.as_int for p in number_points(depth)] == [5]
    _, durations = points["sheratan.hub.data/http.server.request.duration"]
    assert sum(p.count for p in histogram_points(durations)) == 1


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


# -- the token never reaches the exported resource (A3) ---------------------------------------

_TOKEN = "hub-token-abcdef0123456789"


def _exported_resources(receiver: Receiver) -> list[dict[str, str]]:
    with receiver.lock:
        return [
            attrs(rm.resource.attributes) for m in receiver.metrics for rm in m.resource_metrics
        ] + [attrs(rl.resource.attributes) for m in receiver.logs for rl in m.resource_logs]


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_SERVICE_NAME": f"hub-{_TOKEN}"},
        {"OTEL_SERVICE_NAME": _TOKEN},
        {"OTEL_RESOURCE_ATTRIBUTES": f"service.name=x{_TOKEN}"},
    ],
)
def test_a_token_in_the_service_name_exports_the_default_name_instead(
    receiver: Receiver, environ: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    cfg = TelemetryConfig.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, **environ})
    tel = HubTelemetry(cfg, redactor=Redactor([_TOKEN]))
    assert tel.logger_provider is not None
    tel.logger_provider.get_logger("t").emit(body="alert")
    tel.shutdown()  # the final collect and the log batch are exported

    resources = _exported_resources(receiver)
    assert len(resources) >= 3  # two metric planes and the logs
    assert all(r["service.name"] == "sheratan-hub" for r in resources)
    assert all(_TOKEN.encode() not in m.SerializeToString() for m in receiver.metrics)
    assert all(_TOKEN.encode() not in m.SerializeToString() for m in receiver.logs)
    assert _TOKEN not in caplog.text


@pytest.mark.parametrize(
    "pair",
    [
        f"note=contains-{_TOKEN}",
        f"{_TOKEN}=value",  # the key is the token
        f"k%3D{_TOKEN}=v",
        f"url=https%3A%2F%2Fu%3A{_TOKEN}%40h",
    ],
)
def test_a_token_anywhere_in_resource_attributes_is_never_exported(
    receiver: Receiver, pair: str, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = TelemetryConfig.from_env(
        {
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"{receiver.url}/v1/metrics",
            "OTEL_RESOURCE_ATTRIBUTES": f"deployment.environment=lab,{pair}",
        }
    )
    with caplog.at_level(logging.WARNING, logger="otel"):
        tel = HubTelemetry(cfg, redactor=Redactor([_TOKEN]))
    tel.shutdown()

    (resource, *_) = _exported_resources(receiver)
    assert resource["deployment.environment"] == "lab"  # the clean attribute survives
    assert resource["service.name"] == "sheratan-hub"
    assert all(_TOKEN.encode() not in m.SerializeToString() for m in receiver.metrics)
    assert "dropping resource attribute" in caplog.text
    assert _TOKEN not in caplog.text  # not even as the key named in the warning


# -- exporter construction never takes the host down (A7) -------------------------------------


def test_bogus_compression_in_the_environment_does_not_crash_the_grpc_exporter(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The SDK's gRPC exporter raised InvalidCompressionValueException from its
    # constructor when it read this variable itself.
    environ = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "bogus",
        "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION": "bogus",
        "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION": "bogus",
    }
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    with caplog.at_level(logging.WARNING, logger="otel"):
        cfg = TelemetryConfig.from_env(environ)
        tel = HubTelemetry(cfg)
    try:
        assert "OTEL_EXPORTER_OTLP_COMPRESSION" in caplog.text
        assert "could not be built" not in caplog.text  # the exporters were built
        assert tel.snapshot_json("data")["queue_depth"] == 0
    finally:
        tel.shutdown(timeout_s=1.0)


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_the_configured_compression_is_passed_not_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    plain = TelemetryConfig.from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_EXPORTER_OTLP_PROTOCOL": protocol}
    )
    gzip = TelemetryConfig.from_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": url,
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        }
    )
    exporters = [metric_exporter(plain), log_exporter(plain), metric_exporter(gzip)]
    try:
        # The SDK keeps it in _compression: an enum whose name says gzip or not.
        names = [getattr(getattr(e, "_compression", None), "name", "?").lower() for e in exporters]
        assert "?" not in names
        assert "gzip" not in names[0] and "gzip" not in names[1]
        assert "gzip" in names[2]
    finally:
        for exporter in exporters:
            if exporter is not None:
                exporter.shutdown()


def test_an_exporter_that_cannot_be_built_is_logged_and_left_out(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(config: TelemetryConfig, url: str) -> object:
        raise RuntimeError(f"cannot connect to {url}")

    monkeypatch.setattr(otel_export, "_build_metric_exporter", broken)
    monkeypatch.setattr(otel_export, "_build_log_exporter", broken)
    url = "http://user:hunter2secret@127.0.0.1:9"
    with caplog.at_level(logging.ERROR, logger="otel"):
        tel = HubTelemetry(TelemetryConfig.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": url}))
    try:
        assert "OTLP metric exporter could not be built (RuntimeError)" in caplog.text
        assert "OTLP log exporter could not be built (RuntimeError)" in caplog.text
        assert "hunter2secret" not in caplog.text
        tel.record_request("data", "GET", "/jobs", 200, 8788, 0.001)
        assert tel.snapshot_json("data")["plane"] == "data"  # /metrics still works
    finally:
        tel.shutdown(timeout_s=1.0)


# -- exporter selection and per-signal protocol (B11) -----------------------------------------


def test_metrics_exporter_none_exports_logs_but_no_metrics(receiver: Receiver) -> None:
    cfg = TelemetryConfig.from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_METRICS_EXPORTER": "none"}
    )
    tel = HubTelemetry(cfg)
    assert tel.logger_provider is not None
    tel.logger_provider.get_logger("t").emit(body="alert")
    tel.record_auth_failure("control", "invalid_token")
    tel.shutdown()
    assert len(receiver.logs) == 1
    assert not receiver.metrics


def test_logs_exporter_none_exports_metrics_but_no_logs(receiver: Receiver) -> None:
    cfg = TelemetryConfig.from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_LOGS_EXPORTER": "none"}
    )
    tel = HubTelemetry(cfg)
    assert tel.logger_provider is not None
    tel.logger_provider.get_logger("t").emit(body="alert")
    tel.shutdown()
    assert receiver.metrics
    assert not receiver.logs


def test_the_per_signal_protocol_picks_each_exporter() -> None:
    cfg = TelemetryConfig.from_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc",
        }
    )
    metrics, logs = metric_exporter(cfg), log_exporter(cfg)
    try:
        assert type(metrics).__module__.startswith("opentelemetry.exporter.otlp.proto.grpc")
        assert type(logs).__module__.startswith("opentelemetry.exporter.otlp.proto.http")
    finally:
        for exporter in (metrics, logs):
            if exporter is not None:
                exporter.shutdown()
