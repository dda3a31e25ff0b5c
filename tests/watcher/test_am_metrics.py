"""The Alertmanager delivery counters as OTel metrics: read from the sink's status when
collected, per Alertmanager, and exported only when metric export is configured."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint

from watcher._am_metrics import DROPPED, build_delivery_metrics, delivery_instruments
from watcher._otel import build_watcher_telemetry, watcher_config


class FakeStatus:
    """What ``AlertmanagerSink.status`` returns, changed by the test between collects."""

    def __init__(self) -> None:
        self.targets = [
            {"url": "http://am-1:9093", "sent": 0, "failures": 0, "rejected": 0, "pending": 0},
            {"url": "http://am-2:9093", "sent": 0, "failures": 0, "rejected": 0, "pending": 0},
        ]
        self.dropped = 0

    def __call__(self) -> Mapping[str, Any]:
        return {"firing": 1, "dropped": self.dropped, "targets": self.targets}


def _points(reader: InMemoryMetricReader) -> dict[tuple[str, str | None], int]:
    data = reader.get_metrics_data()
    assert data is not None
    found: dict[tuple[str, str | None], int] = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    assert isinstance(point, NumberDataPoint)
                    target = (point.attributes or {}).get("alertmanager")
                    found[(metric.name, None if target is None else str(target))] = \
                        int(point.value)
    return found


def test_each_counter_is_read_per_alertmanager_at_collect_time() -> None:
    status = FakeStatus()
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    delivery_instruments(provider.get_meter("test"), status)

    status.targets[0].update(sent=7, failures=2, rejected=1, pending=3)
    status.targets[1].update(failures=5, pending=9)
    status.dropped = 4
    points = _points(reader)
    assert points[("sheratan.watcher.alertmanager.alerts_sent", "http://am-1:9093")] == 7
    assert points[("sheratan.watcher.alertmanager.alerts_sent", "http://am-2:9093")] == 0
    assert points[("sheratan.watcher.alertmanager.post_failures", "http://am-1:9093")] == 2
    assert points[("sheratan.watcher.alertmanager.post_failures", "http://am-2:9093")] == 5
    assert points[("sheratan.watcher.alertmanager.posts_rejected", "http://am-1:9093")] == 1
    assert points[("sheratan.watcher.alertmanager.pending", "http://am-2:9093")] == 9
    assert points[(DROPPED, None)] == 4

    status.targets[1].update(failures=6, pending=0)  # a later collect sees the new counts
    points = _points(reader)
    assert points[("sheratan.watcher.alertmanager.post_failures", "http://am-2:9093")] == 6
    assert points[("sheratan.watcher.alertmanager.pending", "http://am-2:9093")] == 0
    provider.shutdown()


def test_nothing_is_built_without_metric_export() -> None:
    assert build_delivery_metrics(watcher_config({}), FakeStatus()) is None
    assert build_delivery_metrics(watcher_config(
        {"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://127.0.0.1:9"}),
                                  FakeStatus()) is None
    assert build_watcher_telemetry({}, FakeStatus()) is None


def test_with_export_the_pipeline_is_the_watchers_and_stops_within_its_budget() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",  # nobody listens
           "OTEL_METRIC_EXPORT_INTERVAL": "60000"}
    reader = InMemoryMetricReader()
    pipeline = build_delivery_metrics(watcher_config(env), FakeStatus(), readers=[reader])
    assert pipeline is not None and pipeline.exporting
    data = reader.get_metrics_data()
    assert data is not None
    names = {m.name for rm in data.resource_metrics for sm in rm.scope_metrics
             for m in sm.metrics}
    assert DROPPED in names
    assert all(rm.resource.attributes["service.name"] == "sheratan-watcher"
               for rm in data.resource_metrics)
    pipeline.shutdown(1.0)

    telemetry = build_watcher_telemetry(env, FakeStatus())
    assert telemetry is not None and telemetry.metrics is not None
    assert telemetry.logs is not None  # the same endpoint exports the alert records
    started = time.monotonic()
    telemetry.shutdown()
    telemetry.shutdown()  # safe twice
    assert time.monotonic() - started < 2.0


def test_metrics_only_export_builds_no_log_pipeline() -> None:
    env = {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://127.0.0.1:9/v1/metrics"}
    telemetry = build_watcher_telemetry(env, FakeStatus())
    assert telemetry is not None and telemetry.logs is None and telemetry.metrics is not None
    assert telemetry.provider is None
    telemetry.shutdown()
