"""Per-rule window state: one :class:`Group` per distinct ``group_by`` value.

Not thread-safe: owned by one engine.
"""

from __future__ import annotations

from collections import deque
from datetime import timedelta
from operator import attrgetter

from watcher._alert import GroupKey
from watcher._rules import ClientFilter, Rule
from watcher._timefmt import US_PER_S, from_us

_ZERO = timedelta(0)


class Group(deque[timedelta]):
    """One group's window, the times of its events (oldest first), and its alert episode.

    The group is the deque itself, with its other fields defaulted on the class and no
    ``__init__``: on a sparse log most events start a group that is evicted a window later,
    so making one must be cheap. Compare groups by identity: a deque compares by content.
    """

    firing = False
    first_seen = _ZERO
    last_seen = _ZERO
    last_emit = _ZERO
    seq = 0  # episode number, orders simultaneous state changes deterministically
    alert_id = ""




class RuleState:
    __slots__ = ("fields", "filter", "firing_count", "groups", "ignored", "index", "read_field",
                 "read_fields", "repeat", "repeat_us", "routes", "rule", "threshold", "window",
                 "window_us")

    def __init__(self, index: int, rule: Rule, client_filter: ClientFilter) -> None:
        self.index = index
        self.rule = rule
        self.threshold = rule.threshold
        self.window_us = round(rule.window_s * US_PER_S)
        self.repeat_us = round(rule.repeat_after_s * US_PER_S)
        self.window = from_us(self.window_us)
        self.repeat = from_us(self.repeat_us)
        self.fields = rule.group_by
        #: Reads the ``group_by`` values off a record as a tuple (None for a global rule);
        #: ``read_field`` reads the one value of a single-field rule (None otherwise).
        self.read_fields = attrgetter(*self.fields) if len(self.fields) > 1 else None
        self.read_field = attrgetter(self.fields[0]) if len(self.fields) == 1 else None
        self.filter = client_filter if client_filter else None
        self.ignored: dict[object, bool] = {}  # cache of filter.matches per client string
        #: For a rule whose outcome depends on the client alone (its filter, and a group_by of
        #: nothing or just "client"): client string -> group key, or None when ignored. One
        #: lookup then replaces the filter and the key on the hot path. None for other rules.
        self.routes: dict[str, GroupKey | None] | None = None
        if (self.filter is not None or self.fields) and set(self.fields) <= {"client"}:
            self.routes = {}
        self.groups: dict[GroupKey, Group] = {}
        #: How many of the groups are firing: the bound counts only the others.
        self.firing_count = 0

    def due(self, group: Group) -> tuple[timedelta, bool]:
        """When this firing group next changes, and whether that change is a resolve.

        Only for a group above its threshold (the engine resolves one that is not at once).
        The resolve time only ever moves later as events arrive, which lets the engine keep
        lazily outdated entries in its due-heap.
        """
        resolve_at = group[len(group) - self.threshold - 1] + self.window
        repeat_at = group.last_emit + self.repeat
        if resolve_at <= repeat_at:
            return resolve_at, True
        return repeat_at, False
