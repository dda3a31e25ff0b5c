"""Process and runtime metrics of the hub's own process, from well-kept libraries.

Two outputs, each built from a library that dashboards already know:

* ``/metrics`` text: prometheus_client's ``ProcessCollector``, ``GCCollector`` and
  ``PlatformCollector`` in a registry of this object's own (never the global
  ``REGISTRY``), so the names are the conventional ``process_resident_memory_bytes``,
  ``process_cpu_seconds_total``, ``process_start_time_seconds``, ``process_open_fds``,
  ``python_gc_*`` and ``python_info``. ``ProcessCollector`` reads ``/proc``; where there is
  none (Windows, macOS) the same process series come from psutil instead.
* OTLP: opentelemetry-instrumentation-system-metrics, limited to the process and CPython
  runtime metrics (no system-wide CPU, memory, disk or network series), on a MeterProvider of
  its own that only exports. The in-process pull readers behind ``/metrics`` never see these
  instruments, so the JSON keys and the OTel side of the text stay as the CONTRACT defines.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import CollectorRegistry

from ._config import TelemetryConfig
from ._pipeline import export_reader

__all__ = [
    "OTLP_PROCESS_METRICS",
    "PsutilProcessCollector",
    "build_process_meter_provider",
    "process_registry",
]

_logger = logging.getLogger(__name__)

#: What the OTLP side exports, in the instrumentation's own configuration format: the
#: process and CPython runtime metrics, and nothing system-wide. The deprecated
#: ``process.runtime.*`` duplicates are left out too.
OTLP_PROCESS_METRICS: Mapping[str, list[str] | None] = MappingProxyType({
    "process.cpu.time": ["user", "system"],
    "process.cpu.utilization": ["user", "system"],
    "process.memory.usage": None,
    "process.memory.virtual": None,
    "process.open_file_descriptor.count": None,
    "process.thread.count": None,
    "process.context_switches": ["involuntary", "voluntary"],
    "cpython.gc.collections": None,
    "cpython.gc.collected_objects": None,
    "cpython.gc.uncollectable_objects": None,
})

# Windows has no descriptor limit to read; client_golang reports this number there too.
_WINDOWS_MAX_HANDLES = 16 * 1024 * 1024


def process_registry() -> CollectorRegistry:
    """A fresh registry with the process, GC and platform collectors of prometheus_client.

    Each call builds new collectors, so two telemetry objects (or tests) never share one
    and the global ``REGISTRY`` is never touched.
    """
    registry = CollectorRegistry()
    process = ProcessCollector(registry=None)
    # ProcessCollector quietly yields nothing without /proc; psutil fills in there.
    registry.register(process if list(process.collect()) else PsutilProcessCollector())
    GCCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


class PsutilProcessCollector:
    """``ProcessCollector``'s series (same names, help and units) read through psutil.

    Used where ``/proc`` does not exist. On Windows ``process_open_fds`` is the handle
    count, as client_golang reports it. Thread-safe: psutil's one-shot cache is per process
    object, so a lock keeps two concurrent scrapes from sharing a half-filled cache.

    Args:
        process: the process to read; this process when None.
    """

    def __init__(self, process: Any = None) -> None:
        # Imported here: only a platform without /proc needs it (about 20 ms).
        import psutil  # type: ignore[import-untyped]

        self._errors: tuple[type[BaseException], ...] = (psutil.Error, OSError)
        self._process = process if process is not None else psutil.Process(os.getpid())
        self._lock = threading.Lock()

    def collect(self) -> Iterable[Metric]:
        try:
            with self._lock, self._process.oneshot():
                memory = self._process.memory_info()
                cpu = self._process.cpu_times()
                started_s = float(self._process.create_time())
                open_fds = _open_fds(self._process)
        except self._errors as exc:
            _logger.warning("reading the process metrics failed (%s)", type(exc).__name__)
            return []
        metrics: list[Metric] = [
            GaugeMetricFamily("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                              value=float(memory.vms)),
            GaugeMetricFamily("process_resident_memory_bytes", "Resident memory size in bytes.",
                              value=float(memory.rss)),
            GaugeMetricFamily("process_start_time_seconds",
                              "Start time of the process since unix epoch in seconds.",
                              value=started_s),
            CounterMetricFamily("process_cpu_seconds_total",
                                "Total user and system CPU time spent in seconds.",
                                value=float(cpu.user + cpu.system)),
        ]
        if open_fds is not None:
            metrics.append(GaugeMetricFamily("process_open_fds",
                                             "Number of open file descriptors.", value=open_fds))
        max_fds = _max_fds()
        if max_fds is not None:
            metrics.append(GaugeMetricFamily("process_max_fds",
                                             "Maximum number of open file descriptors.",
                                             value=max_fds))
        return metrics


def _open_fds(process: Any) -> float | None:
    for method in ("num_fds", "num_handles"):  # POSIX, Windows
        count = getattr(process, method, None)
        if count is not None:
            return float(count())
    return None


def _max_fds() -> float | None:
    if sys.platform == "win32":
        return float(_WINDOWS_MAX_HANDLES)
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return None
    return None if soft == resource.RLIM_INFINITY else float(soft)


def build_process_meter_provider(
    config: TelemetryConfig, resource: Resource
) -> MeterProvider | None:
    """A MeterProvider that only exports the process and runtime metrics over OTLP.

    Args:
        config: the parsed config; its metric exporter, interval and timeout are used.
        resource: the hub's resource, so these series carry the same
            ``service.instance.id`` as the hub's own metrics.

    Returns:
        The provider (its owner shuts it down), or None when OTLP metric export is off or
        the pipeline could not be built (logged; telemetry never stops the host).
    """
    if not config.metrics_export_enabled:
        return None
    reader = export_reader(config)
    if reader is None:
        return None
    provider = MeterProvider(
        metric_readers=[reader],
        resource=resource,
        exemplar_filter=AlwaysOffExemplarFilter(),
        shutdown_on_exit=False,
    )
    try:
        _instrument(provider)
    except Exception as exc:  # telemetry never takes the host down
        _logger.error("the process metrics could not be instrumented (%s); running without them",
                      type(exc).__name__)
        provider.shutdown(timeout_millis=1000)
        return None
    return provider


def _instrument(provider: MeterProvider) -> None:
    instrumentor = _instrumentor_type()(config=dict(OTLP_PROCESS_METRICS))
    instrumentor.instrument(meter_provider=provider)


@functools.cache
def _instrumentor_type() -> type[Any]:
    # Imported on first use: only a hub that exports OTLP pays for it (about 55 ms).
    from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor

    class OwnInstrumentor(SystemMetricsInstrumentor):
        """One instrumentor per provider.

        BaseInstrumentor is a process-wide singleton, made for the one global provider of
        auto-instrumentation: a second ``instrument()`` would be refused, and a shared
        instance would share the label dicts its callbacks fill in across exporter threads.
        """

        def __new__(cls, *args: Any, **kwargs: Any) -> OwnInstrumentor:
            return object.__new__(cls)

    return OwnInstrumentor
