"""Per-rule window state: one :class:`Group` per distinct ``group_by`` value.

Not thread-safe: owned by one engine.
"""

from __future__ import annotations

from collections import deque

from watcher._alert import GroupKey
from watcher._rules import ClientFilter, Rule
from watcher._timefmt import US_PER_S


class Group:
    __slots__ = ("alert_id", "firing", "first_seen", "last_emit", "last_seen", "seq", "times")

    def __init__(self) -> None:
        self.times: deque[int] = deque()
        self.firing = False
        self.first_seen = 0
        self.last_seen = 0
        self.last_emit = 0
        self.seq = 0  # episode number, orders simultaneous state changes deterministically
        self.alert_id = ""


def plan_field(fields: tuple[str, ...]) -> str | tuple[str, ...] | None:
    """None for a global rule, the field for one ``group_by`` field, else all of them."""
    if not fields:
        return None
    return fields[0] if len(fields) == 1 else fields


class RuleState:
    __slots__ = ("fields", "filter", "groups", "ignored", "index", "repeat_us", "rule",
                 "threshold", "window_us")

    def __init__(self, index: int, rule: Rule, client_filter: ClientFilter) -> None:
        self.index = index
        self.rule = rule
        self.threshold = rule.threshold
        self.window_us = round(rule.window_s * US_PER_S)
        self.repeat_us = round(rule.repeat_after_s * US_PER_S)
        self.fields = rule.group_by
        self.filter = client_filter if client_filter else None
        self.ignored: dict[object, bool] = {}  # cache of filter.matches per client string
        self.groups: dict[GroupKey, Group] = {}

    def due(self, group: Group) -> tuple[int, bool]:
        """When this firing group next changes, and whether that change is a resolve.

        The resolve time only ever moves later as events arrive, which lets the engine keep
        lazily outdated entries in its due-heap.
        """
        times = group.times
        resolve_at = times[len(times) - self.threshold - 1] + self.window_us
        repeat_at = group.last_emit + self.repeat_us
        if resolve_at <= repeat_at:
            return resolve_at, True
        return repeat_at, False
