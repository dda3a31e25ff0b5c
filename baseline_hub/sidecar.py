"""``--watcher``: the audit watcher as a supervised process beside the hub.

The hub only starts, watches and stops it; it imports nothing of it (the few names below
mirror ``python -m watcher``'s). A watcher that crashes, hangs or is killed never affects the
hub, and:

- **It lives and dies with the hub.** Its standard input is a pipe whose other end only the
  hub holds (``--stop-on-stdin-eof``). The operating system closes that end when the hub
  exits, however it exits (``kill -9`` and ``TerminateProcess`` included), and the watcher
  then checkpoints and exits 0. A normal stop closes the pipe too: on Windows, where a child
  without a console gets no SIGTERM, that is still a clean stop.
- **The console tells the truth.** "watcher: started" is printed only once the watcher's
  ``state/watcher_status.json`` names its pid as following the log, which it writes once it
  holds the home's watcher lock and has opened its files and state; a watcher that exits
  first is reported with its exit code (3, another watcher runs, in so many words).
- **Alerting never stops silently.** A watcher that exits on its own is started again after
  1 s, doubling up to 30 s, back to 1 s once one ran for a minute; each restart is logged and
  counted in ``state/watcher_supervisor.json``, which ``hub_top`` shows. Exit code 3 (another
  watcher holds the lock) is not a failure to retry quickly: that other watcher is alerting.
  It is said once, and tried again every minute only, so this hub takes over when it goes.
  Every console line goes through :func:`otel.terminal_safe`: the paths it names come from
  ``SHERATAN_HOME``, which may hold escape sequences.
- **A hung watcher is replaced.** A watcher rewrites its status about every second while it
  runs, however busy, and uses some CPU at every poll. One that shows neither sign of life
  for ``HUNG_AFTER_S`` (``heartbeat``) is stopped (SIGSTOP), deadlocked or stuck on a read:
  it is killed once, logged as hung, and restarted like one that died, the backoff counting
  only the time it was alive (its checkpoint makes the new one resume exactly where the old
  one stopped alerting). A pause of the whole machine (a laptop asleep) is not a hang.
- **Stopping shares the hub's budget.** The watcher is asked to stop as soon as the hub is;
  it flushes while the hub shuts its own telemetry down, and is killed if it is not gone
  ``STOP_TIMEOUT_S`` after the request (its checkpoints survive that).

Thread-safety: one supervisor thread starts and reaps the process; ``request_stop`` and
``wait_stopped`` may be called from any thread, and ``_lock`` keeps a process from being
started after a stop was requested.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from otel import atomic_write, terminal_safe
from sheratan_home import HomeLayout

from .heartbeat import HUNG_AFTER_S, Heartbeat, read_status, running_pid, status_age_s
from .timefmt import iso

logger = logging.getLogger(__name__)

#: From the stop request to a killed watcher: inside the 3 s a stopping hub may take, with the
#: hub's own 2 s telemetry shutdown running meanwhile.
STOP_TIMEOUT_S = 2.5
#: How long a started watcher has to say it holds its lock before the console says it has not.
READY_TIMEOUT_S = 10.0
RESTART_INITIAL_S = 1.0
RESTART_MAX_S = 30.0
#: A watcher that ran this long was fine: the next restart waits the initial delay again.
RESTART_STABLE_S = 60.0
#: While another watcher holds the lock, how often this hub tries again.
LOCKED_RETRY_S = 60.0
#: ``python -m watcher``'s exit code when another watcher holds ``state/watcher.lock``.
WATCHER_EXIT_LOCKED = 3
#: ``python -m watcher``'s exit code for a configuration it refuses (a folder as its audit
#: log, say): the same one is refused again, so it is not restarted.
WATCHER_EXIT_USAGE = 2
_POLL_S = 0.05
#: How often a running watcher is looked at: whether it exited, or hangs.
_EXIT_POLL_S = 0.2


class RestartBackoff:
    """The delay before each restart: ``initial_s``, doubling up to ``max_s``, and back to
    ``initial_s`` after a run of at least ``stable_s``. Not thread-safe (one supervisor)."""

    def __init__(self, initial_s: float = RESTART_INITIAL_S, max_s: float = RESTART_MAX_S,
                 stable_s: float = RESTART_STABLE_S) -> None:
        if not 0 < initial_s <= max_s:
            raise ValueError(f"need 0 < initial_s <= max_s, got {initial_s} and {max_s}")
        self._initial_s = initial_s
        self._max_s = max_s
        self._stable_s = stable_s
        self._next_s = initial_s

    def next_delay(self, uptime_s: float) -> float:
        """The wait before restarting a watcher that ran ``uptime_s`` seconds."""
        if uptime_s >= self._stable_s:
            self._next_s = self._initial_s
        delay = self._next_s
        self._next_s = min(self._next_s * 2, self._max_s)
        return delay


@dataclass(frozen=True, slots=True)
class _Run:
    """How one watcher's run ended."""

    code: int | None  # its exit code; None: the hub is stopping
    pid: int | None  # its own pid, once it said it runs (a launcher's child on Windows)
    hung_s: float | None = None  # killed as hung, after this long without a sign of life


def _utc(epoch_s: float | None) -> str | None:
    return None if epoch_s is None else iso(epoch_s)


def _write_json_atomic(path: Path, payload: Mapping[str, object]) -> None:
    """A temp file beside ``path`` (0600, from ``mkstemp``), renamed over it."""
    data = json.dumps(payload, indent=2, sort_keys=True).encode("utf-8")
    with atomic_write(path) as handle:
        handle.write(data)


def _describe_exit(code: int) -> str:
    return f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"


class WatcherSupervisor:
    """Runs ``python -m watcher --home HOME --stop-on-stdin-eof`` beside the hub, restarting it.

    Args:
        home: the hub's ``SHERATAN_HOME``.
        env: the watcher's environment (the hub's, read once by ``__main__``).
        say: prints one line on the hub's console (given it terminal-safe).
        backoff: restart delays (default 1 s doubling to 30 s, reset after a minute).
        ready_timeout_s: how long a new watcher has to confirm that it holds its lock.
        locked_retry_s: the retry interval while another watcher holds the lock.
        hung_after_s: the least time without a sign of life after which a watcher is
            killed as hung (see :class:`heartbeat.Heartbeat`).
    """

    def __init__(self, home: Path, *, env: Mapping[str, str],
                 say: Callable[[str], None] | None = None,
                 backoff: RestartBackoff | None = None,
                 ready_timeout_s: float = READY_TIMEOUT_S,
                 locked_retry_s: float = LOCKED_RETRY_S,
                 hung_after_s: float = HUNG_AFTER_S) -> None:
        self._home = home
        self._env = dict(env)
        self._print = say if say is not None else (lambda line: print(line, flush=True))
        self._backoff = backoff if backoff is not None else RestartBackoff()
        self._ready_timeout_s = ready_timeout_s
        self._locked_retry_s = locked_retry_s
        self._hung_after_s = hung_after_s
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._stop_deadline = float("inf")
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        #: What was last said of another watcher holding the lock ("running" or "hung").
        self._locked_said: str | None = None
        self._refused = False  # the watcher refused its configuration: no more restarts
        #: Watchers started after the first; read by tests and written to the status file.
        self.restarts = 0
        #: The last watcher's exit: code, when, and why if the supervisor ended it ("hung").
        self._last_exit: tuple[int, float, str | None] | None = None
        self._started_at = _utc(time.time())

    @property
    def status_path(self) -> Path:
        return HomeLayout(self._home).supervisor_status

    @property
    def pid(self) -> int | None:
        """The running watcher's pid, if one is running."""
        proc = self._proc
        return None if proc is None or proc.poll() is not None else proc.pid

    def _say(self, line: str) -> None:
        """One line on the console, its control and escape characters shown, not run."""
        self._print(terminal_safe(line))

    def start(self) -> None:
        """Starts the supervisor thread, which starts the watcher. Returns at once."""
        if self._thread is not None:
            raise RuntimeError("the watcher supervisor was started already")
        self._thread = threading.Thread(target=self._supervise, name="watcher-supervisor",
                                        daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Asks the watcher to stop (closes its stdin) and ends the restarts. Returns at once;
        idempotent. The stop budget ``STOP_TIMEOUT_S`` starts at the first call."""
        with self._lock:
            if not self._stopping.is_set():
                self._stop_deadline = time.monotonic() + STOP_TIMEOUT_S
                self._stopping.set()
            proc = self._proc
        if proc is not None:
            _close_stdin(proc)

    def wait_stopped(self) -> None:
        """Waits for the watcher to exit until the stop budget is spent, then kills it."""
        self.request_stop()
        proc = self._proc
        if proc is not None:
            try:
                proc.wait(timeout=max(0.0, self._stop_deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("the audit watcher did not stop within %.1f s; killing it",
                               STOP_TIMEOUT_S)
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT_S)
        if self._thread is not None:
            self._thread.join(timeout=1.0)

    def stop(self) -> None:
        """``request_stop`` and ``wait_stopped``."""
        self.request_stop()
        self.wait_stopped()

    def _supervise(self) -> None:
        try:
            while not self._stopping.is_set():
                delay = self._run_one()
                if delay is None or self._stopping.wait(delay):
                    break
        except Exception:  # a supervisor bug must not take the hub down; say so loudly
            logger.exception("the audit watcher supervisor failed; alerting has stopped")
            self._write_status("failed", None)
            return
        self._write_status("refused" if self._refused else "stopped", None)

    def _spawn(self) -> subprocess.Popen[bytes] | None:
        windows = sys.platform == "win32"
        with self._lock:
            if self._stopping.is_set():
                return None
            # Its own process group: a Ctrl+C in the terminal reaches only the hub, which
            # then stops the watcher once.
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "watcher", "--home", str(self._home),
                 "--stop-on-stdin-eof"],
                env=self._env, stdin=subprocess.PIPE,
                start_new_session=not windows,
                creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0) if windows else 0,
            )
            return self._proc

    def _run_one(self) -> float | None:
        """Starts one watcher and waits for it to end. Returns the delay before the next one,
        or None when the hub is stopping."""
        try:
            proc = self._spawn()
        except OSError as exc:
            self._say(f"watcher: could not start: {exc}")
            return self._retry_later(None, None, 0.0)
        if proc is None:
            return None
        started = time.monotonic()
        self._write_status("starting", proc.pid)
        run = self._watch(proc, started)
        _close_stdin(proc)
        if run.code is None:
            return None
        return self._after_exit(proc.pid, run, time.monotonic() - started)

    def _watch(self, proc: subprocess.Popen[bytes], started: float) -> _Run:
        """Until the watcher exits or the hub stops: says once it runs (or that it has not
        within ``ready_timeout_s``, and when it does later), and kills it once if it hangs."""
        beat = Heartbeat(HomeLayout(self._home).watcher_status, proc.pid,
                         hung_after_s=self._hung_after_s, since=started)
        pid: int | None = None
        slow_said = False
        hung_s: float | None = None
        while not self._stopping.is_set():
            if pid is None:
                pid = self._confirm(proc, started, late=slow_said)
                if pid is None and not slow_said and \
                        time.monotonic() - started > self._ready_timeout_s:
                    self._say(f"watcher: pid {proc.pid} has not said within "
                              f"{self._ready_timeout_s:.0f} s that it is running; not counted "
                              f"as started until it does")
                    slow_said = True
            try:
                code = proc.wait(timeout=_POLL_S if pid is None else _EXIT_POLL_S)
                return _Run(code, pid, hung_s)
            except subprocess.TimeoutExpired:
                pass
            if hung_s is None and (hung_s := beat.silent_s()) is not None:
                proc.kill()  # first: a console that blocks the log line must not delay it
                logger.warning("the audit watcher (pid %d) hangs: no sign of life (its status "
                               "and CPU time) for %.0f s; killed it", pid or proc.pid, hung_s)
        return _Run(None, pid, hung_s)

    def _confirm(self, proc: subprocess.Popen[bytes], started: float, *,
                 late: bool) -> int | None:
        """The watcher's own pid once it says it runs (it holds the lock, its files and state
        are usable), said on the console and in the supervisor's status; else None."""
        pid = running_pid(read_status(HomeLayout(self._home).watcher_status), proc.pid)
        if pid is None:
            return None
        self._locked_said = None
        what = (f"started (pid {pid})" if self.restarts == 0
                else f"restarted (pid {pid}, restart {self.restarts})")
        if late:
            what += f" after {time.monotonic() - started:.0f} s"
        self._say(f"watcher: {what}, alerts go to {HomeLayout(self._home).alerts.resolve()}")
        self._write_status("running", pid)
        return pid

    def _after_exit(self, started_pid: int, run: _Run, uptime_s: float) -> float | None:
        code, confirmed = run.code, run.pid is not None
        assert code is not None
        if self._stopping.is_set():
            return None
        if code == WATCHER_EXIT_USAGE and not confirmed:
            self._say("watcher: not started: it refused its configuration (exit 2, its "
                      "message is above); alerting is off until the hub is started again "
                      "with that fixed")
            self._note_exit(code, hung=False)
            self._refused = True
            return None
        if code == WATCHER_EXIT_LOCKED and not confirmed:
            self._say_locked()
            self._note_exit(code, hung=False)
            self._write_status("locked", None, next_in_s=self._locked_retry_s)
            return self._locked_retry_s
        return self._retry_later(run.pid or started_pid, run, uptime_s)

    def _say_locked(self) -> None:
        """Says, once per change, that another watcher holds the lock: running and alerting,
        or hung (its status unchanged for ``hung_after_s``), when nothing alerts until it is
        stopped. The supervisor kills only the watchers it started."""
        body = read_status(HomeLayout(self._home).watcher_status) or {}
        silent_s = status_age_s(body)
        hung = silent_s is not None and silent_s > self._hung_after_s
        if self._locked_said == ("hung" if hung else "running"):
            return  # said already, not every minute
        where = f"{self._home.resolve()} (it holds state/watcher.lock)"
        if hung:
            self._say(f"watcher: not started: the watcher holding the lock on {where}, pid "
                      f"{body.get('pid', '?')}, has not updated its status for "
                      f"{silent_s:.0f} s: it seems hung, and nothing alerts until it is "
                      f"stopped; this hub tries again every {self._locked_retry_s:.0f} s")
        else:
            self._say(f"watcher: not started: another watcher is already running on {where}; "
                      f"it does the alerting, and this hub tries again every "
                      f"{self._locked_retry_s:.0f} s")
        self._locked_said = "hung" if hung else "running"

    def _retry_later(self, pid: int | None, run: _Run | None, uptime_s: float) -> float:
        """Schedules the next watcher after one that could not start (``run`` None) or
        ended; says why. A hang counts only the time the watcher showed signs of life as its
        run, for the backoff."""
        hung_s = run.hung_s if run is not None else None
        alive_s = uptime_s if hung_s is None else max(0.0, uptime_s - hung_s)
        delay = self._backoff.next_delay(alive_s)
        self.restarts += 1
        if run is None or run.code is None:
            why = "could not be started"
        else:
            self._note_exit(run.code, hung=hung_s is not None)
            stage = "" if run.pid is not None else " before it said it was running"
            ended = "was killed as hung" if hung_s is not None else _describe_exit(run.code)
            why = f"(pid {pid}) {ended} after {uptime_s:.1f} s{stage}"
        logger.warning("the audit watcher %s; restarting it in %.0f s (restart %d)", why,
                       delay, self.restarts)
        self._write_status("restarting", None, next_in_s=delay)
        return delay

    def _note_exit(self, code: int, *, hung: bool) -> None:
        self._last_exit = (code, time.time(), "hung" if hung else None)

    def _write_status(self, state: str, pid: int | None, *,
                      next_in_s: float | None = None) -> None:
        """``state/watcher_supervisor.json``: what ``hub_top`` shows besides the watcher's own
        status. Diagnostics only: a failed write is logged, never fatal."""
        now = time.time()
        code, at, reason = self._last_exit if self._last_exit is not None else (None, None, None)
        payload = {
            "hub_pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": self._started_at,
            "state": state,
            "watcher_pid": pid,
            "restarts": self.restarts,
            "last_exit_code": code,
            "last_exit_reason": reason,
            "last_exit_at": _utc(at),
            "next_start_at": _utc(None if next_in_s is None else now + next_in_s),
            "updated_at": _utc(now),
        }
        try:
            _write_json_atomic(self.status_path, payload)
        except OSError as exc:
            logger.warning("could not write %s: %s", self.status_path, exc)


def _close_stdin(proc: subprocess.Popen[bytes]) -> None:
    """Closes our end of the watcher's lifeline: it sees end of file and stops."""
    if proc.stdin is not None:
        # Already broken (the watcher is gone), or closed by the other thread just now.
        with contextlib.suppress(OSError, ValueError):
            proc.stdin.close()
