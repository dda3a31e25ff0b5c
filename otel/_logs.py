"""A logs-only pipeline: a LoggerProvider with the layer's resource and OTLP export.

The watcher exports its alerts as OTel log records and nothing else; it should not build
two meter providers and every hub instrument to get one. :func:`build_log_pipeline` builds
just the LoggerProvider, from the same config and with the same resource rules
(``service.instance.id``, ``service.version``, redaction) as :class:`HubTelemetry`.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry.sdk._logs import LoggerProvider

from ._config import TelemetryConfig
from ._export import build_resource
from ._pipeline import Pipeline, build_logger_provider
from ._redaction import Redactor

__all__ = ["LogPipeline", "build_log_pipeline"]


#: A LoggerProvider and its bounded shutdown (``Pipeline``).
LogPipeline = Pipeline[LoggerProvider]


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
