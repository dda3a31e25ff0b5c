"""The hub's event counters: auth failures, port mismatches and job retries.

Each event feeds a Counter (its label sets bounded by the SDK, see
``InstrumentSpec.max_label_sets``) and a trailing 60 s window behind its ``*_rate_1m`` gauge.
"""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry.metrics import Counter, Meter, NoOpCounter

from . import _instruments as spec
from ._instruments import InstrumentSpec, LabelBuilder, Plane, memoized_labels
from ._pipeline import counter, window_gauge
from ._window import WindowCounter

__all__ = ["EventCounters"]

_WINDOW_S = 60
UNKNOWN_PLANE = "unknown"


class EventCounters:
    """The three event counters, their label memos and their 60 s windows.

    Until :meth:`bind_control` / :meth:`bind_data` give them a meter, the counters are the
    OTel API's no-op counters, so recording on a disabled (or shut down, or half-built)
    telemetry object does nothing instead of raising AttributeError.

    Thread-safety: the ``*`` recording methods run on the hub's event-loop thread; the
    window gauges read on a collecting thread. Counters, label memos and windows are
    each thread-safe, and the counter attributes are only rebound during construction.

    Args:
        clock: monotonic seconds for the windows.
        label: turns one attribute value into its exported string (redaction).
    """

    def __init__(self, clock: Callable[[], float], label: Callable[[object], str]) -> None:
        self._label = label
        self._auth_window = WindowCounter(clock, window_s=_WINDOW_S)
        self._mismatch_window = WindowCounter(clock, window_s=_WINDOW_S)
        self._retry_window = WindowCounter(clock, window_s=_WINDOW_S)
        self._auth_counter: Counter = NoOpCounter(spec.AUTH_FAILURES.name)
        self._mismatch_counter: Counter = NoOpCounter(spec.PORT_MISMATCHES.name)
        self._retry_counter: Counter = NoOpCounter(spec.JOB_RETRIES.name)
        self._auth_labels = self._label_memo(spec.AUTH_FAILURES, "plane", "reason")
        self._mismatch_labels = self._label_memo(spec.PORT_MISMATCHES, "plane")
        self._retry_labels = self._label_memo(spec.JOB_RETRIES, "cause")
        #: Reads the retry rate instead of the window, when a source knows it exactly.
        self.retry_rate_source: Callable[[], int] | None = None

    def bind_control(self, meter: Meter) -> None:
        """Create the control plane's event instruments on ``meter``."""
        self._auth_counter = counter(meter, spec.AUTH_FAILURES)
        window_gauge(meter, spec.AUTH_FAILURE_RATE, self._auth_window.total)
        self._mismatch_counter = counter(meter, spec.PORT_MISMATCHES)
        window_gauge(meter, spec.PORT_MISMATCH_RATE, self._mismatch_window.total)
        # A counter series that first appears at 1 hides that first event from
        # Prometheus' increase() and rate(); series whose labels are known up front
        # start at 0 instead (the Prometheus instrumentation guidelines ask for this).
        for name in (p.value for p in Plane):
            for reason in spec.AUTH_REASONS:
                self._auth_counter.add(0, self._auth_labels((name, reason)))
            self._mismatch_counter.add(0, self._mismatch_labels((name,)))

    def bind_data(self, meter: Meter) -> None:
        """Create the data plane's event instruments on ``meter``."""
        self._retry_counter = counter(meter, spec.JOB_RETRIES)
        window_gauge(meter, spec.JOB_RETRY_RATE, self._retry_rate)
        for cause in spec.RETRY_CAUSES:
            self._retry_counter.add(0, self._retry_labels((cause,)))

    def auth_failure(self, plane: Plane | str, reason: str, *, n: int = 1, at: float | None = None,
                     counted: bool = True) -> None:
        """Count ``n`` rejected tokens (one by default).

        Args:
            at: when it happened (the windows' clock), for an event read back from a log;
                default now.
            counted: also add it to the counter. An event from before this process started
                goes to the window only: the counter of the process that saw it already
                has it, and Prometheus would count it twice across a restart.
        """
        if counted:
            self._auth_counter.add(n, self._auth_labels((plane, reason)))
        self._auth_window.add(n, at=at)

    def port_mismatch(self, plane: Plane | str, *, n: int = 1, at: float | None = None,
                      counted: bool = True) -> None:
        """Count ``n`` 421s (``at`` and ``counted`` as for :meth:`auth_failure`)."""
        if counted:
            self._mismatch_counter.add(n, self._mismatch_labels((plane,)))
        self._mismatch_window.add(n, at=at)

    def job_retry(self, cause: str, *, n: int = 1, at: float | None = None,
                  counted: bool = True) -> None:
        """Count ``n`` requeued jobs (``at`` and ``counted`` as for :meth:`auth_failure`)."""
        if counted:
            self._retry_counter.add(n, self._retry_labels((cause,)))
        self._retry_window.add(n, at=at)

    def _retry_rate(self) -> int:
        source = self.retry_rate_source
        return self._retry_window.total() if source is None else source()

    def _label_memo(self, instrument: InstrumentSpec, *keys: str) -> LabelBuilder:
        def build(values: tuple[object, ...]) -> dict[str, str | int]:
            labels: dict[str, str | int] = {
                key: self._label(value.value if isinstance(value, Plane) else value)
                for key, value in zip(keys, values, strict=True)
            }
            # ValueError for an unknown plane from a tap: a caller bug. A plane read from a
            # foreign hub's audit log that is neither is counted as "unknown".
            if "plane" in labels and labels["plane"] != UNKNOWN_PLANE:
                Plane(labels["plane"])
            return labels

        return memoized_labels(build, instrument)
