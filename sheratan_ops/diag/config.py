"""The diagnose run's configuration: arguments and environment, parsed once, at the edge.

Everything below this module takes a :class:`DiagConfig` and never reads the environment.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sheratan_home import HomeLayout
from sheratan_home.env import DEFAULT_NODE_DEAD_S, DEFAULT_NODE_STALE_S, is_loopback
from sheratan_ops import hubenv
from sheratan_ops.cliargs import parse_base_url

DEFAULT_LINES = 200
MAX_LINES = 100_000
DEFAULT_TIMEOUT_S = 2.0
MAX_TIMEOUT_S = 60.0


class UsageError(ValueError):
    """A bad argument or environment value; the message names it and never holds a secret."""


@dataclass(frozen=True, slots=True)
class DiagPaths(HomeLayout):
    """The home's layout (``sheratan_home``), with the logs diagnose copies."""

    @property
    def logs(self) -> dict[str, Path]:
        """Bundle member name -> log file."""
        files = (self.control_log, self.data_log, self.audit_log, self.alerts)
        return {f"logs/{path.name}": path for path in files}

    @property
    def read(self) -> tuple[Path, ...]:
        """Every file of the home a bundle is made from."""
        return (self.db, *self.logs.values(), self.watcher_status)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A plane's base URL, or why it is not contacted (a non-loopback host from the env)."""

    plane: str
    host: str
    port: int
    refused: str | None = None


@dataclass(frozen=True, slots=True)
class DiagConfig:
    """One diagnose run.

    ``epoch_s`` is the timestamp used everywhere (bundle name, zip entry times, manifest, the
    "as of" of offline readings); ``reproducible`` is true when it came from
    ``SOURCE_DATE_EPOCH``, which also drops volatile values such as durations.
    """

    home: Path
    out_dir: Path
    lines: int
    control: Endpoint
    data: Endpoint
    timeout_s: float
    epoch_s: int
    reproducible: bool
    node_stale_s: float = DEFAULT_NODE_STALE_S
    node_dead_s: float = DEFAULT_NODE_DEAD_S
    #: ``--token-file`` paths, in the order given.
    token_files: tuple[Path, ...] = ()
    #: Where the home came from (``from --home``, ...), said beside it.
    home_from: str = "from --home"

    @property
    def paths(self) -> DiagPaths:
        return DiagPaths(self.home)

    def node_status(self, last_seen: float | None) -> str:
        """``online``, ``stale`` or ``dead`` as of the run's timestamp, as the hub computes
        it; ``unknown`` for a heartbeat time that is missing or not a finite number."""
        if last_seen is None or not math.isfinite(last_seen):
            return "unknown"
        age_s = self.epoch_s - last_seen
        if age_s > self.node_dead_s:
            return "dead"
        return "stale" if age_s > self.node_stale_s else "online"

    @property
    def timestamp(self) -> datetime:
        return datetime.fromtimestamp(self.epoch_s, UTC)

    @property
    def bundle_name(self) -> str:
        return f"diag_bundle_{self.timestamp.strftime('%Y%m%dT%H%M%SZ')}.zip"


def parse_loopback_url(url: str, plane: str) -> Endpoint:
    """Parse an explicit ``--control-url``/``--data-url``; only loopback http is accepted.

    Raises:
        UsageError: any other scheme or host, a bad port, credentials, a query or a path.
    """
    option = f"--{plane}-url"
    try:
        parts = parse_base_url(url, schemes=("http",))
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None
    port = parts.port
    if parts.username is not None or parts.password is not None:
        # Never echo the URL: it carries credentials.
        raise UsageError(f"{option}: credentials in the URL are not accepted")
    if parts.path not in ("", "/"):
        raise UsageError(f"{option}: give the base URL only (no path, query or fragment)")
    host = parts.hostname or ""
    if not is_loopback(host):
        raise UsageError(f"{option}: {host!r} is not a loopback address; diagnose only talks "
                         "to 127.0.0.0/8, ::1 or localhost")
    return Endpoint(plane, host, port if port is not None else 80)


def endpoints_from_env(env: Mapping[str, str], warn: list[str]) -> dict[str, Endpoint]:
    """Both planes' endpoints, by plane, from ``HUB_HOST`` (read once) and each plane's port
    variable, as the hub binds them.

    A wildcard bind (``0.0.0.0``, ``::``) is reached over loopback. A non-loopback host is
    not contacted (the endpoint carries why). A bad port warns and falls back to the default.
    """
    host = hubenv.host(env, warn)
    refused = None if is_loopback(host) else "HUB_HOST is not a loopback address"
    return {plane: Endpoint(plane, host, hubenv.port(env, plane, warn), refused=refused)
            for plane in ("control", "data")}


def source_date_epoch(env: Mapping[str, str]) -> int | None:
    """``SOURCE_DATE_EPOCH`` as an int, or None when unset.

    Raises:
        UsageError: a value that is not a non-negative integer (reproducible-builds.org says
            a malformed value must fail the build rather than be ignored).
    """
    raw = env.get("SOURCE_DATE_EPOCH")
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or int(raw) > 253402300799:
        raise UsageError("SOURCE_DATE_EPOCH: expected a non-negative integer of seconds "
                         "before year 10000")
    return int(raw)


def now_epoch_s() -> int:
    return int(time.time())


def iso_utc(epoch_s: float | None) -> str | None:
    """``epoch_s`` as RFC 3339 UTC with microseconds; None for a value no clock can show
    (missing, NaN, infinite or beyond year 9999), which a corrupt row may hold."""
    if epoch_s is None:
        return None
    try:
        return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    except (OverflowError, OSError, ValueError):
        return None


