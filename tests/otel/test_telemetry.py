"""HubTelemetry: taps, JSON snapshots, windows, disabled mode and shutdown."""

from __future__ import annotations

import logging
import threading

import pytest

from otel import (
    HubTelemetry,
    Redactor,
    TelemetryConfig,
    TelemetryUnavailableError,
    json_keys,
)
from otel._events import EventCounters
from otel._instruments import AUTH_FAILURES, HTTP_DURATION, Plane, memoized_labels
from otel._pipeline import cardinality_views

from .conftest import FakeClock
from .helpers import Sample, request_count, samples, value

CONTROL_KEYS = ["nodes_online", "nodes_stale", "nodes_dead", "auth_fail_rate_1m",
                "port_mismatch_rate_1m"]
DATA_KEYS = ["queue_depth", "inflight_jobs", "retry_rate_1m"]


def test_control_snapshot_has_exactly_the_contract_keys_in_order(
    telemetry: HubTelemetry,
) -> None:
    body = telemetry.snapshot_json("control")
    assert list(body) == ["plane", "generated_at", *CONTROL_KEYS]
    assert body["plane"] == "control"
    assert body["generated_at"] == "2026-11-29T10:15:04.500Z"
    assert all(type(body[k]) is int for k in CONTROL_KEYS)
    assert list(json_keys(Plane.CONTROL)) == CONTROL_KEYS


def test_data_snapshot_has_exactly_the_contract_keys_in_order(telemetry: HubTelemetry) -> None:
    body = telemetry.snapshot_json("data")
    assert list(body) == ["plane", "generated_at", *DATA_KEYS]
    assert body["plane"] == "data"
    assert [body[k] for k in DATA_KEYS] == [0, 0, 0]


def test_unknown_plane_is_a_value_error(telemetry: HubTelemetry) -> None:
    with pytest.raises(ValueError, match="metrics"):
        telemetry.snapshot_json("metrics")


def test_node_and_job_counts_come_from_the_sources(telemetry: HubTelemetry) -> None:
    nodes = {"online": 3, "stale": 1, "dead": 2}
    telemetry.set_node_counts_source(lambda: nodes)
    telemetry.set_job_counts_source(lambda: {"queued": 5, "inflight": 2})
    control = telemetry.snapshot_json("control")
    data = telemetry.snapshot_json("data")
    assert (control["nodes_online"], control["nodes_stale"], control["nodes_dead"]) == (3, 1, 2)
    assert (data["queue_depth"], data["inflight_jobs"]) == (5, 2)
    nodes["online"] = 7  # the gauge reads the source on every collect
    assert telemetry.snapshot_json("control")["nodes_online"] == 7


def test_a_missing_state_reads_zero(telemetry: HubTelemetry) -> None:
    telemetry.set_node_counts_source(lambda: {"online": 4})
    body = telemetry.snapshot_json("control")
    assert (body["nodes_online"], body["nodes_stale"], body["nodes_dead"]) == (4, 0, 0)


def test_a_failing_source_is_logged_and_reads_zero(
    telemetry: HubTelemetry, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> dict[str, int]:
        raise RuntimeError("db locked")

    telemetry.set_node_counts_source(broken)
    telemetry.set_job_counts_source(broken)
    with caplog.at_level(logging.ERROR, logger="otel"):
        control = telemetry.snapshot_json("control")
        data = telemetry.snapshot_json("data")
    assert control["nodes_online"] == 0
    assert data["queue_depth"] == 0
    assert "node counts source failed" in caplog.text
    assert "job counts source failed" in caplog.text


def test_auth_failures_from_both_planes_count_into_one_hub_wide_rate(
    telemetry: HubTelemetry,
) -> None:
    telemetry.record_auth_failure("control", "invalid_token")
    telemetry.record_auth_failure("data", "missing_token")
    telemetry.record_auth_failure("data", "missing_token")
    assert telemetry.snapshot_json("control")["auth_fail_rate_1m"] == 3
    assert value(telemetry, "control", "hub_auth_failures_total",
                 plane="data", reason="missing_token") == 2
    assert value(telemetry, "control", "hub_auth_failures_total",
                 plane="control", reason="invalid_token") == 1


def test_port_mismatches_count_per_plane_and_hub_wide(telemetry: HubTelemetry) -> None:
    telemetry.record_port_mismatch("data")
    telemetry.record_port_mismatch("control")
    assert telemetry.snapshot_json("control")["port_mismatch_rate_1m"] == 2
    assert value(telemetry, "control", "hub_port_mismatches_total", plane="data") == 1


def test_retries_count_by_cause(telemetry: HubTelemetry) -> None:
    telemetry.record_job_retry("failed")
    telemetry.record_job_retry("lease_expired")
    telemetry.record_job_retry("lease_expired")
    assert telemetry.snapshot_json("data")["retry_rate_1m"] == 3
    assert value(telemetry, "data", "hub_jobs_retries_total", cause="lease_expired") == 2


def test_rates_fall_back_after_60_seconds_but_counters_stay_cumulative(
    telemetry: HubTelemetry, clock: FakeClock
) -> None:
    telemetry.record_auth_failure("control", "invalid_token")
    telemetry.record_job_retry("failed")
    clock.advance(30)
    telemetry.record_auth_failure("control", "invalid_token")
    assert telemetry.snapshot_json("control")["auth_fail_rate_1m"] == 2
    clock.advance(31)
    assert telemetry.snapshot_json("control")["auth_fail_rate_1m"] == 1
    assert telemetry.snapshot_json("data")["retry_rate_1m"] == 0
    clock.advance(60)
    assert telemetry.snapshot_json("control")["auth_fail_rate_1m"] == 0
    assert value(telemetry, "control", "hub_auth_failures_total",
                 plane="control", reason="invalid_token") == 2
    assert value(telemetry, "data", "hub_jobs_retries_total", cause="failed") == 1


def test_reading_does_not_reset_anything(telemetry: HubTelemetry) -> None:
    def hub_samples() -> dict[Sample, float]:
        # The process metrics (CPU, RSS, GC) move between two reads by themselves.
        return {key: v for key, v in samples(telemetry, "data").items()
                if not key[0].startswith(("process_", "python_"))}

    telemetry.record_job_retry("failed")
    telemetry.record_request("data", "POST", "/jobs", 201, 8788, 0.002)
    first = hub_samples()
    assert first
    telemetry.snapshot_json("data")
    assert hub_samples() == first
    assert request_count(telemetry, "data") == 1


def test_every_buffered_request_reaches_the_histogram(telemetry: HubTelemetry) -> None:
    for i in range(250):
        telemetry.record_request("control", "GET", "/nodes", 200, 8787, 0.001 * i)
    telemetry.record_request("control", "POST", "/nodes/register", 401, 8787, 0.001)
    assert request_count(telemetry, "control") == 251
    assert value(telemetry, "control", "http_server_request_duration_seconds_count",
                 http_request_method="POST", http_route="/nodes/register",
                 http_response_status_code="401", server_port="8787") == 1
    assert request_count(telemetry, "data") == 0


def test_request_buffer_stays_bounded_and_loses_nothing_without_scrapes(
    clock: FakeClock,
) -> None:
    with HubTelemetry(clock=clock, max_pending_requests=100) as tel:
        for _ in range(1000):
            tel.record_request("data", "GET", "/jobs/{job_id}", 200, 8788, 0.01)
            assert len(tel._buffers["data"]) <= 101
        assert request_count(tel, "data") == 1000


def test_concurrent_recording_and_scraping_loses_no_request(telemetry: HubTelemetry) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []

    def scrape() -> None:
        try:
            while not stop.is_set():
                telemetry.render_prometheus("control")
                telemetry.snapshot_json("control")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    scrapers = [threading.Thread(target=scrape) for _ in range(2)]
    for t in scrapers:
        t.start()
    for _ in range(5000):
        telemetry.record_request("control", "GET", "/nodes", 200, 8787, 0.001)
    stop.set()
    for t in scrapers:
        t.join()
    assert errors == []
    assert request_count(telemetry, "control") == 5000


def test_taps_never_raise_on_bad_input(
    telemetry: HubTelemetry, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="otel"):
        telemetry.record_auth_failure("nowhere", "invalid_token")
        telemetry.record_port_mismatch("nowhere")
        telemetry.record_request("nowhere", "GET", "/", 200, 1, 0.1)
        telemetry.record_request("control", "GET", [], 200, 8787, 0.1)  # type: ignore[arg-type]  # wrong on purpose
        telemetry.record_request("control", "GET", "/x", 200, 8787, float("nan"))
        body = telemetry.snapshot_json("control")
    assert body["auth_fail_rate_1m"] == 0
    assert body["port_mismatch_rate_1m"] == 0
    assert "nowhere" in caplog.text
    assert request_count(telemetry, "control") == 0


def test_label_values_past_the_bound_collapse_into_one_overflow_series(
    telemetry: HubTelemetry,
) -> None:
    for i in range(500):
        telemetry.record_auth_failure("control", f"reason-{i}")
    series = [k for k in samples(telemetry, "control") if k[0] == "hub_auth_failures_total"]
    assert len(series) == 65  # 64 distinct label sets plus the overflow series
    # Four of the 64 are the known (plane, reason) series that start at 0.
    assert value(telemetry, "control", "hub_auth_failures_total",
                 otel_metric_overflow="true") == 500 - (64 - 4)
    assert telemetry.snapshot_json("control")["auth_fail_rate_1m"] == 500


def test_request_label_sets_past_the_sdk_limit_share_one_overflow_series(
    telemetry: HubTelemetry,
) -> None:
    # A hub that records raw paths as routes: the View's limit (1024) holds the series.
    for i in range(1100):
        telemetry.record_request("control", "GET", f"/nodes/{i}", 200, 8787, 0.001)
    counts = {labels: v for (name, labels), v in samples(telemetry, "control").items()
              if name == "http_server_request_duration_seconds_count"}
    assert HTTP_DURATION.max_label_sets == 1024
    assert len(counts) == 1024 + 1  # and the overflow series
    overflow = value(telemetry, "control", "http_server_request_duration_seconds_count",
                     otel_metric_overflow="true")
    assert overflow == 1100 - 1024
    assert request_count(telemetry, "control") == 1100


def test_retry_causes_past_the_limit_share_one_overflow_series(
    telemetry: HubTelemetry,
) -> None:
    for i in range(100):
        telemetry.record_job_retry(f"cause-{i}")
    series = [k for k in samples(telemetry, "data") if k[0] == "hub_jobs_retries_total"]
    assert len(series) == 64 + 1
    # Two of the 64 are the known causes that start at 0.
    assert value(telemetry, "data", "hub_jobs_retries_total",
                 otel_metric_overflow="true") == 100 - (64 - 2)
    assert len(cardinality_views()) == 4  # requests and the three event counters


def test_the_label_memo_builds_once_per_key_and_stays_bounded() -> None:
    built: list[tuple[object, ...]] = []

    def build(key: tuple[object, ...]) -> dict[str, str | int]:
        built.append(key)
        return {"k": str(key[0])}

    labels = memoized_labels(build, AUTH_FAILURES)
    first = labels(("a",))
    assert labels(("a",)) is first  # one dict per key, no allocation per measurement
    assert built == [("a",)]
    for i in range(64):
        labels((i,))
    # 64 entries at most: the oldest key went and is built again.
    assert labels(("a",)) == first
    assert built.count(("a",)) == 2


def test_disabled_telemetry_is_a_no_op_and_unreadable() -> None:
    tel = HubTelemetry(TelemetryConfig(sdk_disabled=True))
    assert tel.enabled is False
    assert tel.logger_provider is None
    tel.record_auth_failure("control", "invalid_token")
    tel.record_port_mismatch("data")
    tel.record_job_retry("failed")
    tel.record_request("control", "GET", "/nodes", 200, 8787, 0.01)
    tel.set_node_counts_source(lambda: {"online": 1})
    for call in (lambda: tel.snapshot_json("control"),
                 lambda: tel.render_prometheus("data", openmetrics=False)):
        with pytest.raises(TelemetryUnavailableError) as info:
            call()
        assert info.value.reason == "disabled"
    tel.shutdown()
    tel.shutdown()


def test_shutdown_is_idempotent_and_reads_afterwards_are_unavailable(
    telemetry: HubTelemetry,
) -> None:
    telemetry.shutdown()
    telemetry.shutdown(timeout_s=0.1)
    telemetry.record_auth_failure("control", "invalid_token")  # no-op, no error
    with pytest.raises(TelemetryUnavailableError) as info:
        telemetry.snapshot_json("control")
    assert info.value.reason == "shut_down"


def test_two_instances_in_one_process_are_independent(clock: FakeClock) -> None:
    with HubTelemetry(clock=clock) as first, HubTelemetry(clock=clock) as second:
        first.record_auth_failure("control", "invalid_token")
        first.set_job_counts_source(lambda: {"queued": 9, "inflight": 0})
        assert first.snapshot_json("control")["auth_fail_rate_1m"] == 1
        assert second.snapshot_json("control")["auth_fail_rate_1m"] == 0
        assert first.snapshot_json("data")["queue_depth"] == 9
        assert second.snapshot_json("data")["queue_depth"] == 0


def test_logger_provider_is_owned_not_global() -> None:
    from opentelemetry import _logs

    with HubTelemetry() as tel:
        assert tel.logger_provider is not None
        assert _logs.get_logger_provider() is not tel.logger_provider


def test_redactor_keeps_a_secret_out_of_labels(clock: FakeClock) -> None:
    secret = "s3cr3t-token-value-42"
    with HubTelemetry(clock=clock, redactor=Redactor([secret])) as tel:
        tel.record_request("control", "GET", f"/x/{secret}", 200, 8787, 0.01)
        tel.record_auth_failure("control", f"bad {secret}")
        for openmetrics in (False, True):
            body, _ = tel.render_prometheus("control", openmetrics=openmetrics)
            assert secret.encode() not in body
            assert b'http_route="redacted"' in body


@pytest.mark.parametrize("bad", [0, 65_537])
def test_request_buffer_bound_must_stay_below_the_collect_timeout(bad: int) -> None:
    with pytest.raises(ValueError, match="max_pending"):
        HubTelemetry(max_pending_requests=bad)


def test_known_counter_series_start_at_zero(telemetry: HubTelemetry) -> None:
    for plane in ("control", "data"):
        for reason in ("missing_token", "invalid_token"):
            assert value(telemetry, "control", "hub_auth_failures_total",
                         plane=plane, reason=reason) == 0
        assert value(telemetry, "control", "hub_port_mismatches_total", plane=plane) == 0
    for cause in ("failed", "lease_expired"):
        assert value(telemetry, "data", "hub_jobs_retries_total", cause=cause) == 0


def test_one_collect_reads_the_job_source_once_for_a_consistent_pair(
    telemetry: HubTelemetry,
) -> None:
    calls: list[int] = []

    def moving_source() -> dict[str, int]:
        # Every reading differs, as a live queue would between two calls.
        calls.append(1)
        return {"queued": 10 * len(calls), "inflight": 10 * len(calls) + 1}

    telemetry.set_job_counts_source(moving_source)
    body = telemetry.snapshot_json("data")
    assert (body["queue_depth"], body["inflight_jobs"]) == (10, 11)
    assert len(calls) == 1
    body = telemetry.snapshot_json("data")
    assert (body["queue_depth"], body["inflight_jobs"]) == (20, 21)


def test_concurrent_collects_each_get_a_consistent_job_pair(telemetry: HubTelemetry) -> None:
    counter = iter(range(1_000_000))
    lock = threading.Lock()

    def source() -> dict[str, int]:
        with lock:
            n = next(counter)
        return {"queued": n, "inflight": n}

    telemetry.set_job_counts_source(source)
    mismatches: list[tuple[object, object]] = []

    def scrape() -> None:
        for _ in range(50):
            body = telemetry.snapshot_json("data")
            if body["queue_depth"] != body["inflight_jobs"]:
                mismatches.append((body["queue_depth"], body["inflight_jobs"]))

    threads = [threading.Thread(target=scrape) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mismatches == []


def test_a_failing_job_source_skips_both_gauges_with_one_log_line(
    telemetry: HubTelemetry, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> dict[str, int]:
        raise RuntimeError("db locked")

    telemetry.set_job_counts_source(broken)
    with caplog.at_level(logging.ERROR, logger="otel"):
        assert value(telemetry, "data", "hub_queue_depth") is None
    assert caplog.text.count("job counts source failed") == 1


def test_event_counters_are_usable_before_any_meter_is_bound(clock: FakeClock) -> None:
    # The disabled path never binds a meter; recording must still be a harmless no-op.
    events = EventCounters(clock, str)
    events.auth_failure("control", "invalid_token")
    events.port_mismatch("data")
    events.job_retry("failed")


def test_disabled_taps_log_nothing(caplog: pytest.LogCaptureFixture) -> None:
    tel = HubTelemetry(TelemetryConfig(sdk_disabled=True))
    with caplog.at_level(logging.DEBUG, logger="otel"):
        tel.record_auth_failure("control", "invalid_token")
        tel.record_port_mismatch("data")
        tel.record_job_retry("failed")
        tel.record_request("nowhere", "GET", "/x", 200, 1, 0.1)
    assert caplog.text == ""
