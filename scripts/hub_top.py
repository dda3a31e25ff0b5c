"""A live terminal view of the Sheratan hub, for an operator without Grafana.

Usage, from the repository root::

    python scripts/hub_top.py [--control-url URL] [--data-url URL] [--home DIR]
        [--interval-s S] [--alerts N] [--once]

It refreshes both planes' ``GET /metrics`` (no token needed), the watcher's
``state/watcher_status.json`` and the tail of ``logs/alerts.jsonl``, and shows stale or dead
nodes, failure rates above the watcher's default limits, and firing alerts in colour, with
↑/↓ against the previous refresh. A plane that cannot be read is one "hub unreachable"
line, never a traceback.

Exit codes: 0 a frame was drawn (``--once``, also when the hub is unreachable: the frame
says so; use ``smoke_checks.py`` to gate on health) or Ctrl+C left the live view; 2 bad
usage.

The logic lives in ``scripts/top/`` (``top.render`` is the pure rendering function).
"""

from __future__ import annotations

import sys
from pathlib import Path

_SCRIPTS = Path(__file__).resolve().parent
# This folder, for the ``top`` package beside this file, and the repository root, for the
# watcher's share-delete open.
for _entry in (_SCRIPTS, _SCRIPTS.parent):
    if str(_entry) not in sys.path:
        sys.path.insert(0, str(_entry))

from top.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
