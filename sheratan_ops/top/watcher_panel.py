"""The watcher's panel: its status file, whether it still runs, and how the hub's
``--watcher`` supervisor keeps it running (restarts, the last exit, a lock held by another
watcher). Pure functions of what was read, like ``top.render``."""

from __future__ import annotations

from datetime import datetime

from rich.console import Group
from rich.panel import Panel
from rich.text import Text

from .model import SupervisorStatus, WatcherStatus, duration, watcher_down

_WARN = "bold yellow"


def watcher_trouble(status: WatcherStatus, now: datetime) -> str | None:
    """What is wrong with the watcher, in a few words, or None: why it is down
    (:func:`watcher_down`), or that its status cannot be read."""
    if status.error is not None:
        return "status unreadable"
    down = watcher_down(status, now)
    return None if down is None else down.removeprefix("watcher ")


def watcher_panel(status: WatcherStatus, supervisor: SupervisorStatus | None,
                  now: datetime) -> Panel:
    """The panel: state, pid, age and counters, and the supervisor's line when a hub runs
    the watcher with ``--watcher``."""
    title = Text("watcher", style="bold")
    extra = [] if supervisor is None else [supervisor_line(supervisor, now)]
    if status.missing:
        body = Text.assemble(("no watcher status yet", _WARN),
                             (" (start the hub with --watcher, or python -m watcher)", "dim"))
        return Panel(Group(body, *extra), title=title, border_style="yellow",
                     subtitle=Text(status.path, style="dim"))
    if status.error is not None:
        body = Text.assemble(("watcher status unreadable: ", _WARN), (status.error, "yellow"))
        return Panel(Group(body, *extra), title=title, border_style="yellow",
                     subtitle=Text(status.path, style="dim"))
    trouble = watcher_trouble(status, now)
    lines = [_first_line(status, trouble, now)]
    counters = _counters(status)
    if counters:
        lines.append(counters)
    border = "blue" if trouble is None else "yellow"
    return Panel(Group(*lines, *extra), title=title, border_style=border)


def _first_line(status: WatcherStatus, trouble: str | None, now: datetime) -> Text:
    fields = status.fields
    state = str(fields.get("state", "?"))
    first = Text.assemble(
        (state, "bold green" if trouble is None and state == "following" else _WARN))
    if "pid" in fields:
        gone = status.pid_alive is False
        first.append(f"  pid {fields['pid']}" + (" (gone)" if gone else ""),
                     style=_WARN if gone else "")
    if state == "stopped" and isinstance(fields.get("stop_reason"), str):
        first.append(f" ({fields['stop_reason']})", style="dim")
    age_s = _age_s(status, now)
    if age_s is not None:
        silent = trouble is not None and trouble.startswith("silent")
        first.append(f"  updated {duration(age_s)} ago", style=_WARN if silent else "dim")
        if silent:
            first.append(" (is the watcher running?)", style="yellow")
    if isinstance(fields.get("alerts"), int):
        first.append("  alerts ", style="dim")
        first.append(str(fields["alerts"]))
    return first


def _counters(status: WatcherStatus) -> Text:
    counters = Text()
    for key, warn_above in (("lines_read", None), ("lag_bytes", 1 << 20), ("parse_errors", 0),
                            ("invalid_events", 0), ("rotations", None)):
        value = status.fields.get(key)
        if not isinstance(value, int):
            continue
        if counters:
            counters.append("  ")
        counters.append(f"{key} ", style="dim")
        warn = warn_above is not None and value > warn_above
        counters.append(str(value), style="yellow" if warn else "")
    return counters


def supervisor_line(supervisor: SupervisorStatus, now: datetime) -> Text:
    """``hub pid 4242 (--watcher): running · restarts 2 · last exit code 1 at 10:14:03``;
    ``last exit signal 9 (killed as hung)`` when the hub killed a watcher that hung."""
    fields = supervisor.fields
    state = str(fields.get("state", "?"))
    line = Text(f"hub pid {fields.get('hub_pid', '?')} (--watcher): ", style="dim")
    if supervisor.hub_alive is False:
        line.append("that hub is gone", style=_WARN)
    else:
        line.append(*_supervisor_state(state, fields.get("next_start_at"), now))
    restarts = fields.get("restarts")
    if isinstance(restarts, int):
        line.append("  restarts ", style="dim")
        line.append(str(restarts), style="yellow" if restarts else "")
    code, at = fields.get("last_exit_code"), fields.get("last_exit_at")
    if isinstance(code, int):
        line.append(f"  last exit {_exit(code)}", style="dim")
        if fields.get("last_exit_reason") == "hung":
            line.append(" (killed as hung)", style="yellow")
        if isinstance(at, str):
            line.append(f" at {clock(at, now)}", style="dim")
    return line


def _supervisor_state(state: str, next_at: object, now: datetime) -> tuple[str, str]:
    when = f" at {clock(next_at, now)}" if isinstance(next_at, str) else ""
    if state == "restarting":
        return f"restarting it{when}", _WARN
    if state == "locked":
        return f"another watcher holds the lock; trying again{when}", _WARN
    if state == "failed":
        return "its supervisor failed; no restarts", _WARN
    if state == "refused":
        return "the watcher refused its configuration (exit 2); no restarts", _WARN
    return state, "green" if state == "running" else "dim"


def _exit(code: int) -> str:
    return f"signal {-code}" if code < 0 else f"code {code}"


def clock(ts: str, now: datetime) -> str:
    """``HH:MM:SS`` for a time of today, ``MM-DD HH:MM`` for an older one (in ``now``'s
    zone); a time that does not parse is shown cut to 19 characters."""
    try:
        when = datetime.fromisoformat(ts)
    except ValueError:
        return ts[:19]
    if when.tzinfo is not None and now.tzinfo is not None:
        when = when.astimezone(now.tzinfo)
    return when.strftime("%H:%M:%S" if when.date() == now.date() else "%m-%d %H:%M")


def _age_s(status: WatcherStatus, now: datetime) -> float | None:
    if status.updated_at is None:
        return None
    return (now - status.updated_at).total_seconds()
