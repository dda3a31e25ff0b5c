"""One rule's windows: a :class:`Group` per distinct ``group_by`` value, in a :class:`RuleState`.

Not thread-safe: owned by one engine.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from operator import itemgetter

from otel.auditlog import AuditRecord
from watcher._alert import GroupKey
from watcher._keys import key_reader
from watcher._rules import ClientFilter, Rule
from watcher._timefmt import US_PER_S, from_us

_ZERO = timedelta(0)


class Group:
    """One group's sliding window, the times of its events (oldest first), and its episode.

    The episode is quiet or firing. The engine fires it when the window holds more events
    than the threshold, repeats it every ``repeat_after_s`` while it stays over, and
    resolves it (back to quiet) at the instant the count falls to the threshold.
    """

    __slots__ = ("alert_id", "firing", "first_seen", "last_emit", "last_seen", "seq", "times")

    def __init__(self) -> None:
        self.times: deque[timedelta] = deque()
        self.firing = False
        self.first_seen = _ZERO  # the first event of the episode
        self.last_seen = _ZERO  # the newest event the episode has counted
        self.last_emit = _ZERO  # when its last firing alert went out
        self.seq = 0  # episode number: orders simultaneous changes deterministically
        self.alert_id = ""

    def count(self, t: timedelta, floor: timedelta) -> int:
        """Adds an event at ``t``, forgets those at or before ``floor``; the new count."""
        times = self.times
        if times and t < times[-1]:
            bisect.insort(times, t)  # a line out of order
        else:
            times.append(t)
        self.trim(floor)
        return len(times)

    def trim(self, floor: timedelta) -> None:
        """Forgets the events at or before ``floor``: they have left the window."""
        times = self.times
        while times and times[0] <= floor:
            times.popleft()

    def is_idle(self, floor: timedelta) -> bool:
        """Quiet, and no event after ``floor``: nothing would be lost by dropping it."""
        return not self.firing and (not self.times or self.times[-1] <= floor)


def _key_order(key: GroupKey) -> tuple[tuple[int, int, str], ...]:
    """A total order on group keys, whose values may mix None, ints and strings."""
    return tuple((0, 0, "") if v is None else (1, v, "") if type(v) is int else (2, 0, str(v))
                 for v in key)


class RuleState:
    """One rule in engine time: its settings, how a line finds its group, and its groups.

    Args:
        index: the rule's place in the rules file (due entries name it).
        rule: the validated rule.
        client_filter: its ignored clients (the file's and its own).
        guard: makes a string group value safe to show (an ``otel.ValueGuard``'s verdicts).
    """

    __slots__ = ("fields", "firing_count", "groups", "ignores", "index", "key_of", "repeat",
                 "repeat_us", "rule", "threshold", "window", "window_us")

    def __init__(self, index: int, rule: Rule, client_filter: ClientFilter,
                 guard: Callable[[str], str]) -> None:
        self.index = index
        self.rule = rule
        self.threshold = rule.threshold
        self.window_us = round(rule.window_s * US_PER_S)
        self.repeat_us = round(rule.repeat_after_s * US_PER_S)
        self.window = from_us(self.window_us)
        self.repeat = from_us(self.repeat_us)
        self.fields = rule.group_by
        #: Whether a client is ignored; None when the rule ignores nobody.
        self.ignores: Callable[[object], bool] | None = (
            client_filter.matches if client_filter else None)
        #: A line's group key: its group_by values made safe (() for a global rule).
        self.key_of: Callable[[AuditRecord], GroupKey] = key_reader(rule.group_by, guard)
        #: The groups by key. A global rule has its one group (key ()) for good. The dict
        #: itself stays the same object for the engine's life (evictions empty and refill it).
        self.groups: dict[GroupKey, Group] = {} if self.fields else {(): Group()}
        #: How many of the groups are firing: the bound counts only the others.
        self.firing_count = 0

    def due(self, group: Group) -> tuple[timedelta, bool]:
        """When this firing group next changes, and whether that change is a resolve.

        Only for a group above its threshold (the engine resolves one that is not at once).
        The resolve time only ever moves later as events arrive, which lets the engine keep
        outdated entries in its due-heap and skip them when they come up.
        """
        times = group.times
        resolve_at = times[len(times) - self.threshold - 1] + self.window
        repeat_at = group.last_emit + self.repeat
        if resolve_at <= repeat_at:
            return resolve_at, True
        return repeat_at, False

    def over_bound(self, max_groups: int) -> bool:
        """Whether a new group needs room first: firing groups do not count, and a global
        rule's one group is never bounded."""
        return len(self.groups) - self.firing_count >= max_groups and bool(self.fields)

    def evict_idle(self, now: timedelta) -> None:
        """Drops the groups whose every event has left the window, but a firing one.

        Only each group's newest event is looked at: a group that stays keeps its older
        events until its next event trims them, as every event does.
        """
        floor = now - self.window
        groups = self.groups
        # Most groups of a sparse log are idle by now: keeping the few others and refilling
        # the dict is cheaper than deleting the many one by one.
        live = {key: group for key, group in groups.items()
                if group.firing or not key or (group.times and group.times[-1] > floor)}
        if len(live) < len(groups):
            groups.clear()
            groups.update(live)

    def least_active(self, count: int) -> list[GroupKey]:
        """The ``count`` quiet groups whose newest event is oldest; ties at the cut by key.

        Only for groups that hold events (after :meth:`evict_idle`). The choice depends only
        on what the groups hold, never on the order they were made in.
        """
        ranked = sorted(((group.times[-1], key) for key, group in self.groups.items()
                         if key and not group.firing), key=itemgetter(0))
        victims = [key for _, key in ranked[:count]]
        if len(ranked) > count and ranked[count][0] == ranked[count - 1][0]:
            # Groups last active in the same instant straddle the cut: their keys decide.
            cut = ranked[count - 1][0]
            victims = [key for newest, key in ranked[:count] if newest < cut]
            tied = sorted((key for newest, key in ranked if newest == cut), key=_key_order)
            victims += tied[:count - len(victims)]
        return victims
