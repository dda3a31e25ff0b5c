"""HubTelemetry: the hub's instruments, readers, exporters and renderers in one object."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricReader, MetricsData
from opentelemetry.sdk.resources import Resource
from prometheus_client.registry import CollectorRegistry

from . import _instruments as spec
from ._config import TelemetryConfig
from ._events import EventCounters
from ._export import bounded_call, build_resource
from ._hub_sources import HubSources
from ._instruments import Plane, memoized_labels
from ._pipeline import (
    PlaneReaders,
    build_logger_provider,
    build_meter_provider,
    observable_gauge,
    plane_readers,
)
from ._process import build_process_meter_provider, process_registry
from ._redaction import Redactor
from ._render import format_generated_at, render_prometheus, snapshot_values
from ._request_buffer import DEFAULT_MAX_PENDING, MAX_PENDING_LIMIT, RequestBuffer
from ._sources import CountSources, CountsSource
from ._sql_counts import SqlCountsConfig
from .auditlog import AuditFormat

__all__ = ["CountsSource", "HubTelemetry", "TelemetryUnavailableError"]

_logger = logging.getLogger(__name__)


class TelemetryUnavailableError(RuntimeError):
    """No metrics can be read; the HTTP layer answers 503 with :attr:`reason`.

    Attributes:
        reason: ``"disabled"`` (OTEL_SDK_DISABLED), ``"shut_down"``, or
            ``"collect_failed"``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"telemetry unavailable: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _PlaneMetrics:
    provider: MeterProvider
    reader: InMemoryMetricReader
    requests: RequestBuffer


class HubTelemetry:
    """Owns the hub's MeterProviders, readers and LoggerProvider; no global state.

    Each plane has its own MeterProvider with an in-process cumulative pull reader, so a
    ``/metrics`` request collects its own plane only, with a periodic OTLP reader when
    export is configured, and with the readers a caller passes in ``metric_readers`` (a
    test's InMemoryMetricReader, say). Two instances in one process are independent.

    Process and runtime metrics: the Prometheus text of both planes ends with
    prometheus_client's process, GC and platform collectors (a registry of this object's
    own); with OTLP metric export configured, a third MeterProvider exports the process and
    CPython runtime metrics of opentelemetry-instrumentation-system-metrics. The JSON body
    never carries them. The resource has a fresh ``service.instance.id`` per object (one
    per hub process) unless ``OTEL_RESOURCE_ATTRIBUTES`` names one.

    Thread-safety: the ``record_*`` taps run on the hub's event-loop thread; observable
    callbacks run on whichever thread collects (a ``/metrics`` request or the OTLP
    exporter's thread). Shared state (windows, label memos, the request buffer) is
    guarded where it needs to be; see each class. Taps never raise.

    Args:
        config: the parsed config; ``TelemetryConfig()`` when None.
        clock: Unix seconds for the 60 s windows (events read back from a log or a store
            carry their own Unix time); tests inject a fake.
        wall_clock: Unix seconds for ``generated_at``.
        extra_resource_attributes: added to the resource (``service.name`` stays the
            config's); a hub passes its ``service.version`` here, else the layer's
            package version is used.
        redactor: when given, resource attributes whose key or value it flags are
            dropped (a flagged ``service.name`` becomes ``sheratan-hub``) and label
            values it flags read ``redacted``; secret-looking resource keys are always
            dropped.
        max_pending_requests: the most request durations queued per plane before the
            request path records a batch itself; also the most one scrape or export
            records, which bounds how long it holds the event loop (256: about 2 ms).
        metric_readers: more SDK metric readers per plane (``Plane`` or its value),
            added to that plane's MeterProvider beside the pull reader and the OTLP
            reader. They see that plane's instruments, its views (the cardinality
            limits) and its resource, and are shut down with this object, as a
            MeterProvider shuts down its readers. Request durations still queued when
            one of them collects are recorded during that collect, and show in that
            reading or the next (as for OTLP export). Unused when telemetry is disabled.
        logger_provider: the LoggerProvider to hand out as :attr:`logger_provider`
            instead of building one (with OTLP export when configured). It stays the
            caller's: :meth:`shutdown` leaves it running.

    Raises:
        ValueError: ``max_pending_requests`` out of range, a ``metric_readers`` key that is
            no plane, or one reader given twice.
        TypeError: a ``metric_readers`` value that is not a sequence of ``MetricReader``,
            or a ``logger_provider`` that is not an SDK ``LoggerProvider``.
    """

    def __init__(
        self,
        config: TelemetryConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        wall_clock: Callable[[], float] = time.time,
        extra_resource_attributes: Mapping[str, str | int | float | bool] | None = None,
        redactor: Redactor | None = None,
        max_pending_requests: int = DEFAULT_MAX_PENDING,
        metric_readers: PlaneReaders | None = None,
        logger_provider: LoggerProvider | None = None,
    ) -> None:
        if not 1 <= max_pending_requests <= MAX_PENDING_LIMIT:
            raise ValueError(
                f"max_pending_requests must be in 1..{MAX_PENDING_LIMIT}, "
                f"got {max_pending_requests!r}"
            )
        if logger_provider is not None and not isinstance(logger_provider, LoggerProvider):
            raise TypeError(f"logger_provider must be an SDK LoggerProvider, "
                            f"got {type(logger_provider).__name__}")
        extra_readers = plane_readers(metric_readers)
        self._config = config if config is not None else TelemetryConfig()
        self._wall_clock = wall_clock
        self._redactor = redactor
        self._state_lock = threading.Lock()
        # Taps check _taps_off first. It starts True when disabled and turns True at
        # shutdown; either way every attribute a tap touches exists (the event counters
        # start as no-ops), so a tap can never fail for want of one.
        self._taps_off = self._config.sdk_disabled
        self._sources = CountSources()
        self._events = EventCounters(clock, self._label)
        self._hub_sources = HubSources(self._events, self._sources, clock)
        self._planes: dict[str, _PlaneMetrics] = {}
        self._buffers: dict[Plane | str, RequestBuffer] = {}
        self._logger_provider: LoggerProvider | None = None
        self._owns_logger_provider = logger_provider is None
        self._resource: Resource | None = None
        self._process_provider: MeterProvider | None = None
        self._process_registry: CollectorRegistry | None = None
        if self._config.sdk_disabled:
            return

        resource = build_resource(self._config, extra_resource_attributes, redactor)
        self._resource = resource
        self._logger_provider = (logger_provider if logger_provider is not None
                                 else build_logger_provider(self._config, resource))
        for plane in Plane:
            self._planes[plane.value] = self._build_plane(
                plane, resource, max_pending_requests, extra_readers[plane]
            )
        # Keyed by the Plane and by its value: the hot path takes either without a lookup.
        self._buffers = {key: plane.requests for name, plane in self._planes.items()
                         for key in (name, Plane(name))}
        self._process_registry = process_registry()
        self._process_provider = build_process_meter_provider(self._config, resource)
        self._hub_sources.from_config(self._config)

    # -- construction -------------------------------------------------------------------

    def _build_plane(self, plane: Plane, resource: Resource, max_pending: int,
                     extra_readers: Sequence[MetricReader]) -> _PlaneMetrics:
        provider, reader = build_meter_provider(self._config, resource, extra_readers)
        meter = provider.get_meter(plane.meter_name)
        histogram = meter.create_histogram(
            spec.HTTP_DURATION.name,
            unit=spec.HTTP_DURATION.unit,
            description=spec.HTTP_DURATION.description,
            explicit_bucket_boundaries_advisory=spec.REQUEST_DURATION_BUCKETS_S,
        )
        labels = memoized_labels(self._request_labels, spec.HTTP_DURATION)
        requests = RequestBuffer(histogram, labels, max_pending=max_pending)
        sources = self._sources
        # The drain also rides on the plane's first gauge, so the OTLP exporter's collects
        # record the queue too: in that export or the next, whatever order the SDK runs
        # callbacks in. Pull collects and shutdown drain explicitly first.
        if plane is Plane.CONTROL:
            observable_gauge(meter, spec.NODES, [requests.drain_callback, sources.observe_nodes])
            self._events.bind_control(meter)
        else:
            observable_gauge(
                meter, spec.QUEUE_DEPTH, [requests.drain_callback, sources.observe_queue_depth]
            )
            observable_gauge(meter, spec.JOBS_INFLIGHT, [sources.observe_inflight])
            self._events.bind_data(meter)
        return _PlaneMetrics(provider=provider, reader=reader, requests=requests)

    def _label(self, value: object) -> str:
        text = str(value)
        if self._redactor is not None and self._redactor.find_leaks(text):
            return "redacted"
        return text

    def _request_labels(self, key: tuple[object, ...]) -> dict[str, str | int]:
        method, route, status_code, server_port = key
        return {
            "http.request.method": self._label(method),
            "http.route": self._label(route),
            "http.response.status_code": _as_int(status_code),
            "server.port": _as_int(server_port),
        }

    # -- public API -----------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """False when ``OTEL_SDK_DISABLED=true``: every tap is then a no-op."""
        return not self._config.sdk_disabled

    @property
    def config(self) -> TelemetryConfig:
        """The config this object was built from."""
        return self._config

    @property
    def resource(self) -> Resource | None:
        """The resource every exported signal carries, or None when telemetry is disabled."""
        return self._resource

    @property
    def logger_provider(self) -> LoggerProvider | None:
        """The LoggerProvider for alert records (OTLP-exported when configured), or the
        one passed as ``logger_provider``.

        None when telemetry is disabled. Without an OTLP logs endpoint the one built here
        has no processor, so a caller may add its own (a test's in-memory exporter, say).
        """
        return self._logger_provider

    def record_auth_failure(self, plane: Plane | str, reason: str, *,
                            at: float | None = None) -> None:
        """Count a rejected token (``hub.auth.failures`` and the hub-wide 60 s rate).

        Ignored while the audit log is the source (:meth:`count_security_events_from`).

        Args:
            at: when it happened (Unix seconds), for an event read back after a restart;
                one from before this object was made goes to the 60 s window only.
        """
        if not self._hub_sources.security_from_log:
            self._tap(self._events.auth_failure, plane, reason, at=at,
                      counted=not self._hub_sources.is_past(at))

    def record_port_mismatch(self, plane: Plane | str, *, at: float | None = None) -> None:
        """Count a 421 port mismatch (``hub.port.mismatches`` and the 60 s rate); ``at``
        and the audit log as for :meth:`record_auth_failure`."""
        if not self._hub_sources.security_from_log:
            self._tap(self._events.port_mismatch, plane, at=at,
                      counted=not self._hub_sources.is_past(at))

    def record_job_retry(self, cause: str, *, at: float | None = None) -> None:
        """Count a requeued job, cause ``failed`` or ``lease_expired``; ``at`` as for
        :meth:`record_auth_failure`. Ignored while the hub's SQLite is the source."""
        if not self._hub_sources.retries_from_sql:
            self._tap(self._events.job_retry, cause, at=at,
                      counted=not self._hub_sources.is_past(at))

    def count_security_events_from(self, audit_log: Path, *,
                                   audit_format: AuditFormat | None = None) -> None:
        """Take the security counters and ``*_rate_1m`` gauges from the hub's audit log
        (hub-wide, the same in every process of the hub) instead of the taps.

        A background thread reads the trailing minute back, then follows the log (across
        rotation, copytruncate and deletion; never holding it open between polls); an
        event is in the rates within about 0.25 s. ``HUB_AUDIT_LOG`` does the same.
        """
        if self.enabled:
            self._hub_sources.follow_audit_log(audit_log, audit_format)

    def seed_security_rates_from(self, audit_log: Path, *,
                                 audit_format: AuditFormat | None = None) -> int:
        """Fill the security ``*_rate_1m`` windows with the trailing minute of the audit log,
        once, while the taps go on counting (a restarted hub's rates then include the
        minute before the restart). Returns the number of events read back."""
        return self._hub_sources.seed_from_audit_log(audit_log, audit_format)

    def read_counts_from_sql(self, config: SqlCountsConfig) -> None:
        """Take node, job and retry counts from the hub's SQLite with read-only queries
        (``HUB_COUNTS_SQL`` does the same); see :mod:`otel._sql_counts`."""
        if self.enabled:
            self._hub_sources.read_counts_from_sql(config)

    def _tap(self, record: Callable[..., None], *args: object, **kwargs: object) -> None:
        # Taps never raise into the hub. record_request keeps its own copy of this: it
        # is the per-request hot path, and one more call there is measurable.
        if self._taps_off:
            return
        try:
            record(*args, **kwargs)
        except Exception:
            _logger.exception(
                "record_%s(%s) failed", record.__name__, ", ".join(map(repr, args))
            )

    def set_node_counts_source(self, fn: CountsSource) -> None:
        """Set the callable behind ``hub.nodes``: ``{"online": n, "stale": n, "dead": n}``.

        It is called once per collect, possibly on the exporter's thread, so it must be
        cheap and thread-safe. A missing key reads 0; an exception skips the reading.
        """
        self._sources.nodes = fn

    def set_job_counts_source(self, fn: CountsSource) -> None:
        """Set the callable behind the queue gauges: ``{"queued": n, "inflight": n}``.

        It is called once per collect for both gauges, so they always form a consistent
        pair; the same rules as for :meth:`set_node_counts_source` apply.
        """
        self._sources.jobs = fn

    def record_request(
        self,
        plane: Plane | str,
        method: str,
        route: str,
        status_code: int,
        server_port: int,
        duration_s: float,
    ) -> None:
        """Record one HTTP request on ``http.server.request.duration`` (the hot path).

        Args:
            plane: ``Plane.CONTROL`` or ``Plane.DATA``, or their values.
            method: the HTTP method.
            route: the route template, never the raw path.
            status_code: the response status.
            server_port: the port the request came in on.
            duration_s: the request's duration in seconds.
        """
        if self._taps_off:
            return
        try:
            self._buffers[plane].append(method, route, status_code, server_port, duration_s)
        except Exception:
            _logger.exception("record_request on plane %r failed", plane)

    def snapshot_json(self, plane: Plane | str) -> dict[str, object]:
        """The flat JSON object of CONTRACT section 3 for ``plane``, from one collect.

        Raises:
            ValueError: ``plane`` is not ``control`` or ``data``.
            TelemetryUnavailableError: telemetry is disabled, shut down, or the collect
                failed; answer 503.
        """
        which = Plane(plane)
        data = self._collect(which)
        body: dict[str, object] = {
            "plane": which.value,
            "generated_at": format_generated_at(self._wall_clock()),
        }
        body.update(snapshot_values(which, data))
        return body

    def render_prometheus(self, plane: Plane | str, *,
                          openmetrics: bool = False) -> tuple[bytes, str]:
        """Prometheus text (or OpenMetrics) of ``plane``'s instruments, from one collect,
        followed by the process, GC and platform metrics of this process.

        Returns:
            The body and its content type.

        Raises:
            ValueError: ``plane`` is not ``control`` or ``data``.
            TelemetryUnavailableError: as for :meth:`snapshot_json`.
        """
        data = self._collect(Plane(plane))
        return render_prometheus(data, openmetrics=openmetrics, extra=self._process_registry)

    def shutdown(self, timeout_s: float = 2.0) -> None:
        """Flush and stop exporters, returning within about ``timeout_s`` whatever the
        collector does. Safe to call twice; taps are no-ops afterwards."""
        with self._state_lock:
            if self._taps_off and not self._planes:
                return
            self._taps_off = True
            planes, self._planes = self._planes, {}
            logger_provider = self._logger_provider if self._owns_logger_provider else None
            process_provider, self._process_provider = self._process_provider, None
        self._hub_sources.stop(timeout_s=min(0.5, timeout_s / 4))
        for plane in planes.values():
            # Before the final export's collect, without relying on the SDK's callback order.
            _drain_all(plane.requests)
        # The SDK gets most of the budget as its own deadline, so on a dead collector it
        # still reaches exporter.shutdown() (which stops the retry loop) before we give up
        # waiting for it.
        timeout_ms = max(timeout_s, 0.0) * 1000.0 * 0.75
        providers = [plane.provider for plane in planes.values()]
        if process_provider is not None:
            providers.append(process_provider)
        steps: list[Callable[[], object]] = [
            functools.partial(provider.shutdown, timeout_millis=timeout_ms)
            for provider in providers
        ]
        if logger_provider is not None:
            steps.append(logger_provider.shutdown)
        if steps:
            bounded_call("HubTelemetry", steps, timeout_s)

    def __enter__(self) -> HubTelemetry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def _collect(self, plane: Plane) -> MetricsData | None:
        if self._config.sdk_disabled:
            raise TelemetryUnavailableError("disabled")
        state = self._planes.get(plane.value)
        if state is None or self._taps_off:
            raise TelemetryUnavailableError("shut_down")
        try:
            # Record what the requests queued before the collect reads the histogram, so a
            # scrape sees every request that finished before it (at most max_pending).
            state.requests.drain()
            return state.reader.get_metrics_data()
        except Exception as exc:
            _logger.exception("collecting the %s plane failed", plane.value)
            raise TelemetryUnavailableError("collect_failed") from exc



def _drain_all(requests: RequestBuffer) -> None:
    # Bounded batches until empty; taps are off by now, so nothing refills the queue.
    while requests.drain():
        pass


def _as_int(value: object) -> int:
    # bool is an int subclass but "True" is no status code; anything odd becomes 0.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return 0
