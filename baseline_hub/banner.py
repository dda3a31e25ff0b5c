"""What the hub tells the console once it serves: where it listens, a warning when that is
beyond this machine, and what a newcomer can try next.

Pure text: the caller prints it. The banner's last line is ``  token ...``; tests and
scripts wait for it. What comes from outside the code (the home's paths, ``HUB_HOST``, the
interpreter's path) goes through :func:`otel.terminal_safe`: a ``SHERATAN_HOME`` holding
``ESC]0;…`` or ``ESC[2J`` is shown as ``\\x1b]0;…``, never run by the terminal.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from otel import terminal_safe, terminal_safe_lines
from sheratan_home.env import is_loopback, is_wildcard

from .version import __version__

if TYPE_CHECKING:
    from .server import HubRuntime


def _listening(runtime: HubRuntime) -> str:
    bound, host = runtime.bound_host, runtime.config.host
    named = "" if bound == host else f" (HUB_HOST={host})"
    if is_loopback(bound):
        return f"{bound}{named}, this machine only"
    if is_wildcard(bound):
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
    text = terminal_safe_lines(lines)
    return text if warning is None else f"{text}\n{warning}"


def exposure_warning(bound: str, host: str) -> str | None:
    """None on loopback; else a warning that other machines can reach the hub, and what
    answers them without the token (CONTRACT sections 2 and 3)."""
    if is_loopback(bound):
        return None
    bound, host = terminal_safe(bound), terminal_safe(host)
    return (
        f"WARNING: the hub listens on {bound} (HUB_HOST={host}): other machines can reach "
        "both planes.\n"
        "  Every route but /health and /metrics needs the token; /health and /metrics answer "
        "anyone who can\n"
        "  connect, without one (read-only, by design). HUB_HOST=127.0.0.1 keeps the hub on "
        "this machine."
    )


def next_steps(runtime: HubRuntime, *, watcher: bool) -> str:
    """A few lines on what to try next: each plane's ``/metrics``, ``hub_top``, the watcher.

    The commands are the ones installed beside the hub's own interpreter (see
    :func:`tool_command`), so they work without an activated venv.
    """
    home = _shell_word(str(runtime.config.home.resolve()))
    top = (f"{tool_command('sheratan-top', 'sheratan_ops.top')} --home {home} "
           f"--control-url {runtime.control_url} --data-url {runtime.data_url}")
    # Said before the watcher is started: the "watcher: ..." line after it says whether it did.
    alerts = ("alerts: the audit watcher starts beside the hub (see the watcher: line below); "
              "hub_top shows what it raises"
              if watcher else
              f"alerts: restart with --watcher, or run "
              f"{tool_command('sheratan-watcher', 'watcher')} --home {home}")
    return terminal_safe_lines([
        "Try next:",
        f"  curl {runtime.control_url}/metrics    the control plane's metrics as JSON, no token",
        f"  curl '{runtime.data_url}/metrics?format=prometheus'    the data plane's, as "
        "Prometheus text (or send Accept: text/plain)",
        f"  {top}    a live view",
        f"  {alerts}",
    ])


def tool_command(script: str, module: str, *, executable: str | None = None,
                 cwd: Path | None = None) -> str:
    """How to run an installed command with the hub's own interpreter, as typed in a shell.

    The console script beside ``executable`` (``.venv/bin/sheratan-top``, with ``.exe`` on
    Windows) when there is one, else ``<executable> -m <module>``: a bare ``sheratan-top``
    fails in a shell without the venv activated. A path below ``cwd`` is shown relative to
    it when that is shorter.

    Args:
        script: The console script's name.
        module: The module ``-m`` runs instead.
        executable: The interpreter (default ``sys.executable``).
        cwd: The folder the command is typed in (default the current one).
    """
    python = Path(sys.executable if executable is None else executable)
    suffix = ".exe" if sys.platform == "win32" else ""
    installed = python.parent / f"{script}{suffix}"
    if installed.is_file():
        return _shell_word(_shortest(installed, cwd))
    return f"{_shell_word(_shortest(python, cwd))} -m {module}"


def _shortest(path: Path, cwd: Path | None) -> str:
    """``path`` relative to ``cwd`` when it lies below it and that is shorter (never a bare
    name, which a shell would look up on PATH), else absolute."""
    absolute = os.path.abspath(path)
    try:
        relative = os.path.relpath(absolute, Path.cwd() if cwd is None else cwd)
    except (ValueError, OSError):  # another drive on Windows, or no current folder
        return absolute
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return absolute
    if os.sep not in relative and (os.altsep is None or os.altsep not in relative):
        relative = os.path.join(os.curdir, relative)
    return relative if len(relative) < len(absolute) else absolute


def _shell_word(text: str) -> str:
    """``text`` as one word of a command line typed into this platform's shell.

    On POSIX a path with a control or format character (an escape sequence in
    ``SHERATAN_HOME``) is written as bash's ``$'...'``, every byte of it that is not printable
    ASCII as ``\\xHH`` (the path's own bytes, so in any locale, undecodable ones included):
    shown safely, and the same path when the line is pasted back.
    """
    if sys.platform == "win32":
        return subprocess.list2cmdline([text])
    if text.isprintable():
        return shlex.quote(text)
    return "$'" + "".join(map(_ansi_c_byte, os.fsencode(text))) + "'"


def _ansi_c_byte(byte: int) -> str:
    """One byte inside bash's ``$'...'``."""
    char = chr(byte)
    if char in "\\'":
        return "\\" + char
    return char if 0x20 <= byte < 0x7F else f"\\x{byte:02x}"
