from __future__ import annotations

import pytest

from hub_middleware import MetricsFormat, negotiate

PROMETHEUS_SCRAPER = ("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
                      "application/openmetrics-text;version=0.0.1;q=0.5,"
                      "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"
                      "text/plain;version=0.0.4;q=0.3,*/*;q=0.2")


@pytest.mark.parametrize(("accept", "expected"), [
    (None, MetricsFormat.JSON),
    ("", MetricsFormat.JSON),
    ("*/*", MetricsFormat.JSON),
    ("application/json", MetricsFormat.JSON),
    ("text/html, image/png", MetricsFormat.JSON),
    ("text/plain", MetricsFormat.PROMETHEUS),
    ("text/plain;version=0.0.4", MetricsFormat.PROMETHEUS),
    ("application/json;q=0.5, text/plain;q=0.9", MetricsFormat.PROMETHEUS),
    ("text/plain;q=0.5, application/json", MetricsFormat.JSON),
    ("application/json, text/plain", MetricsFormat.JSON),
    ("text/plain;q=bogus, application/json;q=0.1", MetricsFormat.JSON),
    # The contract: an Accept preferring OpenMetrics gets Prometheus text (promtool-checkable).
    (PROMETHEUS_SCRAPER, MetricsFormat.PROMETHEUS),
    ("application/openmetrics-text", MetricsFormat.PROMETHEUS),
    ("text/plain;version=0.0.4;q=1,*/*;q=0.1", MetricsFormat.PROMETHEUS),
])
def test_accept_header_picks_the_preferred_format(accept: str | None,
                                                 expected: MetricsFormat) -> None:
    assert negotiate(accept, None) is expected


@pytest.mark.parametrize(("query", "expected"), [
    ("json", MetricsFormat.JSON),
    ("prometheus", MetricsFormat.PROMETHEUS),
    ("OpenMetrics", MetricsFormat.OPENMETRICS),
    ("xml", None),
    ("", None),
])
def test_format_query_overrides_accept(query: str, expected: MetricsFormat | None) -> None:
    assert negotiate("text/plain", query) is expected
