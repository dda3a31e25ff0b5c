"""A buffer in front of the ``http.server.request.duration`` histogram.

Why: the SDK's ``Histogram.record()`` with four attributes costs about 8 us, and about
12 us with an OTLP reader next to the pull reader (it builds a Measurement, reads the
current context, copies and hashes the attributes for every reader). The request path
therefore only appends a tuple to a deque (about 0.2 us), after its answer is sent, and
the measurements are recorded into the real histogram in bounded batches:

* on the request path, ``drain_batch`` at a time, once more than ``max_pending`` wait;
  so the queue never holds much more than ``max_pending``, and nothing is dropped when
  nobody collects;
* before a pull collect (``/metrics``): :class:`HubTelemetry` drains the plane's queue
  first, so a scrape sees every request that finished before it;
* by an observable-instrument callback, on every collect, the OTLP exporter's included.
  What it records is in that export if the SDK runs callbacks before it reads the
  synchronous instruments (as it does today, undocumented), else in the next export;
  nothing is lost either way;
* at shutdown, before the providers' final collect.

Each of these records at most ``max_pending`` measurements (the request path only
``drain_batch``), so no scrape, export or request holds the event loop or the GIL for
long: with the default 256, about 2 ms (4 ms with OTLP export) at worst. The SDK's
public API records one value per ``record()`` call (there is no count or weight to pass),
so identical label sets cannot be folded into one call; bounding the batch is what keeps
each piece of work short. The total CPU is unchanged: each measurement still costs one
``record()``, paid outside the request's own answer.

Thread-safety: ``deque.append`` and ``deque.popleft`` are atomic in CPython, so the loop
thread may append while a scrape or the exporter's thread drains, and two drains never
record the same item twice. Each drain counts only its own pops, so it stops after its
limit even while another thread appends. ``Histogram.record`` is thread-safe.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable

from opentelemetry.metrics import CallbackOptions, Histogram, Observation

from ._instruments import LabelBuilder

__all__ = ["DEFAULT_DRAIN_BATCH", "DEFAULT_MAX_PENDING", "MAX_PENDING_LIMIT", "RequestBuffer"]

_logger = logging.getLogger(__name__)

_Pending = tuple[str, str, int, int, float]
MAX_PENDING_LIMIT = 65_536
#: 256 pending measurements take about 2 ms to record (4 ms with an OTLP reader too).
DEFAULT_MAX_PENDING = 256
#: What the request path records at a time: well under a millisecond.
DEFAULT_DRAIN_BATCH = 64


class RequestBuffer:
    """Pending request durations of one plane, recorded into that plane's histogram in
    bounded batches.

    Args:
        histogram: the plane's ``http.server.request.duration`` instrument.
        labels: maps ``(method, route, status_code, server_port)`` to attributes (a
            memo, see :func:`otel._instruments.memoized_labels`).
        max_pending: the most measurements kept before the request path records a batch
            itself, and the most that one :meth:`drain` records by default.
        drain_batch: how many the request path records at a time once over the bound.
    """

    __slots__ = ("_drain_batch", "_histogram", "_labels", "_max_pending", "_pending")

    def __init__(
        self,
        histogram: Histogram,
        labels: LabelBuilder,
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
        drain_batch: int = DEFAULT_DRAIN_BATCH,
    ) -> None:
        # The upper bound keeps even the largest drain (about 8 us per item) far below the
        # SDK's 10 s collect timeout.
        if not (1 <= max_pending <= MAX_PENDING_LIMIT) or drain_batch < 1:
            raise ValueError(
                f"max_pending must be in 1..{MAX_PENDING_LIMIT} and drain_batch >= 1, "
                f"got {max_pending!r}, {drain_batch!r}"
            )
        self._histogram = histogram
        self._labels = labels
        self._max_pending = max_pending
        self._drain_batch = drain_batch
        self._pending: deque[_Pending] = deque()

    def append(
        self, method: str, route: str, status_code: int, server_port: int, duration_s: float
    ) -> None:
        """Queue one measurement. The hot path: no validation, no allocation but a tuple."""
        pending = self._pending
        pending.append((method, route, status_code, server_port, duration_s))
        if len(pending) > self._max_pending:
            self.drain(self._drain_batch)

    def __len__(self) -> int:
        return len(self._pending)

    def drain(self, limit: int | None = None) -> int:
        """Record the oldest pending measurements, at most ``limit`` of them (by default
        ``max_pending``); return how many were taken off the queue.

        A measurement the SDK rejects (an unhashable label, say) is logged and counted as
        taken: one bad measurement must not cost the rest, nor come back forever.
        """
        pending = self._pending
        record = self._histogram.record
        labels = self._labels
        todo = self._max_pending if limit is None else limit
        done = 0
        while done < todo:
            try:
                method, route, status_code, server_port, duration_s = pending.popleft()
            except IndexError:
                break
            done += 1
            try:
                record(duration_s, labels((method, route, status_code, server_port)))
            except Exception:
                _logger.exception("dropping one http.server.request.duration measurement")
        return done

    def drain_callback(self, options: CallbackOptions) -> Iterable[Observation]:
        """Observable-instrument callback: records a bounded batch, observes nothing."""
        self.drain()
        return ()
