"""Where the ops tools find the hub, read with the hub's own readers (``sheratan_home``), and
what they say about the home they used. One place for diagnose, hub_top and smoke_checks.

A value the hub would refuse to start with is not guessed at: the tool warns and uses the
default, so it never reads a value differently from the hub. The caller reads the
environment once and passes it in; nothing here reads ``os.environ``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from pathlib import Path

from sheratan_home import ConfigError, HomeLayout
from sheratan_home import env as hub_env

_PORT_VARS = {"control": "HUB_CONTROL_PORT", "data": "HUB_DATA_PORT"}


def host(env: Mapping[str, str], warn: list[str]) -> str:
    """``HUB_HOST`` as a client on this machine reaches it: a wildcard bind means loopback.

    A value the hub would refuse warns and falls back to the default.
    """
    return hub_env.connect_host(hub_env.host_or_default(env, warn))


def port(env: Mapping[str, str], plane: str, warn: list[str]) -> int:
    """The plane's port variable; a value the hub would refuse (or 0, which nobody can
    guess) warns and falls back to the default.

    Args:
        env: The environment, read once by the caller.
        plane: ``control`` or ``data``.
        warn: Collects the warning for the caller to print.
    """
    return hub_env.port_or_default(
        env, _PORT_VARS[plane], warn,
        zero_hint=f" (the hub picks a free port for 0: pass --{plane}-url with the port its "
                  "banner shows)")


def plane_urls(env: Mapping[str, str], warn: list[str]) -> dict[str, str]:
    """Both planes' base URLs as the hub binds them, by plane: ``HUB_HOST`` (read once) and
    each plane's port variable, each falling back to its default with a warning."""
    name = host(env, warn)
    try:
        if ipaddress.ip_address(name).version == 6:
            name = f"[{name}]"
    except ValueError:
        pass  # a host name
    return {plane: f"http://{name}:{port(env, plane, warn)}" for plane in _PORT_VARS}


def node_ages(env: Mapping[str, str], warn: list[str]) -> tuple[float, float]:
    """``HUB_NODE_STALE_S`` and ``HUB_NODE_DEAD_S`` as the hub reads them; if the hub would
    refuse either, both fall back to the defaults with a warning."""
    try:
        return hub_env.node_ages(env)
    except ConfigError as exc:
        warn.append(f"{exc}; the hub would not start with it; using the defaults "
                    f"{hub_env.DEFAULT_NODE_STALE_S:g} and {hub_env.DEFAULT_NODE_DEAD_S:g}")
        return hub_env.DEFAULT_NODE_STALE_S, hub_env.DEFAULT_NODE_DEAD_S


def describe_home(home: Path, home_from: str, files: Iterable[Path]) -> str:
    """What a command used, for stderr: the home's absolute path and where it came from,
    then which of ``files`` were found and which are missing (relative to the home)."""
    found: list[str] = []
    missing: list[str] = []
    for path in files:
        (found if path.exists() else missing).append(_below(path, home))
    lines = [f"home: {home.absolute()} ({home_from})"]
    if found:
        lines.append(f"  found: {', '.join(found)}")
    if missing:
        lines.append(f"  missing: {', '.join(missing)}")
    return "\n".join(lines)


def logs_problem(home: Path, home_from: str) -> str | None:
    """Why ``home`` has nothing for an ops tool to read: it does not exist, or has no
    ``logs`` folder (the hub makes one at its first start); None when it is usable."""
    files = HomeLayout(home)
    problem = files.problem()
    if problem is None and not files.logs_dir.is_dir():
        problem = f"the home {home.absolute()} has no {files.logs_dir.name} folder"
    if problem is None:
        return None
    return (f"{problem} ({home_from}); point SHERATAN_HOME or --home at the hub's home "
            "(the hub creates it at its first start)")


def _below(path: Path, home: Path) -> str:
    try:
        return path.relative_to(home).as_posix()
    except ValueError:
        return str(path)
