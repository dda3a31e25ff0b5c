"""What the three ops commands' edges share: the name they were invoked by, a terminal-safe
parser, the check of a plane's base URL (``--control-url``/``--data-url``), and what the
hub's documented ``/metrics`` answers mean to a client.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NoReturn
from urllib.parse import SplitResult, urlsplit

import httpx

from otel import terminal_safe

#: What ``/metrics`` answers when the hub runs with ``OTEL_SDK_DISABLED=true`` (503).
METRICS_UNAVAILABLE = "metrics_unavailable"
DISABLED_REASON = "disabled"


def program_name(default: str, argv0: str | None = None) -> str:
    """The name the command was invoked by (``sheratan-diagnose``, ``diagnose.py``), for
    its messages; ``default`` when run as ``python -m`` (``__main__.py``) or unknown.

    Args:
        default: The script's name, e.g. ``diagnose.py``.
        argv0: ``sys.argv[0]`` (default: read here).
    """
    name = Path(sys.argv[0] if argv0 is None else argv0).name
    if not name or name in ("__main__.py", "-c") or name.startswith("python"):
        return default
    return name


def parse_base_url(value: str, *, schemes: tuple[str, ...] = ("http", "https")) -> SplitResult:
    """A plane's base URL as typed: one of ``schemes``, a host, a port 1..65535 if one is
    given, no query or fragment. A URL carrying credentials is never echoed.

    Raises:
        ValueError: the message says what is wrong and shows the value typed.
    """
    text = value.strip()
    shown = "the URL (not shown: it holds credentials)" if "@" in text else repr(value)
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise ValueError(f"not a valid URL ({exc}): {shown}") from None
    if parts.scheme not in schemes:
        wanted = " or ".join(f"{scheme}://" for scheme in schemes)
        raise ValueError(f"only {wanted} is supported, got {shown}")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if not parts.hostname:
        raise ValueError(f"expected {schemes[0]}://host:port, got {shown}")
    if port == 0 or (port is None and parts.netloc.endswith(":")):
        raise ValueError(f"bad port in {shown} (expected 1..65535)")
    if parts.query or parts.fragment:
        raise ValueError(f"give the base URL only (no query or fragment), got {shown}")
    return parts


def metrics_disabled(status: int, content: bytes) -> str | None:
    """The reason when ``/metrics`` gave the hub's documented answer for metrics switched off
    (503 ``{"error": "metrics_unavailable", "reason": "disabled"}``): the hub is up; None for
    any other answer (another 503 reason, say, which stays a failure)."""
    if status != 503:
        return None
    try:
        body = json.loads(content)
    except ValueError:
        return None
    if (isinstance(body, dict) and body.get("error") == METRICS_UNAVAILABLE
            and body.get("reason") == DISABLED_REASON):
        return DISABLED_REASON
    return None


class SafeParser(argparse.ArgumentParser):
    """argparse, with its error messages (which quote the arguments) made terminal-safe."""

    def error(self, message: str) -> NoReturn:
        super().error(terminal_safe(message))


def base_url_arg(value: str) -> str:
    """An argparse ``type`` for a plane's base URL: :func:`parse_base_url`'s check, and one
    httpx can use; the URL without surrounding blanks or a trailing slash."""
    try:
        parse_base_url(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    try:
        httpx.URL(value.strip())
    except httpx.InvalidURL as exc:
        raise argparse.ArgumentTypeError(f"not a URL: {value!r} ({exc})") from None
    return value.strip().rstrip("/")

