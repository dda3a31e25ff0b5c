"""What the hub tells the console once it serves: where it listens, a warning when that is
beyond this machine, and what a newcomer can try next.

Pure text: the caller prints it. The banner's last line is ``  token ...``; tests and
scripts wait for it.
"""

from __future__ import annotations

import ipaddress
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .version import __version__

if TYPE_CHECKING:
    from .server import HubRuntime


def is_loopback(address: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ``::1``)."""
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _listening(runtime: HubRuntime) -> str:
    bound, host = runtime.bound_host, runtime.config.host
    named = "" if bound == host else f" (HUB_HOST={host})"
    if is_loopback(bound):
        return f"{bound}{named}, this machine only"
    if ipaddress.ip_address(bound.split("%", 1)[0]).is_unspecified:
        return f"{bound}{named}, every network interface"
    return f"{bound}{named}, reachable from the network"


def banner(runtime: HubRuntime) -> str:
    """The ready banner, followed by :func:`exposure_warning` when there is one."""
    paths = runtime.config.paths
    token = ("from HUB_TOKEN" if runtime.token.origin == "HUB_TOKEN"
             else f"in {Path(runtime.token.origin).resolve()}")
    lines = [
        f"Sheratan hub {__version__} ready",
        f"  control plane  {runtime.control_url}",
        f"  data plane     {runtime.data_url}",
        f"  listening on   {_listening(runtime)}",
        f"  state          {paths.db.resolve()}",
        f"  logs           {paths.logs_dir.resolve()}",
        f"  token          {token}",
    ]
    warning = exposure_warning(runtime.bound_host, runtime.config.host)
    return "\n".join(lines if warning is None else [*lines, warning])


def exposure_warning(bound: str, host: str) -> str | None:
    """None on loopback; else a warning that other machines can reach the hub, and what
    answers them without the token (CONTRACT sections 2 and 3)."""
    if is_loopback(bound):
        return None
    return (
        f"WARNING: the hub listens on {bound} (HUB_HOST={host}): other machines can reach "
        "both planes.\n"
        "  Every route but /health and /metrics needs the token; /health and /metrics answer "
        "anyone who can\n"
        "  connect, without one (read-only, by design). HUB_HOST=127.0.0.1 keeps the hub on "
        "this machine."
    )


def next_steps(runtime: HubRuntime, *, watcher: bool) -> str:
    """A few lines on what to try next: each plane's ``/metrics``, ``hub_top``, the watcher."""
    home = _shell_word(str(runtime.config.home.resolve()))
    top = (f"sheratan-top --home {home} --control-url {runtime.control_url} "
           f"--data-url {runtime.data_url}")
    alerts = ("alerts: the audit watcher runs beside the hub; hub_top shows what it raises"
              if watcher else
              f"alerts: restart with --watcher, or run sheratan-watcher --home {home}")
    return "\n".join([
        "Try next:",
        f"  curl {runtime.control_url}/metrics    the control plane's metrics as JSON, no token",
        f"  curl '{runtime.data_url}/metrics?format=prometheus'    the data plane's, as "
        "Prometheus text (or send Accept: text/plain)",
        f"  {top}    a live view (or python scripts/hub_top.py, same options)",
        f"  {alerts}",
    ])


def _shell_word(text: str) -> str:
    """``text`` as one word of a command line typed into this platform's shell."""
    return subprocess.list2cmdline([text]) if sys.platform == "win32" else shlex.quote(text)
