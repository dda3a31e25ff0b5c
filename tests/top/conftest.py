"""Fixtures for the terminal view: snapshots built by hand and a recording console."""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console, RenderableType
from rich.style import Style

from otel import Redactor, TokenFingerprint
from sheratan_ops.top.model import (
    AlertRow,
    AlertsTail,
    AlertState,
    PlaneReading,
    Snapshot,
    SupervisorStatus,
    WatcherStatus,
)
from sheratan_ops.top.scrub import Scrubber

REPO_ROOT = Path(__file__).resolve().parents[2]
HUB_TOP = REPO_ROOT / "scripts" / "hub_top.py"

NOW = datetime(2026, 11, 29, 10, 15, 4, tzinfo=UTC)
CONTROL_URL = "http://127.0.0.1:8787"
DATA_URL = "http://127.0.0.1:8788"
CALM_CONTROL = {"nodes_online": 3, "nodes_stale": 0, "nodes_dead": 0, "auth_fail_rate_1m": 0,
                "port_mismatch_rate_1m": 0}
CALM_DATA = {"queue_depth": 0, "inflight_jobs": 0, "retry_rate_1m": 0}


def watcher_ok(**extra: str | int) -> WatcherStatus:
    fields: dict[str, str | int] = {"state": "following", "pid": 4242, "lines_read": 19,
                                    "alerts": 0, "lag_bytes": 0, "parse_errors": 0,
                                    "updated_at": "2026-11-29T10:15:03Z"}
    fields.update(extra)
    return WatcherStatus("home/state/watcher_status.json", fields=fields,
                         updated_at=datetime(2026, 11, 29, 10, 15, 3, tzinfo=UTC))


def snap(control: Mapping[str, int] | str = CALM_CONTROL,
         data: Mapping[str, int] | str = CALM_DATA, *,
         alerts: AlertsTail | None = None, watcher: WatcherStatus | None = None,
         supervisor: SupervisorStatus | None = None, taken_at: datetime = NOW) -> Snapshot:
    """A snapshot; a plane given as a string is that error."""
    def reading(plane: str, url: str, value: Mapping[str, int] | str) -> PlaneReading:
        if isinstance(value, str):
            return PlaneReading(plane, url, error=value)
        return PlaneReading(plane, url, values=dict(value))

    return Snapshot(taken_at, reading("control", CONTROL_URL, control),
                    reading("data", DATA_URL, data),
                    alerts or AlertsTail("home/logs/alerts.jsonl", missing=True),
                    watcher or watcher_ok(), supervisor)


def alert(alert_id: str, state: AlertState, *, rule: str = "auth_failure_burst",
          still_firing: bool = False, ts: str = "2026-11-29T10:14:00Z",
          group: Mapping[str, str] | None = None) -> AlertRow:
    return AlertRow(ts=ts, alert_id=alert_id, rule=rule, state=state, severity="warning",
                    count=11, threshold=10, window_s=60, group=group or {},
                    still_firing=still_firing)


def scrubber(*secrets: str, fingerprints: tuple[TokenFingerprint, ...] = ()) -> Scrubber:
    """A scrubber that knows ``secrets`` (and the credential patterns), as hub_top builds it."""
    return Scrubber(Redactor(secrets, fingerprints=fingerprints))


def console(width: int = 100, *, color: bool = False) -> Console:
    """A recording console of fixed width, with no terminal behind it."""
    return Console(record=True, width=width, height=50, force_terminal=color,
                   color_system="truecolor" if color else None, legacy_windows=False,
                   file=io.StringIO())


def draw(renderable: RenderableType, width: int = 100) -> str:
    """The plain text of ``renderable`` at ``width`` columns."""
    out = console(width)
    out.print(renderable)
    return out.export_text()


def line_segments(renderable: RenderableType, containing: str,
                  width: int = 100) -> list[tuple[str, Style | None]]:
    """The styled pieces of the first line inside a panel whose text contains ``containing``."""
    out = console(width, color=True)
    for line in out.render_lines(renderable, out.options, pad=False):
        text = "".join(s.text for s in line)
        if containing in text and "│" in text:
            return [(s.text, s.style) for s in line if not s.control]
    raise AssertionError(f"no line contains {containing!r}")


def style_of(pieces: list[tuple[str, Style | None]], text: str) -> Style:
    """The style of the piece whose stripped text is ``text``."""
    for piece, style in pieces:
        if piece.strip() == text:
            return style or Style()
    raise AssertionError(f"{text!r} not among {[p for p, _ in pieces]}")
