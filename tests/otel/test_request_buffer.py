"""The request buffer records queued durations in bounded batches and loses none."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Histogram
from opentelemetry.util.types import Attributes

from otel import HubTelemetry, TelemetryConfig
from otel._instruments import HTTP_DURATION, memoized_labels
from otel._request_buffer import DEFAULT_MAX_PENDING, RequestBuffer
from tests.otel.helpers import request_count
from tests.otlp_receiver import Receiver, histogram_points, wait_for

ROUTE_KEY = ("GET", "/jobs/{job_id}", 200, 8788)


class RecordingHistogram(Histogram):
    """Keeps what is recorded; ``fail_on`` makes one amount raise, as a bad label would."""

    def __init__(self, fail_on: float | None = None) -> None:
        self.recorded: list[tuple[float, Attributes]] = []
        self._fail_on = fail_on

    def record(self, amount: float, attributes: Attributes = None,
               context: Context | None = None) -> None:
        if amount == self._fail_on:
            raise TypeError("unhashable label")
        self.recorded.append((amount, attributes))  # list.append is atomic

    @property
    def amounts(self) -> list[float]:
        return [amount for amount, _ in self.recorded]


def _labels(key: tuple[object, ...]) -> dict[str, str | int]:
    method, route, status, port = key
    return {"method": str(method), "route": str(route), "status": str(status),
            "port": str(port)}


def make_buffer(histogram: Histogram, **bounds: int) -> RequestBuffer:
    labels = memoized_labels(_labels, HTTP_DURATION)
    return RequestBuffer(histogram, labels, **bounds)


def fill(buffer: RequestBuffer, amounts: range) -> None:
    for i in amounts:
        buffer.append(*ROUTE_KEY, float(i))


def test_one_drain_records_at_most_max_pending_oldest_first() -> None:
    histogram = RecordingHistogram()
    buffer = make_buffer(histogram, max_pending=100, drain_batch=10)
    # The request path keeps the queue at max_pending; a scrape meets at most that.
    fill(buffer, range(100))
    assert histogram.recorded == []
    assert buffer.drain(limit=30) == 30
    assert histogram.amounts == [float(i) for i in range(30)]
    assert buffer.drain() == 70
    assert len(buffer) == 0
    assert buffer.drain() == 0


def test_a_drain_without_limit_stops_at_max_pending_even_when_more_wait() -> None:
    histogram = RecordingHistogram()
    buffer = make_buffer(histogram, max_pending=50, drain_batch=1)
    fill(buffer, range(50))
    # Another thread appending meanwhile cannot make one drain chase it: simulate a
    # queue that grew past the bound between two appends of two threads.
    buffer._pending.extend([(*ROUTE_KEY, 99.0)] * 30)
    assert buffer.drain() == 50
    assert len(buffer) == 30


def test_the_request_path_records_at_most_one_batch_per_request() -> None:
    histogram = RecordingHistogram()
    buffer = make_buffer(histogram, max_pending=100, drain_batch=8)
    for i in range(1000):
        before = len(histogram.recorded)
        buffer.append(*ROUTE_KEY, float(i))
        assert len(histogram.recorded) - before in (0, 8)
        assert len(buffer) <= 100
    assert len(histogram.recorded) + len(buffer) == 1000


def test_many_bounded_drains_lose_nothing_and_keep_order_and_labels() -> None:
    histogram = RecordingHistogram()
    buffer = make_buffer(histogram, max_pending=256, drain_batch=64)
    routes = ["/a", "/b/{id}", "/c"]
    for i in range(10_000):
        buffer.append("GET", routes[i % 3], 200 + i % 2, 8787, float(i))
        if i % 97 == 0:
            assert buffer.drain(limit=7) <= 7
    while buffer.drain(limit=13):
        pass
    assert histogram.amounts == [float(i) for i in range(10_000)]
    for amount, attributes in histogram.recorded:
        i = int(amount)
        assert attributes == {"method": "GET", "route": routes[i % 3],
                              "status": str(200 + i % 2), "port": "8787"}


def test_a_measurement_the_sdk_rejects_is_logged_and_does_not_cost_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    histogram = RecordingHistogram(fail_on=3.0)
    buffer = make_buffer(histogram)
    fill(buffer, range(6))
    assert buffer.drain() == 6  # taken off the queue, so it cannot come back forever
    assert histogram.amounts == [0.0, 1.0, 2.0, 4.0, 5.0]
    assert "dropping one http.server.request.duration measurement" in caplog.text


def test_the_callback_records_a_bounded_batch_and_observes_nothing() -> None:
    histogram = RecordingHistogram()
    buffer = make_buffer(histogram, max_pending=40, drain_batch=40)
    fill(buffer, range(40))
    assert list(buffer.drain_callback(CallbackOptions())) == []
    assert len(histogram.recorded) == 40


def test_concurrent_drains_record_each_measurement_exactly_once() -> None:
    # As documented: the loop thread appends (and records its own batches) while a scrape
    # and the exporter's thread drain; no item is recorded twice or lost, and no drain
    # records more than its limit.
    histogram = RecordingHistogram()
    buffer = make_buffer(histogram, max_pending=256, drain_batch=64)
    total = 20_000
    appended = threading.Event()
    over_limit: list[int] = []

    def drainer() -> None:
        while not appended.is_set() or len(buffer):
            done = buffer.drain(limit=50)
            if done > 50:
                over_limit.append(done)

    threads = [threading.Thread(target=drainer) for _ in range(2)]
    for thread in threads:
        thread.start()
    fill(buffer, range(total))
    appended.set()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert over_limit == []
    assert sorted(histogram.amounts) == [float(i) for i in range(total)]


@pytest.mark.parametrize("bad", [{"max_pending": 0}, {"max_pending": 65_537},
                                 {"drain_batch": 0}])
def test_bounds_are_checked_at_construction(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="max_pending"):
        make_buffer(RecordingHistogram(), **bad)


@pytest.fixture
def no_callback_drain(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The SDK may run the observable callback after it reads the histogram (its order is
    undocumented): model the worst case, a callback that records nothing in time."""
    monkeypatch.setattr(RequestBuffer, "drain_callback", lambda self, options: ())
    yield


@pytest.mark.usefixtures("no_callback_drain")
def test_a_scrape_sees_every_queued_request_whatever_the_callback_order() -> None:
    with HubTelemetry(TelemetryConfig()) as tel:
        for _ in range(DEFAULT_MAX_PENDING * 3 + 5):
            tel.record_request("data", "GET", "/jobs/{job_id}", 200, 8788, 0.01)
        assert request_count(tel, "data") == DEFAULT_MAX_PENDING * 3 + 5


@pytest.mark.usefixtures("no_callback_drain")
def test_shutdown_exports_every_queued_request_whatever_the_callback_order(
    receiver: Receiver,
) -> None:
    config = TelemetryConfig.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
                                       "OTEL_METRIC_EXPORT_INTERVAL": "86400000",
                                       "OTEL_LOGS_EXPORTER": "none"})
    tel = HubTelemetry(config, max_pending_requests=100)
    for _ in range(250):  # 200 recorded on the request path, 50 left queued
        tel.record_request("data", "GET", "/jobs/{job_id}", 200, 8788, 0.01)
    tel.shutdown()  # the only export: the final collect

    def exported() -> int:
        found = receiver.metric_points().get("sheratan.hub.data/http.server.request.duration")
        return sum(p.count for p in histogram_points(found[1])) if found else 0

    assert wait_for(lambda: exported() == 250, timeout_s=5)
