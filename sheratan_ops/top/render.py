"""Drawing one snapshot: a pure function of what was read (and of the refresh before it).

``render`` returns a renderable that lays itself out for the width it is given (the plane
panels side by side when there is room, stacked when not) and, when it is given a height
(a full-screen ``Live``), shows as many alert rows as fit. It reads no clock, no file and no
environment, so tests draw it into a recording ``Console`` and assert on the text and styles.

Every string from the snapshot is put into a ``Text`` (never a markup string), so a rule
named ``[bold]x[/]`` is drawn as it is written. Making those strings safe to draw (secrets
redacted, terminal controls escaped) is ``top.scrub``'s job, done before a snapshot gets
here.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.panel import Panel
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from .limits import RATE_KEYS
from .model import (
    PLANE_KEYS,
    AlertRow,
    AlertsTail,
    AlertState,
    PlaneReading,
    Snapshot,
    watcher_down,
)
from .watcher_panel import clock, watcher_panel, watcher_trouble

#: Below this width the plane panels are stacked instead of side by side.
SIDE_BY_SIDE_MIN_WIDTH = 70
#: From this width the alerts show their window and severity too.
WIDE_MIN_WIDTH = 100
ARROW_UP = "↑"
ARROW_DOWN = "↓"
#: The view's own symbols as one ASCII character each (so the layout holds), drawn so when the
#: output cannot encode them (rich's ``ascii_only``: a Windows ``> frame.txt`` is cp1252; rich
#: then draws ASCII boxes too). Characters it has no entry for are the stream's to replace.
ASCII_SYMBOLS = str.maketrans({"✓": "+", "✗": "x", ARROW_UP: "^", ARROW_DOWN: "v", "●": "*",
                               "◌": "o", "·": "-", "…": "~"})

_UNREACHABLE = "hub unreachable"
_BAD = "bold red"
_WARN = "bold yellow"


@dataclass(frozen=True, slots=True)
class _Spec:
    """How one key is judged. ``rising_bad``: None when its direction means nothing."""

    rising_bad: bool | None
    alarm_above: int | None = None
    alarm_style: str = _BAD


_SPECS = {
    "nodes_online": _Spec(rising_bad=False),
    "nodes_stale": _Spec(rising_bad=True, alarm_above=0, alarm_style=_WARN),
    "nodes_dead": _Spec(rising_bad=True, alarm_above=0),
    # Their limits are the watcher's active rules' (``Snapshot.rate_limits``).
    "auth_fail_rate_1m": _Spec(rising_bad=True),
    "port_mismatch_rate_1m": _Spec(rising_bad=True),
    "queue_depth": _Spec(rising_bad=None),
    "inflight_jobs": _Spec(rising_bad=None),
    "retry_rate_1m": _Spec(rising_bad=True),
}


def render(snapshot: Snapshot, previous: Snapshot | None = None, *,
           hint: str | None = None, height: int | None = None) -> RenderableType:
    """One frame of the terminal view.

    Args:
        snapshot: What this refresh read.
        previous: The refresh before, for the ↑/↓ arrows (none on the first frame).
        hint: A short line shown at the top right (e.g. the refresh interval).
        height: The screen height to fill (a full-screen live view): the alerts panel
            reaches the bottom and shows as many rows as fit. ``None`` draws the natural
            height (``--once``).

    Returns:
        A renderable for ``Console.print`` or ``Live.update``.
    """
    return _Frame(snapshot, previous, hint, height)


def problems(snapshot: Snapshot) -> list[tuple[str, str]]:
    """What an operator should look at, most serious first, as ``(text, style)`` pairs."""
    found = _plane_problems(snapshot)
    down = watcher_down(snapshot.watcher, snapshot.taken_at)
    found.extend(_firing_problem(snapshot.alerts.firing, down))
    values = snapshot.control.values
    if values.get("nodes_dead", 0) > 0:
        found.append((_plural(values["nodes_dead"], "node") + " dead", _BAD))
    for key, limit in snapshot.rate_limits.items():
        if values.get(key, 0) > limit:
            found.append((f"{key} > {limit}", _BAD))
    if values.get("nodes_stale", 0) > 0:
        found.append((_plural(values["nodes_stale"], "node") + " stale", _WARN))
    if snapshot.alerts.error is not None:
        found.append(("alerts unreadable", _WARN))  # firing alerts could be missed
    if snapshot.rules_problem is not None:
        found.append(("rules invalid", _WARN))  # the control panel says which and why
    watcher = watcher_trouble(snapshot.watcher, snapshot.taken_at)
    if watcher and not (snapshot.alerts.firing and down is not None):  # said above if so
        found.append((f"watcher: {watcher}", _WARN))
    return found


def _plane_problems(snapshot: Snapshot) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for reading in snapshot.planes:
        if reading.metrics_off is not None:
            found.append((f"{reading.plane} plane up, metrics disabled", _WARN))
        elif reading.error is not None:
            what = "unreachable" if reading.error.startswith(_UNREACHABLE) else "no metrics"
            found.append((f"{reading.plane} plane {what}", _BAD))
    return found


def _firing_problem(firing: int, down: str | None) -> list[tuple[str, str]]:
    if not firing:
        return []
    if down is None:
        return [(_plural(firing, "alert") + " firing", _BAD)]
    # Nobody evaluates them: what was firing may long be over.
    return [(_plural(firing, "alert") + f" stale ({down})", _WARN)]


class _Frame:
    def __init__(self, snapshot: Snapshot, previous: Snapshot | None, hint: str | None,
                 height: int | None):
        self._snapshot = snapshot
        self._previous = previous
        self._hint = hint
        self._height = height

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        snap = self._snapshot
        # Children get no height: a Panel given one would stretch to it.
        child_options = options.update(height=None)
        width = options.max_width
        top = Group(_header(snap, self._hint, width), _planes(snap, self._previous, width),
                    watcher_panel(snap.watcher, snap.supervisor, snap.taken_at))
        top_lines = console.render_lines(top, child_options, pad=False)
        room = None
        height = self._height if self._height is not None else options.height
        if height is not None:
            room = max(0, height - len(top_lines) - 3)  # borders and the table header
        alerts = _alerts_panel(snap.alerts, snap.taken_at, room,
                               wide=options.max_width >= WIDE_MIN_WIDTH,
                               stale=watcher_down(snap.watcher, snap.taken_at))
        segments = itertools.chain(_lines(top_lines), console.render(alerts, child_options))
        if not options.ascii_only:
            yield from segments
            return
        for segment in segments:
            yield segment if segment.control else Segment(
                segment.text.translate(ASCII_SYMBOLS), segment.style)


def _lines(lines: list[list[Segment]]) -> Iterable[Segment]:
    for line in lines:
        yield from line
        yield Segment.line()


def _header(snap: Snapshot, hint: str | None, width: int) -> RenderableType:
    found = problems(snap)
    if not any(r.answered for r in snap.planes):
        verdict, style = " HUB UNREACHABLE ", "bold white on red"
    elif any(s == _BAD for _, s in found):
        verdict, style = " ALERT ", "bold white on red"
    elif found:
        verdict, style = " ATTENTION ", "bold black on yellow"
    else:
        verdict, style = " OK ", "bold black on green"
    left = Text.assemble((verdict, style), " ", ("Sheratan hub", "bold"), "  ",
                         (snap.taken_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip(), "dim"))
    grid = Table.grid(expand=True)
    grid.add_column(ratio=1)
    grid.add_column(justify="right", no_wrap=True)
    grid.add_row(left, Text(hint or "", style="dim"))
    # Packed by hand so a line breaks between two reasons, never inside one.
    line = Text()
    for text, text_style in found:
        if line and line.cell_len + 3 + len(text) > width:
            grid.add_row(line, Text())
            line = Text()
        if line:
            line.append(" · ", style="dim")
        line.append(text, style=text_style)
    if line:
        grid.add_row(line, Text())
    return grid


def _planes(snap: Snapshot, previous: Snapshot | None, width: int) -> RenderableType:
    before = (previous.control, previous.data) if previous is not None else (None, None)
    # A rules problem is a long line under the limits: stacked, the panel has the width.
    side_by_side = width >= SIDE_BY_SIDE_MIN_WIDTH and snap.rules_problem is None
    # Side by side, both panels get the taller one's height so their borders line up.
    height = max(len(keys) for keys in PLANE_KEYS.values()) + 2 if side_by_side else None
    panels = [_plane_panel(now, old, height, snap.rate_limits, snap.rules_problem)
              for now, old in zip(snap.planes, before, strict=True)]
    if not side_by_side:
        return Group(*panels)
    grid = Table.grid(expand=True)
    grid.add_column(ratio=1)
    grid.add_column(ratio=1)
    grid.add_row(*panels)
    return grid


def _plane_panel(reading: PlaneReading, previous: PlaneReading | None,
                 height: int | None, limits: Mapping[str, int],
                 rules_problem: str | None = None) -> Panel:
    """``rules_problem`` is drawn in the panel of the plane whose rates have limits."""
    title = Text(f"{reading.plane} plane", style="bold")
    subtitle = Text(reading.url.split("://", 1)[-1], style="dim")
    if reading.metrics_off is not None:
        body: RenderableType = _metrics_off(reading.metrics_off)
        border = "yellow"
    elif reading.error is not None:
        body, border = _unreachable(reading.error), "red"
    else:
        body, border = _numbers(reading, previous, limits)
    if rules_problem is not None and any(k in RATE_KEYS.values()
                                         for k in PLANE_KEYS[reading.plane]):
        body = Group(body, Text(rules_problem, style=_WARN))
        border = "red" if border == "red" else "yellow"
    return Panel(body, title=title, subtitle=subtitle, border_style=border, height=height)


def _metrics_off(reason: str) -> Text:
    return Text.assemble(("✓ ", "green"), ("hub up", "bold"), " · ", ("metrics disabled", _WARN),
                         (f"\n  reason: {reason} (OTEL_SDK_DISABLED=true on the hub)", "dim"))


def _unreachable(error: str) -> Text:
    # "hub unreachable: connection refused" -> the verdict bold, the reason below it.
    headline, reason = error, ""
    if headline.startswith(_UNREACHABLE):
        headline, reason = _UNREACHABLE, headline[len(_UNREACHABLE):].lstrip(": ")
    body = Text.assemble(("✗ ", _BAD), (headline, _BAD))
    if reason:
        body.append(f"\n  {reason}", style="red")
    return body


def _numbers(reading: PlaneReading, previous: PlaneReading | None,
             limits: Mapping[str, int]) -> tuple[Table, str]:
    """The plane's numbers, and the border colour they call for."""
    grid = Table.grid(padding=(0, 1))
    # The keys' own width, so the numbers stay next to them however wide the panel is.
    grid.add_column(no_wrap=True, overflow="ellipsis",
                    min_width=max(len(k) for keys in PLANE_KEYS.values() for k in keys))
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column(width=1, no_wrap=True)
    grid.add_column(no_wrap=True, overflow="ellipsis", width=8)  # "limit 10"
    border = "blue"
    old = previous.values if previous is not None and previous.ok else {}
    for key in PLANE_KEYS[reading.plane]:
        spec = _SPECS[key]
        value = reading.values.get(key)
        if value is None:
            grid.add_row(Text(key), Text("?", style="dim"), Text(), Text("not sent", style="dim"))
            continue
        limit = limits.get(key)
        above = spec.alarm_above if limit is None else limit
        alarmed = above is not None and value > above
        if alarmed:
            border = "red" if spec.alarm_style == _BAD or border == "red" else "yellow"
        note = Text("")
        if limit is not None:
            note = Text(f"over {limit}", style=_BAD) if alarmed else Text(f"limit {limit}",
                                                                          style="dim")
        grid.add_row(Text(key, style=spec.alarm_style if alarmed else ""),
                     Text(str(value), style=spec.alarm_style if alarmed else "bold"),
                     _arrow(spec, value, old.get(key)), note)
    return grid, border


def _arrow(spec: _Spec, value: int, before: int | None) -> Text:
    if before is None or value == before:
        return Text(" ")
    rising = value > before
    arrow = ARROW_UP if rising else ARROW_DOWN
    if spec.rising_bad is None:
        return Text(arrow, style="dim")
    return Text(arrow, style="bold red" if rising == spec.rising_bad else "green")


def _alerts_panel(alerts: AlertsTail, now: datetime, room: int | None, *,
                  wide: bool, stale: str | None = None) -> Panel:
    """``stale``: why no watcher runs (its episodes' firing lines are then only the last
    thing known of them), or None."""
    # Full screen: the panel reaches the bottom, so the frame keeps its shape as rows come.
    height = None if room is None else room + 3
    if alerts.firing and stale is not None:
        title = Text(f"alerts: {alerts.firing} stale ({stale}; last known firing)",
                     style=_WARN)
        border = "yellow"
    elif alerts.firing:
        title = Text(f"alerts: {alerts.firing} firing", style=_BAD)
        border = "red"
    else:
        title = Text("alerts: none firing", style="bold green")
        border = "blue"
    notes: list[str] = []
    if alerts.skipped:
        notes.append(f"{alerts.skipped} malformed line(s) skipped")
    if alerts.error is not None:
        # Not "none firing": nothing is known about what fires.
        body: RenderableType = Text(f"alerts unreadable: {alerts.error}", style=_WARN)
        return Panel(body, title=Text("alerts: unknown", style=_WARN), border_style="yellow",
                     subtitle=_dim(alerts.path), height=height)
    if not alerts.rows:
        message = "no alerts yet" if alerts.missing or not alerts.skipped else "no valid alerts"
        return Panel(Text(message, style="dim"), title=title, border_style=border,
                     subtitle=_dim(" · ".join([*notes, alerts.path])), height=height)
    rows = alerts.rows
    if room is not None and room < len(rows):
        notes.insert(0, f"{len(rows) - room} older not shown")
        rows = rows[:room]
    table = Table(expand=True, box=None, padding=(0, 1), show_edge=False, header_style="dim")
    table.add_column("time", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("rule", no_wrap=True, overflow="ellipsis", ratio=1)
    table.add_column("group", no_wrap=True, overflow="ellipsis", ratio=1)
    table.add_column("count", no_wrap=True, justify="right")
    if wide:
        table.add_column("window", no_wrap=True, justify="right")
        table.add_column("severity", no_wrap=True, overflow="ellipsis")
    for row in rows:
        cells = _alert_cells(row, now, stale=stale is not None)
        table.add_row(*(cells if wide else cells[:5]),
                      style="bold" if row.still_firing and stale is None else None)
    subtitle = _dim(" · ".join(["newest first", *notes]))
    return Panel(table, title=title, border_style=border, subtitle=subtitle, height=height)


def _alert_cells(row: AlertRow, now: datetime, *, stale: bool) -> tuple[Text, ...]:
    if row.state is AlertState.RESOLVED:
        state = Text("✓ resolved", style="green")
    elif row.still_firing and stale:
        state = Text("◌ stale", style="yellow")
    elif row.still_firing:
        state = Text("● FIRING", style=_BAD)
    else:
        state = Text("  firing", style="yellow")  # an earlier line of this episode
    group = ", ".join(f"{k}={v}" for k, v in row.group.items()) or "all"
    count = "" if row.count is None else str(row.count)
    if row.threshold is not None:
        count += f" > {row.threshold}" if row.state is AlertState.FIRING else f" ≤ {row.threshold}"
    window = "" if row.window_s is None else f"{row.window_s}s"
    return (Text(clock(row.ts, now), style="dim"), state, Text(row.rule), Text(group),
            Text(count.strip()), Text(window, style="dim"), Text(row.severity, style="dim"))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _dim(text: str) -> Text:
    return Text(text, style="dim")
