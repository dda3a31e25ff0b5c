"""``--watcher``: the audit watcher as a separate process beside the hub.

The hub only starts and stops it; it imports nothing of it. A watcher that crashes, hangs or
is killed never affects the hub, and stopping the hub stops the watcher (it then saves its
checkpoint and exits 0).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0


class WatcherProcess:
    """``python -m watcher --home HOME`` started beside the hub, its output on the hub's console."""

    def __init__(self, home: Path) -> None:
        self._home = home
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        try:
            # Its own process group: a Ctrl+C in the terminal reaches only the hub, which then
            # stops the watcher with one signal (a second one would force the watcher out).
            windows = sys.platform == "win32"
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "watcher", "--home", str(self._home)],
                env=dict(os.environ),
                start_new_session=not windows,
                creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0) if windows else 0,
            )
        except OSError as exc:  # the hub runs on without it
            logger.error("could not start the audit watcher: %s", exc)
            return
        print(f"watcher: started (pid {self._proc.pid}), alerts go to "
              f"{(self._home / 'logs' / 'alerts.jsonl').resolve()}", flush=True)

    def stop(self) -> None:
        """Ask the watcher to stop, wait up to ``STOP_TIMEOUT_S``, then kill it. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        # Windows has no SIGTERM for a child without a console group: terminate() is a hard
        # stop there, which the watcher's checkpoints are built to survive.
        if sys.platform == "win32":
            proc.terminate()
        else:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            logger.warning("the audit watcher did not stop within %.0f s; killing it",
                           STOP_TIMEOUT_S)
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)
