"""Test helpers: read a plane's Prometheus text back into samples."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from otel import HubTelemetry

Sample = tuple[str, frozenset[tuple[str, str]]]

_SCOPE_LABELS = frozenset({"otel_scope_name", "otel_scope_version", "otel_scope_schema_url"})


def samples(tel: HubTelemetry, plane: str) -> dict[Sample, float]:
    """Every sample of the plane's Prometheus text.

    Scope labels are left out, and so are empty labels (the exporter backfills a label
    that only some series carry with "").
    """
    body, _ = tel.render_prometheus(plane, openmetrics=False)
    out: dict[Sample, float] = {}
    for family in text_string_to_metric_families(body.decode("utf-8")):
        for s in family.samples:
            labels = frozenset(
                (k, v) for k, v in s.labels.items() if k not in _SCOPE_LABELS and v != ""
            )
            out[(s.name, labels)] = s.value
    return out


def value(tel: HubTelemetry, plane: str, name: str, /, **labels: str) -> float | None:
    """One sample's value, or None when the series does not exist."""
    return samples(tel, plane).get((name, frozenset(labels.items())))


def request_count(tel: HubTelemetry, plane: str) -> float:
    return sum(
        v
        for (name, _), v in samples(tel, plane).items()
        if name == "http_server_request_duration_seconds_count"
    )
