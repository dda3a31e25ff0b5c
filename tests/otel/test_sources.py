"""CountSources: one job reading per collect, whatever order the SDK runs callbacks in."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint

from otel._sources import HANDOVER_S, CountSources

from .conftest import FakeClock

OPTIONS = CallbackOptions()


class MovingQueue:
    """A job source whose every reading differs, as a live queue's would between calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> dict[str, int]:
        self.calls += 1
        return {"queued": 10 * self.calls, "inflight": 10 * self.calls + 1}


def _values(sources: CountSources, *callbacks: str) -> list[int]:
    out: list[int] = []
    for name in callbacks:
        observe: Callable[[CallbackOptions], Iterable[Observation]] = getattr(sources, name)
        out.extend(int(o.value) for o in observe(OPTIONS))
    return out


@pytest.mark.parametrize("inflight_first", [False, True])
def test_a_provider_reads_the_job_source_once_per_collect_in_either_creation_order(
    inflight_first: bool,
) -> None:
    # The SDK runs callbacks in creation order today (undocumented); creating the gauges
    # the other way round is what a change of that order would look like.
    sources = CountSources()
    source = sources.jobs = MovingQueue()
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    meter = provider.get_meter("t")
    gauges = [("hub.queue.depth", sources.observe_queue_depth),
              ("hub.jobs.inflight", sources.observe_inflight)]
    for name, callback in reversed(gauges) if inflight_first else gauges:
        meter.create_observable_gauge(name, callbacks=[callback])
    try:
        for collect in (1, 2, 3):
            data = reader.get_metrics_data()
            assert data is not None
            got = {
                metric.name: point.value
                for rm in data.resource_metrics for sm in rm.scope_metrics
                for metric in sm.metrics for point in metric.data.data_points
                if isinstance(point, NumberDataPoint)
            }
            assert got == {"hub.queue.depth": 10 * collect, "hub.jobs.inflight": 10 * collect + 1}
            assert source.calls == collect
    finally:
        provider.shutdown()


@pytest.mark.parametrize("order", [("observe_queue_depth", "observe_inflight"),
                                   ("observe_inflight", "observe_queue_depth")])
def test_either_callback_may_come_first_and_the_next_pair_reads_afresh(
    order: tuple[str, str],
) -> None:
    sources = CountSources()
    source = sources.jobs = MovingQueue()
    first = _values(sources, *order)
    second = _values(sources, *order)
    assert sorted(first) == [10, 11]
    assert sorted(second) == [20, 21]
    assert source.calls == 2


def test_a_callback_never_takes_the_reading_it_left_for_the_other() -> None:
    sources = CountSources()
    source = sources.jobs = MovingQueue()
    # Two collects in which only the queue-depth gauge ran (a reader that stopped early).
    assert _values(sources, "observe_queue_depth", "observe_queue_depth") == [10, 20]
    assert source.calls == 2
    # The inflight gauge takes the newest reading, meant for it.
    assert _values(sources, "observe_inflight") == [21]
    assert source.calls == 2


def test_a_reading_left_behind_too_long_ago_is_not_handed_over(clock: FakeClock) -> None:
    sources = CountSources(clock=clock)
    source = sources.jobs = MovingQueue()
    assert _values(sources, "observe_queue_depth") == [10]  # and the collect stopped there
    clock.advance(HANDOVER_S + 0.01)
    assert _values(sources, "observe_inflight") == [21]
    assert source.calls == 2
    clock.advance(HANDOVER_S)  # exactly at the limit, the reading is still handed over
    assert _values(sources, "observe_queue_depth") == [20]
    assert source.calls == 2


@pytest.mark.parametrize("bad", [0, -1.0, float("nan")])
def test_the_handover_age_must_be_positive(bad: float) -> None:
    with pytest.raises(ValueError, match="handover_s"):
        CountSources(handover_s=bad)
