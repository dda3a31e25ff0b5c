"""Alertmanager delivery in-process: the API payload, the sender's queue, backoff, re-send and
restart, the replay post, and the option parsing; against a stand-in Alertmanager."""

from __future__ import annotations

import argparse
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.otlp_receiver import wait_for
from tests.tcp import tcp_endpoint, trickle
from tests.watcher.conftest import Home, audit, burst, read_alerts, write_lines
from tests.watcher.fake_alertmanager import FakeAlertmanager
from watcher import Alert, AlertState, Watcher, WatchPaths, default_rules
from watcher._alert import GroupValue
from watcher._alertmanager import CLOSE_TIMEOUT_S, DEFAULT_MAX_EPISODES, AlertmanagerSink
from watcher._am_alerts import SOURCE, AlertLabeler, label_guard, label_name, parse_alert_line
from watcher._am_config import (
    AlertmanagerConfig,
    AlertmanagerConfigError,
    add_alertmanager_arguments,
    alertmanager_config,
    default_instance,
)
from watcher._am_replay import AlertmanagerUnavailable, post_alerts_file
from watcher._timefmt import format_us

INSTANCE = "127.0.0.1:8787"
NOW_US = int(time.time() * 1_000_000)


def _alert(alert_id: str = "a1", state: AlertState = AlertState.FIRING, *, ts_us: int = NOW_US,
           rule: str = "port_mismatch_burst", group: tuple[tuple[str, GroupValue], ...] = (
               ("client", "10.0.0.7"),)) -> Alert:
    return Alert(ts_us=ts_us, alert_id=alert_id, rule=rule, event="PORT_MISMATCH", state=state,
                 severity="warning", count=7, threshold=5, window_us=60_000_000,
                 group=group,
                 first_seen_us=ts_us - 3_000_000, last_seen_us=ts_us)


def _labeler() -> AlertLabeler:
    return AlertLabeler(INSTANCE, lambda value: value)


@pytest.fixture
def fake() -> Iterator[FakeAlertmanager]:
    am = FakeAlertmanager()
    yield am
    am.stop()


def _sink(fake: FakeAlertmanager, *, resend_s: float = 60.0, alerts_path: Path | None = None,
          max_episodes: int = DEFAULT_MAX_EPISODES) -> AlertmanagerSink:
    config = AlertmanagerConfig((fake.url,), INSTANCE, resend_s)
    return AlertmanagerSink(config, _labeler(), alerts_path=alerts_path,
                            max_episodes=max_episodes)


def _target(sink: AlertmanagerSink) -> dict[str, object]:
    """The delivery counters of the sink's one Alertmanager."""
    targets = sink.status()["targets"]
    assert isinstance(targets, list) and len(targets) == 1
    target: dict[str, object] = targets[0]
    return target


# --- the payload ---------------------------------------------------------------------------


def test_labels_are_the_allow_list_and_the_group_fields() -> None:
    alert = _alert(group=(("client", "10.0.0.7"), ("port", 8788), ("path", None)))
    body = _labeler().to_api(alert)
    assert body["labels"] == {"alertname": "port_mismatch_burst", "severity": "warning",
                              "event": "PORT_MISMATCH", "source": SOURCE,
                              "instance": INSTANCE, "client": "10.0.0.7", "port": "8788"}
    annotations = body["annotations"]
    assert isinstance(annotations, dict)
    assert set(annotations) == {"summary", "description", "alert_id", "count", "threshold",
                                "window_s"}
    assert "7 PORT_MISMATCH events in the last 60 s from client=10.0.0.7" in \
        annotations["description"]
    assert "threshold 5" in annotations["description"]


def test_label_values_are_valid_utf8_without_controls() -> None:
    alert = _alert(group=(("client", "evil\x1b[2J\n\u202e\ud800"),))
    labels = _labeler().labels(alert)
    labels["client"].encode("utf-8")  # no lone surrogate left
    assert labels["client"] == "evil\\x1b[2J\\x0a\\u202e\\ud800"


def test_group_fields_become_valid_label_names() -> None:
    assert label_name("expected_port") == "expected_port"
    assert label_name("x-y.z") == "x_y_z"
    assert label_name("1st") == "_1st"


def test_starts_at_is_the_first_event_and_ends_at_only_once_resolved() -> None:
    firing = _labeler().to_api(_alert())
    assert firing["startsAt"] == format_us(NOW_US - 3_000_000)
    assert "endsAt" not in firing  # Alertmanager's resolve_timeout, renewed by each re-send
    resolved = _labeler().to_api(_alert(state=AlertState.RESOLVED, ts_us=NOW_US + 5_000_000))
    assert resolved["endsAt"] == format_us(NOW_US + 5_000_000)


def test_rule_values_and_the_instance_go_through_the_known_secrets_guard(tmp_path: Path
                                                                         ) -> None:
    token = "Zq7rT2mW9xK4pL8vN3sB6yH1"
    guard = label_guard({"HUB_TOKEN": token}, home=tmp_path)
    labeler = AlertLabeler(f"hub-{token}:8787", guard)
    body = labeler.to_api(_alert(rule=token))
    assert token not in str(body)
    labels = body["labels"]
    assert isinstance(labels, dict)
    assert labels["alertname"] == "[redacted]"
    assert labels["instance"] == "[redacted]"
    # Judged as values, not by name: a rule about tokens keeps its name.
    assert labeler.labels(_alert(rule="invalid_token_burst"))["alertname"] == \
        "invalid_token_burst"


def test_an_alerts_file_line_parses_back_into_the_alert() -> None:
    alert = _alert(group=(("client", "10.0.0.7"), ("port", 8788), ("path", None)))
    assert parse_alert_line(alert.to_line().rstrip(b"\n")) == alert
    assert parse_alert_line(b'{"ts": "garbage"}') is None
    assert parse_alert_line(b"\xff not json") is None


# --- the sender ----------------------------------------------------------------------------


def test_a_watcher_run_posts_the_firing_and_then_the_resolved_alert(home: Home,
                                                                    fake: FakeAlertmanager
                                                                    ) -> None:
    sink = _sink(fake)
    paths = WatchPaths(log=home.log, alerts=home.alerts, state_dir=home.state)
    watcher = Watcher(default_rules(), paths, sinks=[sink], idle_advance=False)
    write_lines(home.log, burst(0, 7, event="PORT_MISMATCH", step_s=0.1))
    watcher.poll()
    assert wait_for(lambda: len(fake.latest()) == 1, 5)
    [firing] = fake.latest().values()
    assert "endsAt" not in firing and firing["labels"]["client"] == "10.0.0.7"
    write_lines(home.log, [audit(500, "PORT_MISMATCH", client="10.9.9.9")])
    watcher.poll()
    watcher.close()
    [resolved] = fake.latest().values()  # close() made the last post
    [written] = [a for a in read_alerts(home.alerts) if a["state"] == "resolved"]
    assert resolved["endsAt"].startswith(str(written["ts"])[:23])
    assert resolved["startsAt"] == firing["startsAt"]


def test_emit_never_waits_for_a_slow_alertmanager(fake: FakeAlertmanager) -> None:
    fake.delay_s = 30.0
    sink = _sink(fake)
    started = time.perf_counter()
    for i in range(2000):
        sink.emit([_alert(f"id{i}")])
    assert time.perf_counter() - started < 0.5
    closing = time.perf_counter()
    sink.close()  # the post hangs: close gives up after its bound
    assert time.perf_counter() - closing < CLOSE_TIMEOUT_S + 1.0
    sink.close()  # twice is fine


def test_a_down_alertmanager_is_counted_and_gets_the_whole_book_when_back(
        fake: FakeAlertmanager) -> None:
    sink = _sink(fake, resend_s=1.0)
    fake.stop()
    sink.emit([_alert("still-firing"), _alert("gone")])
    sink.emit([_alert("gone", AlertState.RESOLVED, ts_us=NOW_US + 1)])

    def failures() -> int:
        count = _target(sink)["failures"]
        assert isinstance(count, int)
        return count

    assert wait_for(lambda: failures() >= 2, 5)
    assert _target(sink)["last_error"] and _target(sink)["pending"] == 2
    fake.start()
    back = time.monotonic()
    assert wait_for(lambda: set(fake.latest()) == {"still-firing", "gone"}, 3)
    assert time.monotonic() - back <= 0.5 + 0.3  # backoff is capped at half the re-send interval
    latest = fake.latest()
    assert "endsAt" not in latest["still-firing"] and "endsAt" in latest["gone"]
    # Both states of "gone" were queued while down: only the newest was posted.
    assert [a["annotations"]["alert_id"] for a in fake.alerts()].count("gone") == 1
    assert _target(sink)["last_error"] is None and _target(sink)["pending"] == 0
    sink.close()


@pytest.fixture
def trickling() -> Iterator[str]:
    """An Alertmanager that answers a post one byte every 0.2 s, for ever."""
    with tcp_endpoint(trickle) as url:
        yield url


def test_a_post_answered_a_byte_at_a_time_fails_at_its_deadline_and_is_retried(
        trickling: str) -> None:
    config = AlertmanagerConfig((trickling,), INSTANCE, 60.0)
    sink = AlertmanagerSink(config, _labeler(), timeout_s=1.0)
    sink.emit([_alert("f")])
    started = time.monotonic()
    assert wait_for(lambda: _target(sink)["failures"] == 1, 10)
    took_s = time.monotonic() - started
    assert _target(sink)["last_error"] == "no complete answer within 1.0 s"
    assert _target(sink)["pending"] == 1  # kept for the retry
    assert 0.9 < took_s < 3.0
    closing = time.monotonic()
    sink.close()
    assert time.monotonic() - closing < CLOSE_TIMEOUT_S + 1.0


def test_firing_alerts_are_sent_again_every_interval(fake: FakeAlertmanager) -> None:
    sink = _sink(fake, resend_s=0.3)
    sink.emit([_alert("f"), _alert("r", AlertState.RESOLVED)])
    time.sleep(1.6)
    sink.close()
    ids = [alert["annotations"]["alert_id"] for alert in fake.alerts()]
    assert ids.count("f") >= 4  # once at once, then every 0.3 s
    # A resolved alert is re-sent too (for a while), so an Alertmanager that missed it learns.
    assert ids.count("r") >= 4


def test_a_rejected_post_is_counted_and_not_retried(fake: FakeAlertmanager) -> None:
    fake.status = 400
    sink = _sink(fake)
    sink.emit([_alert()])
    assert wait_for(lambda: _target(sink)["rejected"] == 1, 3)
    time.sleep(0.5)
    status = _target(sink)
    assert status["rejected"] == 1 and status["failures"] == 0 and status["pending"] == 0
    sink.close()


def test_the_book_is_bounded_and_drops_resolved_episodes_first(fake: FakeAlertmanager) -> None:
    fake.stop()
    sink = _sink(fake, max_episodes=10)
    sink.emit([_alert("firing")])
    sink.emit([_alert(f"r{i}", AlertState.RESOLVED) for i in range(12)])
    status = sink.status()
    assert status["dropped"] == 3 and status["firing"] == 1
    sink.close()


def test_a_restarted_sink_rebuilds_what_is_firing_from_alerts_jsonl(home: Home,
                                                                    fake: FakeAlertmanager
                                                                    ) -> None:
    old = NOW_US - 3600 * 1_000_000
    lines = [_alert("long-firing", ts_us=old), _alert("long-firing", ts_us=NOW_US - 10),
             _alert("old", ts_us=old), _alert("old", AlertState.RESOLVED, ts_us=old + 5),
             _alert("recent", ts_us=NOW_US - 60), _alert("recent", AlertState.RESOLVED)]
    home.alerts.write_bytes(b"".join(alert.to_line() for alert in lines) + b"garbage\n")
    sink = _sink(fake, alerts_path=home.alerts)
    assert wait_for(lambda: set(fake.latest()) == {"long-firing", "recent"}, 3)
    assert "endsAt" not in fake.latest()["long-firing"]
    assert "endsAt" in fake.latest()["recent"]
    sink.close()


def test_a_restarted_watcher_sends_the_still_firing_alert_at_once(home: Home,
                                                                  fake: FakeAlertmanager
                                                                  ) -> None:
    paths = WatchPaths(log=home.log, alerts=home.alerts, state_dir=home.state)
    write_lines(home.log, burst(0, 7, event="PORT_MISMATCH", step_s=0.1))
    first = Watcher(default_rules(), paths, sinks=[], idle_advance=False)  # no Alertmanager
    first.poll()
    first.close()
    assert [a["state"] for a in read_alerts(home.alerts)] == ["firing"]
    sink = _sink(fake, alerts_path=home.alerts)
    second = Watcher(default_rules(), paths, sinks=[sink], idle_advance=False)
    second.poll()  # nothing new: the alert is only in alerts.jsonl
    assert wait_for(lambda: len(fake.latest()) == 1, 3)
    second.close()


# --- --replay ------------------------------------------------------------------------------


def test_a_replay_output_is_posted_in_order_with_the_events_times(tmp_path: Path,
                                                                  fake: FakeAlertmanager
                                                                  ) -> None:
    out = tmp_path / "alerts.jsonl"
    alerts = [_alert("e1", ts_us=1_000_000_000), _alert("e1", AlertState.RESOLVED,
                                                        ts_us=1_000_060_000_000)]
    out.write_bytes(b"".join(alert.to_line() for alert in alerts))
    config = AlertmanagerConfig((fake.url,), INSTANCE)
    assert post_alerts_file(config, _labeler(), out) == 2
    posted = fake.alerts()
    assert [("endsAt" in a) for a in posted] == [False, True]
    assert posted[0]["startsAt"] == format_us(1_000_000_000 - 3_000_000)
    assert posted[1]["endsAt"] == format_us(1_000_060_000_000)


def test_a_replay_post_to_a_down_alertmanager_fails_after_its_attempts(tmp_path: Path,
                                                                       fake: FakeAlertmanager
                                                                       ) -> None:
    out = tmp_path / "alerts.jsonl"
    out.write_bytes(_alert().to_line())
    fake.status = 503
    config = AlertmanagerConfig((f"http://user:pw@127.0.0.1:{fake.port}",), INSTANCE)
    with pytest.raises(AlertmanagerUnavailable, match="HTTP 503") as caught:
        post_alerts_file(config, _labeler(), out, attempts=2, sleep=lambda _: None)
    assert "pw" not in str(caught.value)


# --- options -------------------------------------------------------------------------------


def _parse(*argv: str, env: dict[str, str] | None = None, replay: bool = False
           ) -> AlertmanagerConfig | None:
    parser = argparse.ArgumentParser()
    add_alertmanager_arguments(parser)
    return alertmanager_config(parser.parse_args(list(argv)), env or {}, replay=replay)


def test_urls_come_from_the_repeatable_option_else_the_comma_separated_variable() -> None:
    env = {"HUB_ALERTMANAGER_URL": " http://a:9093/ , https://b:9443/am ,"}
    from_env = _parse(env=env)
    assert from_env is not None and from_env.urls == ("http://a:9093", "https://b:9443/am")
    from_option = _parse("--alertmanager", "http://c:9093", "--alertmanager",
                         "http://c:9093", "--alertmanager", "http://d:9093", env=env)
    assert from_option is not None and from_option.urls == ("http://c:9093", "http://d:9093")
    assert _parse() is None
    assert from_option.resend_interval_s == 60.0


def test_a_replay_sends_only_when_its_own_command_line_asks() -> None:
    env = {"HUB_ALERTMANAGER_URL": "http://a:9093"}
    assert _parse(env=env, replay=True) is None
    asked = _parse("--alertmanager", "http://a:9093", env=env, replay=True)
    assert asked is not None and asked.urls == ("http://a:9093",)


@pytest.mark.parametrize("url", ["ftp://a:21", "a:9093", "http://", "http://a:99999",
                                 "http://a:9093/?x=1"])
def test_a_bad_url_is_a_usage_error_naming_its_source(url: str) -> None:
    with pytest.raises(AlertmanagerConfigError, match="HUB_ALERTMANAGER_URL"):
        _parse(env={"HUB_ALERTMANAGER_URL": url})


def test_a_bad_url_is_shown_without_its_password() -> None:
    with pytest.raises(AlertmanagerConfigError, match="--alertmanager") as caught:
        _parse("--alertmanager", "gopher://admin:hunter2@am:9093")
    assert "hunter2" not in str(caught.value)


def test_the_config_never_shows_a_password_of_a_url() -> None:
    config = AlertmanagerConfig(("http://ops:hunter2@am:9093/am",), INSTANCE)
    assert "hunter2" not in repr(config)
    assert config.display_urls == ("http://am:9093/am",)


def test_the_resend_interval_is_bounded() -> None:
    with pytest.raises(AlertmanagerConfigError, match="--alertmanager-resend-s"):
        _parse("--alertmanager", "http://a:9093", "--alertmanager-resend-s", "0")


def test_the_instance_is_the_option_else_the_variable_else_the_control_plane() -> None:
    url = ("--alertmanager", "http://a:9093")
    env = {"HUB_ALERTMANAGER_INSTANCE": "hub-a:8787", "HUB_CONTROL_PORT": "9000"}
    given = _parse(*url, "--alertmanager-instance", "x:1", env=env)
    assert given is not None and given.instance == "x:1"
    from_env = _parse(*url, env=env)
    assert from_env is not None and from_env.instance == "hub-a:8787"
    assert default_instance({}) == "127.0.0.1:8787"
    assert default_instance({"HUB_HOST": "::1", "HUB_CONTROL_PORT": "9000"}) == "[::1]:9000"
    assert default_instance({"HUB_HOST": "0.0.0.0"}) == f"{socket.gethostname()}:8787"


@pytest.mark.parametrize(("env", "instance", "named"), [
    ({"HUB_CONTROL_PORT": "3_0"}, "127.0.0.1:8787", "HUB_CONTROL_PORT='3_0'"),
    ({"HUB_CONTROL_PORT": "0"}, "127.0.0.1:8787", "HUB_CONTROL_PORT='0'"),
    ({"HUB_CONTROL_PORT": "٩٠"}, "127.0.0.1:8787", "HUB_CONTROL_PORT"),
    ({"HUB_HOST": "[::]", "HUB_CONTROL_PORT": " 9000 "}, "127.0.0.1:9000", "HUB_HOST"),
])
def test_a_value_the_hub_would_refuse_gives_the_default_and_a_warning(
        env: dict[str, str], instance: str, named: str) -> None:
    warn: list[str] = []
    assert default_instance(env, warn) == instance
    [warning] = warn
    assert named in warning and "instance uses" in warning


def test_values_the_hub_accepts_give_no_warning() -> None:
    warn: list[str] = []
    assert default_instance({"HUB_HOST": "hub-a.example", "HUB_CONTROL_PORT": "+9000"},
                            warn) == "hub-a.example:9000"
    assert default_instance({"HUB_HOST": "::"}, warn) == f"{socket.gethostname()}:8787"
    assert warn == []
