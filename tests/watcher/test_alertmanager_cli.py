"""``python -m watcher`` with Alertmanager: --once, --replay, the options' errors, the status."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.otlp_receiver import Receiver, number_points
from tests.watcher.conftest import CliRunner, Home, audit, burst, read_alerts, write_lines
from tests.watcher.fake_alertmanager import FakeAlertmanager


@pytest.fixture
def fake() -> Iterator[FakeAlertmanager]:
    am = FakeAlertmanager()
    yield am
    am.stop()


def test_once_posts_the_alert_and_counts_the_delivery_in_the_status(
        home: Home, run_cli: CliRunner, fake: FakeAlertmanager) -> None:
    write_lines(home.log, burst(0, 7, event="PORT_MISMATCH", step_s=0.1))
    result = run_cli("--once", "--alertmanager", fake.url,
                     "--alertmanager-instance", "hub-a:8787")
    assert result.code == 0, result.err
    [alert] = fake.alerts()  # close() made the post before --once exited
    assert alert["labels"]["instance"] == "hub-a:8787"
    assert alert["labels"]["client"] == "10.0.0.7"
    status = json.loads((home.state / "watcher_status.json").read_text())
    [target] = status["alertmanager"]["targets"]
    assert target["url"] == fake.url and target["sent"] == 1 and target["failures"] == 0
    assert status["alertmanager"]["firing"] == 1


def test_the_url_may_come_from_the_environment(home: Home, run_cli: CliRunner,
                                               fake: FakeAlertmanager) -> None:
    write_lines(home.log, burst(0, 11, step_s=0.1))
    result = run_cli("--once", env={**home.env, "HUB_ALERTMANAGER_URL": f"{fake.url}/"})
    assert result.code == 0, result.err
    assert [a["labels"]["alertname"] for a in fake.alerts()] == ["auth_failure_burst"]
    assert fake.alerts()[0]["labels"]["instance"] == "127.0.0.1:8787"


def test_a_replay_sends_nothing_unless_its_command_line_asks(
        home: Home, run_cli: CliRunner, fake: FakeAlertmanager) -> None:
    log = home.root / "old.jsonl"
    write_lines(log, [*burst(0, 11, step_s=0.1), audit(500, "LEAK_BLOCKED")])
    out = home.root / "replayed.jsonl"
    env = {**home.env, "HUB_ALERTMANAGER_URL": fake.url}
    assert run_cli("--replay", str(log), "--alerts", str(out), env=env).code == 0
    assert fake.alerts() == []
    result = run_cli("--replay", str(log), "--alerts", str(out), "--alertmanager", fake.url,
                     env=env)
    assert result.code == 0, result.err
    assert "posted 2 alerts" in result.out
    firing, resolved = fake.alerts()
    written = read_alerts(out)
    assert firing["startsAt"] == written[0]["first_seen"]  # the events' times, not now
    assert resolved["endsAt"] == written[1]["ts"]


def test_a_replay_to_an_unreachable_alertmanager_fails(home: Home, run_cli: CliRunner,
                                                       fake: FakeAlertmanager) -> None:
    log = home.root / "old.jsonl"
    write_lines(log, burst(0, 11, step_s=0.1))
    fake.status = 503
    result = run_cli("--replay", str(log), "--alerts", str(home.root / "out.jsonl"),
                     "--alertmanager", fake.url)
    assert result.code == 1
    assert "HTTP 503" in result.err


@pytest.mark.parametrize(("argv", "message"), [
    (("--alertmanager", "ftp://am:21"), "--alertmanager: must be an http"),
    (("--alertmanager", "notaurl"), "with a host, got 'notaurl'"),  # as typed, not '://notaurl'
    (("--alertmanager", "http://am:9093", "--alertmanager-resend-s", "-1"),
     "--alertmanager-resend-s must be between"),
])
def test_bad_alertmanager_options_are_usage_errors(run_cli: CliRunner, argv: tuple[str, ...],
                                                   message: str) -> None:
    result = run_cli("--once", *argv)
    assert result.code == 2
    assert message in result.err


def test_a_bad_url_in_the_environment_names_the_variable(home: Home,
                                                         run_cli: CliRunner) -> None:
    result = run_cli("--once", env={**home.env, "HUB_ALERTMANAGER_URL": "am:9093"})
    assert result.code == 2
    assert "HUB_ALERTMANAGER_URL" in result.err


@pytest.mark.parametrize(("variable", "value", "instance"), [
    ("HUB_CONTROL_PORT", "3_0", "127.0.0.1:8787"),
    ("HUB_CONTROL_PORT", "70000", "127.0.0.1:8787"),
    ("HUB_HOST", "hub host", "127.0.0.1:8787"),
])
def test_a_hub_address_the_hub_would_refuse_is_not_the_alerts_instance(
        home: Home, run_cli: CliRunner, fake: FakeAlertmanager, variable: str, value: str,
        instance: str) -> None:
    write_lines(home.log, burst(0, 11, step_s=0.1))
    result = run_cli("--once", "--alertmanager", fake.url, env={**home.env, variable: value})
    assert result.code == 0, result.err
    [alert] = fake.alerts()
    assert alert["labels"]["instance"] == instance
    [warning] = [line for line in result.err.splitlines() if "warning" in line]
    assert variable in warning and repr(value) in warning
    assert f"instance uses {'8787' if variable.endswith('PORT') else '127.0.0.1'}" in warning


def test_once_exports_the_delivery_counters_as_otlp_metrics(
        home: Home, run_cli: CliRunner, fake: FakeAlertmanager, receiver: Receiver) -> None:
    fake.status = 503  # every post fails: counted, and the metric says so
    write_lines(home.log, burst(0, 7, event="PORT_MISMATCH", step_s=0.1))
    env = {**home.env, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}
    result = run_cli("--once", "--alertmanager", fake.url, env=env)
    assert result.code == 0, result.err
    points = receiver.metric_points()
    resource, failures = points["sheratan.watcher/sheratan.watcher.alertmanager.post_failures"]
    assert resource["service.name"] == "sheratan-watcher"
    [point] = number_points(failures)
    assert point.as_int >= 1
    assert {kv.key: kv.value.string_value for kv in point.attributes} == \
        {"alertmanager": fake.url}
    assert "sheratan.watcher/sheratan.watcher.alertmanager.alerts_sent" in points
