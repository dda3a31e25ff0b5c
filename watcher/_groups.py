"""One rule's state: a sliding window per group, and the episode of each firing group.

A group's window is a plain deque of its event times, oldest first. A group is quiet or
firing; a firing one has an :class:`Episode`, which it loses when it resolves.

Not thread-safe: owned by one engine.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from operator import itemgetter

from otel.auditlog import AuditRecord
from watcher._alert import GroupKey
from watcher._keys import IgnoreCheck, key_reader
from watcher._rules import Rule
from watcher._timefmt import US_PER_S, from_us

Window = deque[timedelta]


@dataclass(slots=True)
class Episode:
    """A firing group's alert episode, from the event that fired it until it resolves."""

    seq: int  # episode number: orders simultaneous changes deterministically
    alert_id: str
    first_seen: timedelta  # the oldest event in the window when it fired
    last_seen: timedelta  # the newest event it has counted
    last_emit: timedelta  # when its last firing alert went out


def trim(window: Window, floor: timedelta) -> None:
    """Forgets the events at or before ``floor``: they have left the window."""
    while window and window[0] <= floor:
        window.popleft()


def _key_order(key: GroupKey) -> tuple[tuple[int, int, str], ...]:
    """A total order on group keys, whose values may mix None, ints and strings."""
    return tuple((0, 0, "") if v is None else (1, v, "") if type(v) is int else (2, 0, str(v))
                 for v in key)


class RuleState:
    """One rule in engine time: its settings, how a line finds its group, and its groups.

    Args:
        index: the rule's place in the rules file (due entries name it).
        rule: the validated rule.
        ignores: whether a client is ignored (None: nobody is).
        guard: makes a string group value safe to show (an ``otel.ValueGuard``'s verdicts).
    """

    __slots__ = ("episodes", "fields", "groups", "index", "key_of", "repeat", "repeat_us",
                 "rule", "threshold", "window", "window_us")

    def __init__(self, index: int, rule: Rule, ignores: IgnoreCheck | None,
                 guard: Callable[[str], str]) -> None:
        self.index = index
        self.rule = rule
        self.threshold = rule.threshold
        self.window_us = round(rule.window_s * US_PER_S)
        self.repeat_us = round(rule.repeat_after_s * US_PER_S)
        self.window = from_us(self.window_us)
        self.repeat = from_us(self.repeat_us)
        self.fields = rule.group_by
        #: A line's group key (its group_by values made safe; () for a global rule), or
        #: None when its client is ignored.
        self.key_of: Callable[[AuditRecord], GroupKey | None] = key_reader(
            rule.group_by, ignores, guard)
        #: The window of each group, by key. A global rule has its one group (key ()) for
        #: good. The dict stays the same object for the engine's life.
        self.groups: dict[GroupKey, Window] = {} if self.fields else {(): deque()}
        #: The firing groups' episodes: a group is firing exactly when it has one.
        self.episodes: dict[GroupKey, Episode] = {}

    def due(self, window: Window, episode: Episode) -> tuple[timedelta, bool]:
        """When this firing group next changes, and whether that change is a resolve.

        Only for a group above its threshold (the engine resolves one that is not at once).
        The resolve time only ever moves later as events arrive, which lets the engine keep
        outdated entries in its due-heap and skip them when they come up.
        """
        resolve_at = window[len(window) - self.threshold - 1] + self.window
        repeat_at = episode.last_emit + self.repeat
        if resolve_at <= repeat_at:
            return resolve_at, True
        return repeat_at, False

    def over_bound(self, max_groups: int) -> bool:
        """Whether a new group needs room first: firing groups do not count, and a global
        rule's one group is never bounded."""
        return len(self.groups) - len(self.episodes) >= max_groups and bool(self.fields)

    def is_idle(self, key: GroupKey, window: Window, floor: timedelta) -> bool:
        """Quiet, and no event after ``floor``: nothing would be lost by dropping it."""
        return key not in self.episodes and (not window or window[-1] <= floor)

    def evict_idle(self, now: timedelta) -> None:
        """Drops the groups whose every event has left the window, but a firing one.

        Only each group's newest event is looked at: a group that stays keeps its older
        events until its next event trims them, as every event does.
        """
        floor = now - self.window
        groups, episodes = self.groups, self.episodes
        # Most groups of a sparse log are idle by now: keeping the few others and refilling
        # the dict is cheaper than deleting the many one by one. The firing ones are looked
        # up last, and only if there are any: hashing every key costs more than the rest.
        live = {key: window for key, window in groups.items()
                if (window and window[-1] > floor) or not key or (episodes and key in episodes)}
        if len(live) < len(groups):
            groups.clear()
            groups.update(live)

    def least_active(self, count: int) -> list[GroupKey]:
        """The ``count`` quiet groups whose newest event is oldest; ties at the cut by key.

        Only for groups that hold events (after :meth:`evict_idle`). The choice depends only
        on what the groups hold, never on the order they were made in.
        """
        ranked = sorted(((window[-1], key) for key, window in self.groups.items()
                         if key and key not in self.episodes), key=itemgetter(0))
        victims = [key for _, key in ranked[:count]]
        if len(ranked) > count and ranked[count][0] == ranked[count - 1][0]:
            # Groups last active in the same instant straddle the cut: their keys decide.
            cut = ranked[count - 1][0]
            victims = [key for newest, key in ranked[:count] if newest < cut]
            tied = sorted((key for newest, key in ranked if newest == cut), key=_key_order)
            victims += tied[:count - len(victims)]
        return victims
