"""The rate limits drawn beside the ``*_rate_1m`` numbers, from the watcher's active rules.

A rate above its limit is what would make the watcher fire: the hub's rates count the
trailing 60 s, so a rule counts here when its window is 60 s too. The rules are found as the
watcher finds them (``watcher.active_rules_path``): ``--rules``, else the home's
``configs/alert_rules.json``, else the packaged defaults. An invalid home rules file does not
stop the view (the hub's ``--watcher`` then shows its watcher as refused, which the view is
there to show): the packaged limits are drawn meanwhile, and the frame says why.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from watcher import RulesError, RuleSet, active_rules_path, default_rules, load_rules

#: The ``/metrics`` key that counts each audit event over the trailing minute.
RATE_KEYS: Mapping[str, str] = MappingProxyType({"AUTH_FAILURE": "auth_fail_rate_1m",
                                                 "PORT_MISMATCH": "port_mismatch_rate_1m"})
RATE_WINDOW_S = 60.0


def rate_limits(rules: RuleSet) -> Mapping[str, int]:
    """Each rate key's limit: the lowest threshold among the rules on its event with a 60 s
    window. A key no such rule watches has no limit."""
    limits: dict[str, int] = {}
    for rule in rules.rules:
        key = RATE_KEYS.get(rule.event)
        if key is not None and rule.window_s == RATE_WINDOW_S:
            limits[key] = min(rule.threshold, limits.get(key, rule.threshold))
    return MappingProxyType(limits)


@functools.cache
def packaged_rate_limits() -> Mapping[str, int]:
    """The limits of the watcher's packaged rules (CONTRACT section 4: 10 and 5)."""
    return rate_limits(default_rules())


def active_rate_limits(option: Path | None, home: Path) -> tuple[Mapping[str, int], str]:
    """The limits of the rules a watcher on ``home`` uses, and which rules those are.

    Raises:
        watcher.RulesError: the rules file is unreadable or invalid (the watcher would
            refuse it too).
    """
    path = active_rules_path(option, home)
    if path is None:
        return packaged_rate_limits(), "packaged defaults"
    return rate_limits(load_rules(path)), str(path)


def view_rate_limits(option: Path | None,
                     home: Path) -> tuple[Mapping[str, int], str, str | None]:
    """The limits the view draws, which rules they came from, and what is wrong with the
    home's rules file (None when nothing is).

    An invalid home ``configs/alert_rules.json`` gives the packaged limits and its problem, one
    line naming the file; an invalid ``--rules`` file is the caller's to refuse.

    Raises:
        watcher.RulesError: the ``--rules`` file is unreadable or invalid.
    """
    try:
        limits, source = active_rate_limits(option, home)
    except RulesError as exc:
        if option is not None:
            raise
        path = active_rules_path(None, home)
        return (packaged_rate_limits(), f"packaged defaults ({path} is invalid)",
                f"rules {path} invalid ({exc}); limits: packaged defaults")
    return limits, source, None
