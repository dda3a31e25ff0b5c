"""TelemetryConfig: OTEL_* parsing, defaults and warnings for invalid values."""

from __future__ import annotations

import logging

import pytest

from otel import DEFAULT_SERVICE_NAME, OtlpProtocol, TelemetryConfig


def test_no_arguments_means_all_defaults_and_export_off() -> None:
    cfg = TelemetryConfig()
    assert cfg.sdk_disabled is False
    assert cfg.service_name == "sheratan-hub" == DEFAULT_SERVICE_NAME
    assert cfg.otlp_protocol is OtlpProtocol.HTTP_PROTOBUF
    assert cfg.metrics_export_enabled is False
    assert cfg.logs_export_enabled is False


def test_empty_environment_equals_defaults() -> None:
    assert TelemetryConfig.from_env({}) == TelemetryConfig()


def test_generic_endpoint_gets_signal_paths_for_http() -> None:
    cfg = TelemetryConfig.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"})
    assert cfg.metrics_endpoint_url == "http://collector:4318/v1/metrics"
    assert cfg.logs_endpoint_url == "http://collector:4318/v1/logs"
    assert cfg.metrics_export_enabled and cfg.logs_export_enabled


def test_signal_specific_endpoints_are_used_as_given() -> None:
    cfg = TelemetryConfig.from_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://base:4318",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://m:9000/custom",
        }
    )
    assert cfg.metrics_endpoint_url == "http://m:9000/custom"
    assert cfg.logs_endpoint_url == "http://base:4318/v1/logs"


def test_metrics_endpoint_alone_enables_metric_export_only() -> None:
    cfg = TelemetryConfig.from_env({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://m:4318/x"})
    assert cfg.metrics_export_enabled
    assert not cfg.logs_export_enabled


def test_grpc_uses_the_generic_endpoint_unchanged() -> None:
    cfg = TelemetryConfig.from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    )
    assert cfg.otlp_protocol is OtlpProtocol.GRPC
    assert cfg.metrics_endpoint_url == "http://c:4317"


def test_sdk_disabled_turns_export_off_even_with_an_endpoint() -> None:
    cfg = TelemetryConfig.from_env(
        {"OTEL_SDK_DISABLED": "TRUE", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}
    )
    assert cfg.sdk_disabled
    assert not cfg.metrics_export_enabled


def test_service_name_wins_over_resource_attribute() -> None:
    cfg = TelemetryConfig.from_env(
        {
            "OTEL_SERVICE_NAME": "hub-a",
            "OTEL_RESOURCE_ATTRIBUTES": "service.name=hub-b,deployment.environment=lab",
        }
    )
    assert cfg.service_name == "hub-a"
    assert cfg.resource_attributes == (("deployment.environment", "lab"),)


def test_service_name_falls_back_to_resource_attribute() -> None:
    cfg = TelemetryConfig.from_env({"OTEL_RESOURCE_ATTRIBUTES": "service.name=hub-b"})
    assert cfg.service_name == "hub-b"


def test_resource_attributes_are_percent_decoded_and_bad_members_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        cfg = TelemetryConfig.from_env({"OTEL_RESOURCE_ATTRIBUTES": "a=x%20y,broken,b=2"})
    assert cfg.resource_attributes == (("a", "x y"), ("b", "2"))
    assert "OTEL_RESOURCE_ATTRIBUTES" in caplog.text


@pytest.mark.parametrize(
    ("name", "value", "field", "default"),
    [
        ("OTEL_SDK_DISABLED", "yes please", "sdk_disabled", False),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "otlp_protocol", OtlpProtocol.HTTP_PROTOBUF),
        ("OTEL_METRIC_EXPORT_INTERVAL", "soon", "metric_export_interval_ms", 60_000.0),
        ("OTEL_METRIC_EXPORT_INTERVAL", "-5", "metric_export_interval_ms", 60_000.0),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "inf", "otlp_timeout_ms", 10_000.0),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", "otlp_endpoint", None),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://h:99999", "otlp_metrics_endpoint", None),
    ],
)
def test_invalid_value_warns_naming_the_variable_and_uses_the_default(
    caplog: pytest.LogCaptureFixture, name: str, value: str, field: str, default: object
) -> None:
    with caplog.at_level(logging.WARNING, logger="otel"):
        cfg = TelemetryConfig.from_env({name: value})
    assert getattr(cfg, field) == default
    assert name in caplog.text


def test_valid_numbers_are_parsed_as_milliseconds() -> None:
    cfg = TelemetryConfig.from_env(
        {"OTEL_METRIC_EXPORT_INTERVAL": "1500", "OTEL_EXPORTER_OTLP_TIMEOUT": "250"}
    )
    assert cfg.metric_export_interval_ms == 1500.0
    assert cfg.otlp_timeout_ms == 250.0


def test_headers_are_parsed_but_kept_out_of_repr_and_warnings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        cfg = TelemetryConfig.from_env(
            {"OTEL_EXPORTER_OTLP_HEADERS": "api-key=supersecretvalue,brokenmemberSECRET"}
        )
    assert cfg.otlp_headers == (("api-key", "supersecretvalue"),)
    assert "supersecretvalue" not in repr(cfg)
    assert "brokenmemberSECRET" not in caplog.text
    assert "OTEL_EXPORTER_OTLP_HEADERS" in caplog.text


def test_an_endpoint_with_credentials_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        TelemetryConfig.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://u:hunter2pass@h"})
    assert "hunter2pass" not in caplog.text
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in caplog.text


def test_hand_built_config_rejects_nonpositive_intervals() -> None:
    with pytest.raises(ValueError, match="metric_export_interval_ms"):
        TelemetryConfig(metric_export_interval_ms=0)


def test_config_is_frozen() -> None:
    cfg = TelemetryConfig()
    with pytest.raises(AttributeError):
        cfg.service_name = "x"  # type: ignore[misc]
