"""Delivery of the watcher's alerts to Alertmanager's API v2, off the reading thread.

:class:`AlertmanagerSink` keeps the newest state of each episode (the *book*: every firing
episode, and resolved ones for ``RESOLVED_RETENTION_S``). ``emit`` only records the new
states and marks their ids dirty for every Alertmanager: it takes a lock for a few dict
updates and never waits on the network, so reading the audit log never slows down.

One sender thread per Alertmanager posts the dirty episodes in their newest state (states
that changed twice before a post are sent once: the queue is a set of episodes, bounded by
the book), and every ``resend_interval_s`` all of the book, so that a restarted Alertmanager
learns within one interval what is still firing (Alertmanager resolves a firing alert it is
not told about again within its ``resolve_timeout``). A failed post is retried with
exponential backoff, capped at half the re-send interval; the first post that succeeds after a
failure sends the whole book, since the Alertmanager may have restarted meanwhile. An
answer of 400 means Alertmanager rejected alerts as invalid: counted, not retried. A post
has a deadline for the whole exchange, not only for each read: an endpoint that answers a
byte at a time would otherwise hold the sender for good. So the sender thread runs its own
asyncio loop, whose ``wait_for`` cancels a post at its deadline, which a blocking client
cannot do.

After a restart of the watcher the book is rebuilt in the background from the tail of
``alerts.jsonl`` (the durable record; the engine's state is not the sink's business): the
newest line of each episode tells whether it still fires, and those that do are sent at
once. Alerts regenerated after a crash that are already in the file never reach the sinks,
so the file is exactly what was alerted.

Thread-safety: ``emit``, ``status`` and ``close`` may be called from any thread; the book
and each target guard their state with their own lock.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import httpx
import msgspec

from watcher._alert import Alert, AlertState
from watcher._am_alerts import REBUILD_TAIL_BYTES, AlertLabeler, label_guard, read_alert_lines
from watcher._am_config import AlertmanagerConfig, alerts_endpoint, display_url
from watcher._sinks import AlertSink
from watcher._timefmt import US_PER_S, format_us

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0
INITIAL_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0
#: Alerts per POST; a bigger book goes in several.
MAX_BATCH = 500
#: The most episodes the book holds; beyond it the oldest resolved go first (counted).
DEFAULT_MAX_EPISODES = 50_000
#: How long a resolved episode stays in the book, and so in each re-send (as Prometheus
#: keeps sending resolved alerts for 15 minutes): an Alertmanager that missed the resolve
#: learns it.
RESOLVED_RETENTION_S = 900.0
#: The longest ``close`` waits for the last posts (and the rebuild) to finish: short, since
#: the hub's --watcher stop shares 2.5 s with the OTel log export's own shutdown.
CLOSE_TIMEOUT_S = 1.0
_JSON = {"Content-Type": "application/json"}


def _supersedes(new: Alert, old: Alert) -> bool:
    """An episode never fires again once resolved; otherwise the later state wins."""
    if old.state is AlertState.RESOLVED and new.state is AlertState.FIRING:
        return False
    return new.ts_us >= old.ts_us


class _Book:
    """The newest state of each episode, with when it was recorded (monotonic)."""

    def __init__(self, *, max_episodes: int, retention_s: float,
                 clock: Callable[[], float]) -> None:
        self._lock = threading.Lock()
        self._episodes: dict[str, tuple[Alert, float]] = {}
        self._max = max_episodes
        self._retention_s = retention_s
        self._clock = clock
        self.dropped = 0

    def record(self, alerts: Iterable[tuple[Alert, float]]) -> list[str]:
        """Keeps each alert that supersedes what the book has. Returns the ids kept."""
        kept: list[str] = []
        with self._lock:
            for alert, at in alerts:
                old = self._episodes.pop(alert.alert_id, None)
                if old is not None and not _supersedes(alert, old[0]):
                    self._episodes[alert.alert_id] = old
                    continue
                self._episodes[alert.alert_id] = (alert, at)  # re-inserted: newest last
                kept.append(alert.alert_id)
            if len(self._episodes) > self._max:
                self._evict(len(self._episodes) - self._max)
        return kept

    def _evict(self, excess: int) -> None:
        resolved = [key for key, (alert, _) in self._episodes.items()
                    if alert.state is AlertState.RESOLVED][:excess]
        victims = resolved + list(itertools.islice(
            (key for key, (alert, _) in self._episodes.items()
             if alert.state is AlertState.FIRING), excess - len(resolved)))
        for key in victims:
            del self._episodes[key]
        self.dropped += len(victims)

    def get(self, ids: Iterable[str]) -> list[Alert]:
        with self._lock:
            return [entry[0] for key in ids if (entry := self._episodes.get(key))]

    def current(self) -> list[Alert]:
        """Every firing episode, and the resolved ones still retained (others are dropped)."""
        horizon = self._clock() - self._retention_s
        with self._lock:
            expired = [key for key, (alert, at) in self._episodes.items()
                       if alert.state is AlertState.RESOLVED and at < horizon]
            for key in expired:
                del self._episodes[key]
            return [alert for alert, _ in self._episodes.values()]

    def firing(self) -> int:
        with self._lock:
            return sum(1 for alert, _ in self._episodes.values()
                       if alert.state is AlertState.FIRING)


class _Target:
    """One Alertmanager: its dirty set, backoff, counters and sender thread."""

    def __init__(self, url: str, book: _Book, labeler: AlertLabeler, *,
                 resend_interval_s: float, timeout_s: float,
                 clock: Callable[[], float], transport: httpx.AsyncBaseTransport | None) -> None:
        self.name = display_url(url)
        self._endpoint = alerts_endpoint(url)
        self._book = book
        self._labeler = labeler
        self._resend_s = resend_interval_s
        self._timeout_s = timeout_s
        # Half the re-send interval: an Alertmanager back from an outage has every firing
        # alert again well within one interval.
        self._max_backoff_s = min(MAX_BACKOFF_S, resend_interval_s / 2)
        self._clock = clock
        self._transport = transport
        self._cond = threading.Condition()
        self._dirty: dict[str, None] = {}  # an ordered set
        self._full = True  # everything at the first chance
        self._next_full = 0.0
        self._retry_at = 0.0
        self._backoff_s = 0.0
        self._stopping = False
        self._last_attempt = False
        self._deadline = float("inf")
        self.sent = self.posts = self.failures = self.rejected = 0
        self.last_success: str | None = None
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name=f"alertmanager {self.name}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def mark(self, ids: Sequence[str]) -> None:
        with self._cond:
            self._dirty.update(dict.fromkeys(ids))
            self._cond.notify()

    def request_full(self) -> None:
        with self._cond:
            self._full = True
            self._cond.notify()

    def stop(self, deadline: float) -> None:
        """Asks for one last post of what is pending, to finish by ``deadline``."""
        with self._cond:
            self._stopping = True
            self._deadline = deadline
            self._cond.notify()

    def join(self, timeout_s: float) -> None:
        if self._thread.is_alive():
            self._thread.join(max(0.0, timeout_s))

    def status(self) -> dict[str, object]:
        with self._cond:
            pending = len(self._dirty)
        return {"url": self.name, "sent": self.sent, "posts": self.posts,
                "failures": self.failures, "rejected": self.rejected, "pending": pending,
                "backoff_s": round(self._backoff_s, 3), "last_success": self.last_success,
                "last_error": self.last_error}

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except Exception:  # telemetry never takes the watcher down
            logger.exception("Alertmanager sender for %s stopped", self.name)

    async def _serve(self) -> None:
        async with httpx.AsyncClient(timeout=self._timeout_s, transport=self._transport) as client:
            # Waiting for work blocks this thread's loop, which has nothing else to run.
            while (work := self._next_work()) is not None:
                full, ids = work
                self._after(await self._send(client, full, ids), full, ids)

    def _next_work(self) -> tuple[bool, list[str]] | None:
        """Waits until something is due: (whether to send the whole book, dirty ids).
        Once stopping: one last attempt at what is pending, then None."""
        with self._cond:
            while True:
                if self._stopping:
                    if self._last_attempt or not (self._dirty or self._full):
                        return None
                    self._last_attempt = True
                    return self._take()
                now = self._clock()
                if now >= self._retry_at and (self._dirty or self._full
                                              or now >= self._next_full):
                    return self._take()
                wake = self._retry_at if now < self._retry_at else self._next_full
                self._cond.wait(max(0.01, wake - now))

    def _take(self) -> tuple[bool, list[str]]:
        full = self._full or self._clock() >= self._next_full
        ids = list(self._dirty)
        self._dirty.clear()
        self._full = False
        return full, ids

    def _after(self, ok: bool, full: bool, ids: list[str]) -> None:
        with self._cond:
            now = self._clock()
            if ok:
                self._backoff_s = 0.0
                self._retry_at = 0.0
                if full:
                    self._next_full = now + self._resend_s
                return
            self._dirty.update(dict.fromkeys(ids))
            # Whatever was lost, the Alertmanager may have restarted: tell it everything.
            self._full = True
            self._backoff_s = min(max(INITIAL_BACKOFF_S, self._backoff_s * 2),
                                  self._max_backoff_s)
            self._retry_at = now + self._backoff_s * random.uniform(0.8, 1.0)

    async def _send(self, client: httpx.AsyncClient, full: bool, ids: list[str]) -> bool:
        alerts = self._book.current() if full else self._book.get(ids)
        try:
            payloads = [self._labeler.to_api(alert) for alert in alerts]
            for start in range(0, len(payloads), MAX_BATCH):
                if not await self._post(client, payloads[start:start + MAX_BATCH]):
                    return False
        except Exception as exc:  # a transport error, or a bug: counted, retried
            self._failed(type(exc).__name__)
            return False
        return True

    async def _post(self, client: httpx.AsyncClient, batch: list[dict[str, object]]) -> bool:
        timeout = self._timeout_s
        if self._stopping:
            timeout = min(timeout, max(0.05, self._deadline - self._clock()))
        try:
            reply = await asyncio.wait_for(
                client.post(self._endpoint, content=msgspec.json.encode(batch), headers=_JSON,
                            timeout=timeout),
                timeout)
        except TimeoutError:  # the whole exchange; httpx's own timeouts are per read
            self._failed(f"no complete answer within {timeout:.1f} s")
            return False
        self.posts += 1
        if reply.status_code == 400:  # some alerts invalid; Alertmanager kept the others
            self.rejected += 1
            logger.warning("Alertmanager %s rejected alerts: %s", self.name,
                           reply.text[:200].replace("\n", " "))
            return True
        if reply.status_code >= 300:
            self._failed(f"HTTP {reply.status_code}")
            return False
        self.sent += len(batch)
        if self.last_error is not None:
            logger.warning("Alertmanager %s reachable again", self.name)
            self.last_error = None
        self.last_success = format_us(int(time.time() * US_PER_S))
        return True

    def _failed(self, error: str) -> None:
        self.failures += 1
        if self.last_error is None:
            logger.warning("cannot post alerts to Alertmanager %s (%s); retrying with backoff",
                           self.name, error)
        self.last_error = error


class AlertmanagerSink(AlertSink):
    """Posts alerts to one or more Alertmanagers without ever blocking the caller.

    Args:
        config: the URLs, the ``instance`` label and the re-send interval.
        labeler: builds the API's labels and annotations.
        alerts_path: the watcher's ``alerts.jsonl``; its tail rebuilds what is firing after
            a restart (None: start empty).
        timeout_s: the longest one POST may take, from connecting to the answer's last byte.
        max_episodes: bound on the book (the queue is a subset of it).
        clock: monotonic seconds (tests pass a fake).
        transport: an httpx async transport (tests); default: the network.
    """

    def __init__(self, config: AlertmanagerConfig, labeler: AlertLabeler, *,
                 alerts_path: Path | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                 max_episodes: int = DEFAULT_MAX_EPISODES,
                 clock: Callable[[], float] = time.monotonic,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        if not config.urls:
            raise ValueError("AlertmanagerSink needs at least one URL")
        if timeout_s <= 0 or max_episodes < 1:
            raise ValueError(f"timeout_s must be > 0 and max_episodes >= 1, got {timeout_s} "
                             f"and {max_episodes}")
        self._clock = clock
        self._book = _Book(max_episodes=max_episodes, retention_s=RESOLVED_RETENTION_S,
                           clock=clock)
        self._targets = tuple(
            _Target(url, self._book, labeler, resend_interval_s=config.resend_interval_s,
                    timeout_s=timeout_s, clock=clock, transport=transport)
            for url in config.urls)
        self._closed = False
        self._loader: threading.Thread | None = None
        for target in self._targets:
            target.start()
        if alerts_path is not None:
            self._loader = threading.Thread(target=self._rebuild, args=(alerts_path,),
                                            name="alertmanager rebuild", daemon=True)
            self._loader.start()

    def emit(self, alerts: Sequence[Alert]) -> None:
        if not alerts or self._closed:
            return
        now = self._clock()
        kept = self._book.record((alert, now) for alert in alerts)
        for target in self._targets:
            target.mark(kept)

    def _rebuild(self, path: Path) -> None:
        try:
            newest: dict[str, Alert] = {}
            for alert in read_alert_lines(path, tail_bytes=REBUILD_TAIL_BYTES):
                old = newest.get(alert.alert_id)
                if old is None or _supersedes(alert, old):
                    newest[alert.alert_id] = alert
            now, wall_us = self._clock(), int(time.time() * US_PER_S)
            # A resolved episode counts as recorded when it resolved, so old ones stay out.
            states = [(alert, now - max(0.0, (wall_us - alert.ts_us) / US_PER_S))
                      for alert in newest.values()
                      if alert.state is AlertState.FIRING
                      or wall_us - alert.ts_us <= RESOLVED_RETENTION_S * US_PER_S]
            self._book.record(states)
        except Exception:  # the live alerts still go out
            logger.warning("could not rebuild the firing alerts from %s", path, exc_info=True)
            return
        for target in self._targets:
            target.request_full()

    def status(self) -> dict[str, object]:
        """Delivery counters for the status file: per Alertmanager, and the book's."""
        return {"firing": self._book.firing(), "dropped": self._book.dropped,
                "targets": [target.status() for target in self._targets]}

    def close(self) -> None:
        """Makes a last attempt at what is pending, for at most ``CLOSE_TIMEOUT_S``; the
        sender threads are daemons, so a hung Alertmanager never holds the exit. Safe to
        call twice."""
        if self._closed:
            return
        self._closed = True
        deadline = self._clock() + CLOSE_TIMEOUT_S
        if self._loader is not None:
            self._loader.join(CLOSE_TIMEOUT_S / 2)
        for target in self._targets:
            target.stop(deadline)
        for target in self._targets:
            target.join(deadline - self._clock())


def build_alertmanager_sink(config: AlertmanagerConfig, *, alerts_path: Path,
                            env: Mapping[str, str], home: Path,
                            token_files: Sequence[Path] = ()) -> AlertmanagerSink:
    """The wiring for follow mode and ``--once``: a sink that rebuilds from ``alerts_path``.

    Args:
        env: the environment as read once by ``__main__`` (for the known secrets).
        home: the hub's ``SHERATAN_HOME``; token_files: the ``--token-file`` paths.
    """
    labeler = AlertLabeler(config.instance, label_guard(env, home=home, token_files=token_files))
    return AlertmanagerSink(config, labeler, alerts_path=alerts_path)
