"""Where the watcher's alerts go in Alertmanager: URLs, the ``instance`` label, the re-send.

Parsed once at the edge into a frozen :class:`AlertmanagerConfig`:

- ``--alertmanager URL`` (repeatable), else ``HUB_ALERTMANAGER_URL`` (comma-separated). With
  ``--replay`` only the option counts: a replay sends history only when asked on its own
  command line, never because the environment of a running watcher names an Alertmanager.
- ``--alertmanager-instance NAME``, else ``HUB_ALERTMANAGER_INSTANCE``, else the hub's
  control-plane address ``HUB_HOST:HUB_CONTROL_PORT`` (``127.0.0.1:8787`` by default): the
  ``instance`` Prometheus gives the hub-wide security series, so that an inhibition with
  ``equal: [instance]`` pairs the watcher's alert with the Prometheus rule's of the same hub.
  Both are read with the hub's readers (``sheratan_home.env``): a value the hub would refuse
  is never used as written; the default takes its place, with a warning.
- ``--alertmanager-resend-s S`` (default 60): firing alerts are sent again this often. Keep it
  well below Alertmanager's ``resolve_timeout`` (default 5 minutes).
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sheratan_home import env as hub_env

URL_ENV = "HUB_ALERTMANAGER_URL"
INSTANCE_ENV = "HUB_ALERTMANAGER_INSTANCE"
DEFAULT_RESEND_INTERVAL_S = 60.0
MIN_RESEND_INTERVAL_S = 0.1
MAX_RESEND_INTERVAL_S = 3600.0


class AlertmanagerConfigError(ValueError):
    """A bad Alertmanager option or variable; the message names it."""


@dataclass(frozen=True, slots=True)
class AlertmanagerConfig:
    """Alertmanager delivery, parsed once.

    Attributes:
        urls: base URLs (``http://host:9093``, or with a route prefix); the alerts go to
            ``<url>/api/v2/alerts`` on each. Left out of the repr: a URL may carry a password
            (``display_urls`` has them without).
        instance: the ``instance`` label of every alert.
        resend_interval_s: how often firing alerts are sent again.
    """

    urls: tuple[str, ...] = field(repr=False)
    instance: str
    resend_interval_s: float = DEFAULT_RESEND_INTERVAL_S

    @property
    def display_urls(self) -> tuple[str, ...]:
        return tuple(display_url(url) for url in self.urls)


def add_alertmanager_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds ``--alertmanager``, ``--alertmanager-instance`` and ``--alertmanager-resend-s``."""
    parser.add_argument("--alertmanager", metavar="URL", action="append", default=[],
                        help=f"post alerts to this Alertmanager's API v2 (repeatable; default: "
                        f"${URL_ENV}, comma-separated; with --replay only this option, and "
                        f"the alerts keep the events' times)")
    parser.add_argument("--alertmanager-instance", metavar="NAME",
                        help=f"the alerts' instance label (default: ${INSTANCE_ENV}, else "
                        f"$HUB_HOST:$HUB_CONTROL_PORT, the hub's control plane)")
    parser.add_argument("--alertmanager-resend-s", metavar="S", type=float,
                        default=DEFAULT_RESEND_INTERVAL_S,
                        help=f"send firing alerts again this often, below Alertmanager's "
                        f"resolve_timeout (default {DEFAULT_RESEND_INTERVAL_S:g})")


def alertmanager_config(args: argparse.Namespace, env: Mapping[str, str], *, replay: bool,
                        warn: list[str] | None = None) -> AlertmanagerConfig | None:
    """The Alertmanager config from parsed arguments and the environment, or None (off).

    ``warn`` collects, for the caller to print, why ``HUB_HOST`` or ``HUB_CONTROL_PORT`` was
    not used for the default instance.

    Raises:
        AlertmanagerConfigError: a URL or the re-send interval is invalid.
    """
    options: list[str] = list(args.alertmanager)
    if options:
        urls = parse_urls(options, "--alertmanager")
    elif replay:
        return None
    else:
        urls = parse_urls(_split(env.get(URL_ENV, "")), URL_ENV)
    if not urls:
        return None
    resend_s = float(args.alertmanager_resend_s)
    if not MIN_RESEND_INTERVAL_S <= resend_s <= MAX_RESEND_INTERVAL_S:
        raise AlertmanagerConfigError(
            f"--alertmanager-resend-s must be between {MIN_RESEND_INTERVAL_S:g} and "
            f"{MAX_RESEND_INTERVAL_S:g}, got {resend_s:g}")
    instance = args.alertmanager_instance or env.get(INSTANCE_ENV, "").strip()
    return AlertmanagerConfig(urls=urls, instance=instance or default_instance(env, warn),
                              resend_interval_s=resend_s)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_urls(values: Iterable[str], source: str) -> tuple[str, ...]:
    """Checks each URL (http or https, with a host); duplicates are dropped.

    Raises:
        AlertmanagerConfigError: naming ``source`` and the URL without its credentials.
    """
    urls: list[str] = []
    for value in values:
        text = value.strip()
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise AlertmanagerConfigError(f"{source}: not a URL: {shown_url(text)!r}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AlertmanagerConfigError(
                f"{source}: must be an http:// or https:// URL with a host, got "
                f"{shown_url(text)!r}")
        if parts.query or parts.fragment:
            raise AlertmanagerConfigError(
                f"{source}: must not have a query or fragment, got {display_url(text)!r}")
        url = text.rstrip("/")
        if url not in urls:
            urls.append(url)
    return tuple(urls)


def display_url(url: str) -> str:
    """``url`` without user name, password, query or fragment: safe to log and to show."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}{parts.path}"


def shown_url(text: str) -> str:
    """``text`` as typed when nothing in it can hold a password (no ``@``, query or
    fragment), else :func:`display_url`: for a message about a value the user gave."""
    return display_url(text) if any(c in text for c in "@?#") else text


def alerts_endpoint(url: str) -> str:
    """The API v2 alerts endpoint under an Alertmanager base URL."""
    return url.rstrip("/") + "/api/v2/alerts"


def default_instance(env: Mapping[str, str], warn: list[str] | None = None) -> str:
    """The hub's control-plane address, as Prometheus' scrape target names it.

    ``HUB_HOST`` and ``HUB_CONTROL_PORT`` are read as the hub reads them; a value the hub
    would refuse (or port 0, which no scrape target can name) gives its default, and a
    warning in ``warn`` when given. A wildcard host is this machine's name.
    """
    warnings: list[str] = [] if warn is None else warn
    using = "the alerts' instance uses"
    host = hub_env.host_or_default(env, warnings, using=using)
    port = hub_env.port_or_default(env, "HUB_CONTROL_PORT", warnings, using=using)
    if hub_env.is_wildcard(host):
        host = socket.gethostname()
    return f"{hub_env.url_host(host)}:{port}"


