"""Wiring of the watcher's OTel export, from the ``OTEL_*`` environment.

The telemetry core (``otel``) parses the environment and builds only what the watcher uses:
a logs-only pipeline for alert records, and, when it posts to Alertmanager, a small
metrics pipeline for its delivery counters (``_am_metrics``). The watcher builds no hub
instrument.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from otel import DEFAULT_SERVICE_NAME, TelemetryConfig

if TYPE_CHECKING:
    from opentelemetry.sdk._logs import LoggerProvider

    from otel import LogPipeline, MetricPipeline

WATCHER_SERVICE_NAME = "sheratan-watcher"
#: Under the 2 s in which a watcher must end with its hub, even with a collector that never
#: answers and records pending. The pipelines shut down side by side within it.
_SHUTDOWN_TIMEOUT_S = 1.5


def watcher_config(env: Mapping[str, str]) -> TelemetryConfig:
    """The ``OTEL_*`` environment as the watcher exports with it: the hub's default service
    name would file the watcher under the hub, so it becomes the watcher's; a name the user
    set is kept."""
    config = TelemetryConfig.from_env(env)
    if config.service_name == DEFAULT_SERVICE_NAME:
        config = dataclasses.replace(config, service_name=WATCHER_SERVICE_NAME)
    return config


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
        from otel import shutdown_together

        shutdown_together([p for p in (self.logs, self.metrics) if p is not None],
                          _SHUTDOWN_TIMEOUT_S)


def build_watcher_telemetry(env: Mapping[str, str],
                            delivery_status: Callable[[], Mapping[str, Any]] | None = None,
                            ) -> WatcherTelemetry | None:
    """The alert records' pipeline when log export is on and, with ``delivery_status`` (an
    Alertmanager sink's status), the delivery counters' pipeline when metric export is on;
    None when neither is.

    Args:
        env: the environment as read once by ``__main__``.
    """
    config = watcher_config(env)
    logs = None
    if config.logs_export_enabled:  # the OTel SDK loads only then (60 ms of a start)
        from otel import build_log_pipeline

        logs = build_log_pipeline(config)
    metrics = None
    if delivery_status is not None:
        from watcher._am_metrics import build_delivery_metrics

        metrics = build_delivery_metrics(config, delivery_status)
    if logs is None and metrics is None:
        return None
    return WatcherTelemetry(logs=logs, metrics=metrics)
