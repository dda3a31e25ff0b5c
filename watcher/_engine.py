"""Event-time sliding windows and alert state: audit lines in, alerts out.

Time is the audit lines' own ``ts`` (kept as a ``timedelta`` since the epoch, see
``_timefmt``), never the wall clock, so the same log always yields the same alerts. The clock
is the highest ``ts`` seen so far.

How a line flows: it is decoded into a record of the fields the rules read; if it moves the
clock past a due change (a resolve or a repeat) or a sweep, those run first, in time order (a
change due at t waits until every line stamped t is in). Then each rule of its event counts
it: an ignored client is skipped, a line older than the window is late (counted, dropped),
and otherwise its time goes into its group's window, which forgets what left the window; a
quiet group with more events than the threshold fires.

Each group's episode is a small state machine: quiet -> firing (on a line, when the count
exceeds the threshold) -> firing again every ``repeat_after_s`` while it stays over ->
resolved, back to quiet, at the exact moment the windowed count drops to the threshold. A
resolve or repeat is stamped with the time it happened, not the time it was noticed; a heap
of due times (one entry per firing episode, checked when it comes up) says what is next.

A line older than the clock but inside the window still counts. A group's count is checked
when a line arrives, against the window ending at the clock: a burst whose lines arrive out
of order, so that it peaked before the clock, may not fire (the hub writes in order). A line
stamped more than ``MAX_FUTURE_SKEW_S`` beyond the wall clock is counted as a future event
and ignored entirely: audit lines are written in the past, so the wall clock bounds them in
every mode, and ``--replay`` of real logs stays deterministic. A line stamped before
``_EARLIEST`` (0001-01-08 UTC) is an invalid event.

Not thread-safe: one engine per reader thread.
"""

from __future__ import annotations

import bisect
import heapq
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import msgspec

from otel import ValueGuard
from otel.auditlog import AuditFormat, AuditRecord, RecordDecoder
from watcher._alert import Alert, AlertState, GroupKey, make_alert_id
from watcher._groups import Episode, RuleState, Window, trim
from watcher._guard import default_value_guard
from watcher._keys import ignore_checks
from watcher._rules import MAX_WINDOW_S, RuleSet
from watcher._snapshot import NEVER_US, decode_into, encode, snapshot_clock_us
from watcher._status import Counters
from watcher._timefmt import EPOCH, MIN_TIME, US_PER_S, format_us, from_us, to_us

DEFAULT_MAX_GROUPS_PER_RULE = 10_000
#: A line stamped further than this beyond the wall clock is counted and ignored: it would
#: otherwise move the clock and make every real line after it late.
MAX_FUTURE_SKEW_S = 300.0
#: Idle groups are swept out every this many (longest) windows of event time. A sweep costs
#: a look at every group (with one window between sweeps, each group of a sparse log was
#: looked at twice), and each group it drops costs a new window if its client comes back:
#: per 1M lines of today's mix (200 clients, each back every few minutes) four windows made
#: 316,000 windows and sixteen 210,000, 3% of a replay (1-2% on a scan from 170,000 clients;
#: 64 gained no more). Memory stays bounded by ``max_groups_per_rule``, which evicts idle
#: groups itself when full.
SWEEP_EVERY_WINDOWS = 16
_NEVER = from_us(NEVER_US)
#: The earliest time a line may set the clock to: a longest window after the first instant
#: a datetime holds (0001-01-01 UTC), so every time an alert can name is one it can print.
#: Once the clock is set, anything before this is older than every window and so late.
_EARLIEST = MIN_TIME + from_us(round(MAX_WINDOW_S * US_PER_S))
#: What the fast decoder raises on a line it cannot take (a ValidationError is a
#: DecodeError too): such a line goes to the careful decoder, which counts it.
_DECODE_FAILURES = (msgspec.DecodeError, RecursionError)

#: A due change: (when, episode seq, rule index, group key). Outdated ones are skipped.
_Due = tuple[timedelta, int, int, GroupKey]


class Engine:
    """Evaluates rules over audit lines.

    Args:
        rules: the validated rules.
        counters: where parse errors, late and future events are counted.
        wall_clock: seconds since the epoch; only bounds how far in the future a line may be.
        max_groups_per_rule: bound on live ``group_by`` groups per rule. Groups with empty
            windows are evicted on a sweep every ``SWEEP_EVERY_WINDOWS`` windows of event
            time, and at once when the bound is reached; if that is not enough, a tenth of the
            bound goes, the least recently active groups that are not firing (counted).
            Firing groups are never dropped, so they may exceed the bound.
        value_guard: makes every string group value safe to show (an IP address becomes
            canonical, a secret becomes ``[redacted]``); its bounded LRU of verdicts is the
            engine's cache of string values. The default knows no secret values, only
            patterns: the watcher passes one that knows its secrets (``_guard``).
        audit_format: how the hub's audit lines name their fields and write their time
            (default: the contract's line).
    """

    def __init__(self, rules: RuleSet, counters: Counters, *,
                 wall_clock: Callable[[], float] = time.time,
                 max_groups_per_rule: int = DEFAULT_MAX_GROUPS_PER_RULE,
                 value_guard: ValueGuard | None = None,
                 audit_format: AuditFormat | None = None) -> None:
        if max_groups_per_rule < 1:
            raise ValueError(f"max_groups_per_rule must be >= 1, got {max_groups_per_rule}")
        self.counters = counters
        self._wall_clock = wall_clock
        self._max_groups = max_groups_per_rule
        guard = (value_guard if value_guard is not None else default_value_guard()).guard
        self._states = tuple(
            RuleState(i, rule, ignores, guard)
            for i, (rule, ignores) in enumerate(zip(rules.rules, ignore_checks(rules),
                                                    strict=True)))
        for state in self._states:
            # A zero window never fires and a zero repeat re-arms at the same instant forever.
            if state.window_us < 1 or state.repeat_us < 1:
                raise ValueError(f"rule {state.rule.name!r}: window_s and repeat_after_s must "
                                 f"be at least 1 us, got {state.rule.window_s!r} and "
                                 f"{state.rule.repeat_after_s!r}")
        by_event: dict[str, list[RuleState]] = {}
        for state in self._states:
            by_event.setdefault(state.rule.event, []).append(state)
        self._by_event = {event: tuple(states) for event, states in by_event.items()}
        self._grouped = tuple(s for s in self._states if s.fields)  # a global rule never sweeps
        self._max_window = max((s.window for s in self._states), default=from_us(US_PER_S))
        self._decoder = RecordDecoder((f for s in self._states for f in s.fields), counters,
                                      audit_format=audit_format)
        self._clock = _NEVER
        self._next_sweep = _NEVER
        self._dues: list[_Due] = []
        self._seq = 0  # the last episode's number
        self._pending: list[Alert] = []
        #: The latest time a line may carry (the wall clock plus the skew), read per feed.
        self._horizon = _NEVER
        #: The earliest time past which a line needs more than counting: something is due,
        #: a sweep, or the horizon. Lines up to it only move the clock.
        self._wake_at = _NEVER

    @property
    def clock_us(self) -> int | None:
        """The event-time clock: the highest timestamp seen, or None before the first line."""
        return None if self._clock == _NEVER else to_us(self._clock)

    def take_alerts(self) -> list[Alert]:
        """Returns and forgets the alerts produced since the last call, in order."""
        alerts, self._pending = self._pending, []
        return alerts

    def feed(self, lines: Sequence[bytes], *, ascii: bool = False) -> None:
        """Evaluates complete audit lines (without their newline). Garbage is counted.

        Args:
            ascii: the caller knows every line is ASCII (the reader checks a whole chunk at
                once, which is cheaper than a check per line).
        """
        self._horizon = self._horizon_now()
        self._set_wake()
        by_event = self._by_event
        for record in self._decode(lines, ascii):
            if record is None:
                continue  # garbage: counted by the careful decoder
            t = record.ts - EPOCH
            if t > self._clock:
                if t > self._wake_at and not self._move_clock_for_line(t):
                    continue
                self._clock = t
            for state in by_event.get(record.event, ()):
                self._count(state, record, t)
        self.counters.lines_read += len(lines)

    def _decode(self, lines: Sequence[bytes], ascii: bool) -> list[AuditRecord | None]:
        """The records of ``lines``, None for garbage (counted).

        The lines of an ASCII chunk go to the fast decoder all at once: ``map`` calls it from
        C, and decoding the chunk before evaluating it took 9% off a replay of today's mix
        (3% off the one-third scan). If it refuses a line, the chunk is decoded again line
        by line (a chunk with garbage pays up to twice): an ASCII line goes to the fast
        decoder; any other, and any the fast decoder refuses, to the careful one.
        """
        decode, careful = self._decoder.decode, self._decoder.careful
        if ascii:
            try:
                return list(map(decode, lines))
            except _DECODE_FAILURES:
                pass
        records: list[AuditRecord | None] = []
        for line in lines:
            try:
                records.append(decode(line) if line.isascii() else careful(line))
            except _DECODE_FAILURES:
                records.append(careful(line))
        return records

    def advance_to(self, now_us: int) -> None:
        """Moves the clock forward without a line (follow mode, on an idle live log)."""
        now = from_us(now_us)
        if now > self._clock:
            self._move_clock(now)
            self._clock = now

    def _horizon_now(self) -> timedelta:
        """The latest timestamp a line may carry now: the wall clock plus the allowed skew."""
        return from_us(int((self._wall_clock() + MAX_FUTURE_SKEW_S) * US_PER_S))

    def _move_clock_for_line(self, t: timedelta) -> bool:
        """Runs what is due before a line at ``t``; False if the line may not move the clock."""
        if t > self._horizon:
            self.counters.future_events += 1
            return False
        if t < _EARLIEST:  # only while the clock is unset: later, such a line is late
            self.counters.invalid_events += 1
            return False
        self._move_clock(t)
        return True

    def _move_clock(self, now: timedelta) -> None:
        """Applies the due changes before ``now``, then sweeps if one is due."""
        if self._dues and now > self._dues[0][0]:
            self._run_due(now)
        if now > self._next_sweep:
            self._sweep(now)
        self._set_wake()

    def _set_wake(self) -> None:
        due = self._dues[0][0] if self._dues else self._horizon
        self._wake_at = min(due, self._next_sweep, self._horizon)

    def _count(self, state: RuleState, record: AuditRecord, t: timedelta) -> None:
        """Counts one line under one rule: ignored, late, or into its group's window."""
        key = state.key_of(record)
        if key is None:  # an ignored client
            return
        floor = self._clock - state.window
        if t <= floor:  # (a line at the clock never is: windows are at least 1 us)
            self.counters.late_events += 1
            return
        groups = state.groups
        window = groups.get(key)
        if window is None and len(groups) < self._max_groups:
            window = groups[key] = deque()  # a new group, with room for it
        elif window is None or len(groups) >= self._max_groups:
            window = self._window_for(state, key, window, floor)
        # Slide the window: add the event, forget those at or before the floor (never all:
        # t is after it). Inline, as a function call here cost 3% of a replay.
        if window and t < window[-1]:
            bisect.insort(window, t)  # a line out of order
        else:
            window.append(t)
        while window[0] <= floor:
            window.popleft()
        if len(window) > state.threshold and key not in state.episodes:
            self._fire(state, key, window)

    def _window_for(self, state: RuleState, key: GroupKey, window: Window | None,
                    floor: timedelta) -> Window:
        """The window of a group that is new, or of a rule that may be at its bound.

        At the bound an idle group counts as new, as it does after a restart (a checkpoint
        leaves idle groups out): a running and a restored watcher must drop the same groups.
        """
        if window is not None and state.over_bound(self._max_groups) and \
                state.is_idle(key, window, floor):
            del state.groups[key]
            window = None
        if window is None:
            if state.over_bound(self._max_groups):
                self._make_room(state)
            window = state.groups[key] = deque()
        return window

    def _make_room(self, state: RuleState) -> None:
        """Makes room for a new group of a rule at its bound.

        The idle groups go first. If that is not enough (more live groups than the bound, as
        in a scan from many clients), the tenth of the bound that was least recently active
        goes too, but never a firing group; each is counted as dropped. One scan then makes
        room for many new groups, where dropping one at a time cost a scan per line.
        """
        state.evict_idle(self._clock)
        if not state.over_bound(self._max_groups):
            return
        victims = state.least_active(max(1, self._max_groups // 10))
        for key in victims:
            del state.groups[key]
        self.counters.groups_dropped += len(victims)

    # The episode's state machine: _fire (quiet -> firing), then at each due change either
    # _repeat (firing -> firing) or _resolve (firing -> quiet).

    def _fire(self, state: RuleState, key: GroupKey, window: Window) -> None:
        self._seq += 1
        first_seen = window[0]
        episode = state.episodes[key] = Episode(
            seq=self._seq,
            alert_id=make_alert_id(state.rule.name, key, to_us(first_seen)),
            first_seen=first_seen,
            last_seen=window[-1],  # the newest event is the last to leave the window
            last_emit=self._clock,
        )
        self._emit(state, key, window, episode, self._clock, AlertState.FIRING)
        self._schedule(state.due(window, episode)[0], state, key, episode)

    def _run_due(self, now: timedelta) -> None:
        """Applies, in time order, every due change before ``now``."""
        dues = self._dues
        while dues and dues[0][0] < now:
            when, seq, index, key = heapq.heappop(dues)
            state = self._states[index]
            episode = state.episodes.get(key)
            if episode is not None and episode.seq == seq:
                self._change(state, key, episode, when)
            # else: an outdated entry of an episode that has ended

    def _change(self, state: RuleState, key: GroupKey, episode: Episode,
                when: timedelta) -> None:
        """The due change of a firing group at ``when``: a repeat, a resolve, or neither yet."""
        window = state.groups[key]
        newest = window[-1] if window else None
        trim(window, when - state.window)
        resolve = True
        if len(window) > state.threshold:
            actual, resolve = state.due(window, episode)
            if actual != when:  # events since it was scheduled moved it later
                self._schedule(actual, state, key, episode)
                return
        # else already down to its threshold: events of one instant left the window
        # together, at `when`, and lines stamped `when` trimmed them before this ran.
        if newest is not None:
            episode.last_seen = max(episode.last_seen, newest)
        if resolve:
            self._resolve(state, key, window, episode, when)
        else:
            self._repeat(state, key, window, episode, when)

    def _repeat(self, state: RuleState, key: GroupKey, window: Window, episode: Episode,
                when: timedelta) -> None:
        episode.last_emit = when
        self._emit(state, key, window, episode, when, AlertState.FIRING)
        following = state.due(window, episode)[0]
        if following <= when:  # would come up again at once, forever (rules forbid it)
            raise RuntimeError(f"rule {state.rule.name!r}: next change at {following} us is "
                               f"not after {when} us")
        self._schedule(following, state, key, episode)

    def _resolve(self, state: RuleState, key: GroupKey, window: Window, episode: Episode,
                 when: timedelta) -> None:
        del state.episodes[key]
        self._emit(state, key, window, episode, when, AlertState.RESOLVED)

    def _schedule(self, when: timedelta, state: RuleState, key: GroupKey,
                  episode: Episode) -> None:
        heapq.heappush(self._dues, (when, episode.seq, state.index, key))
        self._wake_at = min(self._wake_at, when)

    def _sweep(self, now: timedelta) -> None:
        for state in self._grouped:
            state.evict_idle(now)
        self._next_sweep = now + SWEEP_EVERY_WINDOWS * self._max_window

    def _emit(self, state: RuleState, key: GroupKey, window: Window, episode: Episode,
              ts: timedelta, alert_state: AlertState) -> None:
        rule = state.rule
        self._pending.append(Alert(
            ts_us=to_us(ts),
            alert_id=episode.alert_id,
            rule=rule.name,
            event=rule.event,
            state=alert_state,
            severity=rule.severity,
            count=len(window),
            threshold=rule.threshold,
            window_us=state.window_us,
            group=tuple(zip(rule.group_by, key, strict=True)),
            first_seen_us=to_us(episode.first_seen),
            last_seen_us=to_us(episode.last_seen),
        ))

    def snapshot(self) -> dict[str, object]:
        """The whole evaluation state as JSON-ready data (for the checkpoint)."""
        return encode(self._states, clock=self._clock, next_sweep=self._next_sweep,
                      seq=self._seq)

    def restore(self, snap: Mapping[str, Any]) -> list[str]:
        """Loads a :meth:`snapshot` into a fresh engine.

        Returns:
            The names of rules whose saved state was dropped because the rule changed.

        Raises:
            ValueError: the snapshot is malformed, or its clock lies beyond the wall clock plus
                ``MAX_FUTURE_SKEW_S`` (saved by a watcher that let a far-future line move it).
        """
        clock = snapshot_clock_us(snap)
        if clock is not None and from_us(clock) > self._horizon_now():
            raise ValueError(f"engine clock {format_us(clock)} is beyond the wall clock plus "
                             f"{MAX_FUTURE_SKEW_S:.0f} s")
        if clock is not None and from_us(clock) < _EARLIEST:
            raise ValueError(f"engine clock {clock} us is before the earliest time a line may "
                             f"set it to")
        restored = decode_into(self._states, snap)
        self._dues = restored.dues
        heapq.heapify(self._dues)
        self._clock, self._next_sweep, self._seq = (
            restored.clock, restored.next_sweep, restored.seq)
        return restored.dropped
