"""WindowCounter: a bounded trailing 60 s count on an injected clock."""

from __future__ import annotations

import sys

import pytest

from otel._window import WindowCounter

from .conftest import FakeClock


def test_counts_events_inside_the_window(clock: FakeClock) -> None:
    window = WindowCounter(clock, window_s=60)
    window.add()
    clock.advance(30)
    window.add(2)
    assert window.total() == 3


def test_event_leaves_the_window_after_60_seconds(clock: FakeClock) -> None:
    window = WindowCounter(clock, window_s=60)
    window.add()
    clock.advance(59)
    assert window.total() == 1
    clock.advance(1)
    assert window.total() == 0


def test_reused_bucket_forgets_its_old_second(clock: FakeClock) -> None:
    window = WindowCounter(clock, window_s=60)
    window.add(5)
    clock.advance(60)  # same bucket index, a new second
    window.add()
    assert window.total() == 1


def test_a_burst_does_not_grow_memory(clock: FakeClock) -> None:
    window = WindowCounter(clock, window_s=60)
    window.add()
    before = sys.getsizeof(window._counts) + sys.getsizeof(window._seconds)
    for i in range(100_000):
        clock.advance(0.001 * (i % 3))
        window.add()
    after = sys.getsizeof(window._counts) + sys.getsizeof(window._seconds)
    assert after == before
    assert len(window._counts) == 60


def test_total_after_long_silence_is_zero(clock: FakeClock) -> None:
    window = WindowCounter(clock, window_s=60)
    for _ in range(10):
        window.add()
        clock.advance(1)
    clock.advance(3600)
    assert window.total() == 0


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_rejects_a_bad_window(clock: FakeClock, bad: object) -> None:
    with pytest.raises(ValueError, match="window_s"):
        WindowCounter(clock, window_s=bad)  # type: ignore[arg-type]  # wrong on purpose


def test_an_earlier_event_counts_in_its_own_second(clock: FakeClock) -> None:
    window = WindowCounter(clock, window_s=60)
    clock.advance(100)
    window.add(at=clock() - 30)
    window.add(2, at=clock() - 59)
    assert window.total() == 3
    clock.advance(1)  # the second at -59 leaves
    assert window.total() == 1


def test_an_event_older_than_the_window_or_from_the_future(clock: FakeClock) -> None:
    window = WindowCounter(clock, window_s=60)
    clock.advance(100)
    window.add(at=clock() - 60)
    window.add(at=clock() - 3600)
    assert window.total() == 0
    window.add(at=clock() + 5)  # a clock a little ahead: counts as now
    assert window.total() == 1
    clock.advance(59)
    assert window.total() == 1
    clock.advance(1)
    assert window.total() == 0


def test_a_late_event_never_erases_a_newer_second(clock: FakeClock) -> None:
    window = WindowCounter(clock, window_s=60)
    clock.advance(100)
    window.add(4)  # second 100, bucket 40
    window.add(at=clock() - 60)  # second 40, bucket 40: outside the window
    assert window.total() == 4
