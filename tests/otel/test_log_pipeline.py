"""build_log_pipeline: a LoggerProvider alone, with the layer's resource and export rules."""

from __future__ import annotations

import time

from opentelemetry._logs import SeverityNumber

from otel import Redactor, TelemetryConfig, build_log_pipeline
from tests.otlp_receiver import Receiver, attrs, wait_for


def test_records_reach_a_collector_with_the_resource(receiver: Receiver) -> None:
    config = TelemetryConfig.from_env({"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT":
                                       f"{receiver.url}/v1/logs",
                                       "OTEL_SERVICE_NAME": "sheratan-watcher",
                                       "OTEL_BLRP_SCHEDULE_DELAY": "100"})
    pipeline = build_log_pipeline(config, extra_resource_attributes={"service.version": "9.9"})
    assert pipeline.exporting
    pipeline.provider.get_logger("test").emit(severity_number=SeverityNumber.WARN,
                                              body="an alert")
    pipeline.shutdown(timeout_s=2.0)
    assert wait_for(lambda: bool(receiver.logs), 5)
    resource = attrs(receiver.logs[0].resource_logs[0].resource.attributes)
    assert resource["service.name"] == "sheratan-watcher"
    assert resource["service.version"] == "9.9"
    assert len(resource["service.instance.id"]) == 36


def test_without_an_endpoint_nothing_is_exported_and_shutdown_is_quick() -> None:
    pipeline = build_log_pipeline(TelemetryConfig())
    assert not pipeline.exporting
    started = time.monotonic()
    pipeline.shutdown()
    pipeline.shutdown()
    assert time.monotonic() - started < 1.0


def test_a_flagged_resource_attribute_is_dropped() -> None:
    secret = "resource-secret-0123456789"
    config = TelemetryConfig(resource_attributes=(("deployment.note", secret),))
    pipeline = build_log_pipeline(config, redactor=Redactor([secret]))
    assert secret not in str(dict(pipeline.provider.resource.attributes))
    pipeline.shutdown()
