"""The count sources behind ``hub.nodes``, ``hub.queue.depth`` and ``hub.jobs.inflight``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping

from opentelemetry.metrics import CallbackOptions, Observation

from . import _instruments as spec

__all__ = ["CountSources", "CountsSource"]

_logger = logging.getLogger(__name__)

CountsSource = Callable[[], Mapping[str, int]]

_STATE_LABELS: dict[str, dict[str, str]] = {state: {"state": state} for state in spec.NODE_STATES}
# What the queue-depth callback leaves for the inflight one when the source failed.
_FAILED: Mapping[str, int] = {}


class CountSources:
    """Holds the hub's count callables and serves them to the observable gauges.

    Thread-safety: the setters run on the hub's thread and the callbacks on whichever
    thread collects (a ``/metrics`` request or the OTLP exporter). Replacing a source is
    one attribute store, so a callback sees the old or the new source, never a mix.

    One collect, one job reading: ``hub.queue.depth`` and ``hub.jobs.inflight`` must be a
    consistent pair, so the job source is called once per collect. The SDK runs a
    provider's callbacks in the order the instruments were created (queue depth first)
    and on the collecting thread, so the queue-depth callback leaves its reading in a
    thread-local slot and the inflight callback of the same collect takes it from there.
    Thread-local, not a plain attribute, so that two readers collecting at once on two
    threads cannot hand each other their readings (whatever locks the SDK takes).
    """

    def __init__(self) -> None:
        self.nodes: CountsSource | None = None
        self.jobs: CountsSource | None = None
        self._job_reading = threading.local()

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
        """Callback of ``hub.queue.depth``; reads the job source for this collect."""
        reading = self._read_jobs()
        self._job_reading.value = reading
        return self._observe(reading, "queued")

    def observe_inflight(self, options: CallbackOptions) -> Iterable[Observation]:
        """Callback of ``hub.jobs.inflight``; reuses the queue-depth callback's reading."""
        reading: Mapping[str, int] | None = getattr(self._job_reading, "value", None)
        self._job_reading.value = None
        if reading is None:  # no queue-depth callback ran first on this thread
            reading = self._read_jobs()
        return self._observe(reading, "inflight")

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
