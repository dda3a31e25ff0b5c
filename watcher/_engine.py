"""Event-time sliding windows and alert state: audit lines in, alerts out.

Time is the audit lines' own ``ts`` (kept as a ``timedelta`` since the epoch, see
``_timefmt``), never the wall clock, so the same log always yields the same alerts. The clock
is the highest ``ts`` seen so far. When a line moves the clock past them, due state changes
are applied first, in time order (a change due at t waits until every line stamped t is in):
a firing group resolves at the exact moment its windowed count drops back to the threshold,
and repeats at ``last emit + repeat_after_s``. Both are stamped with the time they happened,
not the time they were noticed. A line older than the clock but inside the window still
counts; one older than the window is counted as late and dropped. A group's count is checked
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
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from operator import itemgetter
from typing import Any

import msgspec

from otel import ValueGuard
from otel.auditlog import AuditFormat, AuditRecord, RecordDecoder
from watcher._alert import Alert, AlertState, GroupKey, GroupValue, make_alert_id, safe_group_value
from watcher._groups import Group, RuleState
from watcher._guard import default_value_guard
from watcher._rules import MAX_WINDOW_S, RuleSet
from watcher._snapshot import NEVER_US, decode_into, encode, snapshot_clock_us
from watcher._status import Counters
from watcher._timefmt import EPOCH, MIN_TIME, US_PER_S, format_us, from_us, to_us

DEFAULT_MAX_GROUPS_PER_RULE = 10_000
#: A line stamped further than this beyond the wall clock is counted and ignored: it would
#: otherwise move the clock and make every real line after it late.
MAX_FUTURE_SKEW_S = 300.0
#: Bound on the per-rule caches of client routes and ignore verdicts (cleared when full).
_MAX_CACHE = 4096
#: Idle groups are swept out every this many (longest) windows of event time. A sweep costs
#: a look at every group; with one window between sweeps, each group of a sparse log (one
#: event, then idle) was looked at twice, now about once. Memory stays bounded by
#: ``max_groups_per_rule``, which evicts idle groups itself when full.
SWEEP_EVERY_WINDOWS = 4
_NEVER = from_us(NEVER_US)
#: The earliest time a line may set the clock to: a longest window after the first instant
#: a datetime holds (0001-01-01 UTC), so every time an alert can name is one it can print.
#: Once the clock is set, anything before this is older than every window and so late.
_EARLIEST = MIN_TIME + from_us(round(MAX_WINDOW_S * US_PER_S))


def _key_order(key: GroupKey) -> tuple[tuple[int, int, str], ...]:
    """A total order on group keys, whose values may mix None, ints and strings."""
    return tuple((0, 0, "") if v is None else (1, v, "") if type(v) is int else (2, 0, str(v))
                 for v in key)


# (due time, episode seq, rule index, group key); may be outdated, checked when popped.
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
        #: The guard's cached verdict function, called directly on the hot path.
        self._guard = (value_guard if value_guard is not None else default_value_guard()).guard
        self._wall_clock = wall_clock
        self._states = tuple(
            RuleState(i, rule, rules.client_filter(rule)) for i, rule in enumerate(rules.rules)
        )
        for state in self._states:
            # A zero window never fires and a zero repeat re-arms at the same instant forever.
            if state.window_us < 1 or state.repeat_us < 1:
                raise ValueError(f"rule {state.rule.name!r}: window_s and repeat_after_s must "
                                 f"be at least 1 us, got {state.rule.window_s!r} and "
                                 f"{state.rule.repeat_after_s!r}")
        by_event: dict[str, list[RuleState]] = {}
        for state in self._states:
            by_event.setdefault(state.rule.event, []).append(state)
        # A global rule has one group for good; the hot loop holds it directly.
        for state in self._states:
            if not state.fields:
                state.groups[()] = Group()
        # Per event, the rules it feeds, unpacked for the hot loop: (state, client routes or
        # None, ignore-cache lookup or None, window, single group_by field reader or None, groups,
        # threshold, global group). A rule with routes needs neither of the next two.
        self._plans = {
            event: tuple(
                (s, s.routes,
                 s.ignored.get if s.filter is not None and s.routes is None else None,
                 s.window, s.read_field, s.groups, s.threshold, s.groups.get(()))
                for s in states
            )
            for event, states in by_event.items()
        }
        self._grouped = tuple(s for s in self._states if s.fields)  # a global rule never sweeps
        self._max_window = max((s.window for s in self._states), default=from_us(US_PER_S))
        self._max_groups = max_groups_per_rule
        self._dues: list[_Due] = []
        self._seq = 0
        self._clock = _NEVER
        self._next_sweep = _NEVER
        self._pending: list[Alert] = []
        self._decoder = RecordDecoder((f for s in self._states for f in s.fields), counters,
                                      audit_format=audit_format)

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
        # The hot loop of --replay: locals instead of attribute lookups. Garbage of any kind
        # leaves the fast path for the careful one, which counts it.
        decode = self._decoder.decode
        careful = self._decoder.careful
        decode_error = msgspec.DecodeError  # a ValidationError is one too
        epoch = EPOCH
        plans = self._plans
        guard = self._guard
        group_value = self._group_value
        insort = bisect.insort
        new_group = Group
        max_groups = self._max_groups
        late = future = 0
        clock = self._clock
        horizon = self._horizon()
        # A line beyond this needs a look: it is from the future, or something is due.
        limit = min(self._wake_at(), horizon)
        record: AuditRecord | None
        for line in lines:
            try:
                if ascii or line.isascii():
                    record = decode(line)
                elif (record := careful(line)) is None:
                    continue
            except (decode_error, RecursionError):
                if (record := careful(line)) is None:
                    continue
            t = record.ts - epoch
            event_plans = plans.get(record.event)
            if t > clock:
                if t > limit:
                    if t > horizon:  # only a line that would move the clock needs the check
                        future += 1
                        continue
                    if t < _EARLIEST:  # only while the clock is unset: later, such are late
                        self.counters.invalid_events += 1
                        continue
                    self._move_clock(t)
                    limit = min(self._wake_at(), horizon)
                clock = t
            if event_plans is None:
                continue
            client = record.client
            # Per rule: inlined, because this runs once per line.
            for state, routes, ignored_get, window, read_field, groups, threshold, single \
                    in event_plans:
                if routes is not None:
                    try:
                        key = routes[client]
                    except (KeyError, TypeError):  # a new client, or unhashable garbage
                        key = self._route(state, client)
                    if key is None:
                        continue  # an ignored client
                else:
                    key = ()
                    if ignored_get is not None:
                        try:
                            hit = ignored_get(client)
                        except TypeError:  # unhashable garbage
                            hit = False
                        if hit is None:
                            hit = self._is_ignored(state, client)
                        if hit:
                            continue
                if t < clock and t <= clock - window:  # (an in-order line is never late)
                    late += 1
                    continue
                group: Group | None = single
                if group is None:
                    if routes is None:
                        if read_field is not None:
                            value = read_field(record)
                            key = (guard(value) if type(value) is str else group_value(value),)
                        else:
                            key = self._key(state, record)
                    group = groups.get(key)
                    if group is not None and len(groups) >= max_groups and \
                            len(groups) - state.firing_count >= max_groups and \
                            not group.firing and (not group or group[-1] <= clock - window):
                        # At the bound an idle group counts as new, as it is after a restart
                        # (a checkpoint leaves idle groups out): both must drop the same.
                        del groups[key]
                        group = None
                    if group is None:
                        # Most groups of a sparse log start and end with one event.
                        if len(groups) >= max_groups and \
                                len(groups) - state.firing_count >= max_groups:
                            self._clock = clock
                            self._make_room(state)
                        group = groups[key] = new_group()
                        group.append(t)
                        if threshold == 0:
                            self._fire(state, key, group, clock)
                            limit = min(self._wake_at(), horizon)
                        continue
                try:
                    if t < group[-1]:
                        insort(group, t)
                    else:
                        group.append(t)
                except IndexError:  # empty
                    group.append(t)
                floor = clock - window
                while group[0] <= floor:
                    group.popleft()
                if len(group) > threshold and not group.firing:
                    self._fire(state, key, group, clock)
                    limit = min(self._wake_at(), horizon)
        self._clock = clock
        counters = self.counters
        counters.lines_read += len(lines)
        counters.late_events += late
        counters.future_events += future

    def _horizon(self) -> timedelta:
        """The latest timestamp a line may carry now: the wall clock plus the allowed skew."""
        return from_us(int((self._wall_clock() + MAX_FUTURE_SKEW_S) * US_PER_S))

    def advance_to(self, now_us: int) -> None:
        """Moves the clock forward without a line (follow mode, on an idle live log)."""
        now = from_us(now_us)
        if now > self._clock:
            self._move_clock(now)
            self._clock = now

    def _wake_at(self) -> timedelta:
        """When something is due (a resolve, repeat or sweep); it runs once the clock is past."""
        return min(self._dues[0][0], self._next_sweep) if self._dues else self._next_sweep

    def _move_clock(self, now: timedelta) -> None:
        if self._dues and now > self._dues[0][0]:
            self._run_due(now)
        if now > self._next_sweep:
            self._sweep(now)

    def _group_value(self, value: object) -> GroupValue:
        return safe_group_value(value, self._guard)

    def _route(self, state: RuleState, client: object) -> GroupKey | None:
        """The group key of ``client`` under a rule with routes, or None if it is ignored."""
        assert state.routes is not None
        if state.filter is not None and self._is_ignored(state, client):
            key: GroupKey | None = None
        else:
            key = (self._group_value(client),) if state.fields else ()
        if type(client) is str:  # others could collide: 0, 0.0 and False are one dict key
            if len(state.routes) >= _MAX_CACHE:
                state.routes.clear()
            state.routes[client] = key
        return key

    def _is_ignored(self, state: RuleState, client: object) -> bool:
        assert state.filter is not None
        if type(client) is not str:
            return state.filter.matches(client)
        hit: bool | None = state.ignored.get(client)
        if hit is None:
            hit = state.filter.matches(client)
            if len(state.ignored) >= _MAX_CACHE:
                state.ignored.clear()
            state.ignored[client] = hit
        return hit

    def _key(self, state: RuleState, record: AuditRecord) -> GroupKey:
        if state.read_fields is not None:
            return tuple([self._group_value(value) for value in state.read_fields(record)])
        assert state.read_field is not None
        return (self._group_value(state.read_field(record)),)

    def _fire(self, state: RuleState, key: GroupKey, group: Group, clock: timedelta) -> None:
        self._seq += 1
        group.seq = self._seq
        group.firing = True
        state.firing_count += 1
        group.first_seen = group[0]
        group.last_seen = group[-1]  # the newest event is the last to leave the window
        group.last_emit = clock
        group.alert_id = make_alert_id(state.rule.name, key, to_us(group.first_seen))
        self._emit(state, key, group, clock, AlertState.FIRING)
        heapq.heappush(self._dues, (state.due(group)[0], group.seq, state.index, key))

    def _run_due(self, now: timedelta) -> None:
        dues = self._dues
        while dues and dues[0][0] < now:
            when, seq, index, key = heapq.heappop(dues)
            state = self._states[index]
            group = state.groups.get(key)
            if group is None or not group.firing or group.seq != seq:
                continue  # outdated entry of an ended episode
            newest = group[-1] if group else None
            floor = when - state.window
            while group and group[0] <= floor:
                group.popleft()
            if len(group) > state.threshold:
                actual, resolve = state.due(group)
                if actual != when:
                    heapq.heappush(dues, (actual, seq, index, key))
                    continue
            else:
                # Already down to its threshold: events of one instant left the window
                # together, at `when`, and lines stamped `when` trimmed them before this ran.
                resolve = True
            if newest is not None:
                group.last_seen = max(group.last_seen, newest)
            if resolve:
                group.firing = False
                state.firing_count -= 1
                self._emit(state, key, group, when, AlertState.RESOLVED)
            else:
                group.last_emit = when
                self._emit(state, key, group, when, AlertState.FIRING)
                following = state.due(group)[0]
                if following <= when:  # would pop again at once, forever (rules forbid it)
                    raise RuntimeError(f"rule {state.rule.name!r}: next change at "
                                       f"{following} us is not after {when} us")
                heapq.heappush(dues, (following, seq, index, key))

    def _sweep(self, now: timedelta) -> None:
        for state in self._grouped:
            self._evict_idle(state, now)
        self._next_sweep = now + SWEEP_EVERY_WINDOWS * self._max_window

    def _evict_idle(self, state: RuleState, now: timedelta) -> None:
        """Drops the groups whose every event has left the window, but a firing one.

        Only each group's newest event is looked at: a group that stays keeps its older
        events until its next event trims them, as every event does.
        """
        floor = now - state.window
        groups = state.groups
        # Most groups of a sparse log are idle by now: keeping the few others and clearing
        # the dict is cheaper than deleting the many one by one. The dict stays the same
        # object (the hot loop holds it); a global rule (key ()) keeps its one group.
        live = {key: group for key, group in groups.items()
                if group.firing or not key or (group and group[-1] > floor)}
        if len(live) < len(groups):
            groups.clear()
            groups.update(live)

    def _make_room(self, state: RuleState) -> None:
        """Makes room for a new group of a rule at its bound.

        The idle groups go first. If that is not enough (more live groups than the bound, as
        in a scan from many clients), the tenth of the bound that was least recently active
        goes too, but never a firing group; each is counted as dropped. One scan then makes
        room for many new groups, where dropping one at a time cost a scan per line. The
        choice depends only on what the groups hold, never on the order they were made in: a
        watcher restored from its checkpoint, which leaves idle groups out, must drop the
        same groups as one that never stopped.
        """
        self._evict_idle(state, self._clock)
        groups = state.groups
        if len(groups) - state.firing_count < self._max_groups:
            return
        ranked = sorted(((group[-1], key) for key, group in groups.items()
                         if key and not group.firing), key=itemgetter(0))
        count = max(1, self._max_groups // 10)
        victims = [key for _, key in ranked[:count]]
        if len(ranked) > count and ranked[count][0] == ranked[count - 1][0]:
            # Groups last active in the same instant straddle the cut: their keys decide.
            cut = ranked[count - 1][0]
            victims = [key for newest, key in ranked[:count] if newest < cut]
            tied = sorted((key for newest, key in ranked if newest == cut), key=_key_order)
            victims += tied[:count - len(victims)]
        for key in victims:
            del groups[key]
        self.counters.groups_dropped += len(victims)

    def _emit(self, state: RuleState, key: GroupKey, group: Group, ts: timedelta,
              alert_state: AlertState) -> None:
        rule = state.rule
        self._pending.append(Alert(
            ts_us=to_us(ts),
            alert_id=group.alert_id,
            rule=rule.name,
            event=rule.event,
            state=alert_state,
            severity=rule.severity,
            count=len(group),
            threshold=rule.threshold,
            window_us=state.window_us,
            group=tuple(zip(rule.group_by, key, strict=True)),
            first_seen_us=to_us(group.first_seen),
            last_seen_us=to_us(group.last_seen),
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
        if clock is not None and from_us(clock) > self._horizon():
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
