"""Alerts resolve (and repeat) on time on a live log: the wall clock drives them between
lines, across a restart in a quiet period, with no other line ever arriving; a log of old
events stays purely event-time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from tests.otlp_receiver import Receiver, wait_for
from tests.watcher.conftest import (
    T0_S,
    CliRunner,
    Home,
    audit,
    burst,
    read_alerts,
    ts,
    write_lines,
)
from watcher import OTelAlertSink, RuleSet, Watcher, WatchPaths, default_rules, parse_rules
from watcher._cli import DEFAULT_INTERVAL_MS
from watcher._runner import IDLE_GRACE_S
from watcher._timefmt import format_us

REPO = Path(__file__).resolve().parents[2]
POLL_S = DEFAULT_INTERVAL_MS / 1000


class FakeWall:
    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


def _single_event_rule(window_s: float = 60, **extra: object) -> RuleSet:
    """Fires on one event and resolves exactly ``window_s`` after it: the latest a resolve
    can be due after the last event."""
    return parse_rules({"ignore_clients": [], "rules": [
        {"name": "any_leak", "event": "LEAK_BLOCKED", "threshold": 0, "window_s": window_s,
         "severity": "critical", **extra}]})


def _provider() -> tuple[LoggerProvider, InMemoryLogRecordExporter]:
    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # SDK: unannotated
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    return provider, exporter


def _written_at(path: Path, offset_s: float) -> None:
    """The hub appended the log's last line at T0 + ``offset_s``, as it happened."""
    os.utime(path, (T0_S + offset_s, T0_S + offset_s))


def _states(home: Home) -> list[object]:
    return [a["state"] for a in read_alerts(home.alerts)]


def _poll_until_resolved(watcher: Watcher, wall: FakeWall, home: Home, until_s: float) -> float:
    """Polls as follow mode does, one poll interval apart, with no new line; returns the wall
    time (offset from T0) at which the resolve was in alerts.jsonl."""
    while wall.now_s < T0_S + until_s:
        assert watcher.poll() == 0
        watcher.idle()
        if "resolved" in _states(home):
            return wall.now_s - T0_S
        wall.now_s += POLL_S
    raise AssertionError(f"not resolved by T0 + {until_s} s: {_states(home)}")


@pytest.mark.parametrize("restarted", [True, False], ids=["restarted", "running"])
def test_a_firing_alert_resolves_within_its_window_and_a_poll_with_no_other_line(
    home: Home, restarted: bool
) -> None:
    wall = FakeWall(T0_S + 10.1)  # the hub writes the one line at T0 + 10, as it happens
    write_lines(home.log, [audit(10, "LEAK_BLOCKED")])
    _written_at(home.log, 10)
    paths = WatchPaths(log=home.log, alerts=home.alerts, state_dir=home.state)
    provider, exporter = _provider()
    watcher = Watcher(_single_event_rule(), paths, wall_clock=wall,
                      sinks=[OTelAlertSink(provider)])
    watcher.poll()
    watcher.idle()
    assert _states(home) == ["firing"]
    wall.now_s = T0_S + 40  # a quiet period
    if restarted:  # killed in it (nothing saved at exit), then started again
        watcher = Watcher(_single_event_rule(), paths, wall_clock=wall,
                          sinks=[OTelAlertSink(provider)])
    at_s = _poll_until_resolved(watcher, wall, home, until_s=80)
    assert at_s <= 10 + 60 + IDLE_GRACE_S + POLL_S
    firing, resolved = read_alerts(home.alerts)
    assert resolved["ts"] == ts(70)  # stamped when it was due, not when it was noticed
    assert resolved["alert_id"] == firing["alert_id"]
    records = [d.log_record for d in exporter.get_finished_logs()]
    assert [r.severity_number for r in records] == [SeverityNumber.WARN, SeverityNumber.INFO]
    assert records[1].attributes is not None
    assert records[1].attributes["alert.state"] == "resolved"
    assert records[1].attributes["alert.id"] == firing["alert_id"]


def test_a_burst_resolves_when_its_count_drops_after_a_restart(home: Home) -> None:
    wall = FakeWall(T0_S + 10.5)
    write_lines(home.log, burst(0, 11))
    _written_at(home.log, 10)
    paths = WatchPaths(log=home.log, alerts=home.alerts, state_dir=home.state)
    first = Watcher(default_rules(), paths, wall_clock=wall)
    first.poll()
    first.idle()
    first.close()  # a clean stop this time, in the middle of the burst's minute
    wall.now_s = T0_S + 30
    second = Watcher(default_rules(), paths, wall_clock=wall)
    at_s = _poll_until_resolved(second, wall, home, until_s=80)
    assert 60 + IDLE_GRACE_S <= at_s <= 60 + IDLE_GRACE_S + POLL_S
    assert [(a["state"], a["ts"]) for a in read_alerts(home.alerts)] == [
        ("firing", ts(10)), ("resolved", ts(60))]


def test_repeats_come_on_the_wall_clock_too(home: Home) -> None:
    wall = FakeWall(T0_S + 10.1)
    write_lines(home.log, [audit(10, "LEAK_BLOCKED")])
    _written_at(home.log, 10)
    rules = _single_event_rule(window_s=600, repeat_after_s=60)
    watcher = Watcher(rules, WatchPaths(log=home.log, alerts=home.alerts, state_dir=home.state),
                      wall_clock=wall)
    watcher.poll()
    watcher.idle()
    wall.now_s = T0_S + 70 + IDLE_GRACE_S + POLL_S  # the next poll after it was due
    watcher.idle()
    alerts = read_alerts(home.alerts)
    assert [(a["state"], a["ts"]) for a in alerts] == [("firing", ts(10)), ("firing", ts(70))]
    assert alerts[0]["alert_id"] == alerts[1]["alert_id"]


def test_old_events_written_now_stay_event_time_and_later_ones_still_count(home: Home) -> None:
    wall = FakeWall(T0_S + 86_400)  # a day later, and the file was written just now
    write_lines(home.log, burst(0, 11))
    _written_at(home.log, 86_400)
    watcher = Watcher(default_rules(), WatchPaths(log=home.log, alerts=home.alerts,
                                                  state_dir=home.state), wall_clock=wall)
    watcher.poll()
    watcher.idle()
    assert _states(home) == ["firing"]
    write_lines(home.log, burst(30, 11))  # still inside the first burst's minute
    watcher.poll()
    watcher.idle()
    watcher.close()
    assert _states(home) == ["firing"]  # one long episode, nothing late, nothing resolved
    assert watcher.counters.late_events == 0


def _now_line(at_s: float) -> bytes:
    return orjson.dumps({"ts": format_us(round(at_s * 1_000_000)), "event": "LEAK_BLOCKED",
                         "plane": "data", "port": 8788, "client": "10.0.0.7",
                         "method": "GET", "path": "/jobs"})


def test_once_resolves_against_the_wall_clock_at_its_end(run_cli: CliRunner,
                                                        home: Home) -> None:
    rules = home.root / "rules.json"
    rules.write_text('{"ignore_clients": [], "rules": [{"name": "any_leak", "event": '
                     '"LEAK_BLOCKED", "threshold": 0, "window_s": 30, "severity": "critical"}]}')
    last_s = time.time() - 40  # the hub wrote it 40 s ago, and nothing since
    write_lines(home.log, [_now_line(last_s)])
    os.utime(home.log, (last_s, last_s))
    assert run_cli("--once", "--rules", str(rules)).code == 0
    assert _states(home) == ["firing", "resolved"]
    assert run_cli("--once", "--rules", str(rules)).code == 0
    assert _states(home) == ["firing", "resolved"]  # nothing twice


@pytest.mark.e2e
def test_a_watcher_restarted_in_a_quiet_period_resolves_on_time_in_file_and_otlp(
    home: Home, receiver: Receiver
) -> None:
    window_s = 3
    rules = home.root / "rules.json"
    rules.write_text(orjson.dumps({"ignore_clients": [], "rules": [
        {"name": "any_leak", "event": "LEAK_BLOCKED", "threshold": 0, "window_s": window_s,
         "severity": "critical"}]}).decode())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "OTEL_"))}
    env.update(home.env, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
               OTEL_BLRP_SCHEDULE_DELAY="50")
    argv = [sys.executable, "-m", "watcher", "--rules", str(rules)]
    status = home.state / "watcher_status.json"

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        wait_for(lambda: status.exists()
                 and orjson.loads(status.read_bytes()).get("pid") == proc.pid, 20)
        return proc

    def resolved_records() -> list[str]:
        with receiver.lock:
            return [a.value.string_value for request in receiver.logs
                    for rl in request.resource_logs for sl in rl.scope_logs
                    for r in sl.log_records for a in r.attributes
                    if a.key == "alert.state" and a.value.string_value == "resolved"]

    home.log.touch()
    first = start()
    try:
        last_s = time.time()
        write_lines(home.log, [_now_line(last_s)])  # the hub's one line, then silence
        assert wait_for(lambda: _states(home) == ["firing"], 10)
        first.kill()  # nothing saved at exit
        first.wait(timeout=10)
        second = start()
        try:
            assert time.time() < last_s + window_s, "restarted too slowly to tell"
            assert wait_for(lambda: "resolved" in _states(home), 15)
            seen_s = time.time()
            assert wait_for(lambda: bool(resolved_records()), 10)  # exported by the second
        finally:
            second.kill()
            second.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(timeout=10)
    # Allowance for this test's own 20 ms polling of the file.
    assert seen_s - last_s <= window_s + IDLE_GRACE_S + POLL_S + 0.1
    firing, resolved = read_alerts(home.alerts)
    assert (resolved["state"], resolved["alert_id"]) == ("resolved", firing["alert_id"])
