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


PROCESS_SERIES = ("process_resident_memory_bytes", "process_cpu_seconds_total",
                  "process_open_fds", "process_start_time_seconds",
                  "python_gc_collections_total")
INSTANCE_DEFINITION = re.compile(r"label_values\((\{.*\}|\w+(?:\{.*\})?),\s*instance\)")


def instance_variable(dashboard: dict[str, Any]) -> dict[str, Any]:
    variables: list[dict[str, Any]] = dashboard["templating"]["list"]
    [variable] = [v for v in variables if v["name"] == "instance"]
    return variable


def test_the_instance_variable_lists_hub_ports_and_allows_all() -> None:
    variable = instance_variable(load_dashboard())
    assert variable["type"] == "query"
    assert variable["datasource"] == DATASOURCE
    assert variable["multi"] and variable["includeAll"] and variable["allValue"] == ".+"
    match = INSTANCE_DEFINITION.fullmatch(variable["definition"])
    assert match is not None, variable["definition"]
    assert "hub_" in match.group(1) and '$job' in match.group(1)  # a hub metric of the jobs
    assert variable["query"]["query"] == variable["definition"]


def test_every_query_filters_on_job_and_instance() -> None:
    for title, ref_id, expr in panel_queries(load_dashboard()):
        selectors = re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\{([^}]*)\}", expr)
        assert selectors, (title, ref_id)
        for selector in selectors:
            assert 'job=~"$job"' in selector, (title, ref_id, expr)
            assert 'instance=~"$instance"' in selector, (title, ref_id, expr)


def test_a_process_row_shows_rss_cpu_fds_uptime_and_gc() -> None:
    panels = load_dashboard()["panels"]
    [row] = [p for p in panels if p["type"] == "row" and p["title"] == "Process"]
    below = [p for p in panels if p["gridPos"]["y"] > row["gridPos"]["y"]]
    exprs = " ".join(t["expr"] for p in below for t in p["targets"])
    for series in PROCESS_SERIES:
        assert re.search(rf"\b{series}\b", exprs), series
    assert "rate(process_cpu_seconds_total" in exprs
    assert "time() - process_start_time_seconds" in exprs
    # Per process: a panel that summed the instances would add up unrelated hubs.
    for panel in below:
        for target in panel["targets"]:
            assert "instance" in target["legendFormat"], panel["title"]
