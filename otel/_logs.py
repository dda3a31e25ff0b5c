"""A logs-only pipeline: a LoggerProvider with the layer's resource and OTLP export.

The watcher exports its alerts as OTel log records and nothing else; it should not build
two meter providers and every hub instrument to get one. :func:`build_log_pipeline` builds
just the LoggerProvider, from the same config and with the same resource rules
(``service.instance.id``, ``service.version``, redaction) as :class:`HubTelemetry`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from opentelemetry.sdk._logs import LoggerProvider

from ._config import TelemetryConfig
from ._export import bounded_call, build_resource
from ._pipeline import build_logger_provider
from ._redaction import Redactor

__all__ = ["LogPipeline", "build_log_pipeline"]


@dataclass(slots=True)
class LogPipeline:
    """A LoggerProvider and its bounded shutdown.

    Attributes:
        provider: where loggers come from; exports over OTLP when the config says so.
        exporting: whether an OTLP log exporter is attached.
    """

    provider: LoggerProvider
    exporting: bool
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    def shutdown(self, timeout_s: float = 2.0) -> None:
        """Flush and stop, returning within about ``timeout_s`` whatever the collector does.
        Safe to call twice."""
        if self._done.is_set():
            return
        self._done.set()
        bounded_call("LogPipeline", [self.provider.shutdown], timeout_s)


def build_log_pipeline(
    config: TelemetryConfig,
    *,
    extra_resource_attributes: Mapping[str, str | int | float | bool] | None = None,
    redactor: Redactor | None = None,
) -> LogPipeline:
    """The logs-only pipeline ``config`` describes (export only when a logs endpoint is set).

    Args:
        config: the parsed config; its ``service_name`` names the resource.
        extra_resource_attributes: added to the resource (``service.version``, say).
        redactor: as for :class:`HubTelemetry`: flagged resource attributes are dropped.
    """
    resource = build_resource(config, extra_resource_attributes, redactor)
    provider = build_logger_provider(config, resource)
    return LogPipeline(provider, exporting=config.logs_export_enabled)
