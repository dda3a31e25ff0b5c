"""build_metric_pipeline: a MeterProvider for a process that is not the hub."""

from __future__ import annotations

from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel import TelemetryConfig, build_metric_pipeline


def _names(reader: InMemoryMetricReader) -> set[str]:
    data = reader.get_metrics_data()
    assert data is not None
    return {m.name for rm in data.resource_metrics for sm in rm.scope_metrics
            for m in sm.metrics}


def test_without_an_endpoint_it_exports_nothing_and_serves_injected_readers() -> None:
    reader = InMemoryMetricReader()
    pipeline = build_metric_pipeline(TelemetryConfig.from_env({}), readers=[reader])
    assert not pipeline.exporting
    pipeline.provider.get_meter("t").create_counter("things").add(3)
    assert _names(reader) == {"things"}
    pipeline.shutdown()
    pipeline.shutdown()  # safe twice


def test_the_resource_follows_the_config_and_extra_attributes() -> None:
    reader = InMemoryMetricReader()
    config = TelemetryConfig.from_env({"OTEL_SERVICE_NAME": "side-car",
                                       "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
    pipeline = build_metric_pipeline(config, readers=[reader],
                                     extra_resource_attributes={"service.version": "9.9"})
    assert pipeline.exporting
    pipeline.provider.get_meter("t").create_counter("things").add(1)
    data = reader.get_metrics_data()
    assert data is not None
    attributes = data.resource_metrics[0].resource.attributes
    assert attributes["service.name"] == "side-car"
    assert attributes["service.version"] == "9.9"
    pipeline.shutdown(0.5)
