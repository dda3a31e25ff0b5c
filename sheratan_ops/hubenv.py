"""Where the ops tools find the hub: ``SHERATAN_HOME``, ``HUB_HOST`` and the port variables,
read as the v1.5 hub reads them, and the files below the home they read (CONTRACT sections 2
and 4), in one place for diagnose, hub_top and smoke_checks.

The caller reads the environment once and passes it in; nothing here reads ``os.environ``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

DEFAULT_HOME = Path(".sheratan")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_CONTROL_PORT = 8787
DEFAULT_DATA_PORT = 8788

_PORT_VARS = {"control": ("HUB_CONTROL_PORT", DEFAULT_CONTROL_PORT),
              "data": ("HUB_DATA_PORT", DEFAULT_DATA_PORT)}
#: A hub bound to every interface is reached over loopback.
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": DEFAULT_HOST}
#: The integers the hub itself accepts (``baseline_hub.config``).
_ASCII_INT = re.compile(r"[+-]?[0-9]+")


def home(env: Mapping[str, str]) -> Path:
    """``SHERATAN_HOME``, else ``./.sheratan`` (an empty value counts as unset)."""
    return Path(env.get("SHERATAN_HOME") or DEFAULT_HOME)


def token_file(home: Path) -> Path:
    """Where the hub stores the token it generated when ``HUB_TOKEN`` was unset."""
    return home / "secrets" / "hub_token"


def alerts_file(home: Path) -> Path:
    """Where the watcher appends its alerts."""
    return home / "logs" / "alerts.jsonl"


def watcher_status_file(home: Path) -> Path:
    """Where the watcher keeps ``watcher_status.json``."""
    return home / "state" / "watcher_status.json"


def host(env: Mapping[str, str]) -> str:
    """``HUB_HOST`` as a client on this machine reaches it: a wildcard bind means loopback."""
    raw = env.get("HUB_HOST", DEFAULT_HOST).strip()
    return _WILDCARDS.get(raw, raw)


def port(env: Mapping[str, str], plane: str, warn: list[str]) -> int:
    """The plane's port variable; a bad value (or 0, which nobody can guess) warns and falls
    back to the default.

    Args:
        env: The environment, read once by the caller.
        plane: ``control`` or ``data``.
        warn: Collects the warning for the caller to print.
    """
    var, default = _PORT_VARS[plane]
    raw = env.get(var, "").strip()
    if not raw:
        return default
    parsed = int(raw) if _ASCII_INT.fullmatch(raw) else -1
    if 1 <= parsed <= 65535:
        return parsed
    warn.append(f"{var}={raw!r} is not a port 1..65535; using {default}")
    return default
