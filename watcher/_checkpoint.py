"""The checkpoint and the exactly-once bookkeeping around ``alerts.jsonl``.

A checkpoint is written (temp file, fsync, rename) only after the alerts of everything before
its cursor are fsynced in ``alerts.jsonl``. It holds, as of that cursor: the log cursor, the
engine's window and alert state, the counters, and ``alerts_bytes``, the size of
``alerts.jsonl`` at that moment.

After a crash the watcher resumes at the cursor and regenerates, deterministically, the alerts
of the lines after it. Those already written are exactly the lines of ``alerts.jsonl`` past
``alerts_bytes``; their keys are loaded into a suppression set and each is skipped once.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from otel import open_regular
from otel.auditlog import Cursor, is_int64
from watcher._alert import alert_key_from_dict
from watcher._json import DECODE_ERRORS
from watcher._snapshot import is_empty as snapshot_is_empty
from watcher._status import write_json_atomic

logger = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
MAX_SUPPRESS_SCAN_BYTES = 16 << 20
AlertKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Everything needed to resume exactly where a run stopped."""

    log_path: str
    alerts_path: str
    alerts_bytes: int
    cursor: Cursor | None
    engine: dict[str, Any] | None
    counters: dict[str, int] = field(default_factory=dict)

    def inconsistency(self) -> str | None:
        """Why the parts of this checkpoint cannot all be true at once, or None if they can.

        A watcher writes them together: no engine state without a cursor (no line was read),
        and none of either missing. A hand edit or a foreign writer can break that, and a
        partial resume would then lose or repeat alerts.
        """
        if self.alerts_bytes < 0:
            return f"alerts_bytes is negative: {self.alerts_bytes}"
        if self.engine is None:
            return None if self.cursor is None else "a log cursor without engine state"
        if self.cursor is None and not snapshot_is_empty(self.engine):
            return "engine state without a log cursor"
        return None

    def to_dict(self) -> dict[str, object]:
        return {
            "version": CHECKPOINT_VERSION,
            "log": self.log_path,
            "alerts": self.alerts_path,
            "alerts_bytes": self.alerts_bytes,
            "cursor": None if self.cursor is None else self.cursor.to_dict(),
            "engine": self.engine,
            "counters": self.counters,
        }


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Writes durably and atomically: a crash leaves the old or the new checkpoint."""
    write_json_atomic(path, checkpoint.to_dict(), durable=True)


def load_checkpoint(path: Path) -> Checkpoint | None:
    """Reads a checkpoint; a missing one gives None, and so does a corrupt or inconsistent one
    (with a warning): the watcher then starts over without losing or repeating alerts."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = msgspec.json.decode(raw)
        if data.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"unknown version {data.get('version')!r}")
        cursor_raw = data["cursor"]
        engine = data["engine"]
        alerts_bytes = data["alerts_bytes"]
        if not is_int64(alerts_bytes) or not isinstance(engine, dict | None):
            raise ValueError("bad alerts_bytes or engine")
        checkpoint = Checkpoint(
            log_path=str(data["log"]),
            alerts_path=str(data["alerts"]),
            alerts_bytes=alerts_bytes,
            cursor=None if cursor_raw is None else Cursor.from_dict(cursor_raw),
            engine=engine,
            counters={k: v for k, v in dict(data.get("counters", {})).items() if is_int64(v)},
        )
        problem = checkpoint.inconsistency()
        if problem is not None:
            raise ValueError(f"inconsistent: {problem}")
        return checkpoint
    except (*DECODE_ERRORS, AttributeError, KeyError, TypeError, ValueError) as exc:
        logger.warning("ignoring corrupt checkpoint %s: %s", path, exc)
        return None


def written_alert_keys(alerts_path: Path, from_bytes: int) -> set[AlertKey]:
    """Keys of the alerts written at or after byte ``from_bytes`` of ``alerts.jsonl``.

    If the file is now shorter than ``from_bytes`` (it was rotated or replaced), the whole
    file is scanned. The scan is bounded to the last 16 MiB.
    """
    try:
        handle = open_regular(alerts_path)
    except FileNotFoundError:
        return set()
    with handle:
        size = os.fstat(handle.fileno()).st_size
        start = from_bytes if 0 <= from_bytes <= size else 0
        start = max(start, size - MAX_SUPPRESS_SCAN_BYTES)
        handle.seek(start)
        data = handle.read()
    if start and start != from_bytes:
        data = data[data.find(b"\n") + 1:]  # began mid-line
    keys: set[AlertKey] = set()
    for line in data.split(b"\n"):
        try:
            obj = msgspec.json.decode(line)
        except DECODE_ERRORS:
            continue
        if isinstance(obj, dict):
            key = alert_key_from_dict(obj)
            if key is not None:
                keys.add(key)
    return keys
