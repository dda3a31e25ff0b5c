"""grafana/hub-overview.json: importable, with a Prometheus datasource variable everywhere."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from tests.ecosystem.conftest import COLLECTOR_CONFIG

DASHBOARD = COLLECTOR_CONFIG / "grafana" / "hub-overview.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def load_dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def iter_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in panels:
        yield panel
        yield from iter_panels(panel.get("panels", []))


def panel_queries(dashboard: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(panel title, refId, expr) for every query of every panel."""
    return [(panel["title"], target["refId"], target["expr"])
            for panel in iter_panels(dashboard["panels"])
            for target in panel.get("targets", [])]


def test_the_dashboard_has_a_prometheus_datasource_variable() -> None:
    variables = {v["name"]: v for v in load_dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"


def test_every_panel_and_query_uses_the_datasource_variable() -> None:
    dashboard = load_dashboard()
    for panel in iter_panels(dashboard["panels"]):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
    assert "${DS_" not in DASHBOARD.read_text()  # no export-time input left unresolved


def test_panel_ids_are_unique_and_the_dashboard_is_importable() -> None:
    dashboard = load_dashboard()
    ids = [panel["id"] for panel in iter_panels(dashboard["panels"])]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    assert dashboard.get("id") is None  # an exported id would clash on import


def test_the_dashboard_covers_every_contracted_series() -> None:
    exprs = " ".join(expr for _, _, expr in panel_queries(load_dashboard()))
    for series in ("hub_nodes", "hub_auth_failures_total", "hub_port_mismatches_total",
                   "hub_queue_depth", "hub_jobs_inflight", "hub_jobs_retries_total",
                   "http_server_request_duration_seconds_count",
                   "http_server_request_duration_seconds_bucket"):
        assert re.search(rf"\b{series}\b", exprs), series
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}," in exprs
