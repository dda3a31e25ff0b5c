"""The hub's settings: read once from the environment at start, then frozen."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings", "SettingsError"]

# RFC 6750 token characters.
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class SettingsError(ValueError):
    """A bad environment value; the process prints it and exits 2."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the hub reads from its environment.

    Attributes:
        token: ``SECONDHUB_TOKEN``, the shared bearer token (required).
        db_path: ``SECONDHUB_DB``, the SQLite file both processes share.
        audit_path: ``SECONDHUB_AUDIT``, the security audit log both processes append to.
        host: ``SECONDHUB_HOST``.
        control_port: ``SECONDHUB_CONTROL_PORT``.
        data_port: ``SECONDHUB_DATA_PORT``.
        stale_s: ``SECONDHUB_STALE_S``: a worker silent longer than this is stale.
        dead_s: ``SECONDHUB_DEAD_S``: a worker silent longer than this is dead.
        lease_s: ``SECONDHUB_LEASE_S``: the default lease of a claimed task.
        max_tries: ``SECONDHUB_MAX_TRIES``: claims before a task is failed for good.
        sweep_s: ``SECONDHUB_SWEEP_S``: how often the data process looks for lapsed leases.
    """

    token: str
    db_path: Path
    audit_path: Path
    host: str = "127.0.0.1"
    control_port: int = 8787
    data_port: int = 8788
    stale_s: float = 30.0
    dead_s: float = 120.0
    lease_s: float = 30.0
    max_tries: int = 3
    sweep_s: float = 1.0

    def port_of(self, plane: str) -> int:
        return self.control_port if plane == "control" else self.data_port

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Parse ``env``.

        Raises:
            SettingsError: naming the first bad variable.
        """
        token = env.get("SECONDHUB_TOKEN", "")
        if not 16 <= len(token) <= 1024 or not _TOKEN.fullmatch(token):
            raise SettingsError("SECONDHUB_TOKEN",
                                "required: 16 to 1024 characters of the RFC 6750 alphabet")
        settings = cls(
            token=token,
            db_path=Path(env.get("SECONDHUB_DB", "secondhub.db")),
            audit_path=Path(env.get("SECONDHUB_AUDIT", "secondhub_audit.jsonl")),
            host=env.get("SECONDHUB_HOST", "127.0.0.1"),
            control_port=_port(env, "SECONDHUB_CONTROL_PORT", 8787),
            data_port=_port(env, "SECONDHUB_DATA_PORT", 8788),
            stale_s=_seconds(env, "SECONDHUB_STALE_S", 30.0),
            dead_s=_seconds(env, "SECONDHUB_DEAD_S", 120.0),
            lease_s=_seconds(env, "SECONDHUB_LEASE_S", 30.0),
            max_tries=_count(env, "SECONDHUB_MAX_TRIES", 3),
            sweep_s=_seconds(env, "SECONDHUB_SWEEP_S", 1.0),
        )
        if settings.dead_s <= settings.stale_s:
            raise SettingsError("SECONDHUB_DEAD_S", "must be greater than SECONDHUB_STALE_S")
        return settings


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    value = _count(env, name, default, low=0)
    if value > 65535:
        raise SettingsError(name, "must be a port, 0 to 65535")
    return value


def _count(env: Mapping[str, str], name: str, default: int, *, low: int = 1) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    if not raw.strip().isdigit() or int(raw) < low:
        raise SettingsError(name, f"must be a whole number >= {low}, got {raw!r}")
    return int(raw)


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise SettingsError(name, f"must be a positive number of seconds, got {raw!r}")
    return value
