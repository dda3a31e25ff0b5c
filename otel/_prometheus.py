"""One collected ``MetricsData`` as prometheus_client metric families: the scrape's names.

Why this module and not opentelemetry-exporter-prometheus: the exporter's converter class
is private, and its public ``PrometheusMetricReader`` collects on its own whenever its
registry is read, so it would be a second reader next to the pull reader behind the JSON
body: every request duration would be aggregated twice (the SDK records into each
reader's storage), for a scrape that would still be one collect. Converting the one
collect ourselves keeps the JSON path and the record path as they are, and pins the
series names, which the Prometheus rules in ``collector-config/`` and the dashboards
depend on, to this file instead of to a beta package's version.

The rules are those of the OpenTelemetry specification's Prometheus compatibility section
(as the exporter applies them, 0.66b0):

* metric names: runs of characters outside ``[a-zA-Z0-9:]`` become ``_``, a leading
  digit becomes ``_``; the unit is appended as a suffix (``s`` -> ``_seconds``,
  ``{node}`` -> nothing, ``{failure}/min`` -> ``_per_min``) unless the name ends with it;
* a monotonic Sum is a counter (``_total``), any other Sum or a Gauge is a gauge, and a
  Histogram is a histogram (cumulative ``_bucket`` series with ``le`` bounds written as
  Python writes the float, ``+Inf``, ``_sum`` and ``_count``);
* label names: runs outside ``[a-zA-Z0-9]`` become ``_``, a leading digit becomes ``_``;
  a label only some points of a metric carry is ``""`` on the others; label values are
  strings as given, anything else JSON (``200``, ``true``).

No scope labels and no ``target_info``: see :func:`otel._render.render_prometheus`.
Exponential histograms have no classic Prometheus form; none of the hub's instruments
makes one, and one would be logged and left out.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Iterable, Iterator
from itertools import chain

from opentelemetry.sdk.metrics.export import (
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    Sum,
)
from opentelemetry.util.types import Attributes
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.metrics_core import Metric as Family

__all__ = ["families", "label_name", "metric_name", "metrics_of", "prometheus_unit"]

_logger = logging.getLogger(__name__)

_NAME_INVALID = re.compile(r"[^a-zA-Z0-9:]+")
_LABEL_INVALID = re.compile(r"[^a-zA-Z0-9]+")
# UCUM annotations ({node}, {failure}) carry no unit.
_ANNOTATION = re.compile(r"{.*}")
# UCUM and SI units in Prometheus' words (the collector's translator and the exporter's).
_UNITS = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds",
    "us": "microseconds", "ns": "nanoseconds",
    "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes",
    "TiBy": "tibibytes", "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes",
    "TBy": "terabytes",
    "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams",
    "Cel": "celsius", "Hz": "hertz", "1": "", "%": "percent",
}
# The denominator of a "per" unit, singular: m/s -> meters_per_second.
_PER_UNITS = {
    "s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month",
    "y": "year",
}
# The caches below hold pure functions of the hub's instrument names, units and attribute
# keys, a few dozen strings; the bound is there only for a caller with unbounded keys.
_CACHE_SIZE = 512


def _leading_digit(text: str) -> str:
    return "_" + text[1:] if text and text[0].isdigit() else text


@functools.lru_cache(maxsize=_CACHE_SIZE)
def metric_name(name: str) -> str:
    """An OTel instrument name as a Prometheus metric name, before any unit suffix."""
    return _NAME_INVALID.sub("_", _leading_digit(name))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def label_name(key: str) -> str:
    """An OTel attribute key as a Prometheus label name."""
    return _LABEL_INVALID.sub("_", _leading_digit(key))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def prometheus_unit(unit: str) -> str:
    """The metric name suffix of an OTel unit: ``s`` -> ``seconds``, ``{job}`` -> ``""``,
    ``{retry}/min`` -> ``per_min``, ``By/s`` -> ``bytes_per_second``."""
    unit = _ANNOTATION.sub("", unit)
    if unit in _UNITS:
        return _UNITS[unit]
    top, slash, bottom = unit.partition("/")
    bottom = _NAME_INVALID.sub("_", bottom)
    if slash and bottom:
        top = _NAME_INVALID.sub("_", top)
        top = _UNITS.get(top, top)
        bottom = _PER_UNITS.get(bottom, bottom)
        return f"{top}_per_{bottom}" if top else f"per_{bottom}"
    return _NAME_INVALID.sub("_", unit).strip("_")


def _label_value(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def families(data: MetricsData | None) -> list[Family]:
    """The prometheus_client families of one collect, in the order the collect has them.

    Metrics with the same name, help, unit and kind (one per scope) share a family.
    """
    found: dict[tuple[str, str, str, str], Family] = {}
    for metric in metrics_of(data):
        _add(found, metric)
    return list(found.values())


def metrics_of(data: MetricsData | None) -> Iterator[Metric]:
    """Every metric of one collect (none for None), resource by resource, scope by scope."""
    if data is None:
        return
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            yield from scope_metrics.metrics


_Kind = type[CounterMetricFamily] | type[GaugeMetricFamily] | type[HistogramMetricFamily]


def _kind(metric: Metric) -> _Kind | None:
    data = metric.data
    if isinstance(data, Sum):
        return CounterMetricFamily if data.is_monotonic else GaugeMetricFamily
    if isinstance(data, Gauge):
        return GaugeMetricFamily
    if isinstance(data, Histogram):
        return HistogramMetricFamily
    return None


def _add(found: dict[tuple[str, str, str, str], Family], metric: Metric) -> None:
    kind = _kind(metric)
    if kind is None:
        _logger.warning("%s: %s has no Prometheus form; left out of the scrape",
                        metric.name, type(metric.data).__name__)
        return
    name = metric_name(metric.name)
    help_text = metric.description or ""
    unit = prometheus_unit(metric.unit or "")
    points = metric.data.data_points
    keys, rows = _label_rows(point.attributes for point in points)
    family_id = (name, help_text, unit, kind.__name__)
    family = found.get(family_id)
    if family is None:
        family = found[family_id] = kind(name, help_text, labels=keys, unit=unit)
    # The family's kind follows the data's, so each point meets its own branch.
    for row, point in zip(rows, points, strict=True):
        if isinstance(family, HistogramMetricFamily) and isinstance(point, HistogramDataPoint):
            family.add_metric(row, _buckets(point), sum_value=point.sum)
        elif isinstance(family, CounterMetricFamily | GaugeMetricFamily) and isinstance(
            point, NumberDataPoint
        ):
            family.add_metric(row, point.value)


def _label_rows(attribute_sets: Iterable[Attributes]) -> tuple[list[str], list[list[str]]]:
    """The sorted label names of a metric's points, and each point's values in that order."""
    names: set[str] = set()
    labelled: list[dict[str, str]] = []
    for attributes in attribute_sets:
        labels = {label_name(key): _label_value(value)
                  for key, value in (attributes or {}).items()}
        names.update(labels)
        labelled.append(labels)
    keys = sorted(names)
    return keys, [[labels.get(key, "") for key in keys] for labels in labelled]


def _buckets(point: HistogramDataPoint) -> list[tuple[str, float]]:
    """Cumulative ``(le, count)`` pairs, ``+Inf`` last (its count is the point's count)."""
    buckets: list[tuple[str, float]] = []
    total = 0
    for bound, count in zip(chain(point.explicit_bounds, ["+Inf"]), point.bucket_counts,
                            strict=False):
        total += count
        buckets.append((f"{bound}", total))
    return buckets
