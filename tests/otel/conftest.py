"""Fixtures for the telemetry core: a fake clock and a fresh HubTelemetry per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from otel import HubTelemetry, TelemetryConfig

# 2026-11-29T10:15:04.500Z, so generated_at is predictable.
WALL_TIME_S = 1795947304.5


class FakeClock:
    """A monotonic clock that only moves when a test says so."""

    def __init__(self, start_s: float = 1000.0) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def telemetry(clock: FakeClock) -> Iterator[HubTelemetry]:
    tel = HubTelemetry(TelemetryConfig(), clock=clock, wall_clock=lambda: WALL_TIME_S)
    yield tel
    tel.shutdown()
