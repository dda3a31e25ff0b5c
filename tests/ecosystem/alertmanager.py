"""Helpers for tests with a real Alertmanager: the process, a webhook receiver, a test config.

The test config is the shipped ``collector-config/alertmanager.yml`` with its receiver pointed
at the test's webhook and its timings made short (the grouping, routes and inhibitions stay
as shipped, so the tests exercise them).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.conftest import REPO
from tests.ecosystem.conftest import COLLECTOR_CONFIG
from tests.otlp_receiver import free_port, wait_for

READY_TIMEOUT_S = 20


@dataclass
class Notification:
    """One webhook call from Alertmanager (the v4 webhook payload), and when it came."""

    at: float
    body: dict[str, Any]

    @property
    def status(self) -> str:
        return str(self.body["status"])

    @property
    def group_labels(self) -> dict[str, str]:
        return dict(self.body["groupLabels"])

    def alertnames(self) -> set[str]:
        return {alert["labels"]["alertname"] for alert in self.body["alerts"]}

    def states(self) -> dict[str, set[str]]:
        """alertname -> the statuses of its alerts in this notification."""
        out: dict[str, set[str]] = {}
        for alert in self.body["alerts"]:
            out.setdefault(alert["labels"]["alertname"], set()).add(alert["status"])
        return out


class Webhook:
    """A webhook receiver on 127.0.0.1:0 that keeps every notification."""

    def __init__(self) -> None:
        self.notifications: list[Notification] = []
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with hook.lock:
                    hook.notifications.append(Notification(time.monotonic(), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sheratan-alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def since(self, start: float = 0.0) -> list[Notification]:
        with self.lock:
            return [n for n in self.notifications if n.at >= start]

    def find(self, alertname: str, status: str, start: float = 0.0) -> list[Notification]:
        """Notifications holding ``alertname`` with an alert of ``status``."""
        return [n for n in self.since(start) if status in n.states().get(alertname, set())]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def short_config(webhook_url: str, *, resolve_timeout: str = "30s") -> dict[str, Any]:
    """The shipped alertmanager.yml, sent to ``webhook_url`` on a 1 s cadence."""
    config: dict[str, Any] = yaml.safe_load((COLLECTOR_CONFIG / "alertmanager.yml").read_text())
    config["global"]["resolve_timeout"] = resolve_timeout
    route = config["route"]
    route.update(group_wait="1s", group_interval="1s", repeat_interval="1h")
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook_url
    return config


@dataclass
class Alertmanager:
    """A real ``prometheus-alertmanager`` on a loopback port, without clustering."""

    binary: str
    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, config: dict[str, Any]) -> None:
        """Starts with ``config`` and fresh storage (a restart loses every alert, as a
        restarted Alertmanager without persistent storage does); waits until ready."""
        self.starts += 1
        path = self.workdir / "alertmanager.yml"
        path.write_text(yaml.safe_dump(config))
        log = (self.workdir / "alertmanager.log").open("ab")
        self.proc = subprocess.Popen(
            [self.binary, f"--config.file={path}",
             f"--storage.path={self.workdir / f'data{self.starts}'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
             "--log.level=warn"],
            cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT)
        log.close()

        def ready() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log()
            try:
                return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_for(ready, READY_TIMEOUT_S), self.log()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts`` (active, silenced and inhibited alike)."""
        reply = httpx.get(f"{self.url}/api/v2/alerts", params=filters, timeout=5)
        reply.raise_for_status()
        alerts: list[dict[str, Any]] = reply.json()
        return alerts

    def log(self) -> str:
        path = self.workdir / "alertmanager.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def watcher_rules(auth_window_s: int, mismatch_window_s: int) -> dict[str, Any]:
    """The watcher's default rules with short windows and no ignored clients (the tests'
    traffic comes from 127.0.0.1), never repeating within a test."""
    return {"ignore_clients": [], "rules": [
        {"name": "auth_failure_burst", "event": "AUTH_FAILURE", "threshold": 10,
         "window_s": auth_window_s, "severity": "warning", "repeat_after_s": 3600},
        {"name": "port_mismatch_burst", "event": "PORT_MISMATCH", "threshold": 5,
         "window_s": mismatch_window_s, "severity": "warning", "group_by": ["client"],
         "repeat_after_s": 3600}]}


def start_watcher(home: Path, *args: str, env: dict[str, str] | None = None,
                  log: Path) -> subprocess.Popen[bytes]:
    """``python -m watcher`` in follow mode on ``home``, its output in ``log``."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "OTEL_"))}
    full_env.update({"SHERATAN_HOME": str(home), "PYTHONUNBUFFERED": "1", **(env or {})})
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "watcher", "--interval-ms", "50", *args],
                                cwd=REPO, env=full_env, stdout=out, stderr=subprocess.STDOUT)


def watcher_status(home: Path) -> dict[str, Any]:
    """The watcher's status file, or {} while there is none (it is replaced atomically)."""
    path = home / "state" / "watcher_status.json"
    try:
        status: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return status


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=10)


def firing_from_watcher(alertmanager: Alertmanager) -> dict[str, dict[str, Any]]:
    """The watcher's alerts Alertmanager holds as firing, by their ``client`` label (or
    alertname when they have none)."""
    return {alert["labels"].get("client", alert["labels"]["alertname"]): alert
            for alert in alertmanager.alerts(filter='source="sheratan-watcher"')}
