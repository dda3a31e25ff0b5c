"""Event-time sliding windows and alert state: audit lines in, alerts out.

Time is the audit lines' own ``ts`` (integer microseconds), never the wall clock, so the same
log always yields the same alerts. The clock is the highest ``ts`` seen so far. Before each
line that moves the clock, every due state change is applied in time order: a firing group
resolves at the exact moment its windowed count drops back to the threshold, and repeats at
``last emit + repeat_after_s``. Both are therefore stamped with the time they happened, not
the time they were noticed. A line older than the clock but inside the window still counts;
one older than the window is counted as late and dropped.

Not thread-safe: one engine per reader thread.
"""

from __future__ import annotations

import bisect
import itertools
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from watcher._alert import Alert, AlertState, GroupKey, GroupValue, make_alert_id, safe_group_value
from watcher._rules import ClientFilter, Rule, RuleSet
from watcher._status import Counters
from watcher._timefmt import US_PER_S, TimestampParser

_NEVER = -(1 << 62)
_FOREVER = 1 << 62
DEFAULT_MAX_GROUPS_PER_RULE = 10_000
_MAX_VALUE_CACHE = 4096


class _Group:
    __slots__ = ("alert_id", "firing", "first_seen", "last_emit", "last_seen", "times")

    def __init__(self) -> None:
        self.times: deque[int] = deque()
        self.firing = False
        self.first_seen = 0
        self.last_seen = 0
        self.last_emit = 0
        self.alert_id = ""


class _RuleState:
    __slots__ = ("filter", "groups", "index", "repeat_us", "rule", "threshold", "window_us")

    def __init__(self, index: int, rule: Rule, client_filter: ClientFilter) -> None:
        self.index = index
        self.rule = rule
        self.threshold = rule.threshold
        self.window_us = round(rule.window_s * US_PER_S)
        self.repeat_us = round(rule.repeat_after_s * US_PER_S)
        self.filter = client_filter
        self.groups: dict[GroupKey, _Group] = {}

    def due(self, group: _Group) -> tuple[int, bool]:
        """When this firing group next changes, and whether that change is a resolve."""
        times = group.times
        resolve_at = times[len(times) - self.threshold - 1] + self.window_us
        repeat_at = group.last_emit + self.repeat_us
        if resolve_at <= repeat_at:
            return resolve_at, True
        return repeat_at, False


_Firing = tuple[_RuleState, GroupKey, _Group]


class Engine:
    """Evaluates rules over audit lines.

    Args:
        rules: the validated rules.
        counters: where parse errors, late events and alerts are counted.
        max_groups_per_rule: bound on live ``group_by`` groups per rule. Groups with empty
            windows are evicted on a sweep every window length of event time; beyond the bound
            the oldest non-firing group is dropped (and counted).
    """

    def __init__(self, rules: RuleSet, counters: Counters, *,
                 max_groups_per_rule: int = DEFAULT_MAX_GROUPS_PER_RULE) -> None:
        if max_groups_per_rule < 1:
            raise ValueError(f"max_groups_per_rule must be >= 1, got {max_groups_per_rule}")
        self.counters = counters
        self._states = tuple(
            _RuleState(i, rule, rules.client_filter(rule)) for i, rule in enumerate(rules.rules)
        )
        by_event: dict[str, list[_RuleState]] = {}
        for state in self._states:
            by_event.setdefault(state.rule.event, []).append(state)
        self._by_event = {event: tuple(states) for event, states in by_event.items()}
        self._max_window_us = max((s.window_us for s in self._states), default=US_PER_S)
        self._max_groups = max_groups_per_rule
        self._firing: dict[tuple[int, GroupKey], _Firing] = {}
        self._clock = _NEVER
        self._next_due = _FOREVER
        self._next_sweep = _NEVER
        self._pending: list[Alert] = []
        self._ts = TimestampParser()
        self._value_cache: dict[str, GroupValue] = {}

    @property
    def clock_us(self) -> int | None:
        """The event-time clock: the highest timestamp seen, or None before the first line."""
        return None if self._clock == _NEVER else self._clock

    def take_alerts(self) -> list[Alert]:
        """Returns and forgets the alerts produced since the last call, in order."""
        alerts, self._pending = self._pending, []
        return alerts

    def feed(self, lines: Iterable[bytes]) -> None:
        """Evaluates complete audit lines (without their newline). Garbage is counted."""
        loads = orjson.loads
        decode_error = orjson.JSONDecodeError
        parse_ts = self._ts.parse
        by_event = self._by_event
        add = self._add
        read = bad = invalid = 0
        clock = self._clock
        for line in lines:
            read += 1
            try:
                obj = loads(line)
            except decode_error:
                if line.strip():
                    bad += 1
                continue
            if type(obj) is not dict:
                bad += 1
                continue
            ts = obj.get("ts")
            event = obj.get("event")
            if type(ts) is not str or type(event) is not str:
                invalid += 1
                continue
            t = parse_ts(ts)
            if t is None:
                invalid += 1
                continue
            if t > clock:
                self._move_clock(t)
                clock = t
            states = by_event.get(event)
            if states is not None:
                for state in states:
                    add(state, obj, t, clock)
        counters = self.counters
        counters.lines_read += read
        counters.parse_errors += bad
        counters.invalid_events += invalid

    def advance_to(self, now_us: int) -> None:
        """Moves the clock forward without a line (follow mode, on an idle live log)."""
        if now_us > self._clock:
            self._move_clock(now_us)

    def _move_clock(self, now_us: int) -> None:
        if now_us >= self._next_due:
            self._run_due(now_us)
        if now_us >= self._next_sweep:
            self._sweep(now_us)
        self._clock = now_us

    def _group_value(self, value: object) -> GroupValue:
        if type(value) is not str:
            return safe_group_value(value)
        cached = self._value_cache.get(value, self)
        if cached is self:
            cached = safe_group_value(value)
            if len(self._value_cache) >= _MAX_VALUE_CACHE:
                self._value_cache.clear()
            self._value_cache[value] = cached
        return cached  # type: ignore[return-value]

    def _add(self, state: _RuleState, obj: dict[str, Any], t: int, clock: int) -> None:
        if state.filter and state.filter.matches(obj.get("client")):
            return
        floor = clock - state.window_us
        if t <= floor:
            self.counters.late_events += 1
            return
        rule = state.rule
        key: GroupKey = (
            tuple([self._group_value(obj.get(f)) for f in rule.group_by]) if rule.group_by else ()
        )
        groups = state.groups
        group = groups.get(key)
        if group is None:
            if len(groups) >= self._max_groups:
                self._make_room(state)
            group = groups[key] = _Group()
        times = group.times
        if not times or t >= times[-1]:
            times.append(t)
        else:
            bisect.insort(times, t)
        while times[0] <= floor:
            times.popleft()
        if group.firing:
            if t > group.last_seen:
                group.last_seen = t
            return
        if len(times) > state.threshold:
            group.firing = True
            group.first_seen = times[0]
            group.last_seen = times[-1]
            group.last_emit = clock
            group.alert_id = make_alert_id(rule.name, key, group.first_seen)
            self._firing[(state.index, key)] = (state, key, group)
            self._emit(state, key, group, clock, AlertState.FIRING)
            self._next_due = min(self._next_due, state.due(group)[0])

    def _run_due(self, now_us: int) -> None:
        while True:
            best: tuple[int, bool, _Firing] | None = None
            for entry in self._firing.values():
                when, resolve = entry[0].due(entry[2])
                if when <= now_us and (best is None or when < best[0]):
                    best = (when, resolve, entry)
            if best is None:
                break
            when, resolve, (state, key, group) = best
            times = group.times
            floor = when - state.window_us
            while times and times[0] <= floor:
                times.popleft()
            if resolve:
                group.firing = False
                del self._firing[(state.index, key)]
                self._emit(state, key, group, when, AlertState.RESOLVED)
            else:
                group.last_emit = when
                self._emit(state, key, group, when, AlertState.FIRING)
        self._next_due = min((s.due(g)[0] for s, _, g in self._firing.values()), default=_FOREVER)

    def _sweep(self, now_us: int) -> None:
        for state in self._states:
            self._evict_idle(state, now_us)
        self._next_sweep = now_us + self._max_window_us

    def _evict_idle(self, state: _RuleState, now_us: int) -> None:
        floor = now_us - state.window_us
        dead: list[GroupKey] = []
        for key, group in state.groups.items():
            if group.firing:
                continue
            times = group.times
            while times and times[0] <= floor:
                times.popleft()
            if not times:
                dead.append(key)
        for key in dead:
            del state.groups[key]

    def _make_room(self, state: _RuleState) -> None:
        self._evict_idle(state, self._clock)
        if len(state.groups) < self._max_groups:
            return
        for key, group in state.groups.items():
            if not group.firing:
                del state.groups[key]
                self.counters.groups_dropped += 1
                return

    def _emit(self, state: _RuleState, key: GroupKey, group: _Group, ts_us: int,
              alert_state: AlertState) -> None:
        rule = state.rule
        self._pending.append(Alert(
            ts_us=ts_us,
            alert_id=group.alert_id,
            rule=rule.name,
            event=rule.event,
            state=alert_state,
            severity=rule.severity,
            count=len(group.times),
            threshold=rule.threshold,
            window_us=state.window_us,
            group=tuple(zip(rule.group_by, key, strict=True)),
            first_seen_us=group.first_seen,
            last_seen_us=group.last_seen,
        ))

    def snapshot(self) -> dict[str, object]:
        """The whole evaluation state as JSON-ready data (for the checkpoint).

        Only timestamps still inside a window are kept, delta-encoded.
        """
        rules: dict[str, object] = {}
        for state in self._states:
            floor = self._clock - state.window_us
            groups: list[object] = []
            for key, group in state.groups.items():
                if group.firing:
                    live = list(group.times)
                    firing: list[int] | None = [group.first_seen, group.last_seen, group.last_emit]
                else:
                    live = [t for t in group.times if t > floor]
                    firing = None
                    if not live:
                        continue
                deltas = [live[0], *(b - a for a, b in itertools.pairwise(live))]
                groups.append([list(key), deltas, firing])
            rules[state.rule.name] = {"digest": state.rule.digest, "groups": groups}
        firing_order = [[s.rule.name, list(k)] for s, k, _ in self._firing.values()]
        return {"clock_us": self._clock, "next_sweep_us": self._next_sweep, "rules": rules,
                "firing": firing_order}

    def restore(self, snap: Mapping[str, Any]) -> list[str]:
        """Loads a :meth:`snapshot` into a fresh engine.

        Returns:
            The names of rules whose saved state was dropped because the rule changed.

        Raises:
            ValueError: the snapshot is malformed.
        """
        try:
            self._clock = int(snap["clock_us"])
            self._next_sweep = int(snap["next_sweep_us"])
            saved = snap["rules"]
            by_name = {state.rule.name: state for state in self._states}
            dropped: list[str] = []
            for name, data in saved.items():
                state = by_name.get(name)
                if state is None or data["digest"] != state.rule.digest:
                    dropped.append(name)
                    continue
                for raw_key, deltas, firing in data["groups"]:
                    key: GroupKey = tuple(raw_key)
                    group = _Group()
                    total = 0
                    for delta in deltas:
                        total += int(delta)
                        group.times.append(total)
                    if firing is not None:
                        if len(group.times) <= state.threshold:
                            raise ValueError(f"firing group of {name} has too few events")
                        group.firing = True
                        group.first_seen, group.last_seen, group.last_emit = map(int, firing)
                        group.alert_id = make_alert_id(name, key, group.first_seen)
                    state.groups[key] = group
            for name, raw_key in snap["firing"]:
                state = by_name.get(name)
                key = tuple(raw_key)
                if state is not None and name not in dropped:
                    self._firing[(state.index, key)] = (state, key, state.groups[key])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"malformed engine snapshot: {exc!r}") from None
        self._next_due = min((s.due(g)[0] for s, _, g in self._firing.values()), default=_FOREVER)
        return dropped
