"""Wiring of the OTel LoggerProvider for alert records, from the ``OTEL_*`` environment.

The telemetry core (``otel``) parses the environment and builds a logs-only pipeline: the
watcher builds no meter provider and no hub instrument.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from opentelemetry.sdk._logs import LoggerProvider

from otel import DEFAULT_SERVICE_NAME, TelemetryConfig, build_log_pipeline

WATCHER_SERVICE_NAME = "sheratan-watcher"
#: Under the 2 s in which a watcher must end with its hub, even with a collector that never
#: answers and records pending.
_SHUTDOWN_TIMEOUT_S = 1.5


@dataclass(frozen=True, slots=True)
class AlertLogWiring:
    """A LoggerProvider and the call that flushes and stops it (safe to call twice)."""

    provider: LoggerProvider
    shutdown: Callable[[], None]


def build_alert_log_provider(env: Mapping[str, str]) -> AlertLogWiring | None:
    """Returns the provider for alert log records, or None when OTLP log export is off.

    Args:
        env: the environment as read once by ``__main__``.
    """
    config = TelemetryConfig.from_env(env)
    if not config.logs_export_enabled:
        return None
    # The hub's default name would file alerts under the hub; a name the user set is kept.
    service_name = (WATCHER_SERVICE_NAME if config.service_name == DEFAULT_SERVICE_NAME
                    else config.service_name)
    config = dataclasses.replace(
        config,
        otlp_endpoint=None,
        otlp_metrics_endpoint=None,
        otlp_logs_endpoint=config.logs_endpoint_url,
        service_name=service_name,
    )
    pipeline = build_log_pipeline(config)
    return AlertLogWiring(pipeline.provider, lambda: pipeline.shutdown(_SHUTDOWN_TIMEOUT_S))
