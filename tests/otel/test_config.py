"""TelemetryConfig: OTEL_* parsing, defaults and warnings for invalid values."""

from __future__ import annotations

import logging

import pytest

from otel import (
    DEFAULT_SERVICE_NAME,
    OtlpCompression,
    OtlpProtocol,
    SignalExporter,
    TelemetryConfig,
)


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
        cfg.service_name = "x"  # type: ignore[misc]  # frozen: the point of the test


# -- every env parse warns and falls back instead of raising (A6) ----------------------------


@pytest.mark.parametrize(
    "value",
    [
        "http://user:pw@[::1",  # urlsplit: Invalid IPv6 URL
        "http://[not-an-ip]:4318",
        "http://h:port",
        "http://h:-1",
        "us:er://pw@x",
    ],
)
@pytest.mark.parametrize(
    "name", ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"]
)
def test_a_malformed_endpoint_warns_and_leaves_export_off(
    caplog: pytest.LogCaptureFixture, name: str, value: str
) -> None:
    with caplog.at_level(logging.WARNING, logger="otel"):
        cfg = TelemetryConfig.from_env({name: value})
    assert not cfg.metrics_export_enabled
    assert name in caplog.text
    assert "pw" not in caplog.text


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_SDK_DISABLED": "\udcff"},
        {"OTEL_SERVICE_NAME": " ", "OTEL_RESOURCE_ATTRIBUTES": "service.name=%zz,=,a"},
        {"OTEL_EXPORTER_OTLP_HEADERS": "x=%ff%fe,=v,k"},
        {"OTEL_METRIC_EXPORT_INTERVAL": "1e999"},
        {"OTEL_METRIC_EXPORT_TIMEOUT": "nan"},
        {"OTEL_EXPORTER_OTLP_COMPRESSION": "\x00"},
        {"OTEL_METRICS_EXPORTER": ",,,"},
        {"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "\udcff"},
    ],
)
def test_no_env_value_can_make_from_env_raise(environ: dict[str, str]) -> None:
    TelemetryConfig.from_env(environ)


def test_header_members_that_cannot_be_sent_are_skipped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="otel"):
        cfg = TelemetryConfig.from_env(
            {"OTEL_EXPORTER_OTLP_HEADERS": "Api-Key=ok,bad key=x,x-inj=a%0D%0Ab,x-u=%C3%A9"}
        )
    # gRPC metadata keys must be lowercase; CR/LF or non-ASCII would fail on every export.
    assert cfg.otlp_headers == (("api-key", "ok"),)
    assert "OTEL_EXPORTER_OTLP_HEADERS" in caplog.text


# -- bounds on the intervals and timeouts (B10) -----------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "field", "expected"),
    [
        ("OTEL_METRIC_EXPORT_INTERVAL", "1e-9", "metric_export_interval_ms", 100.0),
        ("OTEL_METRIC_EXPORT_INTERVAL", "99", "metric_export_interval_ms", 100.0),
        ("OTEL_METRIC_EXPORT_INTERVAL", "1e12", "metric_export_interval_ms", 86_400_000.0),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "0.001", "metric_export_timeout_ms", 100.0),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "1e9", "metric_export_timeout_ms", 600_000.0),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1e-9", "otlp_timeout_ms", 100.0),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1e9", "otlp_timeout_ms", 600_000.0),
    ],
)
def test_out_of_range_durations_are_clamped_with_a_warning(
    caplog: pytest.LogCaptureFixture, name: str, value: str, field: str, expected: float
) -> None:
    with caplog.at_level(logging.WARNING, logger="otel"):
        cfg = TelemetryConfig.from_env({name: value})
    assert getattr(cfg, field) == expected
    assert name in caplog.text


def test_durations_at_the_bounds_are_accepted_silently(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="otel"):
        cfg = TelemetryConfig.from_env(
            {"OTEL_METRIC_EXPORT_INTERVAL": "100", "OTEL_EXPORTER_OTLP_TIMEOUT": "600000"}
        )
    assert (cfg.metric_export_interval_ms, cfg.otlp_timeout_ms) == (100.0, 600_000.0)
    assert caplog.text == ""


def test_hand_built_config_rejects_an_interval_below_the_minimum() -> None:
    with pytest.raises(ValueError, match="metric_export_interval_ms"):
        TelemetryConfig(metric_export_interval_ms=1e-9)


# -- compression (A7) -------------------------------------------------------------------------


def test_compression_defaults_to_none_and_per_signal_overrides_the_general() -> None:
    assert TelemetryConfig().metrics_compression is OtlpCompression.NONE
    cfg = TelemetryConfig.from_env(
        {
            "OTEL_EXPORTER_OTLP_COMPRESSION": "GZIP",
            "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION": "none",
        }
    )
    assert cfg.metrics_compression is OtlpCompression.GZIP
    assert cfg.logs_compression is OtlpCompression.NONE


@pytest.mark.parametrize(
    "name",
    [
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
        "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",
    ],
)
def test_invalid_compression_warns_and_uses_the_default(
    caplog: pytest.LogCaptureFixture, name: str
) -> None:
    with caplog.at_level(logging.WARNING, logger="otel"):
        cfg = TelemetryConfig.from_env({name: "bogus"})
    assert cfg.metrics_compression is OtlpCompression.NONE
    assert cfg.logs_compression is OtlpCompression.NONE
    assert name in caplog.text


# -- exporter selection and per-signal protocol (B11) -----------------------------------------


def test_metrics_exporter_none_turns_metric_export_off_only() -> None:
    cfg = TelemetryConfig.from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_METRICS_EXPORTER": "none"}
    )
    assert cfg.metrics_exporter is SignalExporter.NONE
    assert not cfg.metrics_export_enabled and cfg.metrics_endpoint_url is None
    assert cfg.logs_export_enabled


def test_logs_exporter_none_turns_log_export_off_only() -> None:
    cfg = TelemetryConfig.from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_LOGS_EXPORTER": " None "}
    )
    assert not cfg.logs_export_enabled and cfg.logs_endpoint_url is None
    assert cfg.metrics_export_enabled


@pytest.mark.parametrize("value", ["otlp", "OTLP", "", "otlp,otlp"])
def test_metrics_exporter_otlp_or_empty_keeps_export_on(value: str) -> None:
    cfg = TelemetryConfig.from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_METRICS_EXPORTER": value}
    )
    assert cfg.metrics_export_enabled


@pytest.mark.parametrize("value", ["console", "prometheus", "otlp,none", "zipkin,console"])
def test_an_unsupported_exporter_warns_and_keeps_the_default_otlp(
    caplog: pytest.LogCaptureFixture, value: str
) -> None:
    # The specification: an unrecognised enum value gets a warning and the setting is
    # ignored, which leaves the default, otlp.
    with caplog.at_level(logging.WARNING, logger="otel"):
        cfg = TelemetryConfig.from_env(
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_METRICS_EXPORTER": value}
        )
    assert cfg.metrics_exporter is SignalExporter.OTLP
    assert cfg.metrics_export_enabled
    assert "OTEL_METRICS_EXPORTER" in caplog.text


def test_otlp_alongside_an_unsupported_exporter_keeps_otlp(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="otel"):
        cfg = TelemetryConfig.from_env({"OTEL_METRICS_EXPORTER": "console,otlp"})
    assert cfg.metrics_exporter is SignalExporter.OTLP
    assert "console" in caplog.text


def test_per_signal_protocol_overrides_the_general_one() -> None:
    cfg = TelemetryConfig.from_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "http/protobuf",
        }
    )
    assert cfg.metrics_protocol is OtlpProtocol.GRPC
    assert cfg.metrics_endpoint_url == "http://c:4317"
    assert cfg.logs_protocol is OtlpProtocol.HTTP_PROTOBUF
    assert cfg.logs_endpoint_url == "http://c:4317/v1/logs"

    cfg = TelemetryConfig.from_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc",
        }
    )
    assert cfg.metrics_protocol is OtlpProtocol.GRPC
    assert cfg.logs_protocol is OtlpProtocol.HTTP_PROTOBUF


@pytest.mark.parametrize(
    "name", ["OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL"]
)
def test_an_invalid_per_signal_protocol_warns_and_falls_back_to_the_general(
    caplog: pytest.LogCaptureFixture, name: str
) -> None:
    with caplog.at_level(logging.WARNING, logger="otel"):
        cfg = TelemetryConfig.from_env({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", name: "http/json"})
    assert cfg.metrics_protocol is cfg.logs_protocol is OtlpProtocol.GRPC
    assert name in caplog.text
