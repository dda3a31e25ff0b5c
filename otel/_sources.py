"""The count sources behind ``hub.nodes``, ``hub.queue.depth`` and ``hub.jobs.inflight``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from opentelemetry.metrics import CallbackOptions, Observation

from . import _instruments as spec

__all__ = ["HANDOVER_S", "CountSources", "CountsSource"]

_logger = logging.getLogger(__name__)

CountsSource = Callable[[], Mapping[str, int]]

_STATE_LABELS: dict[str, dict[str, str]] = {state: {"state": state} for state in spec.NODE_STATES}
# The job reading when the source is unset or failed: both gauges skip it.
_FAILED: Mapping[str, int] = {}
#: How old a reading left by one job gauge's callback may be when the other takes it: far
#: longer than the callbacks of one collect take (microseconds, a few ms with a drain).
HANDOVER_S = 1.0
_QUEUED, _INFLIGHT = "queued", "inflight"


@dataclass(frozen=True, slots=True)
class _Handover:
    reading: Mapping[str, int]
    left_for: str
    read_at: float


class CountSources:
    """Holds the hub's count callables and serves them to the observable gauges.

    Thread-safety: the setters run on the hub's thread and the callbacks on whichever
    thread collects (a ``/metrics`` request or the OTLP exporter). Replacing a source is
    one attribute store, so a callback sees the old or the new source, never a mix.

    One collect, one job reading: ``hub.queue.depth`` and ``hub.jobs.inflight`` must be a
    consistent pair, so the job source is called once per collect. The SDK documents
    neither the order in which it runs a provider's callbacks nor that they run back to
    back, only that they run on the collecting thread. So whichever of the two callbacks
    runs first reads the source and leaves the reading in a thread-local slot for the
    other; the other takes it if it is meant for it and at most ``handover_s`` old, else
    reads the source itself. A reading is taken once, so the next collect reads afresh,
    and a collect that stopped between the two callbacks (an SDK timeout) leaves at worst
    a reading ``handover_s`` old. Thread-local, not a plain attribute, so that two readers
    collecting at once on two threads cannot hand each other their readings (whatever
    locks the SDK takes).

    Args:
        clock: monotonic seconds, for the age of a handed-over reading.
        handover_s: the oldest reading one job gauge leaves the other.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 handover_s: float = HANDOVER_S) -> None:
        if not handover_s > 0:
            raise ValueError(f"handover_s must be > 0, got {handover_s!r}")
        self.nodes: CountsSource | None = None
        self.jobs: CountsSource | None = None
        self._clock = clock
        self._handover_s = handover_s
        self._slot = threading.local()

    def observe_nodes(self, options: CallbackOptions) -> Iterable[Observation]:
        """Callback of ``hub.nodes``: one observation per heartbeat state."""
        source = self.nodes
        if source is None:
            return ()
        try:
            counts = source()
            return [
                Observation(int(counts.get(state, 0)), _STATE_LABELS[state])
                for state in spec.NODE_STATES
            ]
        except Exception:
            _logger.exception("the node counts source failed; hub.nodes is skipped")
            return ()

    def observe_queue_depth(self, options: CallbackOptions) -> Iterable[Observation]:
        """Callback of ``hub.queue.depth``; shares one job reading with the inflight one."""
        return self._observe(self._job_reading(_QUEUED, _INFLIGHT), _QUEUED)

    def observe_inflight(self, options: CallbackOptions) -> Iterable[Observation]:
        """Callback of ``hub.jobs.inflight``; shares one job reading with the queue one."""
        return self._observe(self._job_reading(_INFLIGHT, _QUEUED), _INFLIGHT)

    def _job_reading(self, mine: str, other: str) -> Mapping[str, int]:
        slot: _Handover | None = getattr(self._slot, "value", None)
        now = self._clock()
        if slot is not None and slot.left_for == mine and now - slot.read_at <= self._handover_s:
            self._slot.value = None
            return slot.reading
        reading = self._read_jobs()
        self._slot.value = _Handover(reading, other, now)
        return reading

    def _read_jobs(self) -> Mapping[str, int]:
        source = self.jobs
        if source is None:
            return _FAILED
        try:
            return dict(source())
        except Exception:
            _logger.exception("the job counts source failed; the job gauges are skipped")
            return _FAILED

    @staticmethod
    def _observe(reading: Mapping[str, int], state: str) -> Iterable[Observation]:
        if reading is _FAILED:
            return ()
        try:
            return [Observation(int(reading.get(state, 0)))]
        except Exception:
            _logger.exception("the job counts source gave a bad %s count; skipped", state)
            return ()
