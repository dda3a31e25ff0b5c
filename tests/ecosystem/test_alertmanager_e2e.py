"""Alerts that reach a person: a real hub, watcher, Prometheus and Alertmanager, and a webhook.

A burst of bad tokens against the hub is seen twice: by the watcher, in the audit log, and by
Prometheus, in the hub's counters. Both post to one Alertmanager, configured from the shipped
``collector-config/alertmanager.yml`` (its grouping, routes and inhibitions as shipped, only
the timings short and the receiver the test's webhook). The test's own short settings keep
the module well under a minute: Prometheus scrapes and evaluates every second with the
shipped security rules over a 5 s window and no ``for``; the watcher's auth rule uses a 3 s
window (its per-client mismatch rule 10 s) and it re-sends every 2 s; Alertmanager waits 1 s
to group.

The watcher's ``instance`` is the hub's control-plane address as Prometheus scrapes it, so
the shipped inhibition (``equal: [instance]``) pairs the two views of one hub.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from tests.conftest import HubProcess, require_binary, start_hub
from tests.ecosystem.alertmanager import (
    Alertmanager,
    Webhook,
    short_config,
    start_watcher,
    stop_process,
    watcher_rules,
)
from tests.ecosystem.conftest import COLLECTOR_CONFIG
from tests.ecosystem.test_real_prometheus import prometheus_config
from tests.otlp_receiver import free_port, wait_for

pytestmark = [pytest.mark.prometheus, pytest.mark.e2e]

BURST = 15  # bad tokens: above both the watcher's and Prometheus' threshold of 10
MISMATCHES = 8  # 421s: above both thresholds of 5
WATCHER_WINDOW_S = 3
#: Longer for the per-client rule, so that it still fires when Prometheus' hub-wide one
#: starts to (a scrape and an evaluation later) and the inhibition can be seen.
MISMATCH_WINDOW_S = 10
RULE_WINDOW = "5s"
RESEND_S = 2.0
TIMEOUT_S = 20.0


@dataclass
class Stack:
    hub: HubProcess
    alertmanager: Alertmanager
    webhook: Webhook
    prometheus_api: str
    amtool: str
    workdir: Path
    watcher: subprocess.Popen[bytes]

    @property
    def instance(self) -> str:
        return self.hub.control_url.removeprefix("http://")

    def amtool_run(self, *args: str) -> str:
        result = subprocess.run([self.amtool, f"--alertmanager.url={self.alertmanager.url}",
                                 *args], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def bad_tokens(self, count: int = BURST) -> None:
        with httpx.Client(timeout=5) as client:
            for _ in range(count):
                assert client.get(f"{self.hub.control_url}/nodes",
                                  headers={"Authorization": "Bearer wrong-token-0000"}
                                  ).status_code == 401

    def mismatches(self, count: int = MISMATCHES) -> None:
        with httpx.Client(timeout=5) as client:
            for _ in range(count):
                assert client.get(f"{self.hub.data_url}/nodes").status_code == 421

    def query(self, expr: str) -> list[dict[str, Any]]:
        reply = httpx.get(f"{self.prometheus_api}/api/v1/query", params={"query": expr},
                          timeout=5)
        result: list[dict[str, Any]] = reply.json()["data"]["result"]
        return result

    def output(self) -> str:
        logs = [self.workdir / name for name in ("watcher.out", "prometheus.log")]
        return "\n".join(p.read_text(errors="replace")[-2000:] for p in logs if p.exists()) + \
            self.alertmanager.log()


def _security_rules() -> dict[str, Any]:
    """The shipped security rules over a short window, firing at once."""
    shipped = yaml.safe_load((COLLECTOR_CONFIG / "alert_rules.yml").read_text())
    [group] = [g for g in shipped["groups"] if g["name"] == "sheratan-hub-security"]
    for rule in group["rules"]:
        assert "[1m]" in rule["expr"]
        rule["expr"] = rule["expr"].replace("[1m]", f"[{RULE_WINDOW}]")
        rule["for"] = "0s"
    return {"groups": [group]}


def _start_prometheus(binary: str, workdir: Path, hub: HubProcess, alertmanager: Alertmanager
                      ) -> tuple[subprocess.Popen[bytes], str]:
    config = prometheus_config(hub.control_url.removeprefix("http://"),
                               hub.data_url.removeprefix("http://"))
    [manager] = config["alerting"]["alertmanagers"]
    manager["static_configs"] = [{"targets": [alertmanager.url.removeprefix("http://")]}]
    config["rule_files"] = ["rules.yml"]
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    (workdir / "rules.yml").write_text(yaml.safe_dump(_security_rules()))
    port = free_port()
    with (workdir / "prometheus.log").open("wb") as log:
        proc = subprocess.Popen(
            [binary, f"--config.file={workdir / 'prometheus.yml'}",
             f"--storage.tsdb.path={workdir / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
            cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, amtool: str, alertmanager_bin: str
          ) -> Iterator[Stack]:
    prometheus_bin = require_binary("prometheus")
    workdir = tmp_path_factory.mktemp("alerting")
    webhook = Webhook()
    alertmanager = Alertmanager(alertmanager_bin, workdir)
    hub = start_hub(tmp_path_factory.mktemp("hub"))
    prometheus: subprocess.Popen[bytes] | None = None
    watcher: subprocess.Popen[bytes] | None = None
    try:
        alertmanager.start(short_config(webhook.url))
        prometheus, api = _start_prometheus(prometheus_bin, workdir, hub, alertmanager)
        rules = workdir / "watcher_rules.json"
        rules.write_bytes(orjson.dumps(watcher_rules(WATCHER_WINDOW_S, MISMATCH_WINDOW_S)))
        watcher = start_watcher(
            hub.home, "--rules", str(rules), "--alertmanager-resend-s", str(RESEND_S),
            log=workdir / "watcher.out",
            env={"HUB_TOKEN": hub.token, "HUB_ALERTMANAGER_URL": alertmanager.url,
                 "HUB_ALERTMANAGER_INSTANCE": hub.control_url.removeprefix("http://")})
        stack = Stack(hub, alertmanager, webhook, api, amtool, workdir, watcher)
        # One failure of each kind first: Prometheus sees no increase in a series' first
        # sample, and the counters' series only exist after their first event.
        stack.bad_tokens(1)
        stack.mismatches(1)

        def scraped() -> bool:
            try:
                return bool(stack.query("hub_auth_failures_total")) and \
                    bool(stack.query("hub_port_mismatches_total"))
            except httpx.HTTPError:
                return False

        assert wait_for(scraped, TIMEOUT_S), stack.output()
        yield stack
    finally:
        if watcher is not None:
            stop_process(watcher)
        if prometheus is not None:
            stop_process(prometheus)
        alertmanager.stop()
        hub.stop(signal.SIGTERM)
        webhook.close()


def test_a_burst_reaches_the_webhook_from_both_the_watcher_and_prometheus_and_resolves(
        stack: Stack) -> None:
    start = time.monotonic()
    stack.bad_tokens()
    stack.mismatches()

    def firing(name: str) -> bool:
        return bool(stack.webhook.find(name, "firing", start))

    assert wait_for(lambda: firing("auth_failure_burst") and firing("HubAuthFailureBurst"),
                    TIMEOUT_S), ([n.body for n in stack.webhook.since(start)], stack.output())
    # Grouped as configured: one notification per alert name and hub.
    for name in ("auth_failure_burst", "HubAuthFailureBurst"):
        for notification in stack.webhook.find(name, "firing", start):
            assert notification.group_labels == {"alertname": name, "instance": stack.instance}
            assert notification.alertnames() == {name}
    [watcher_alert] = stack.webhook.find("auth_failure_burst", "firing", start)[0].body["alerts"]
    assert watcher_alert["labels"] == {"alertname": "auth_failure_burst", "severity": "warning",
                                       "event": "AUTH_FAILURE", "source": "sheratan-watcher",
                                       "instance": stack.instance}
    assert "threshold 10" in watcher_alert["annotations"]["description"]
    assert stack.hub.token not in str(stack.webhook.since(start))

    # The watcher's per-client port_mismatch_burst duplicates Prometheus' hub-wide
    # HubPortMismatchBurst on the same instance: while both fire, it is inhibited.
    def inhibited() -> bool:
        return any(alert["status"]["inhibitedBy"] for alert in stack.alertmanager.alerts(
            filter='alertname="port_mismatch_burst"'))

    assert wait_for(inhibited, TIMEOUT_S), (stack.alertmanager.alerts(), stack.output())
    # amtool sees both views of the burst.
    listed = stack.amtool_run("alert", "query", "-o", "simple")
    assert "auth_failure_burst" in listed and "HubAuthFailureBurst" in listed

    # The burst is over: both resolve, and the webhook is told.
    assert wait_for(lambda: bool(stack.webhook.find("auth_failure_burst", "resolved", start))
                    and bool(stack.webhook.find("HubAuthFailureBurst", "resolved", start)),
                    TIMEOUT_S), ([n.body for n in stack.webhook.since(start)], stack.output())
    [resolved] = stack.webhook.find("auth_failure_burst", "resolved", start)[-1].body["alerts"]
    assert resolved["startsAt"] == watcher_alert["startsAt"]
    assert resolved["endsAt"] > resolved["startsAt"]


def test_an_amtool_silence_stops_the_notifications_of_its_alert(stack: Stack) -> None:
    silence = stack.amtool_run("silence", "add", "alertname=auth_failure_burst",
                               "source=sheratan-watcher", "--duration=10m",
                               "--author=e2e", "--comment=silenced by the test").strip()
    assert silence in stack.amtool_run("silence", "query", "-q")
    start = time.monotonic()
    stack.bad_tokens()

    def silenced() -> bool:
        return any(silence in alert["status"]["silencedBy"] for alert in
                   stack.alertmanager.alerts(filter='alertname="auth_failure_burst"'))

    # The watcher's alert reached Alertmanager, silenced; Prometheus' one still notifies.
    assert wait_for(silenced, TIMEOUT_S), (stack.alertmanager.alerts(), stack.output())
    assert wait_for(lambda: bool(stack.webhook.find("HubAuthFailureBurst", "firing", start)),
                    TIMEOUT_S), stack.output()
    time.sleep(2 * RESEND_S)  # re-sends and several group intervals: still nothing
    assert stack.webhook.find("auth_failure_burst", "firing", start) == []
    assert stack.webhook.find("auth_failure_burst", "resolved", start) == []
