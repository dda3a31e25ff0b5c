"""Building blocks of the SDK pipeline: providers, readers, and instrument helpers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from opentelemetry.metrics import CallbackOptions, Counter, Meter, Observation
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.resources import Resource

from ._config import TelemetryConfig
from ._export import bounded_call, log_exporter, metric_exporter
from ._instruments import INSTRUMENTS, InstrumentSpec, Plane

__all__ = [
    "Callback",
    "Pipeline",
    "PlaneReaders",
    "build_logger_provider",
    "build_meter_provider",
    "cardinality_views",
    "counter",
    "export_reader",
    "observable_gauge",
    "plane_readers",
    "shutdown_together",
    "window_gauge",
]

_logger = logging.getLogger(__name__)

Callback = Callable[[CallbackOptions], Iterable[Observation]]
#: Extra metric readers per plane, keyed by ``Plane`` or its value (or both).
PlaneReaders = (
    Mapping[Plane, Sequence[MetricReader]]
    | Mapping[str, Sequence[MetricReader]]
    | Mapping[Plane | str, Sequence[MetricReader]]
)


def build_meter_provider(
    config: TelemetryConfig, resource: Resource, extra_readers: Sequence[MetricReader] = ()
) -> tuple[MeterProvider, InMemoryMetricReader]:
    """A MeterProvider with an in-process pull reader, plus OTLP export when configured,
    plus ``extra_readers``.

    The pull reader is the SDK's InMemoryMetricReader: cumulative for every instrument
    kind, it never resets on read, and one ``get_metrics_data()`` is one collect.
    """
    reader = InMemoryMetricReader()
    provider, _ = meter_provider(config, resource, [reader, *extra_readers],
                                 views=cardinality_views())
    return provider, reader


def meter_provider(
    config: TelemetryConfig, resource: Resource, readers: Sequence[MetricReader],
    *, views: Sequence[View] = (),
) -> tuple[MeterProvider, bool]:
    """A MeterProvider for ``readers``, plus the OTLP reader when configured (True then)."""
    all_readers = list(readers)
    exporting = export_reader(config)
    if exporting is not None:
        all_readers.append(exporting)
    provider = MeterProvider(
        metric_readers=all_readers,
        resource=resource,
        views=list(views),
        # There are no spans here, and the exemplar path costs on every record.
        exemplar_filter=AlwaysOffExemplarFilter(),
        # Our shutdown() is bounded; the SDK's atexit hook is not.
        shutdown_on_exit=False,
    )
    return provider, exporting is not None


def cardinality_views() -> list[View]:
    """One View per instrument with a bound on its label sets (``max_label_sets``).

    A View, not a reader's ``cardinality_limits``: it belongs to the provider, so the pull
    reader, the OTLP reader and any reader a caller adds all keep the same series. A View
    that only sets the limit keeps the instrument's name, description and aggregation
    (the advisory histogram buckets included).
    """
    return [
        View(instrument_name=instrument.name,
             aggregation_cardinality_limit=instrument.max_label_sets)
        for instrument in INSTRUMENTS
        if instrument.max_label_sets is not None
    ]


def plane_readers(readers: PlaneReaders | None) -> dict[Plane, tuple[MetricReader, ...]]:
    """Checks a caller's extra readers per plane: every plane gets a tuple, maybe empty.

    Raises:
        ValueError: a key that is no plane, or one reader given twice (the SDK lets a
            reader serve one provider only, and each plane has its own).
        TypeError: a value that is not a sequence of SDK ``MetricReader`` objects.
    """
    out: dict[Plane, tuple[MetricReader, ...]] = {plane: () for plane in Plane}
    seen: set[int] = set()
    for key, given in (readers or {}).items():
        plane = _plane(key)
        if isinstance(given, MetricReader | str) or not isinstance(given, Sequence):
            raise TypeError(f"metric_readers[{key!r}] must be a sequence of MetricReader, "
                            f"got {type(given).__name__}")
        for reader in given:
            if not isinstance(reader, MetricReader):
                raise TypeError(f"metric_readers[{key!r}] holds a {type(reader).__name__}, "
                                "not a MetricReader")
            if id(reader) in seen:
                raise ValueError(f"metric_readers: {reader!r} is given twice; a reader "
                                 "serves one plane")
            seen.add(id(reader))
        out[plane] = out[plane] + tuple(given)
    return out


def _plane(key: Plane | str) -> Plane:
    try:
        return Plane(key)
    except ValueError:
        valid = ", ".join(repr(p.value) for p in Plane)
        raise ValueError(f"metric_readers: {key!r} is no plane (valid: {valid})") from None


def export_reader(config: TelemetryConfig) -> MetricReader | None:
    """The periodic OTLP reader the config asks for, or None when metric export is off or
    cannot be built (logged as an error: telemetry never takes the host down)."""
    exporter = metric_exporter(config)
    if exporter is None:
        return None
    try:
        return PeriodicExportingMetricReader(
            exporter,
            export_interval_millis=config.metric_export_interval_ms,
            export_timeout_millis=config.metric_export_timeout_ms,
        )
    except Exception as exc:
        _logger.error("the OTLP metric reader could not be built (%s); running without it",
                      type(exc).__name__)
        return None


def build_logger_provider(config: TelemetryConfig, resource: Resource) -> LoggerProvider:
    """A LoggerProvider that batches records to OTLP when a logs endpoint is configured."""
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    exporter = log_exporter(config)
    if exporter is not None:
        try:
            provider.add_log_record_processor(
                BatchLogRecordProcessor(exporter, export_timeout_millis=config.otlp_timeout_ms)
            )
        except Exception as exc:  # telemetry never takes the host down
            _logger.error("the OTLP log processor could not be built (%s); running without it",
                          type(exc).__name__)
    return provider


def counter(meter: Meter, instrument: InstrumentSpec) -> Counter:
    """Create the Counter ``instrument`` describes."""
    return meter.create_counter(
        instrument.name, unit=instrument.unit, description=instrument.description
    )


def observable_gauge(
    meter: Meter, instrument: InstrumentSpec, callbacks: Sequence[Callback]
) -> None:
    """Create the ObservableGauge ``instrument`` describes."""
    meter.create_observable_gauge(
        instrument.name,
        callbacks=list(callbacks),
        unit=instrument.unit,
        description=instrument.description,
    )


def window_gauge(meter: Meter, instrument: InstrumentSpec, read: Callable[[], int]) -> None:
    """An ObservableGauge that reads a trailing-window count; a reading that fails is
    logged and skipped (telemetry never breaks a collect)."""

    def observe(options: CallbackOptions) -> Iterable[Observation]:
        try:
            return [Observation(read())]
        except Exception:
            _logger.exception("reading %s failed; skipped", instrument.name)
            return ()

    observable_gauge(meter, instrument, [observe])


class _Provider(Protocol):
    def shutdown(self) -> object: ...


ProviderT = TypeVar("ProviderT", bound=_Provider)


@dataclass(slots=True)
class Pipeline(Generic[ProviderT]):
    """A provider for a process that is not the hub (a LoggerProvider, a MeterProvider) and
    its bounded shutdown.

    Attributes:
        provider: where loggers or meters come from.
        exporting: whether an OTLP exporter is attached.
    """

    provider: ProviderT
    exporting: bool
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    def shutdown(self, timeout_s: float = 2.0) -> None:
        """Flush and stop, returning within about ``timeout_s`` whatever the collector does.
        Safe to call twice."""
        shutdown_together([self], timeout_s)


def shutdown_together(pipelines: Sequence[Pipeline[Any]], timeout_s: float) -> None:
    """Flush and stop ``pipelines`` side by side, within about ``timeout_s`` in all; one
    already shut down is left alone."""
    steps: list[Callable[[], object]] = []
    for pipeline in pipelines:
        if not pipeline._done.is_set():
            pipeline._done.set()
            steps.append(pipeline.provider.shutdown)
    if steps:
        bounded_call("pipeline", steps, timeout_s)
