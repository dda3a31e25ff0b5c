"""A real watcher and a real Alertmanager that goes away: nothing still firing is lost.

The requirement is at operator scale: Alertmanager down for 60 s, then up, and every alert
still firing is in it again within one re-send interval (60 s by default), while the watcher
never stalls. Here it is scaled down to keep the suite fast: a re-send interval of
``RESEND_S`` and an outage of ``OUTAGE_S``, the same shape (the outage spans several
re-sends and backoffs). The Alertmanager comes back without its old state, as one restarted
without persistent storage does, so only the watcher's re-send can bring the alerts back.

The audit log is written by the test with live timestamps: two clients keep a per-client rule
firing, a third stops (it resolves during the outage), a fourth starts (it fires during the
outage), and a few hundred lines a second of other events keep the reader busy. The second
test kills the watcher (``kill -9``) as well: a new one rebuilds what is firing from
``alerts.jsonl`` and posts it to an Alertmanager that knows nothing.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.ecosystem.alertmanager import (
    Alertmanager,
    Webhook,
    firing_from_watcher,
    short_config,
    start_watcher,
    stop_process,
    watcher_status,
)
from tests.otlp_receiver import wait_for
from watcher._timefmt import format_us

pytestmark = [pytest.mark.prometheus, pytest.mark.e2e]

#: The requirement's 60 s each, scaled down; SHERATAN_AM_RESEND_S=60 SHERATAN_AM_OUTAGE_S=60
#: runs it at full scale (about 2.5 minutes).
RESEND_S = float(os.environ.get("SHERATAN_AM_RESEND_S", "2"))
OUTAGE_S = float(os.environ.get("SHERATAN_AM_OUTAGE_S", "6"))  # three re-send intervals
WINDOW_S = 3  # the watcher rule's window: a client with 4 events a second fires (> 5)
NOISE_PER_S = 400  # other events, from many clients, that no rule counts
#: Slack for polling Alertmanager's API (every 50 ms) and one POST on a loaded machine.
POLL_SLACK_S = 0.5
MAX_LAG_BYTES = 64 << 10  # a fraction of a second of this log


@dataclass
class Writer:
    """Writes live audit lines: PORT_MISMATCH bursts for the clients in ``firing``, and
    noise. Clients can be added and removed while it runs."""

    log: Path
    firing: set[str] = field(default_factory=set)
    lines: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        noise = itertools.count()
        while not self.stop.is_set():
            now_us = int(time.time() * 1_000_000)
            with self.lock:
                clients = sorted(self.firing)
            batch = [self._line(now_us, "PORT_MISMATCH", client) for client in clients]
            batch += [self._line(now_us, "LEAK_BLOCKED", f"10.1.{next(noise) % 250}.1")
                      for _ in range(NOISE_PER_S // 4)]
            with self.log.open("ab") as out:
                out.write(b"".join(batch))
            self.lines += len(batch)
            self.stop.wait(0.25)

    @staticmethod
    def _line(now_us: int, event: str, client: str) -> bytes:
        return orjson.dumps({"ts": format_us(now_us), "event": event, "plane": "data",
                             "port": 8788, "client": client, "method": "GET",
                             "path": "/nodes", "expected_port": 8787}) + b"\n"

    def set_firing(self, *clients: str) -> None:
        with self.lock:
            self.firing = set(clients)


@dataclass
class Rig:
    home: Path
    alertmanager: Alertmanager
    config: dict[str, Any]
    writer: Writer
    args: tuple[str, ...]
    log: Path
    watcher: Any = None

    def start_watcher(self) -> None:
        self.watcher = start_watcher(self.home, *self.args, log=self.log)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] + self.alertmanager.log()


@pytest.fixture
def rig(tmp_path: Path, alertmanager_bin: str) -> Iterator[Rig]:
    webhook = Webhook()
    home = tmp_path / "home"
    (home / "logs").mkdir(parents=True)
    rules = tmp_path / "rules.json"
    rules.write_text(orjson.dumps({"ignore_clients": [], "rules": [
        {"name": "port_mismatch_burst", "event": "PORT_MISMATCH", "threshold": 5,
         "window_s": WINDOW_S, "severity": "warning", "group_by": ["client"],
         "repeat_after_s": 3600}]}).decode())
    alertmanager = Alertmanager(alertmanager_bin, tmp_path)
    config = short_config(webhook.url)
    alertmanager.start(config)
    writer = Writer(home / "logs" / "hub_security_audit.jsonl")
    thread = threading.Thread(target=writer.run, daemon=True)
    args = ("--rules", str(rules), "--alertmanager", alertmanager.url,
            "--alertmanager-resend-s", str(RESEND_S), "--alertmanager-instance", "hub-test:8787")
    rig = Rig(home, alertmanager, config, writer, args, tmp_path / "watcher.out")
    try:
        writer.set_firing("10.0.0.1", "10.0.0.2", "10.0.0.3")
        thread.start()
        rig.start_watcher()
        assert wait_for(lambda: set(firing_from_watcher(alertmanager)) ==
                        {"10.0.0.1", "10.0.0.2", "10.0.0.3"}, 15), rig.output()
        yield rig
    finally:
        writer.stop.set()
        thread.join(timeout=5)
        if rig.watcher is not None:
            stop_process(rig.watcher)
        alertmanager.stop()
        webhook.close()


def _seconds_until(predicate: Any, timeout_s: float) -> float | None:
    started = time.monotonic()
    if not wait_for(predicate, timeout_s):
        return None
    return time.monotonic() - started


def test_alertmanager_down_then_up_gets_every_firing_alert_within_one_resend(rig: Rig
                                                                             ) -> None:
    rig.alertmanager.stop()
    # During the outage: 10.0.0.3 goes quiet and resolves, 10.0.0.4 starts and fires.
    rig.writer.set_firing("10.0.0.1", "10.0.0.2", "10.0.0.4")
    read_before = rig.writer.lines
    lags: list[int] = []
    deadline = time.monotonic() + OUTAGE_S
    while time.monotonic() < deadline:
        time.sleep(0.5)
        lags.append(int(watcher_status(rig.home).get("lag_bytes", -1)))
    status = watcher_status(rig.home)
    assert rig.watcher.poll() is None, rig.output()
    # Never stalled: the reader kept up with the log all along.
    assert lags and max(lags) <= MAX_LAG_BYTES and min(lags) >= 0, lags
    assert status["lines_read"] >= read_before
    delivery = status["alertmanager"]["targets"][0]
    assert delivery["failures"] >= 2 and delivery["last_error"], delivery

    rig.alertmanager.start(rig.config)  # the same port, none of its old alerts
    elapsed = _seconds_until(lambda: set(firing_from_watcher(rig.alertmanager)) ==
                             {"10.0.0.1", "10.0.0.2", "10.0.0.4"}, 3 * RESEND_S)
    assert elapsed is not None, (firing_from_watcher(rig.alertmanager), rig.output())
    print(f"outage {OUTAGE_S} s: lag_bytes {lags}, {delivery['failures']} failed posts; "
          f"all firing again {elapsed:.2f} s after Alertmanager was back")
    assert elapsed <= RESEND_S + POLL_SLACK_S
    assert wait_for(lambda: watcher_status(rig.home)["alertmanager"]["targets"][0]
                    ["last_error"] is None, 3)


def test_a_killed_watcher_and_a_fresh_alertmanager_heal_within_one_resend(rig: Rig) -> None:
    before = watcher_status(rig.home)["pid"]
    starts = {client: alert["startsAt"]
              for client, alert in firing_from_watcher(rig.alertmanager).items()}
    stop_process(rig.watcher, signal.SIGKILL)
    rig.alertmanager.stop()
    rig.alertmanager.start(rig.config)
    assert firing_from_watcher(rig.alertmanager) == {}
    rig.start_watcher()
    assert wait_for(lambda: watcher_status(rig.home).get("pid") not in (None, before), 10), \
        rig.output()
    elapsed = _seconds_until(lambda: set(firing_from_watcher(rig.alertmanager)) ==
                             {"10.0.0.1", "10.0.0.2", "10.0.0.3"}, 3 * RESEND_S)
    assert elapsed is not None, (firing_from_watcher(rig.alertmanager), rig.output())
    print(f"restarted watcher: all firing in a fresh Alertmanager after {elapsed:.2f} s")
    assert elapsed <= RESEND_S + POLL_SLACK_S
    # The same episodes (from alerts.jsonl), not new ones: each kept its first event's time.
    assert {client: alert["startsAt"]
            for client, alert in firing_from_watcher(rig.alertmanager).items()} == starts
