"""Prometheus and OpenMetrics rendering: plane isolation, format validity, no globals."""

from __future__ import annotations

import subprocess

import prometheus_client
import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)

from otel import OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE, HubTelemetry
from otel._prometheus import label_name, metric_name, prometheus_unit
from otel._render import render_prometheus
from tests.conftest import require_binary

from .conftest import FakeClock
from .helpers import samples

CONTROL_FAMILIES = {
    "hub_nodes",
    "hub_auth_failures_total",
    "hub_auth_failure_rate_1m_per_min",
    "hub_port_mismatches_total",
    "hub_port_mismatch_rate_1m_per_min",
}
DATA_FAMILIES = {
    "hub_queue_depth",
    "hub_jobs_inflight",
    "hub_jobs_retries_total",
    "hub_jobs_retry_rate_1m_per_min",
}
HISTOGRAM = "http_server_request_duration_seconds"
# prometheus_client's process, GC and platform collectors, on both planes (CONTRACT section 6).
PROCESS_FAMILIES = {
    "process_virtual_memory_bytes",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "python_gc_objects_collected_total",
    "python_gc_objects_uncollectable_total",
    "python_gc_collections_total",
    "python_info",
}


def _fill(tel: HubTelemetry) -> None:
    tel.set_node_counts_source(lambda: {"online": 3, "stale": 1, "dead": 0})
    tel.set_job_counts_source(lambda: {"queued": 5, "inflight": 2})
    tel.record_auth_failure("data", "invalid_token")
    tel.record_port_mismatch("control")
    tel.record_job_retry("failed")
    tel.record_request("control", "GET", "/nodes", 200, 8787, 0.003)
    tel.record_request("control", "GET", "/nodes", 401, 8787, 0.0004)
    tel.record_request("data", "POST", "/jobs", 201, 8788, 0.02)


def _names(tel: HubTelemetry, plane: str) -> set[str]:
    found = set()
    for name, _ in samples(tel, plane):
        for suffix in ("_bucket", "_count", "_sum"):
            if name.startswith(HISTOGRAM) and name.endswith(suffix):
                name = HISTOGRAM
        found.add(name)
    return found


def test_each_plane_exposes_its_own_instruments_and_nothing_else(
    telemetry: HubTelemetry,
) -> None:
    _fill(telemetry)
    assert _names(telemetry, "control") == CONTROL_FAMILIES | {HISTOGRAM} | PROCESS_FAMILIES
    assert _names(telemetry, "data") == DATA_FAMILIES | {HISTOGRAM} | PROCESS_FAMILIES


def test_each_plane_carries_only_its_own_request_series(telemetry: HubTelemetry) -> None:
    _fill(telemetry)

    def ports(plane: str) -> set[str]:
        return {
            dict(labels)["server_port"]
            for (name, labels) in samples(telemetry, plane)
            if name == f"{HISTOGRAM}_count"
        }

    assert ports("control") == {"8787"}
    assert ports("data") == {"8788"}
    body, _ = telemetry.render_prometheus("control", openmetrics=False)
    assert b"otel_scope" not in body
    assert b"target_info" not in body


def test_text_format_has_its_content_type_and_real_values(telemetry: HubTelemetry) -> None:
    _fill(telemetry)
    body, content_type = telemetry.render_prometheus("control", openmetrics=False)
    assert content_type == PROMETHEUS_CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"
    text = body.decode()
    assert "# TYPE hub_nodes gauge" in text
    assert "# TYPE hub_auth_failures_total counter" in text
    assert f"# TYPE {HISTOGRAM} histogram" in text
    got = samples(telemetry, "control")
    assert got[("hub_nodes", frozenset({("state", "online")}))] == 3
    assert got[("hub_port_mismatch_rate_1m_per_min", frozenset())] == 1


def test_openmetrics_output_parses_and_ends_with_eof(telemetry: HubTelemetry) -> None:
    _fill(telemetry)
    body, content_type = telemetry.render_prometheus("data", openmetrics=True)
    assert content_type == OPENMETRICS_CONTENT_TYPE
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    text = body.decode()
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in parse_openmetrics(text)}  # type: ignore[no-untyped-call]  # unannotated
    assert families["hub_jobs_retries"].type == "counter"
    assert families["hub_queue_depth"].samples[0].value == 5
    assert families[HISTOGRAM].type == "histogram"


def test_empty_telemetry_renders_valid_text(telemetry: HubTelemetry) -> None:
    body, _ = telemetry.render_prometheus("data", openmetrics=False)
    # The rate gauges always read, even before any event.
    assert b"hub_jobs_retry_rate_1m_per_min" in body
    om_body, _ = telemetry.render_prometheus("data", openmetrics=True)
    assert om_body.endswith(b"# EOF\n")


def test_no_global_prometheus_registry_is_touched(clock: FakeClock) -> None:
    before = set(prometheus_client.REGISTRY._collector_to_names)
    with HubTelemetry(clock=clock) as first, HubTelemetry(clock=clock) as second:
        _fill(first)
        _fill(second)
        first.render_prometheus("control", openmetrics=False)
        second.render_prometheus("control", openmetrics=True)
        assert set(prometheus_client.REGISTRY._collector_to_names) == before


def test_probing_many_unknown_paths_adds_no_series_when_routes_are_templates(
    telemetry: HubTelemetry,
) -> None:
    telemetry.record_request("control", "GET", "/nodes/{node_id}", 404, 8787, 0.001)
    before = set(samples(telemetry, "control"))
    for i in range(50):
        telemetry.record_request("control", "GET", "/nodes/{node_id}", 404, 8787, 0.001 * i)
    assert set(samples(telemetry, "control")) == before


@pytest.mark.prometheus
@pytest.mark.parametrize("plane", ["control", "data"])
def test_text_output_passes_promtool_check_metrics(telemetry: HubTelemetry, plane: str) -> None:
    promtool = require_binary("promtool")
    _fill(telemetry)
    for i in range(20):
        telemetry.record_auth_failure("control", "missing_token" if i % 2 else "invalid_token")
    body, _ = telemetry.render_prometheus(plane, openmetrics=False)
    result = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=30, check=False
    )
    assert result.returncode == 0, (result.stdout + result.stderr).decode()


# -- the MetricsData to Prometheus conversion (otel._prometheus) ---------------------------


@pytest.mark.parametrize(
    ("unit", "suffix"),
    [
        ("s", "seconds"),
        ("ms", "milliseconds"),
        ("By", "bytes"),
        ("1", ""),
        ("%", "percent"),
        ("{node}", ""),
        ("{failure}/min", "per_min"),
        ("By/s", "bytes_per_second"),
        ("s/h", "seconds_per_hour"),
        ("{req}/s", "per_second"),
        ("weird unit!!", "weird_unit"),
        ("/", ""),
        ("", ""),
    ],
)
def test_units_become_the_conventional_name_suffix(unit: str, suffix: str) -> None:
    assert prometheus_unit(unit) == suffix


@pytest.mark.parametrize(
    ("key", "label"),
    [("http.route", "http_route"), ("1k", "_k"), ("a-b:c", "a_b_c"), ("g.è", "g_")],
)
def test_attribute_keys_become_valid_label_names(key: str, label: str) -> None:
    assert label_name(key) == label


def test_metric_names_keep_colons_and_lose_other_punctuation() -> None:
    assert metric_name("hub.jobs.retry_rate_1m") == "hub_jobs_retry_rate_1m"
    assert metric_name("a:b/c-d") == "a:b_c_d"
    assert metric_name("9lives") == "_lives"


def _odd_instruments(provider: MeterProvider) -> None:
    """Instruments with every shape the conversion handles: kinds, units, labels."""
    meter, other_scope = provider.get_meter("x"), provider.get_meter("y")
    counter = meter.create_counter("req.count-x/y", unit="By/s")
    counter.add(3, {"a.b": "x", "1k": True, "f": 1.5, "l": (1, 2)})
    counter.add(2, {"other": "y"})  # a label the first point does not carry reads ""
    other_scope.create_counter("req.count-x/y", unit="By/s").add(7, {"a.b": "z"})
    meter.create_up_down_counter("ud", unit="1").add(-4, {"k": "v"})
    meter.create_histogram("lat", unit="ms", explicit_bucket_boundaries_advisory=[1, 2.5, 10]
                           ).record(3, {"x": "y"})
    meter.create_observable_gauge(
        "g.e", unit="{x}",
        callbacks=[lambda options: [Observation(1.25, {"ü": "ä"}), Observation(2)]],
    )
    meter.create_gauge("g2", unit="weird unit!!").set(5)
    meter.create_counter("total_total", unit="s/h", description="d").add(1)


def test_the_conversion_matches_the_opentelemetry_prometheus_exporter() -> None:
    # The public PrometheusMetricReader (a test dependency only) on the same provider as
    # the pull reader: both texts come from the same instruments and must agree byte for
    # byte, so the names stay the ones the Prometheus ecosystem expects.
    ours = InMemoryMetricReader()
    registry = CollectorRegistry()
    theirs = PrometheusMetricReader(disable_target_info=True, scope_info_enabled=False,
                                    registry=registry)
    provider = MeterProvider(metric_readers=[ours, theirs], shutdown_on_exit=False)
    try:
        _odd_instruments(provider)
        body, _ = render_prometheus(ours.get_metrics_data(), openmetrics=False)
        assert body == prometheus_client.generate_latest(registry)
        text = body.decode()
        assert 'req_count_x_y_bytes_per_second_total{_k="true",a_b="x",f="1.5",l="[1, 2]"' in text
        assert "# TYPE ud gauge" in text  # a non-monotonic sum is a gauge
        assert 'lat_milliseconds_bucket{le="2.5",x="y"} 0.0' in text
        assert "total_seconds_per_hour_total 1.0" in text
    finally:
        provider.shutdown()
