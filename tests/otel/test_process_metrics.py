"""Process and runtime metrics: on /metrics' Prometheus text, never in the JSON, and over OTLP."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

import psutil  # type: ignore[import-untyped]  # psutil ships no types
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.process_collector import ProcessCollector

from otel import HubTelemetry, Plane, TelemetryConfig, json_keys
from otel import _process as otel_process
from otel._process import OTLP_PROCESS_METRICS, PsutilProcessCollector, process_registry
from otel._render import render_prometheus
from tests.otlp_receiver import Receiver, wait_for

from .helpers import samples

STANDARD = ("process_resident_memory_bytes", "process_cpu_seconds_total",
            "process_start_time_seconds", "process_open_fds")
SCOPE = "opentelemetry.instrumentation.system_metrics"


def _values(metrics: Iterable[Metric]) -> dict[str, float]:
    return {sample.name: sample.value for metric in metrics for sample in metric.samples
            if not sample.labels}


@pytest.mark.parametrize("plane", ["control", "data"])
def test_both_planes_expose_the_conventional_process_metrics_with_real_values(
    telemetry: HubTelemetry, plane: str
) -> None:
    got = {name: value for (name, labels), value in samples(telemetry, plane).items()
           if not labels}
    me = psutil.Process(os.getpid())
    assert set(STANDARD) <= set(got)
    assert got["process_resident_memory_bytes"] == pytest.approx(me.memory_info().rss, rel=0.5)
    assert got["process_start_time_seconds"] == pytest.approx(me.create_time(), abs=2)
    assert 0 < got["process_cpu_seconds_total"] <= time.process_time() + 1
    assert got["process_open_fds"] == pytest.approx(me.num_fds(), abs=20)
    gc_generations = {dict(labels)["generation"]
                      for (name, labels) in samples(telemetry, plane)
                      if name == "python_gc_collections_total"}
    assert gc_generations == {"0", "1", "2"}


def test_the_process_metrics_come_after_the_planes_own_and_parse_as_openmetrics(
    telemetry: HubTelemetry,
) -> None:
    body, _ = telemetry.render_prometheus("control", openmetrics=True)
    text = body.decode()
    assert text.endswith("# EOF\n") and text.count("# EOF") == 1
    assert text.index("hub_auth_failure_rate") < text.index("process_resident_memory_bytes")
    families = {f.name: f for f in parse_openmetrics(text)}  # type: ignore[no-untyped-call]  # unannotated
    assert families["process_cpu_seconds"].type == "counter"
    assert families["process_start_time_seconds"].type == "gauge"
    assert families["python_gc_collections"].type == "counter"


def test_the_json_body_keeps_exactly_the_contract_keys(telemetry: HubTelemetry) -> None:
    for plane in Plane:
        body = telemetry.snapshot_json(plane.value)
        assert list(body) == ["plane", "generated_at", *json_keys(plane)]
        assert not any("process" in key or "python" in key for key in body)


def test_each_telemetry_object_has_its_own_process_registry() -> None:
    first, second = process_registry(), process_registry()
    assert first is not second
    assert _values(first.collect()).keys() == _values(second.collect()).keys()


def test_without_proc_the_same_series_come_from_psutil(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class NoProc(ProcessCollector):  # what ProcessCollector does on Windows and macOS
        def collect(self) -> Iterable[Metric]:
            return []

    monkeypatch.setattr(otel_process, "ProcessCollector", NoProc)
    from_psutil = _values(process_registry().collect())
    from_proc = _values(ProcessCollector(registry=None).collect())
    assert from_psutil.keys() == from_proc.keys()
    assert from_psutil["process_start_time_seconds"] == pytest.approx(
        from_proc["process_start_time_seconds"], abs=1.5)
    assert from_psutil["process_resident_memory_bytes"] == pytest.approx(
        from_proc["process_resident_memory_bytes"], rel=0.5)
    assert from_psutil["process_cpu_seconds_total"] == pytest.approx(
        from_proc["process_cpu_seconds_total"], abs=1.0)
    assert from_psutil["process_max_fds"] == from_proc["process_max_fds"]


def test_a_process_that_cannot_be_read_costs_its_series_not_the_scrape(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Gone:  # the psutil.Process calls the collector makes, of a process that ended
        pid = os.getpid()

        @contextlib.contextmanager
        def oneshot(self) -> Iterator[None]:
            yield

        def memory_info(self) -> Any:
            raise psutil.NoSuchProcess(self.pid)

    collector = PsutilProcessCollector(Gone())
    with caplog.at_level(logging.WARNING, logger="otel"):
        body, _ = render_prometheus(None, openmetrics=False, extra=collector)
    assert body == b""
    assert "reading the process metrics failed (NoSuchProcess)" in caplog.text


def test_a_failing_extra_collector_leaves_the_planes_own_series_intact(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken:
        def collect(self) -> Iterable[Metric]:
            raise UnboundLocalError("max_fds")  # what ProcessCollector raises on odd limits

    with HubTelemetry() as tel:
        data = tel._collect(Plane.DATA)
    with caplog.at_level(logging.ERROR, logger="otel"):
        body, _ = render_prometheus(data, openmetrics=True, extra=Broken())
    assert b"hub_jobs_retry_rate_1m_per_min" in body and body.endswith(b"# EOF\n")
    assert "an extra Prometheus collector failed" in caplog.text


# -- OTLP -------------------------------------------------------------------------------------


def _otlp_config(receiver: Receiver) -> TelemetryConfig:
    return TelemetryConfig.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
                                     "OTEL_METRIC_EXPORT_INTERVAL": "100"})


def _process_metrics(receiver: Receiver) -> dict[str, dict[str, str]]:
    """Name -> resource of every metric of the system-metrics scope received."""
    return {name.split("/", 1)[1]: resource
            for name, (resource, _) in receiver.metric_points().items()
            if name.startswith(SCOPE + "/")}


def test_otlp_exports_process_and_runtime_metrics_but_nothing_system_wide(
    receiver: Receiver,
) -> None:
    with HubTelemetry(_otlp_config(receiver)) as tel:
        wanted = {"process.cpu.time", "process.memory.usage", "process.memory.virtual",
                  "process.open_file_descriptor.count", "process.thread.count",
                  "cpython.gc.collections"}
        assert wait_for(lambda: wanted <= set(_process_metrics(receiver))), \
            sorted(receiver.metric_points())
        assert tel.resource is not None
        instance_id = tel.resource.attributes["service.instance.id"]
    got = _process_metrics(receiver)
    assert not [name for name in got if name.startswith("system.")]
    assert set(got) <= set(OTLP_PROCESS_METRICS)
    # The same resource as the hub's own metrics: one instance, one identity.
    assert {resource["service.instance.id"] for resource in got.values()} == {instance_id}
    hub_resource, _ = receiver.metric_points()["sheratan.hub.control/hub.auth.failure_rate_1m"]
    assert hub_resource["service.instance.id"] == instance_id


def test_two_telemetry_objects_each_export_their_own_process_metrics(
    receiver: Receiver,
) -> None:
    # BaseInstrumentor is a singleton; each provider must still get its instruments.
    with HubTelemetry(_otlp_config(receiver)) as first, \
            HubTelemetry(_otlp_config(receiver)) as second:
        ids = {str(t.resource.attributes["service.instance.id"])
               for t in (first, second) if t.resource is not None}

        def exporters() -> set[str]:
            with receiver.lock:
                return {attr.value.string_value for request in receiver.metrics
                        for rm in request.resource_metrics
                        if any(sm.scope.name == SCOPE for sm in rm.scope_metrics)
                        for attr in rm.resource.attributes if attr.key == "service.instance.id"}

        assert wait_for(lambda: exporters() == ids), (exporters(), ids)
    assert len(ids) == 2


def test_with_otlp_export_the_metrics_text_carries_no_otel_process_series(
    receiver: Receiver,
) -> None:
    with HubTelemetry(_otlp_config(receiver)) as tel:
        assert wait_for(lambda: bool(_process_metrics(receiver)))
        names = {name for name, _ in samples(tel, "control")}
    assert "process_resident_memory_bytes" in names  # prometheus_client's
    assert not {n for n in names if n.startswith(("process_memory", "process_cpu_time",
                                                  "cpython_", "process_thread"))}


def test_without_otlp_export_there_is_no_process_provider(telemetry: HubTelemetry) -> None:
    # /metrics' collect must not pay for psutil callbacks that nothing exports.
    assert telemetry._process_provider is None


def test_a_failing_instrumentation_is_logged_and_the_hub_runs_on(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(provider: object) -> None:
        raise RuntimeError("no psutil here")

    monkeypatch.setattr(otel_process, "_instrument", broken)
    with caplog.at_level(logging.ERROR, logger="otel"):
        tel = HubTelemetry(_otlp_config(receiver))
    try:
        assert "process metrics could not be instrumented (RuntimeError)" in caplog.text
        assert tel.snapshot_json("data")["queue_depth"] == 0
        assert wait_for(lambda: "sheratan.hub.data/hub.jobs.retry_rate_1m"
                        in receiver.metric_points())
    finally:
        tel.shutdown(timeout_s=1.0)
