"""HubTelemetry: the hub's instruments, readers, exporters and renderers in one object."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData
from opentelemetry.sdk.resources import Resource

from . import _instruments as spec
from ._config import TelemetryConfig
from ._export import bounded_call, build_resource
from ._instruments import LabelCache, Plane
from ._pipeline import (
    build_logger_provider,
    build_meter_provider,
    counter,
    observable_gauge,
    shutdown_step,
    window_gauge,
)
from ._redaction import Redactor, is_secret_key
from ._render import format_generated_at, render_prometheus, snapshot_values
from ._request_buffer import MAX_PENDING_LIMIT, RequestBuffer
from ._window import WindowCounter

__all__ = ["CountsSource", "HubTelemetry", "TelemetryUnavailableError"]

_logger = logging.getLogger(__name__)

CountsSource = Callable[[], Mapping[str, int]]

# The SDK's own marker for a series past a cardinality limit, reused for ours.
_OVERFLOW: dict[str, str | int] = {"otel.metric.overflow": "true"}
# Bounds on distinct label sets per instrument; far above what a hub produces.
_MAX_EVENT_LABEL_SETS = 64
_MAX_REQUEST_LABEL_SETS = 1024
_WINDOW_S = 60


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
    ``/metrics`` request collects its own plane only, and with a periodic OTLP reader
    when export is configured. Two instances in one process are independent.

    Thread-safety: the ``record_*`` taps run on the hub's event-loop thread; observable
    callbacks run on whichever thread collects (a ``/metrics`` request or the OTLP
    exporter's thread). Shared state (windows, label caches, the request buffer) is
    guarded where it needs to be; see each class. Taps never raise.

    Args:
        config: the parsed config; ``TelemetryConfig()`` when None.
        clock: monotonic seconds for the 60 s windows; tests inject a fake.
        wall_clock: Unix seconds for ``generated_at``.
        extra_resource_attributes: added to the resource (``service.name`` stays the
            config's).
        redactor: when given, resource attributes and label values it flags are dropped
            or replaced; secret-looking resource keys are always dropped.
        max_pending_requests: the most request durations buffered per plane before the
            request path drains a batch itself.
    """

    def __init__(
        self,
        config: TelemetryConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        extra_resource_attributes: Mapping[str, str | int | float | bool] | None = None,
        redactor: Redactor | None = None,
        max_pending_requests: int = 4096,
    ) -> None:
        if not 1 <= max_pending_requests <= MAX_PENDING_LIMIT:
            raise ValueError(
                f"max_pending_requests must be in 1..{MAX_PENDING_LIMIT}, "
                f"got {max_pending_requests!r}"
            )
        self._config = config if config is not None else TelemetryConfig()
        self._wall_clock = wall_clock
        self._redactor = redactor
        self._state_lock = threading.Lock()
        self._closed = self._config.sdk_disabled
        self._node_source: CountsSource | None = None
        self._job_source: CountsSource | None = None
        self._auth_window = WindowCounter(clock, window_s=_WINDOW_S)
        self._mismatch_window = WindowCounter(clock, window_s=_WINDOW_S)
        self._retry_window = WindowCounter(clock, window_s=_WINDOW_S)
        self._planes: dict[str, _PlaneMetrics] = {}
        self._buffers: dict[str, RequestBuffer] = {}
        self._logger_provider: LoggerProvider | None = None
        if self._config.sdk_disabled:
            return

        resource = build_resource(self._config, extra_resource_attributes, self._keep_resource)
        self._logger_provider = build_logger_provider(self._config, resource)
        for plane in Plane:
            self._planes[plane.value] = self._build_plane(plane, resource, max_pending_requests)
        self._buffers = {name: plane.requests for name, plane in self._planes.items()}

    # -- construction -------------------------------------------------------------------

    def _build_plane(self, plane: Plane, resource: Resource, max_pending: int) -> _PlaneMetrics:
        provider, reader = build_meter_provider(self._config, resource)
        meter = provider.get_meter(plane.meter_name)
        histogram = meter.create_histogram(
            spec.HTTP_DURATION.name,
            unit=spec.HTTP_DURATION.unit,
            description=spec.HTTP_DURATION.description,
            explicit_bucket_boundaries_advisory=spec.REQUEST_DURATION_BUCKETS_S,
        )
        labels = LabelCache(self._request_labels, _OVERFLOW, max_keys=_MAX_REQUEST_LABEL_SETS)
        requests = RequestBuffer(histogram, labels, max_pending=max_pending)
        # The drain rides on the plane's first gauge: the SDK runs every callback of a
        # provider before it collects the histogram, for every reader.
        if plane is Plane.CONTROL:
            observable_gauge(meter, spec.NODES, [requests.drain_callback, self._observe_nodes])
            self._auth_counter = counter(meter, spec.AUTH_FAILURES)
            self._auth_labels = self._event_label_cache("plane", "reason")
            window_gauge(meter, spec.AUTH_FAILURE_RATE, self._auth_window)
            self._mismatch_counter = counter(meter, spec.PORT_MISMATCHES)
            self._mismatch_labels = self._event_label_cache("plane")
            window_gauge(meter, spec.PORT_MISMATCH_RATE, self._mismatch_window)
        else:
            observable_gauge(
                meter, spec.QUEUE_DEPTH, [requests.drain_callback, self._job_gauge("queued")]
            )
            observable_gauge(meter, spec.JOBS_INFLIGHT, [self._job_gauge("inflight")])
            self._retry_counter = counter(meter, spec.JOB_RETRIES)
            self._retry_labels = self._event_label_cache("cause")
            window_gauge(meter, spec.JOB_RETRY_RATE, self._retry_window)
        self._start_known_series_at_zero(plane)
        return _PlaneMetrics(provider=provider, reader=reader, requests=requests)

    def _start_known_series_at_zero(self, plane: Plane) -> None:
        # A counter series that first appears at 1 hides that first event from
        # Prometheus' increase() and rate(); series whose labels are known up front
        # start at 0 instead (the Prometheus instrumentation guidelines ask for this).
        if plane is Plane.CONTROL:
            for name in (p.value for p in Plane):
                for reason in spec.AUTH_REASONS:
                    self._auth_counter.add(0, self._auth_labels.get((name, reason)))
                self._mismatch_counter.add(0, self._mismatch_labels.get((name,)))
        else:
            for cause in spec.RETRY_CAUSES:
                self._retry_counter.add(0, self._retry_labels.get((cause,)))

    def _keep_resource(self, key: str, value: str) -> bool:
        if key.startswith("telemetry.sdk.") or key == "service.name":
            return self._redactor is None or not self._redactor.find_leaks(value)
        if is_secret_key(key):
            return False
        return self._redactor is None or not self._redactor.find_leaks(value)

    def _label(self, value: object) -> str:
        text = str(value)
        if self._redactor is not None and self._redactor.find_leaks(text):
            return "redacted"
        return text

    def _event_label_cache(self, *keys: str) -> LabelCache:
        def build(values: tuple[object, ...]) -> dict[str, str | int]:
            labels: dict[str, str | int] = {
                key: self._label(value) for key, value in zip(keys, values, strict=True)
            }
            if "plane" in labels:
                Plane(labels["plane"])  # ValueError for an unknown plane: a caller bug
            return labels

        return LabelCache(build, _OVERFLOW, max_keys=_MAX_EVENT_LABEL_SETS)

    def _request_labels(self, key: tuple[object, ...]) -> dict[str, str | int]:
        method, route, status_code, server_port = key
        return {
            "http.request.method": self._label(method),
            "http.route": self._label(route),
            "http.response.status_code": _as_int(status_code),
            "server.port": _as_int(server_port),
        }

    # -- observable callbacks (may run on the exporter thread) --------------------------

    def _observe_nodes(self, options: CallbackOptions) -> Iterable[Observation]:
        source = self._node_source
        if source is None:
            return ()
        try:
            counts = source()
            return [
                Observation(int(counts.get(state, 0)), _STATE_LABELS[state])
                for state in spec.NODE_STATES
            ]
        except Exception:
            _logger.exception("the node counts source failed; hub.nodes is skipped")
            return ()

    def _job_gauge(self, state: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            source = self._job_source
            if source is None:
                return ()
            try:
                return [Observation(int(source().get(state, 0)))]
            except Exception:
                _logger.exception("the job counts source failed; %s jobs are skipped", state)
                return ()

        return observe

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
    def logger_provider(self) -> LoggerProvider | None:
        """The LoggerProvider for alert records (OTLP-exported when configured).

        None when telemetry is disabled. Without an OTLP logs endpoint it has no
        processor, so a caller may add its own (a test's in-memory exporter, say).
        """
        return self._logger_provider

    def record_auth_failure(self, plane: str, reason: str) -> None:
        """Count a rejected token (``hub.auth.failures`` and the hub-wide 60 s rate)."""
        if self._closed:
            return
        try:
            self._auth_counter.add(1, self._auth_labels.get((plane, reason)))
            self._auth_window.add()
        except Exception:
            _logger.exception("record_auth_failure(%r, %r) failed", plane, reason)

    def record_port_mismatch(self, plane: str) -> None:
        """Count a 421 port mismatch (``hub.port.mismatches`` and the 60 s rate)."""
        if self._closed:
            return
        try:
            self._mismatch_counter.add(1, self._mismatch_labels.get((plane,)))
            self._mismatch_window.add()
        except Exception:
            _logger.exception("record_port_mismatch(%r) failed", plane)

    def record_job_retry(self, cause: str) -> None:
        """Count a requeued job, cause ``failed`` or ``lease_expired``."""
        if self._closed:
            return
        try:
            self._retry_counter.add(1, self._retry_labels.get((cause,)))
            self._retry_window.add()
        except Exception:
            _logger.exception("record_job_retry(%r) failed", cause)

    def set_node_counts_source(self, fn: CountsSource) -> None:
        """Set the callable behind ``hub.nodes``: ``{"online": n, "stale": n, "dead": n}``.

        It is called once per collect, possibly on the exporter's thread, so it must be
        cheap and thread-safe. A missing key reads 0; an exception skips the reading.
        """
        self._node_source = fn

    def set_job_counts_source(self, fn: CountsSource) -> None:
        """Set the callable behind the queue gauges: ``{"queued": n, "inflight": n}``."""
        self._job_source = fn

    def record_request(
        self,
        plane: str,
        method: str,
        route: str,
        status_code: int,
        server_port: int,
        duration_s: float,
    ) -> None:
        """Record one HTTP request on ``http.server.request.duration`` (the hot path).

        Args:
            plane: ``"control"`` or ``"data"``.
            method: the HTTP method.
            route: the route template, never the raw path.
            status_code: the response status.
            server_port: the port the request came in on.
            duration_s: the request's duration in seconds.
        """
        if self._closed:
            return
        try:
            self._buffers[plane].append(method, route, status_code, server_port, duration_s)
        except Exception:
            _logger.exception("record_request on plane %r failed", plane)

    def snapshot_json(self, plane: str) -> dict[str, object]:
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

    def render_prometheus(self, plane: str, *, openmetrics: bool = False) -> tuple[bytes, str]:
        """Prometheus text (or OpenMetrics) of ``plane``'s instruments, from one collect.

        Returns:
            The body and its content type.

        Raises:
            ValueError: ``plane`` is not ``control`` or ``data``.
            TelemetryUnavailableError: as for :meth:`snapshot_json`.
        """
        return render_prometheus(self._collect(Plane(plane)), openmetrics=openmetrics)

    def shutdown(self, timeout_s: float = 2.0) -> None:
        """Flush and stop exporters, returning within about ``timeout_s`` whatever the
        collector does. Safe to call twice; taps are no-ops afterwards."""
        with self._state_lock:
            if self._closed and not self._planes:
                return
            self._closed = True
            planes, self._planes = self._planes, {}
            logger_provider = self._logger_provider
        # The SDK gets most of the budget as its own deadline, so on a dead collector it
        # still reaches exporter.shutdown() (which stops the retry loop) before we give up
        # waiting for it.
        timeout_ms = max(timeout_s, 0.0) * 1000.0 * 0.75
        steps: list[Callable[[], object]] = [
            shutdown_step(plane.provider, timeout_ms) for plane in planes.values()
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
        if state is None or self._closed:
            raise TelemetryUnavailableError("shut_down")
        try:
            return state.reader.get_metrics_data()
        except Exception as exc:
            _logger.exception("collecting the %s plane failed", plane.value)
            raise TelemetryUnavailableError("collect_failed") from exc


_STATE_LABELS: dict[str, dict[str, str]] = {state: {"state": state} for state in spec.NODE_STATES}


def _as_int(value: object) -> int:
    # bool is an int subclass but "True" is no status code; anything odd becomes 0.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return 0
