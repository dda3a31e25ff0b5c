"""Wiring of the OTel LoggerProvider for alert records, from the ``OTEL_*`` environment.

The telemetry core (``otel``) is used when it is importable; otherwise a minimal SDK provider
with an OTLP http/protobuf log exporter is built here. Either way, only log export is wired:
the watcher must not export hub metrics of its own.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from opentelemetry.sdk._logs import LoggerProvider

logger = logging.getLogger(__name__)

WATCHER_SERVICE_NAME = "sheratan-watcher"
_SHUTDOWN_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class AlertLogWiring:
    """A LoggerProvider and the call that flushes and stops it (safe to call twice)."""

    provider: LoggerProvider
    shutdown: Callable[[], None]


def _service_named(env: Mapping[str, str]) -> bool:
    return bool(env.get("OTEL_SERVICE_NAME", "").strip()) or "service.name=" in env.get(
        "OTEL_RESOURCE_ATTRIBUTES", "")


def build_alert_log_provider(env: Mapping[str, str]) -> AlertLogWiring | None:
    """Returns the provider for alert log records, or None when OTLP log export is off.

    Args:
        env: the environment as read once by ``__main__``.
    """
    try:
        from otel import HubTelemetry, TelemetryConfig
    except ImportError:
        return _build_fallback(env)
    config = TelemetryConfig.from_env(env)
    if not config.logs_export_enabled:
        return None
    config = dataclasses.replace(
        config,
        otlp_endpoint=None,
        otlp_metrics_endpoint=None,
        otlp_logs_endpoint=config.logs_endpoint_url,
        service_name=config.service_name if _service_named(env) else WATCHER_SERVICE_NAME,
    )
    telemetry = HubTelemetry(config)
    provider = telemetry.logger_provider
    if provider is None:
        return None
    return AlertLogWiring(provider, lambda: telemetry.shutdown(_SHUTDOWN_TIMEOUT_S))


def _build_fallback(env: Mapping[str, str]) -> AlertLogWiring | None:
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    url = env.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "").strip()
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if not url and base:
        url = base.rstrip("/") + "/v1/logs"
    if not url:
        return None
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    service = env.get("OTEL_SERVICE_NAME", "").strip() or WATCHER_SERVICE_NAME
    provider = LoggerProvider(resource=Resource.create({"service.name": service}),
                              shutdown_on_exit=False)
    provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=url, timeout=_SHUTDOWN_TIMEOUT_S)))

    def shutdown() -> None:
        try:
            provider.force_flush(int(_SHUTDOWN_TIMEOUT_S * 1000))
            provider.shutdown()
        except Exception:
            logger.warning("OTel log provider shutdown failed", exc_info=True)

    return AlertLogWiring(provider, shutdown)
