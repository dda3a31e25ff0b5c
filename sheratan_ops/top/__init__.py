"""The live terminal view of the hub (``sheratan-top``, ``scripts/hub_top.py``), split by stage.

- ``top.model``: what one refresh saw (frozen data, no I/O).
- ``top.sources``: reading it: both planes' ``/metrics``, the alerts tail, the watcher status.
- ``top.scrub``: making what was read safe to show: secrets redacted, terminal controls
  escaped.
- ``top.render``: drawing it: a pure function of a snapshot and the one before.
- ``top.cli``: the edge: arguments, environment (read once) and the refresh loop.
"""

from .cli import TopConfig, main, run
from .model import AlertRow, AlertsTail, AlertState, PlaneReading, Snapshot, WatcherStatus
from .render import render
from .scrub import Scrubber
from .sources import fetch, fetch_plane, read_alerts, read_watcher_status

__all__ = [
    "AlertRow",
    "AlertState",
    "AlertsTail",
    "PlaneReading",
    "Scrubber",
    "Snapshot",
    "TopConfig",
    "WatcherStatus",
    "fetch",
    "fetch_plane",
    "main",
    "read_alerts",
    "read_watcher_status",
    "render",
    "run",
]
