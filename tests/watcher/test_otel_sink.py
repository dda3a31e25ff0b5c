"""Alerts as OTel log records: in-process with the SDK, and over OTLP to a real receiver."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from tests.otlp_receiver import Receiver, wait_for
from tests.watcher.conftest import Home, audit, burst, read_alerts, write_lines
from watcher import OTelAlertSink, Watcher, WatchPaths, default_rules, parse_rules

REPO = Path(__file__).resolve().parents[2]
PLANTED = "planted-secret-token-0123456789"


def _planted_burst(start_s: float, count: int) -> list[bytes]:
    return [audit(start_s + i, client="10.0.0.7", token=PLANTED,
                  authorization=f"Bearer {PLANTED}", path=f"/nodes?token={PLANTED}")
            for i in range(count)]


def test_alerts_become_warn_and_info_log_records_with_alert_attributes(home: Home) -> None:
    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # SDK: unannotated
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    write_lines(home.log, [*_planted_burst(0, 11), audit(200, "LEAK_BLOCKED")])
    paths = WatchPaths(log=home.log, alerts=home.alerts, state_dir=home.state)
    watcher = Watcher(default_rules(), paths, sinks=[OTelAlertSink(provider)])
    watcher.poll()
    watcher.close()
    provider.shutdown()
    records = [data.log_record for data in exporter.get_finished_logs()]
    assert [r.severity_number for r in records] == [SeverityNumber.WARN, SeverityNumber.INFO]
    firing, resolved = records
    alerts = read_alerts(home.alerts)
    assert firing.attributes is not None
    assert dict(firing.attributes) == {
        "alert.id": alerts[0]["alert_id"], "alert.rule": "auth_failure_burst",
        "alert.event": "AUTH_FAILURE", "alert.state": "firing", "alert.severity": "warning",
        "alert.count": 11, "alert.threshold": 10, "alert.window_s": 60.0,
        "alert.first_seen": alerts[0]["first_seen"], "alert.last_seen": alerts[0]["last_seen"],
    }
    assert resolved.attributes is not None
    assert resolved.attributes["alert.state"] == "resolved"
    assert isinstance(firing.body, str)
    assert "auth_failure_burst" in firing.body
    everything = repr([(r.body, dict(r.attributes or {})) for r in records])
    assert PLANTED not in everything
    assert PLANTED not in home.alerts.read_text()


def test_group_values_are_alert_group_attributes(home: Home) -> None:
    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # SDK: unannotated
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    write_lines(home.log, burst(0, 6, event="PORT_MISMATCH", client="10.0.0.8"))
    paths = WatchPaths(log=home.log, alerts=home.alerts, state_dir=home.state)
    watcher = Watcher(default_rules(), paths, sinks=[OTelAlertSink(provider)])
    watcher.poll()
    watcher.close()
    (record,) = [data.log_record for data in exporter.get_finished_logs()]
    assert record.attributes is not None
    assert record.attributes["alert.group.client"] == "10.0.0.8"


_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvcHMifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
_BASIC = "dXNlcjpodW50ZXIyMg=="  # user:hunter22


@pytest.mark.parametrize(("field", "value", "secret"), [
    ("path", f"/verify/{_JWT}", _JWT.rsplit(".", 1)[1]),
    ("reason", f"Basic {_BASIC}", _BASIC),
    ("path", "https://u:hunter22@x/", "hunter22"),
    ("reason", "cookie a9f3c2e17b4d5e6f", "a9f3c2e17b4d5e6f"),
    # The 128-character cap falls just after the password: the check must see the whole value.
    ("path", "/" + "a" * 109 + "https://u:hunter22@x/", "hunter22"),
], ids=["jwt", "basic_auth", "url_password", "cookie", "url_password_cut_by_the_cap"])
def test_credentials_in_group_values_reach_neither_alerts_jsonl_nor_otel(
    home: Home, field: str, value: str, secret: str
) -> None:
    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # SDK: unannotated
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    rules = parse_rules({"ignore_clients": [], "rules": [
        {"name": "by_field", "event": "AUTH_FAILURE", "threshold": 2, "window_s": 60,
         "severity": "warning", "group_by": [field]}]})
    write_lines(home.log, [audit(i, **{field: value}) for i in range(3)])
    paths = WatchPaths(log=home.log, alerts=home.alerts, state_dir=home.state)
    watcher = Watcher(rules, paths, sinks=[OTelAlertSink(provider)])
    watcher.poll()
    watcher.close()
    provider.shutdown()
    (alert,) = read_alerts(home.alerts)
    assert alert["group"] == {field: "[redacted]"}
    assert secret not in home.alerts.read_text()
    (record,) = [data.log_record for data in exporter.get_finished_logs()]
    assert record.attributes is not None
    assert record.attributes[f"alert.group.{field}"] == "[redacted]"
    assert secret not in repr((record.body, dict(record.attributes)))


def _value(any_value: AnyValue) -> object:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def test_a_simulated_burst_reaches_a_real_otlp_receiver(home: Home, receiver: Receiver) -> None:
    write_lines(home.log, _planted_burst(0, 11))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "OTEL_"))}
    env.update(home.env, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url)
    done = subprocess.run([sys.executable, "-m", "watcher", "--once"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert wait_for(lambda: bool(receiver.logs))
    records: list[tuple[dict[str, object], str, LogRecord]] = []
    for request in receiver.logs:
        for resource_logs in request.resource_logs:
            resource = {kv.key: _value(kv.value) for kv in resource_logs.resource.attributes}
            for scope_logs in resource_logs.scope_logs:
                records.extend((resource, scope_logs.scope.name, r) for r in scope_logs.log_records)
    assert len(records) == 1
    resource, scope, record = records[0]
    assert resource["service.name"] == "sheratan-watcher"
    assert scope == "sheratan.watcher"
    assert record.severity_number == SeverityNumber.WARN.value
    attributes = {kv.key: _value(kv.value) for kv in record.attributes}
    assert attributes["alert.rule"] == "auth_failure_burst"
    assert attributes["alert.state"] == "firing"
    assert attributes["alert.count"] == 11
    assert attributes["alert.id"] == read_alerts(home.alerts)[0]["alert_id"]
    assert all(PLANTED.encode() not in r.SerializeToString() for r in receiver.logs)



@pytest.mark.parametrize(("extra", "expected"), [
    ({}, "sheratan-watcher"),
    ({"OTEL_SERVICE_NAME": "edge-watch"}, "edge-watch"),
    ({"OTEL_RESOURCE_ATTRIBUTES": "env=prod,service.name=edge-watch"}, "edge-watch"),
    ({"OTEL_RESOURCE_ATTRIBUTES": "service.name="}, "sheratan-watcher"),
    ({"OTEL_RESOURCE_ATTRIBUTES": "my.service.name=x"}, "sheratan-watcher"),
], ids=["default", "service_name", "resource_attribute", "empty_attribute", "other_key"])
def test_the_service_name_is_the_watchers_unless_the_user_names_one(
    extra: dict[str, str], expected: str
) -> None:
    from watcher._otel import build_watcher_telemetry

    wiring = build_watcher_telemetry(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", **extra})
    assert wiring is not None and wiring.provider is not None
    try:
        assert wiring.provider.resource.attributes["service.name"] == expected
    finally:
        wiring.shutdown()
