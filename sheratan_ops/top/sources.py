"""Reading one snapshot: both planes' ``GET /metrics``, the alerts tail, the watcher status.

Nothing here raises for a hub that is down or a file that is missing, malformed or being
rewritten: each reader turns the failure into the reason carried by its reading. Files are
opened with the watcher's ``open_regular`` (share-delete on Windows, so a hub can rotate them
at any moment), read and closed within one call, never held across refreshes. A symbolic
link, FIFO, device or folder where a file should be is never followed or waited on: it is
reported as the reading's reason ("alerts.jsonl is a symbolic link, not a regular file; not
read").

The readers return what they read as it was; :func:`fetch` hands the snapshot to a
:class:`top.scrub.Scrubber` before anyone draws it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson

from sheratan_home import HomeLayout
from sheratan_ops.cliargs import metrics_disabled
from watcher import NotRegularFile, open_regular

from .limits import packaged_rate_limits
from .liveness import parse_aware, writer_alive
from .model import (
    PLANE_KEYS,
    AlertRow,
    AlertsTail,
    AlertState,
    PlaneReading,
    Snapshot,
    SupervisorStatus,
    WatcherStatus,
)
from .scrub import Scrubber

#: The end of ``alerts.jsonl`` read per refresh, to learn which episodes are still firing;
#: the rows shown are the newest of these. About 1,500 alerts of ~350 bytes; bounded, so a
#: 50 MB alerts file costs what a 5 kB one does.
SCAN_MAX_BYTES = 512 * 1024
#: ``watcher_status.json`` is about 600 bytes; anything this big is not one.
STATUS_MAX_BYTES = 64 * 1024
_REASON_MAX_CHARS = 120


def fetch(
    client: httpx.Client,
    *,
    control_url: str,
    data_url: str,
    home: Path,
    alerts: int,
    scrubber: Scrubber,
    now: Callable[[], datetime] | None = None,
    rate_limits: Mapping[str, int] | None = None,
    rules_problem: str | None = None,
) -> Snapshot:
    """Read everything one frame shows, made safe to show. Never raises for a down hub or a
    bad file.

    Args:
        client: Used for both planes; its timeout bounds each request.
        control_url: The control plane's base URL (``/metrics`` is appended).
        data_url: The data plane's base URL.
        home: ``SHERATAN_HOME``: the alerts and watcher status are read below it.
        alerts: How many of the newest alerts to keep.
        scrubber: Redacts secrets and escapes terminal controls in every string read.
        now: The clock stamped on the snapshot (timezone-aware); defaults to UTC now.
        rate_limits: The watcher's active rules as rate limits; default: its packaged rules.
        rules_problem: Why the home's rules gave no limits (``top.limits.view_rate_limits``).
    """
    taken_at = (now or _utc_now)()
    files = HomeLayout(home)
    return scrubber.snapshot(Snapshot(
        taken_at=taken_at,
        control=fetch_plane(client, "control", control_url),
        data=fetch_plane(client, "data", data_url),
        alerts=read_alerts(files.alerts, alerts),
        watcher=read_watcher_status(files.watcher_status),
        supervisor=read_supervisor_status(files.supervisor_status),
        rate_limits=packaged_rate_limits() if rate_limits is None else rate_limits,
        rules_problem=rules_problem,
    ))


def fetch_plane(client: httpx.Client, plane: str, base_url: str) -> PlaneReading:
    """``GET {base_url}/metrics`` as JSON, reduced to ``plane``'s contract keys.

    Args:
        client: The HTTP client (its timeout applies).
        plane: ``control`` or ``data``: which keys to keep, and which plane must answer.
        base_url: The plane's base URL, without ``/metrics``.
    """
    url = base_url.rstrip("/")
    try:
        response = client.get(f"{url}/metrics", headers={"Accept": "application/json"})
    except httpx.TimeoutException:
        return _unreachable(plane, url, "no answer within the timeout")
    except httpx.ConnectError as exc:
        text = str(exc)  # "[Errno 111] Connection refused", "[WinError 10061] ... refused it"
        refused = "refused" in text.lower()
        reason = "connection refused" if refused else _short(text, "cannot connect")
        return _unreachable(plane, url, reason)
    except httpx.HTTPError as exc:
        return _unreachable(plane, url, _short(f"{type(exc).__name__}: {exc}", "HTTP error"))
    off = metrics_disabled(response.status_code, response.content)
    if off is not None:
        return PlaneReading(plane, url, error=f"hub up, metrics disabled ({off})",
                            metrics_off=off)
    if response.status_code != 200:
        return PlaneReading(plane, url, error=_http_error(response))
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return PlaneReading(plane, url, error="the answer is not JSON (is this the hub?)")
    if not isinstance(body, dict):
        return PlaneReading(plane, url, error="the answer is not a metrics object")
    served = body.get("plane")
    if isinstance(served, str) and served != plane:
        return PlaneReading(plane, url, error=f"this URL serves the {_short(served, '?')} plane")
    generated_at = body.get("generated_at")
    return PlaneReading(
        plane, url,
        values={key: value for key in PLANE_KEYS[plane]
                if (value := _as_int(body.get(key))) is not None},
        generated_at=generated_at if isinstance(generated_at, str) else None,
    )


def read_alerts(path: Path, limit: int) -> AlertsTail:
    """The newest ``limit`` alerts of ``path``, reading only its tail.

    Lines that are not an alert object (malformed JSON, binary, missing fields, a partial
    last line being appended) are counted in ``skipped`` and otherwise ignored.

    Args:
        path: The ``alerts.jsonl`` file.
        limit: How many rows to keep (0 keeps none but still counts firing episodes).
    """
    shown = str(path)
    try:
        data = _tail_bytes(path, SCAN_MAX_BYTES)
    except FileNotFoundError:
        return AlertsTail(shown, missing=True)
    except NotRegularFile as exc:
        return AlertsTail(shown, error=str(exc))
    except OSError as exc:
        return AlertsTail(shown, error=_short(exc.strerror or str(exc), "unreadable"))
    rows: list[AlertRow] = []
    skipped = 0
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        row = _alert_row(line)
        if row is None:
            skipped += 1
        else:
            rows.append(row)
    latest: dict[str, int] = {row.alert_id: index for index, row in enumerate(rows)}
    firing = sum(1 for index in latest.values() if rows[index].state is AlertState.FIRING)
    kept = rows[-limit:] if limit > 0 else []
    first = len(rows) - len(kept)
    marked = tuple(
        _with_still_firing(row, latest[row.alert_id] == first + offset)
        for offset, row in enumerate(kept)
    )
    return AlertsTail(shown, rows=marked[::-1], firing=firing, skipped=skipped)


def read_watcher_status(path: Path) -> WatcherStatus:
    """``watcher_status.json``, tolerating a missing, oversized or malformed file, and
    whether the watcher that wrote it still runs.

    Args:
        path: The status file.
    """
    shown = str(path)
    try:
        fields = _read_status_fields(path)
    except FileNotFoundError:
        return WatcherStatus(shown, missing=True)
    except _Unusable as exc:
        return WatcherStatus(shown, error=str(exc))
    updated = fields.get("updated_at")
    # A stopped watcher's pid is not worth a look (and may be anyone's by now).
    alive = None if fields.get("state") == "stopped" else writer_alive(fields)
    return WatcherStatus(shown, fields=fields,
                         updated_at=parse_aware(updated) if isinstance(updated, str) else None,
                         pid_alive=alive)


def read_supervisor_status(path: Path) -> SupervisorStatus | None:
    """The hub's ``watcher_supervisor.json``; None when absent or unusable (it only adds
    to the watcher's own status).

    Args:
        path: The supervisor status file.
    """
    try:
        fields = _read_status_fields(path)
    except (FileNotFoundError, _Unusable):
        return None
    alive = None if fields.get("state") == "stopped" else writer_alive(fields, pid_key="hub_pid")
    return SupervisorStatus(str(path), fields=fields, hub_alive=alive)


class _Unusable(Exception):
    """A status file that is there but cannot be used; the message says why."""


def _read_status_fields(path: Path) -> dict[str, str | int]:
    """A small JSON status object's scalar fields (strings and integers; the rest dropped).

    Raises:
        FileNotFoundError: there is no such file.
        _Unusable: it is not a regular file, unreadable, too large, or not a JSON object.
    """
    try:
        with open_regular(path) as handle:
            raw = handle.read(STATUS_MAX_BYTES + 1)
    except FileNotFoundError:
        raise
    except NotRegularFile as exc:
        raise _Unusable(str(exc)) from None
    except OSError as exc:
        raise _Unusable(_short(exc.strerror or str(exc), "unreadable")) from None
    if len(raw) > STATUS_MAX_BYTES:
        raise _Unusable("too large to be a watcher status")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # Also what a reader sees of a non-atomic writer mid-write; the next refresh retries.
        raise _Unusable("not valid JSON") from None
    if not isinstance(body, dict):
        raise _Unusable("not a JSON object")
    fields: dict[str, str | int] = {}
    for key, value in body.items():
        if isinstance(value, str):
            fields[key] = value
        elif (number := _as_int(value)) is not None:
            fields[key] = number
    return fields


def _tail_bytes(path: Path, max_bytes: int) -> bytes:
    """The file's last ``max_bytes``, from the first whole line on: one seek, one read."""
    with open_regular(path) as handle:
        # One byte more, before the window: whether it is a newline tells whether the
        # window starts on a whole line.
        start = max(0, handle.seek(0, 2) - max_bytes - 1)
        handle.seek(start)
        data = handle.read(max_bytes + 1)
    if start == 0:
        return data
    cut = data.find(b"\n")
    return data[cut + 1:] if cut >= 0 else b""  # a cut first line is dropped, not shown half


def _unreachable(plane: str, url: str, reason: str) -> PlaneReading:
    return PlaneReading(plane, url, error=f"hub unreachable: {reason}")


def _http_error(response: httpx.Response) -> str:
    detail = ""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("error", "reason") if isinstance(body.get(k), str)]
        detail = " ".join(parts)
    label = "metrics unavailable" if response.status_code == 503 else "no metrics"
    suffix = f": {_short(detail, '')}" if detail else ""
    return f"{label} (HTTP {response.status_code}{suffix})"


def _alert_row(line: bytes) -> AlertRow | None:
    try:
        body = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict):
        return None
    ts, alert_id, rule, state = (body.get(k) for k in ("ts", "alert_id", "rule", "state"))
    if not (isinstance(ts, str) and isinstance(alert_id, str) and isinstance(rule, str)):
        return None
    try:
        parsed_state = AlertState(state)
    except ValueError:
        return None
    severity = body.get("severity")
    group = body.get("group")
    return AlertRow(
        ts=ts, alert_id=alert_id, rule=rule, state=parsed_state,
        severity=severity if isinstance(severity, str) else "?",
        count=_as_int(body.get("count")),
        threshold=_as_int(body.get("threshold")),
        window_s=_as_int(body.get("window_s")),
        group=_group(group) if isinstance(group, dict) else {},
    )


def _with_still_firing(row: AlertRow, is_latest: bool) -> AlertRow:
    if not (is_latest and row.state is AlertState.FIRING):
        return row
    return dataclasses.replace(row, still_firing=True)


def _group(raw: Mapping[object, object]) -> dict[str, str]:
    return {str(k): str(v) for k, v in raw.items()
            if isinstance(v, (str, int, float)) and not isinstance(v, bool)}


def _as_int(value: object) -> int | None:
    """An integer from JSON: ints, and floats without a fraction; never a bool."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _short(text: str, default: str) -> str:
    text = " ".join(text.split())
    if not text:
        return default
    return text if len(text) <= _REASON_MAX_CHARS else text[: _REASON_MAX_CHARS - 1] + "…"


def _utc_now() -> datetime:
    return datetime.now(UTC)
