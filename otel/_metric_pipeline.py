"""A metrics pipeline for a process that is not the hub: a MeterProvider and OTLP export.

The watcher reports a few numbers of its own (its Alertmanager delivery) and has no
``/metrics`` port: they go out over OTLP when the config asks for metric export, beside
its alert log records. :func:`build_metric_pipeline` builds just that provider, from the
same config and with the same resource rules as :class:`HubTelemetry` and
:func:`build_log_pipeline`; callers add their own instruments to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader

from ._config import TelemetryConfig
from ._export import build_resource
from ._pipeline import Pipeline, meter_provider
from ._redaction import Redactor

__all__ = ["MetricPipeline", "build_metric_pipeline"]


#: A MeterProvider and its bounded shutdown (``Pipeline``).
MetricPipeline = Pipeline[MeterProvider]


def build_metric_pipeline(
    config: TelemetryConfig,
    *,
    readers: Sequence[MetricReader] = (),
    extra_resource_attributes: Mapping[str, str | int | float | bool] | None = None,
    redactor: Redactor | None = None,
) -> MetricPipeline:
    """The metrics pipeline ``config`` describes: OTLP export when a metrics endpoint is set,
    plus ``readers`` (an ``InMemoryMetricReader`` in a test, say).

    Args:
        config: the parsed config; its ``service_name`` names the resource.
        readers: more SDK readers, each used by this provider only.
        extra_resource_attributes: added to the resource (``service.version``, say).
        redactor: as for :class:`HubTelemetry`: flagged resource attributes are dropped.
    """
    resource = build_resource(config, extra_resource_attributes, redactor)
    provider, exporting = meter_provider(config, resource, readers)
    return MetricPipeline(provider, exporting=exporting)
