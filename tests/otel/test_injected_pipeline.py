"""What a caller passes into HubTelemetry: metric readers per plane and a LoggerProvider."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import prometheus_client
import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    MetricReader,
    MetricsData,
    NumberDataPoint,
)

from otel import HubTelemetry, Plane, TelemetryConfig

from .conftest import FakeClock


class ClosingReader(InMemoryMetricReader):
    """An in-memory reader that remembers being shut down."""

    def __init__(self) -> None:
        super().__init__()
        self.shut_down = False

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.shut_down = True
        super().shutdown(timeout_millis=timeout_millis, **kwargs)


def _names(data: MetricsData | None) -> set[str]:
    assert data is not None
    return {metric.name for rm in data.resource_metrics for sm in rm.scope_metrics
            for metric in sm.metrics}


def _points(data: MetricsData | None, name: str) -> list[NumberDataPoint]:
    assert data is not None
    return [point for rm in data.resource_metrics for sm in rm.scope_metrics
            for metric in sm.metrics if metric.name == name
            for point in metric.data.data_points if isinstance(point, NumberDataPoint)]


@pytest.fixture
def readers() -> dict[Plane, ClosingReader]:
    return {plane: ClosingReader() for plane in Plane}


@pytest.fixture
def injected(clock: FakeClock, readers: dict[Plane, ClosingReader]) -> Iterator[HubTelemetry]:
    tel = HubTelemetry(TelemetryConfig(), clock=clock,
                       metric_readers={plane: [reader] for plane, reader in readers.items()})
    yield tel
    tel.shutdown()


def test_an_injected_reader_sees_its_planes_instruments_only(
    injected: HubTelemetry, readers: dict[Plane, ClosingReader]
) -> None:
    injected.set_node_counts_source(lambda: {"online": 2})
    injected.set_job_counts_source(lambda: {"queued": 4, "inflight": 1})
    injected.record_auth_failure("control", "invalid_token")
    injected.record_request("data", "POST", "/jobs", 201, 8788, 0.01)
    injected.snapshot_json("data")  # the pull collect records the queued request first

    control = readers[Plane.CONTROL].get_metrics_data()
    data = readers[Plane.DATA].get_metrics_data()
    assert _names(control) == {"hub.nodes", "hub.auth.failures", "hub.auth.failure_rate_1m",
                               "hub.port.mismatches", "hub.port.mismatch_rate_1m"}
    assert _names(data) == {"hub.queue.depth", "hub.jobs.inflight", "hub.jobs.retries",
                            "hub.jobs.retry_rate_1m", "http.server.request.duration"}
    assert {p.attributes["state"]: p.value for p in _points(control, "hub.nodes")
            if p.attributes} == {"online": 2, "stale": 0, "dead": 0}
    assert [p.value for p in _points(data, "hub.queue.depth")] == [4]
    assert data is not None
    assert data.resource_metrics[0].resource.attributes["service.name"] == "sheratan-hub"


def test_injected_readers_keep_the_cardinality_limits(
    injected: HubTelemetry, readers: dict[Plane, ClosingReader]
) -> None:
    for i in range(100):
        injected.record_job_retry(f"cause-{i}")
    points = _points(readers[Plane.DATA].get_metrics_data(), "hub.jobs.retries")
    assert len(points) == 64 + 1
    overflow = [p for p in points if p.attributes and p.attributes.get("otel.metric.overflow")]
    assert [p.value for p in overflow] == [100 - (64 - 2)]


def test_injected_readers_are_shut_down_with_the_telemetry(
    clock: FakeClock, readers: dict[Plane, ClosingReader]
) -> None:
    tel = HubTelemetry(TelemetryConfig(), clock=clock,
                       metric_readers={"control": [readers[Plane.CONTROL]]})
    tel.shutdown()
    assert readers[Plane.CONTROL].shut_down
    assert not readers[Plane.DATA].shut_down  # never given


def test_the_exporters_reader_renders_what_metrics_renders(clock: FakeClock) -> None:
    # The Prometheus exporter's public reader, injected per plane, against /metrics' text:
    # the same names, labels and values, then the process families of our own registry.
    registries = {plane: prometheus_client.CollectorRegistry() for plane in Plane}
    theirs: dict[Plane | str, Sequence[MetricReader]] = {
        plane: [PrometheusMetricReader(disable_target_info=True, scope_info_enabled=False,
                                       registry=registries[plane])]
        for plane in Plane
    }
    with HubTelemetry(TelemetryConfig(), clock=clock, metric_readers=theirs) as tel:
        tel.set_node_counts_source(lambda: {"online": 3, "stale": 1})
        tel.set_job_counts_source(lambda: {"queued": 5, "inflight": 2})
        for i in range(70):
            tel.record_auth_failure("control", f"reason-{i}")
        tel.record_port_mismatch("data")
        tel.record_job_retry("failed")
        for i in range(30):
            tel.record_request("control", "GET", "/nodes", 200 + i % 3, 8787, 0.001 * i)
            tel.record_request("data", "POST", "/jobs", 201, 8788, 0.3 * i)
        for plane in Plane:
            for openmetrics in (False, True):
                ours, _ = tel.render_prometheus(plane.value, openmetrics=openmetrics)
                write = (prometheus_client.openmetrics.exposition.generate_latest
                         if openmetrics else prometheus_client.generate_latest)
                expected: bytes = write(registries[plane])
                if openmetrics:
                    expected = expected.removesuffix(b"# EOF\n")
                assert ours.startswith(expected)
                assert ours[len(expected):].startswith(b"# HELP process_")


def test_an_injected_logger_provider_is_handed_out_and_left_running(clock: FakeClock) -> None:
    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # SDK: unannotated
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    tel = HubTelemetry(TelemetryConfig(), clock=clock, logger_provider=provider)
    assert tel.logger_provider is provider
    tel.shutdown()
    provider.get_logger("t").emit(body="after the telemetry stopped")
    assert [d.log_record.body for d in exporter.get_finished_logs()] == [
        "after the telemetry stopped"
    ]
    provider.shutdown()


def test_disabled_telemetry_registers_no_injected_reader(readers: dict[Plane, ClosingReader],
                                                         caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    tel = HubTelemetry(TelemetryConfig(sdk_disabled=True),
                       metric_readers={plane: [r] for plane, r in readers.items()})
    assert tel.logger_provider is None
    assert readers[Plane.CONTROL].get_metrics_data() is None  # on no provider
    assert "until it is registered" in caplog.text
    tel.shutdown()


@pytest.mark.parametrize(
    ("readers", "error", "match"),
    [
        ({"metrics": []}, ValueError, "'metrics' is no plane"),
        ({"control": InMemoryMetricReader()}, TypeError, "must be a sequence of MetricReader"),
        ({"control": "data"}, TypeError, "must be a sequence of MetricReader"),
        ({"control": [object()]}, TypeError, "holds a object, not a MetricReader"),
    ],
)
def test_bad_readers_are_refused_at_construction(
    readers: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        HubTelemetry(TelemetryConfig(), metric_readers=readers)


def test_one_reader_for_two_planes_is_refused() -> None:
    shared = InMemoryMetricReader()
    mixed: dict[Plane | str, list[MetricReader]] = {Plane.CONTROL: [shared], "data": [shared]}
    with pytest.raises(ValueError, match="given twice"):
        HubTelemetry(TelemetryConfig(), metric_readers=mixed)


def test_a_logger_provider_of_the_wrong_kind_is_refused() -> None:
    with pytest.raises(TypeError, match="logger_provider must be an SDK LoggerProvider"):
        HubTelemetry(TelemetryConfig(), logger_provider=object())  # type: ignore[arg-type]  # the point
