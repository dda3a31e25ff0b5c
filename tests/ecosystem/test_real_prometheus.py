"""A real Prometheus scraping a real hub under traffic, configured from collector-config/.

One hub and one Prometheus serve the whole module (both started once, on loopback and
ephemeral ports, with a 1 s scrape and evaluation interval), so the module stays well under
a minute. A warm-up request on each route comes first: HTTP histogram series only exist after
their first request, and Prometheus sees no increase in a series' first sample. The traffic
proper is sent after Prometheus' first scrape, so rates and increases see it.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import HubProcess, require_binary, start_hub
from tests.ecosystem.conftest import COLLECTOR_CONFIG
from tests.ecosystem.test_dashboard import (
    INSTANCE_DEFINITION,
    PROCESS_SERIES,
    instance_variable,
    load_dashboard,
    panel_queries,
)
from tests.otlp_receiver import free_port, wait_for

pytestmark = [pytest.mark.prometheus, pytest.mark.e2e]

# Grafana variables and the values a Prometheus API call gets instead. An unknown variable
# fails the panel test, so a new variable must be added here on purpose.
GRAFANA_VARIABLES = {"__rate_interval": "1m", "__interval": "1s", "__range": "1m",
                     "job": "sheratan-hub", "instance": ".+"}
# Panel queries that may legitimately return nothing after the traffic below, with the reason.
# None today: the 5xx ratio is written "(5xx or all * 0) / all", so it returns 0, not nothing.
ALLOWED_EMPTY: dict[str, str] = {}

AUTH_MISSING, AUTH_INVALID, MISMATCHES_DATA, MISMATCHES_CONTROL = 12, 3, 5, 2
JOBS = 6
READY_TIMEOUT_S = 20


@dataclass
class Live:
    hub: HubProcess
    api: str
    workdir: Path
    promtool: str
    traffic: dict[str, int]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Run an instant query; assert it parsed and return its vector/matrix result."""
        reply = httpx.get(f"{self.api}/api/v1/query", params={"query": expr}, timeout=10)
        body: dict[str, Any] = reply.json()
        assert reply.status_code == 200 and body["status"] == "success", (expr, body)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def scalar(self, expr: str) -> float:
        [sample] = self.query(expr)
        return float(sample["value"][1])


def prometheus_config(control: str, data: str) -> dict[str, Any]:
    """The shipped prometheus.yml with its targets moved to the test hub and a 1 s cadence."""
    config: dict[str, Any] = yaml.safe_load((COLLECTOR_CONFIG / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    [job] = config["scrape_configs"]
    planes = {"control": control, "data": data}
    for static in job["static_configs"]:
        static["targets"] = [planes.pop(static["labels"]["hub_plane"])]
    assert planes == {}, f"prometheus.yml does not scrape {sorted(planes)}"
    return config


def _host_port(url: str) -> str:
    return url.removeprefix("http://")


def _warm_up(hub: HubProcess) -> None:
    """One successful request per route the traffic uses, as a running fleet would have made."""
    with httpx.Client(headers=hub.auth, timeout=5) as client:
        assert client.post(f"{hub.control_url}/nodes/register",
                           json={"node_id": "n-online"}).status_code == 200
        assert client.get(f"{hub.control_url}/nodes").status_code == 200
        job_id = client.post(f"{hub.data_url}/jobs", json={"kind": "warm-up"}).json()["job_id"]
        claimed = client.post(f"{hub.data_url}/jobs/claim", json={"node_id": "n-online"})
        assert claimed.json()["job"]["job_id"] == job_id
        assert client.post(f"{hub.data_url}/jobs/{job_id}/complete",
                           json={"node_id": "n-online"}).status_code == 200


def _drive_traffic(hub: HubProcess) -> dict[str, int]:
    """Nodes, jobs with both kinds of retry, auth failures, 421s and a 404, over loopback."""
    with httpx.Client(headers=hub.auth, timeout=5) as client:
        assert client.post(f"{hub.control_url}/nodes/register",
                           json={"node_id": "n-dead"}).status_code == 200
        assert client.get(f"{hub.control_url}/nodes").status_code == 200
        job_ids = [client.post(f"{hub.data_url}/jobs", json={"kind": "k"}).json()["job_id"]
                   for _ in range(JOBS)]

        def claim(**extra: float) -> str:
            reply = client.post(f"{hub.data_url}/jobs/claim",
                                json={"node_id": "n-online", **extra})
            assert reply.status_code == 200, reply.text
            job_id: str = reply.json()["job"]["job_id"]
            return job_id

        done = claim()
        client.post(f"{hub.data_url}/jobs/{done}/complete", json={"node_id": "n-online"})
        failed = claim()
        requeued = client.post(f"{hub.data_url}/jobs/{failed}/fail",
                               json={"node_id": "n-online", "error": "boom"})
        assert requeued.json()["state"] == "queued"
        expiring = claim(lease_s=0.2)
        assert wait_for(lambda: client.get(f"{hub.data_url}/jobs/{expiring}")
                        .json()["state"] == "queued", 10), "the lease never expired"
        claim()  # stays inflight: the default lease is long
        assert len(job_ids) == JOBS
    with httpx.Client(timeout=5) as anonymous:
        for i in range(AUTH_MISSING):
            assert anonymous.get(f"{hub.control_url}/nodes?i={i}").status_code == 401
        for _ in range(AUTH_INVALID):
            assert anonymous.post(f"{hub.data_url}/jobs", json={"kind": "k"},
                                  headers={"Authorization": "Bearer wrong-token-0000"}
                                  ).status_code == 401
        for _ in range(MISMATCHES_DATA):
            assert anonymous.get(f"{hub.data_url}/nodes").status_code == 421
        for _ in range(MISMATCHES_CONTROL):
            assert anonymous.post(f"{hub.control_url}/jobs", json={}).status_code == 421
        assert anonymous.get(f"{hub.control_url}/no-such-route").status_code == 404
    return {"queued": JOBS - 2, "inflight": 1, "retries_failed": 1, "retries_lease": 1}


def _heartbeat(hub: HubProcess, stop: threading.Event) -> None:
    with httpx.Client(headers=hub.auth, timeout=2) as client:
        while not stop.wait(0.3):
            try:
                client.post(f"{hub.control_url}/nodes/n-online/heartbeat")
            except httpx.HTTPError:
                return  # the hub is stopping


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    promtool = require_binary("promtool")
    prometheus = require_binary("prometheus")
    workdir = tmp_path_factory.mktemp("prometheus")
    home = tmp_path_factory.mktemp("hub")
    # Short node timeouts so a silent node is dead within the test.
    hub = start_hub(home, env={"HUB_NODE_STALE_S": "1", "HUB_NODE_DEAD_S": "2"})
    stop_heartbeat = threading.Event()
    heartbeat = threading.Thread(target=_heartbeat, args=(hub, stop_heartbeat), daemon=True)
    proc: subprocess.Popen[bytes] | None = None
    log = (workdir / "prometheus.log").open("wb")
    try:
        _warm_up(hub)
        heartbeat.start()
        config = workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump(prometheus_config(_host_port(hub.control_url),
                                                           _host_port(hub.data_url))))
        shutil.copy(COLLECTOR_CONFIG / "alert_rules.yml", workdir / "alert_rules.yml")
        port = free_port()
        proc = subprocess.Popen(
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
        api = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert proc is not None and proc.poll() is None, _log(workdir)
            try:
                return httpx.get(f"{api}/-/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_for(ready, READY_TIMEOUT_S), _log(workdir)
        live = Live(hub, api, workdir, promtool, {})
        # A first scrape before the traffic, so the counters' increase is visible.
        assert wait_for(lambda: len(live.query('up{job="sheratan-hub"} == 1')) == 2,
                        READY_TIMEOUT_S), _log(workdir)
        live.traffic = _drive_traffic(hub)
        expected = AUTH_MISSING + AUTH_INVALID
        assert wait_for(lambda: live.query(f"sum(hub_auth_failures_total) == {expected}") != []
                        and live.query(f"hub_queue_depth == {live.traffic['queued']}") != [],
                        READY_TIMEOUT_S), _log(workdir)
        time.sleep(2.5)  # a few more scrapes, so 1m windows hold several samples after it
        yield live
    finally:
        stop_heartbeat.set()
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        log.close()
        if heartbeat.is_alive():
            heartbeat.join(timeout=5)
        hub.stop(signal.SIGTERM)


def _log(workdir: Path) -> str:
    path = workdir / "prometheus.log"
    return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def _substitute(expr: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in GRAFANA_VARIABLES, f"unknown Grafana variable ${name} in {expr}"
        return GRAFANA_VARIABLES[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def test_promtool_accepts_the_scrape_config_pointed_at_the_test_hub(live: Live) -> None:
    result = subprocess.run([live.promtool, "check", "config", "prometheus.yml"],
                            cwd=live.workdir, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout


def test_both_ports_pass_promtool_check_metrics_under_traffic(live: Live) -> None:
    for url in (live.hub.control_url, live.hub.data_url):
        reply = httpx.get(f"{url}/metrics", headers={"Accept": "text/plain;version=0.0.4"})
        assert reply.headers["content-type"].startswith("text/plain")
        assert "http_server_request_duration_seconds_bucket" in reply.text
        result = subprocess.run([live.promtool, "check", "metrics"], input=reply.text,
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, (url, result.stdout + result.stderr)


def test_prometheus_scrapes_both_planes_with_their_labels(live: Live) -> None:
    reply = httpx.get(f"{live.api}/api/v1/targets", params={"state": "active"}, timeout=10)
    targets = reply.json()["data"]["activeTargets"]
    by_plane = {t["labels"]["hub_plane"]: t for t in targets}
    assert set(by_plane) == {"control", "data"}
    for plane, url in (("control", live.hub.control_url), ("data", live.hub.data_url)):
        target = by_plane[plane]
        assert target["health"] == "up", target["lastError"]
        assert target["labels"]["job"] == "sheratan-hub"
        assert target["labels"]["instance"] == _host_port(url)


def test_prometheus_sees_exactly_the_traffic_the_hub_served(live: Live) -> None:
    assert live.scalar('sum(hub_auth_failures_total{reason="missing_token"})') == AUTH_MISSING
    assert live.scalar('sum(hub_auth_failures_total{reason="invalid_token", plane="data"})') \
        == AUTH_INVALID
    assert live.scalar('hub_port_mismatches_total{plane="data"}') == MISMATCHES_DATA
    assert live.scalar('hub_port_mismatches_total{plane="control"}') == MISMATCHES_CONTROL
    assert live.scalar("hub_queue_depth") == live.traffic["queued"]
    assert live.scalar("hub_jobs_inflight") == live.traffic["inflight"]
    assert live.scalar('hub_jobs_retries_total{cause="failed"}') == live.traffic["retries_failed"]
    assert live.scalar('hub_jobs_retries_total{cause="lease_expired"}') \
        == live.traffic["retries_lease"]
    assert live.scalar('hub_nodes{state="dead"}') == 1  # n-dead never sent a heartbeat
    assert live.scalar('hub_nodes{state="online"}') == 1
    # Each port reports only its own plane's instruments (CONTRACT section 3).
    assert live.query('hub_queue_depth{hub_plane="control"}') == []
    assert live.query('hub_nodes{hub_plane="data"}') == []


def test_every_dashboard_query_parses_and_returns_data_after_traffic(live: Live) -> None:
    queries = panel_queries(load_dashboard())
    assert len(queries) >= 10
    empty = []
    for title, ref_id, expr in queries:
        result = live.query(_substitute(expr))  # asserts status success, i.e. it parsed
        if not result and title not in ALLOWED_EMPTY:
            empty.append(f"{title} [{ref_id}]: {expr}")
    assert empty == []


def test_the_rate_panels_show_the_traffic_not_only_zeros(live: Live) -> None:
    auth = live.query(_substitute(
        "sum by (plane, reason) (rate(hub_auth_failures_total[$__rate_interval])) * 60"))
    assert max(float(s["value"][1]) for s in auth) > 0
    requests = live.query(_substitute(
        "sum by (http_route, server_port) "
        "(rate(http_server_request_duration_seconds_count[$__rate_interval]))"))
    routes = {s["metric"]["http_route"] for s in requests if float(s["value"][1]) > 0}
    assert {"/nodes", "/jobs", "/jobs/claim", "/nodes/register"} <= routes


def test_the_dashboard_job_variable_resolves_to_the_scrape_job(live: Live) -> None:
    [variable] = [v for v in load_dashboard()["templating"]["list"] if v["name"] == "job"]
    match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", variable["definition"])
    assert match is not None, variable["definition"]
    metric, label = match.groups()
    reply = httpx.get(f"{live.api}/api/v1/label/{label}/values", params={"match[]": metric})
    assert GRAFANA_VARIABLES["job"] in reply.json()["data"]


def test_prometheus_loads_every_alert_rule_and_evaluates_it_healthily(live: Live) -> None:
    shipped = {rule["alert"]
               for group in yaml.safe_load((COLLECTOR_CONFIG / "alert_rules.yml").read_text())
               ["groups"] for rule in group["rules"]}

    def rules() -> list[dict[str, Any]]:
        reply = httpx.get(f"{live.api}/api/v1/rules", params={"type": "alert"}, timeout=10)
        return [rule for group in reply.json()["data"]["groups"] for rule in group["rules"]]

    assert wait_for(lambda: all(r["health"] == "ok" for r in rules()), 10), rules()
    loaded = rules()
    assert {rule["name"] for rule in loaded} == shipped
    assert [r["lastError"] for r in loaded if r.get("lastError")] == []


def test_the_traffic_bursts_activate_the_watcher_equivalent_alerts(live: Live) -> None:
    # 15 auth failures and 7 port mismatches within a second: above both watcher thresholds;
    # n-dead never sent a heartbeat; workers claimed jobs; nothing answered 5xx.
    def active() -> set[str]:
        reply = httpx.get(f"{live.api}/api/v1/alerts", timeout=10)
        return {alert["labels"]["alertname"] for alert in reply.json()["data"]["alerts"]
                if alert["state"] in ("pending", "firing")}

    expected = {"HubAuthFailureBurst", "HubPortMismatchBurst", "HubNodeDead"}
    assert wait_for(lambda: expected <= active(), 10), active()
    assert {"HubTargetDown", "HubServerErrors", "HubQueueStalled"}.isdisjoint(active())


def test_the_dashboard_instance_variable_lists_both_ports_of_the_hub(live: Live) -> None:
    match = INSTANCE_DEFINITION.fullmatch(instance_variable(load_dashboard())["definition"])
    assert match is not None
    reply = httpx.get(f"{live.api}/api/v1/label/instance/values",
                      params={"match[]": _substitute(match.group(1))}, timeout=10)
    assert set(reply.json()["data"]) == {_host_port(live.hub.control_url),
                                         _host_port(live.hub.data_url)}


def test_prometheus_scrapes_the_process_metrics_of_the_hub_on_both_ports(live: Live) -> None:
    ports = {_host_port(live.hub.control_url), _host_port(live.hub.data_url)}
    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total",
                 "process_start_time_seconds", "process_open_fds", "process_max_fds",
                 "python_info"):
        series = live.query(f'{name}{{job="sheratan-hub"}}')
        assert {s["metric"]["instance"] for s in series} == ports, name
    rss = live.query('process_resident_memory_bytes{job="sheratan-hub"}')
    assert all(float(s["value"][1]) > 10e6 for s in rss)  # a Python hub holds > 10 MB
    starts = {float(s["value"][1])
              for s in live.query('process_start_time_seconds{job="sheratan-hub"}')}
    assert len(starts) == 1  # both ports are the one hub process
    [start_s] = starts
    uptime_s = live.scalar('max(time() - process_start_time_seconds{job="sheratan-hub"})')
    assert 0 < uptime_s < 600 and start_s > 1.7e9
    assert live.query('process_open_fds{job="sheratan-hub"} > 5')  # sockets, the db, logs
    assert live.query('rate(process_cpu_seconds_total{job="sheratan-hub"}[1m]) >= 0')
    generations = {s["metric"]["generation"]
                   for s in live.query('python_gc_collections_total{job="sheratan-hub"}')}
    assert generations == {"0", "1", "2"}
    # The JSON /metrics keeps its contract keys; the process series live in the text only.
    body = httpx.get(f"{live.hub.control_url}/metrics", timeout=5).json()
    assert not [key for key in body if key.startswith(("process", "python"))]


def test_the_process_panels_narrow_to_the_chosen_instance(live: Live) -> None:
    panels = load_dashboard()["panels"]
    [row] = [p for p in panels if p["type"] == "row" and p["title"] == "Process"]
    exprs = [t["expr"] for p in panels if p["gridPos"]["y"] > row["gridPos"]["y"]
             for t in p["targets"]]
    assert any(series in expr for expr in exprs for series in PROCESS_SERIES)
    chosen = _host_port(live.hub.data_url)
    for expr in exprs:
        result = live.query(_substitute(expr.replace("$instance", chosen)))
        assert result, expr
        assert {s["metric"]["instance"] for s in result} == {chosen}, expr
