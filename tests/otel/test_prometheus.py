"""Prometheus and OpenMetrics rendering: plane isolation, format validity, no globals."""

from __future__ import annotations

import subprocess

import prometheus_client
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)

from otel import OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE, HubTelemetry
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
    families = {f.name: f for f in parse_openmetrics(text)}  # type: ignore[no-untyped-call]
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
