"""The watcher's own counters and ``watcher_status.json``, which diagnose picks up."""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from otel import atomic_write
from watcher._json import pretty
from watcher._private import make_private_dir
from watcher._timefmt import US_PER_S, format_us

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Counters:
    """Cumulative counters. Persisted in the checkpoint, so they survive restarts.

    Not thread-safe: the watcher is single-threaded.
    """

    lines_read: int = 0
    parse_errors: int = 0  # not JSON, not UTF-8, binary, or JSON that is not an object
    invalid_events: int = 0  # an object without a usable ``ts`` or ``event``
    overlong_lines: int = 0
    late_events: int = 0  # older than the window at the current event-time clock
    future_events: int = 0  # stamped too far beyond the wall clock: ignored, clock unmoved
    rotations: int = 0
    truncations: int = 0
    recreations: int = 0  # the followed file was deleted and a new one appeared
    groups_dropped: int = 0
    alerts: int = 0
    alerts_suppressed: int = 0  # regenerated after a crash but already in alerts.jsonl

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Counters:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names and type(v) is int}
        return cls(**values)


def write_json_atomic(path: Path, payload: object, *, durable: bool) -> None:
    """Writes ``payload`` to a temp file beside ``path``, then renames it over ``path``.

    The temp name is unique (``mkstemp``), so a second writer can never rename this writer's
    half-written file. With ``durable`` the temp file is fsynced before the rename and the
    directory after it, so a crash leaves either the old or the new file, never a torn one.
    """
    data = pretty(payload)
    with atomic_output(path, durable=durable) as handle:
        handle.write(data)


@contextmanager
def atomic_output(path: Path, *, durable: bool = False) -> Iterator[BinaryIO]:
    """A uniquely named temp file beside ``path``, renamed over it only if the block succeeds.

    On any exception (``KeyboardInterrupt`` included) the temp file is removed, so ``path``
    holds either its old content or the complete new one. The file is 0600 (``mkstemp``
    creates it so), a folder created for it 0700. A symlink at ``path`` is replaced by the
    rename, never followed. ``durable``: as ``otel.atomic_write`` (fsynced, its folder too).
    """
    make_private_dir(path.parent)
    with atomic_write(path, durable=durable) as handle:
        yield handle


class StatusFile:
    """Writes ``watcher_status.json`` atomically, at most every ``min_interval_s``.

    Readers (``hub_top``, the hub's ``--watcher``) judge from it whether a watcher runs: its
    ``pid`` (with ``started_at`` against pid reuse), ``state`` (``starting`` once the lock is
    held, ``following``, ``waiting_for_log``, ``stopped`` with a ``stop_reason``) and how old
    ``updated_at`` is against ``interval_ms``.

    Args:
        interval_ms: the poll interval in follow mode (the file is rewritten about every
            ``max(interval_ms, min_interval_s)``); None for ``--once``.
    """

    def __init__(self, path: Path, *, mode: str, log_path: Path, alerts_path: Path,
                 min_interval_s: float = 1.0, interval_ms: int | None = None) -> None:
        self._path = path
        self._static: dict[str, object] = {
            "pid": os.getpid(),
            # The process that started it: on Windows a venv's python.exe is a launcher with
            # a pid of its own, so a supervisor knows its watcher by this too.
            "ppid": os.getppid(),
            "host": socket.gethostname(),  # where the pid means something
            "mode": mode,
            "log": str(log_path),
            "alerts": str(alerts_path),
            "started_at": format_us(int(time.time() * US_PER_S)),
        }
        if interval_ms is not None:
            self._static["interval_ms"] = interval_ms
            self._static["status_interval_ms"] = int(min_interval_s * 1000)
        self._min_interval_s = min_interval_s
        self._last_write = float("-inf")
        self._failing = False  # the last write failed (and said so)
        self._sections: dict[str, Callable[[], object]] = {}

    def add_section(self, name: str, read: Callable[[], object]) -> None:
        """Adds ``name`` to every later write, its value read then (a sink's counters)."""
        self._sections[name] = read

    def starting(self) -> None:
        """Says that this process holds the lock and is loading its state (no counters
        yet): the first write, at once, which is what a parent waits for."""
        self._last_write = time.monotonic()
        now = format_us(int(time.time() * US_PER_S))
        self._write({**self._static, "state": "starting", "updated_at": now})

    def update(self, counters: Counters, *, state: str, lag_bytes: int, last_poll_s: float,
               force: bool = False, stop_reason: str | None = None) -> None:
        now = time.monotonic()
        if not force and now - self._last_write < self._min_interval_s:
            return
        self._last_write = now
        payload: dict[str, object] = dict(self._static)
        payload.update(counters.as_dict())
        payload.update(
            state=state,
            lag_bytes=lag_bytes,
            last_poll=format_us(int(last_poll_s * US_PER_S)),
            updated_at=format_us(int(time.time() * US_PER_S)),
        )
        if stop_reason is not None:
            payload["stop_reason"] = stop_reason
        for name, read in self._sections.items():
            payload[name] = read()
        self._write(payload)

    def _write(self, payload: dict[str, object]) -> None:
        try:
            write_json_atomic(self._path, payload, durable=False)
        except OSError as exc:  # diagnostics only: never worth stopping the watcher for
            if not self._failing:  # once, not every second while the disk stays full
                logger.warning("could not write %s: %s; said again only once it has been "
                               "written", self._path, exc)
            self._failing = True
            return
        if self._failing:
            logger.warning("%s is written again", self._path)
        self._failing = False
