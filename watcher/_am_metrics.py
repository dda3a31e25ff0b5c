"""The Alertmanager delivery counters as OTel metrics, exported over OTLP beside the alerts.

The watcher has no ``/metrics`` port; ``watcher_status.json`` carries the same counters for
``hub_top`` and an operator. With metric export configured (``OTEL_EXPORTER_OTLP_ENDPOINT``
or ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT``), a collector gets them too, so a Prometheus
behind it can alert when delivery fails. Each is read from the sink's status at collect
time, per Alertmanager (attribute ``alertmanager``: its URL without credentials):

=================================================  =========  ==================================
instrument                                         kind       what
=================================================  =========  ==================================
``sheratan.watcher.alertmanager.alerts_sent``      counter    alerts an Alertmanager accepted
``sheratan.watcher.alertmanager.post_failures``    counter    posts that failed (unreachable,
                                                              timeout, HTTP error), retried
``sheratan.watcher.alertmanager.posts_rejected``   counter    posts answered 400 (invalid alerts)
``sheratan.watcher.alertmanager.pending``          gauge      alerts waiting to be posted
=================================================  =========  ==================================

and, for the whole sink, ``sheratan.watcher.alertmanager.alerts_dropped`` (counter): resolved
or surplus episodes the bounded re-send book let go.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.sdk.metrics.export import MetricReader

from otel import MetricPipeline, TelemetryConfig, build_metric_pipeline

__all__ = ["DELIVERY_INSTRUMENTS", "build_delivery_metrics", "delivery_instruments"]

Status = Callable[[], Mapping[str, Any]]

#: name -> (target status key, unit, description); all counters but ``pending``.
DELIVERY_INSTRUMENTS: dict[str, tuple[str, str, str]] = {
    "sheratan.watcher.alertmanager.alerts_sent":
        ("sent", "{alert}", "Alerts an Alertmanager accepted"),
    "sheratan.watcher.alertmanager.post_failures":
        ("failures", "{post}", "Posts to an Alertmanager that failed and are retried"),
    "sheratan.watcher.alertmanager.posts_rejected":
        ("rejected", "{post}", "Posts an Alertmanager answered with 400 (invalid alerts)"),
    "sheratan.watcher.alertmanager.pending":
        ("pending", "{alert}", "Alerts waiting to be posted to an Alertmanager"),
}
DROPPED = "sheratan.watcher.alertmanager.alerts_dropped"


def _per_target(status: Status, key: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(int(target[key]), {"alertmanager": str(target["url"])})
                for target in status().get("targets", ())]
    return observe


def _dropped(status: Status) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(int(status().get("dropped", 0)))]
    return observe


def delivery_instruments(meter: Meter, status: Status) -> None:
    """Creates the delivery instruments on ``meter``, each reading ``status()`` (the sink's
    ``AlertmanagerSink.status``) when collected."""
    for name, (key, unit, description) in DELIVERY_INSTRUMENTS.items():
        create = meter.create_observable_gauge if key == "pending" else \
            meter.create_observable_counter
        create(name, callbacks=[_per_target(status, key)], unit=unit, description=description)
    meter.create_observable_counter(
        DROPPED, callbacks=[_dropped(status)], unit="{alert}",
        description="Alert episodes the bounded re-send book let go")


def build_delivery_metrics(config: TelemetryConfig, status: Status, *,
                           readers: Sequence[MetricReader] = ()) -> MetricPipeline | None:
    """The metrics pipeline with the delivery instruments, or None when metric export is
    off.

    Args:
        config: the watcher's telemetry config (``watcher._otel.watcher_config``).
        status: the Alertmanager sink's status.
        readers: more SDK readers beside the OTLP one (a test's).
    """
    if not config.metrics_export_enabled:
        return None
    pipeline = build_metric_pipeline(config, readers=readers)
    delivery_instruments(pipeline.provider.get_meter("sheratan.watcher"), status)
    return pipeline
