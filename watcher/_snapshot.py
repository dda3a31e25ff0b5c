"""The engine's state as JSON-ready data, for the checkpoint: encoding, decoding, and checks.

Only timestamps still inside a window are kept, delta-encoded. A rule's state is keyed by its
name and guarded by its digest, so a changed rule never inherits old windows.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from otel.auditlog import is_int64
from watcher._alert import GroupKey, make_alert_id
from watcher._groups import Episode, RuleState, Window
from watcher._timefmt import MAX_TIME, MIN_TIME, from_us, to_us

#: The clock of an engine that has seen no line yet.
NEVER_US = -(1 << 62)


@dataclass(slots=True)
class Restored:
    """A decoded snapshot: scalars, the due entries of firing groups, and what was dropped."""

    clock: timedelta
    next_sweep: timedelta
    seq: int
    dues: list[tuple[timedelta, int, int, GroupKey]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def encode(states: Sequence[RuleState], *, clock: timedelta, next_sweep: timedelta,
           seq: int) -> dict[str, object]:
    """The state of ``states`` at ``clock``; idle timestamps out of every window are left out."""
    rules: dict[str, object] = {}
    for state in states:
        floor = clock - state.window
        groups: list[object] = []
        for key, window in state.groups.items():
            saved = _encode_group(key, window, state.episodes.get(key), floor)
            if saved is not None:
                groups.append(saved)
        rules[state.rule.name] = {"digest": state.rule.digest, "groups": groups}
    return {"clock_us": to_us(clock), "next_sweep_us": to_us(next_sweep), "seq": seq,
            "rules": rules}


def _encode_group(key: GroupKey, window: Window, episode: Episode | None,
                  floor: timedelta) -> list[object] | None:
    """``[key, time deltas, episode]``; None for a quiet group with nothing after ``floor``."""
    firing: list[int] | None = None
    if episode is not None:
        live = [to_us(t) for t in window]
        firing = [to_us(episode.first_seen), to_us(episode.last_seen),
                  to_us(episode.last_emit), episode.seq]
    else:
        live = [to_us(t) for t in window if t > floor]
        if not live:
            return None
    deltas = [live[0], *(b - a for a, b in itertools.pairwise(live))]
    return [list(key), deltas, firing]


def snapshot_clock_us(snap: Mapping[str, Any]) -> int | None:
    """The saved clock, or None if the engine had seen no line.

    Raises:
        ValueError: the clock is missing or not an integer.
    """
    try:
        clock = snap["clock_us"]
    except (KeyError, TypeError):
        raise ValueError("malformed engine snapshot: no clock_us") from None
    if not is_int64(clock):
        raise ValueError(f"malformed engine snapshot: clock_us {clock!r:.40} is no 64-bit "
                         f"integer")
    return None if clock == NEVER_US else clock


def is_empty(snap: Mapping[str, Any]) -> bool:
    """True for the snapshot of an engine that has seen nothing: no clock and no group."""
    try:
        rules = snap["rules"].values()
        return snapshot_clock_us(snap) is None and not any(r["groups"] for r in rules)
    except (AttributeError, KeyError, TypeError, ValueError):
        return False


def _int(value: object) -> int:
    """A saved integer: what the watcher writes always fits 64 bits."""
    if not is_int64(value):
        raise ValueError(f"{value!r:.40} is no 64-bit integer")
    return value


def _printable(epoch_us: int) -> timedelta:
    """The engine time of a saved time, which an alert must be able to print."""
    moment = from_us(epoch_us)
    if not MIN_TIME <= moment <= MAX_TIME:
        raise ValueError(f"time {epoch_us} us is outside the years 1 to 9999")
    return moment


def decode_into(states: Sequence[RuleState], snap: Mapping[str, Any]) -> Restored:
    """Fills the (fresh) ``states`` from :func:`encode` output.

    Raises:
        ValueError: the snapshot is malformed; ``states`` may then be partly filled.
    """
    by_name = {state.rule.name: state for state in states}
    try:
        clock, next_sweep, seq = (_int(snap[k]) for k in ("clock_us", "next_sweep_us", "seq"))
        restored = Restored(clock=from_us(clock), next_sweep=from_us(next_sweep), seq=seq)
        for name, data in snap["rules"].items():
            state = by_name.get(name)
            if state is None or data["digest"] != state.rule.digest:
                restored.dropped.append(name)
                continue
            for raw_key, deltas, firing in data["groups"]:
                due = _decode_group(state, raw_key, deltas, firing, clock)
                if due is not None:
                    restored.dues.append(due)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError, OverflowError) as exc:
        raise ValueError(f"malformed engine snapshot: {exc!r}") from None
    return restored


def _decode_group(state: RuleState, raw_key: Any, deltas: Any, firing: Any,
                  clock: int) -> tuple[timedelta, int, int, GroupKey] | None:
    """Restores one saved group into ``state``; the due entry of a firing one."""
    key: GroupKey = tuple(raw_key)
    if not all(v is None or type(v) is str or is_int64(v) for v in key) or \
            len(key) != len(state.fields):
        raise ValueError(f"bad group key {raw_key!r}")
    window = state.groups[()] if not key else deque()
    total = 0
    for delta in deltas:
        total += _int(delta)
        window.append(_printable(total))
    due = None if firing is None else _restore_episode(state, key, window, firing, clock)
    state.groups[key] = window
    return due


def _restore_episode(state: RuleState, key: GroupKey, window: Window, firing: Any,
                     clock: int) -> tuple[timedelta, int, int, GroupKey]:
    first_seen, last_seen, last_emit, seq = (_int(v) for v in firing)
    episode = state.episodes[key] = Episode(
        seq=seq, alert_id=make_alert_id(state.rule.name, key, first_seen),
        first_seen=_printable(first_seen), last_seen=_printable(last_seen),
        last_emit=_printable(last_emit))
    # A firing group down to its threshold was saved in the instant it fell there, before
    # its resolve ran: that is due at the saved clock itself.
    due = (state.due(window, episode)[0] if len(window) > state.threshold
           else _printable(clock))
    return (due, seq, state.index, key)
