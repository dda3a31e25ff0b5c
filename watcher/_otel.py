"""Wiring of the watcher's OTel export, from the ``OTEL_*`` environment.

The telemetry core (``otel``) parses the environment and builds only what the watcher uses:
a logs-only pipeline for alert records, and, when it posts to Alertmanager, a small
metrics pipeline for its delivery counters (``_am_metrics``). The watcher builds no hub
instrument.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider

from otel import (
    DEFAULT_SERVICE_NAME,
    LogPipeline,
    MetricPipeline,
    TelemetryConfig,
    build_log_pipeline,
)

WATCHER_SERVICE_NAME = "sheratan-watcher"
#: Under the 2 s in which a watcher must end with its hub, even with a collector that never
#: answers and records pending. The pipelines shut down side by side within it.
_SHUTDOWN_TIMEOUT_S = 1.5


def watcher_service_name(configured: str) -> str:
    """The hub's default name would file the watcher under the hub; a name the user set is
    kept."""
    return WATCHER_SERVICE_NAME if configured == DEFAULT_SERVICE_NAME else configured


@dataclass(frozen=True, slots=True)
class WatcherTelemetry:
    """The watcher's pipelines, each None when its export is off.

    Attributes:
        logs: the alert records' pipeline.
        metrics: the Alertmanager delivery counters' pipeline.
    """

    logs: LogPipeline | None = None
    metrics: MetricPipeline | None = None

    @property
    def provider(self) -> LoggerProvider | None:
        """Where the alert records' logger comes from (None: they are not exported)."""
        return self.logs.provider if self.logs is not None else None

    def shutdown(self) -> None:
        """Flushes and stops both side by side, within ``_SHUTDOWN_TIMEOUT_S`` in all.
        Safe to call twice."""
        pipelines = [p for p in (self.logs, self.metrics) if p is not None]
        threads = [threading.Thread(target=p.shutdown, args=(_SHUTDOWN_TIMEOUT_S,),
                                    name="otel shutdown", daemon=True) for p in pipelines]
        deadline = time.monotonic() + _SHUTDOWN_TIMEOUT_S
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def build_alert_log_provider(env: Mapping[str, str]) -> WatcherTelemetry | None:
    """The alert records' pipeline, or None when OTLP log export is off.

    Args:
        env: the environment as read once by ``__main__``.
    """
    config = TelemetryConfig.from_env(env)
    if not config.logs_export_enabled:
        return None
    config = dataclasses.replace(
        config,
        otlp_endpoint=None,
        otlp_metrics_endpoint=None,
        otlp_logs_endpoint=config.logs_endpoint_url,
        service_name=watcher_service_name(config.service_name),
    )
    return WatcherTelemetry(logs=build_log_pipeline(config))


def build_watcher_telemetry(env: Mapping[str, str],
                            delivery_status: Callable[[], Mapping[str, Any]] | None = None,
                            ) -> WatcherTelemetry | None:
    """The alert records' pipeline and, with ``delivery_status`` (an Alertmanager sink's
    status), the delivery counters' pipeline; None when neither is exported."""
    logs = build_alert_log_provider(env)
    metrics = None
    if delivery_status is not None:
        from watcher._am_metrics import build_delivery_metrics

        metrics = build_delivery_metrics(env, delivery_status)
    if logs is None and metrics is None:
        return None
    return WatcherTelemetry(logs=logs.logs if logs is not None else None, metrics=metrics)
