"""The collectors that copy files from the home: log tails and the watcher's status file.

Every file is opened with :func:`watcher.open_regular`: a symlink at a log's place is never
followed (it could ship any file the user can read) and a FIFO or device is never waited on
(it would hang the run, or eat the collectors' deadline). Such a file gives an empty member
and the status ``refused``, with the reason.

Nothing here records where the home is: errors name files by their name, and the watcher's
status keeps only allow-listed fields, its paths reduced to paths relative to the home (or
bare names) and without the process id.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from watcher import Counters, NotRegularFile, open_regular

from .output import CUT, ERROR, OK, REFUSED, Output, describe_error
from .redact import home_forms
from .tail import DEFAULT_MAX_BYTES, tail_lines

STATUS_MEMBER = "watcher/status.json"
#: The watcher's status file is small; a huge one is not the watcher's.
_STATUS_MAX_BYTES = 1024 * 1024
#: The watcher's status fields a bundle keeps: its counters, and these. ``pid`` is left out.
_STATUS_TEXT = frozenset({"mode", "state", "started_at", "last_poll", "updated_at"})
_STATUS_PATHS = frozenset({"log", "alerts"})
_STATUS_COUNTS = frozenset({f.name for f in dataclasses.fields(Counters)} | {"lag_bytes"})


@dataclass(slots=True)
class _Gathered:
    """The tails read for one log, newest file last, and what went wrong on the way."""

    chunks: list[bytes] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    lines: int = 0
    truncated: bool = False
    cut: int = 0
    found: bool = False
    status: str = OK
    error: str | None = None


def collect_log(member: str, path: Path, lines: int) -> Output:
    """The last ``lines`` lines, continued into ``<name>.1`` when the live file is shorter
    (right after a rotation the live file is nearly empty)."""
    got = _gather(path, lines)
    detail = {"lines": got.lines, "sources": got.sources, "truncated": got.truncated,
              "cut_lines": got.cut}
    if got.status == REFUSED and not got.sources:
        return Output({member: b""}, REFUSED, got.error, detail=detail)
    if not got.found:
        return Output({member: b""}, "absent", detail={"lines": 0})
    data = b"".join(got.chunks)
    if got.status != OK:
        return Output({member: data}, got.status, got.error, detail=detail)
    if got.cut:
        note = (f"{got.cut} line(s) longer than the {DEFAULT_MAX_BYTES}-byte tail cap "
                "replaced by a marker giving the size")
        return Output({member: data}, CUT, detail=detail, note=note)
    return Output({member: data}, detail=detail)


def _gather(path: Path, lines: int) -> _Gathered:
    got = _Gathered()
    wanted, budget = lines, DEFAULT_MAX_BYTES
    for candidate in (path, path.with_name(path.name + ".1")):
        try:
            tail = tail_lines(candidate, wanted, max_bytes=budget)
        except FileNotFoundError:
            continue
        except NotRegularFile as exc:
            got.found, got.status, got.error = True, REFUSED, str(exc)
            break
        except OSError as exc:
            got.found, got.status, got.error = True, ERROR, describe_error(exc)
            break
        got.found = True
        if tail.data:
            ends = tail.data.endswith(b"\n") or not got.chunks
            got.chunks.insert(0, tail.data if ends else tail.data + b"\n")
            got.sources.insert(0, candidate.name)
        wanted -= tail.lines
        budget -= len(tail.data)
        got.lines += tail.lines
        got.cut += tail.cut_lines
        got.truncated = tail.truncated
        if tail.truncated or wanted <= 0 or budget <= 0:
            break
    return got


def collect_watcher_status(path: Path, home: Path) -> Output:
    """``state/watcher_status.json`` when the watcher wrote one, allow-listed."""
    try:
        with open_regular(path) as handle:
            raw = handle.read(_STATUS_MAX_BYTES + 1)
    except FileNotFoundError:
        return Output({}, "absent")
    except NotRegularFile as exc:
        return Output({}, REFUSED, str(exc))
    except OSError as exc:
        return Output({}, ERROR, describe_error(exc))
    if len(raw) > _STATUS_MAX_BYTES:
        return Output({}, ERROR, f"{path.name}: larger than {_STATUS_MAX_BYTES} bytes")
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return Output({}, ERROR, f"{path.name}: not JSON")
    if not isinstance(doc, dict):
        return Output({}, ERROR, f"{path.name}: not a JSON object")
    kept, dropped = allow_status(doc, home)
    return Output({STATUS_MEMBER: kept}, dropped_fields=dropped)


def allow_status(doc: dict[str, Any], home: Path) -> tuple[dict[str, Any], int]:
    """The fields of the watcher's status a bundle may hold, and how many were dropped.

    Counters must be integers and the other fields strings; a path becomes relative to
    ``home``, or its file name when it lies outside.
    """
    kept: dict[str, Any] = {}
    for key, value in doc.items():
        if key in _STATUS_COUNTS and type(value) is int:
            kept[key] = value
        elif key in _STATUS_PATHS and isinstance(value, str):
            kept[key] = home_relative(value, home)
        elif key in _STATUS_TEXT and isinstance(value, str):
            kept[key] = value
    return kept, len(doc) - len(kept)


def home_relative(text: str, home: Path) -> str:
    """``text`` (a path) relative to ``home`` when it lies below it, else its file name."""
    path = PurePath(text)
    for base in home_forms(home):
        try:
            return path.relative_to(base).as_posix()
        except ValueError:
            continue
    return path.name

