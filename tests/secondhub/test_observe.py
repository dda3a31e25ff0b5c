"""What the gateway's few lines give the second hub today: ``GET /metrics`` on both
processes, with no token, and HTTP metrics by route template and port, while the hub's
own guards answer as before."""

from __future__ import annotations

import re

import pytest

from .conftest import MakeDriver, MakeHub

pytestmark = pytest.mark.e2e

CONTROL_KEYS = {"plane", "generated_at", "nodes_online", "nodes_stale", "nodes_dead",
                "auth_fail_rate_1m", "port_mismatch_rate_1m"}
DATA_KEYS = {"plane", "generated_at", "queue_depth", "inflight_jobs", "retry_rate_1m"}
_DURATION = re.compile(r"^http_server_request_duration_seconds_count\{(?P<labels>.*)\} "
                       r"(?P<value>\S+)$", re.MULTILINE)


def _routes(text: str) -> dict[tuple[str, str, str, str], float]:
    """(method, route, status, port) -> requests, from Prometheus text."""
    found = {}
    for match in _DURATION.finditer(text):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group("labels")))
        key = (labels["http_request_method"], labels["http_route"],
               labels["http_response_status_code"], labels["server_port"])
        found[key] = float(match.group("value"))
    return found


def test_metrics_on_both_processes_with_the_layer(make_hub: MakeHub,
                                                  make_driver: MakeDriver) -> None:
    hub = make_hub(observe=True).start()
    drive = make_driver(hub)
    drive.register("n1")
    drive.heartbeat("n1")
    job = drive.submit()
    drive.claim("n1", 30)
    drive.complete(job)
    drive.no_token("control")  # the gate still answers, audits, and knows nothing of /metrics

    control, _ = drive.metrics("control")
    data, _ = drive.metrics("data")
    assert (control.status_code, data.status_code) == (200, 200)
    assert control.headers["content-type"] == "application/json"
    assert set(control.json()) == CONTROL_KEYS and control.json()["plane"] == "control"
    assert set(data.json()) == DATA_KEYS and data.json()["plane"] == "data"

    ports = {plane: str(port) for plane, port in hub.ports.items()}
    text = drive.metrics("control", format="prometheus")[0].text
    assert "# TYPE hub_auth_failures_total counter" in text
    assert _routes(text) == {("POST", "/nodes/register", "200", ports["control"]): 1,
                             ("POST", "/nodes/{node_id}/heartbeat", "200", ports["control"]): 1,
                             # the gate answers before routing: no template to record
                             ("GET", "__unmatched__", "401", ports["control"]): 1}
    text = drive.metrics("data", format="prometheus")[0].text
    assert "# TYPE hub_jobs_retries_total counter" in text and "hub_auth" not in text
    assert _routes(text) == {("POST", "/jobs", "201", ports["data"]): 1,
                             ("POST", "/jobs/claim", "200", ports["data"]): 1,
                             ("POST", "/jobs/{job_id}/complete", "200", ports["data"]): 1}


def test_without_the_switch_there_is_no_metrics_route(make_hub: MakeHub,
                                                      make_driver: MakeDriver) -> None:
    hub = make_hub().start()
    drive = make_driver(hub)
    for plane in ("control", "data"):
        response, _ = drive.metrics(plane)
        assert (response.status_code, response.json()) == (404, {"error": "not_found"})
    assert not hub.audit.exists()
