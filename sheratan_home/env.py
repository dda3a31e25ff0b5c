"""The hub's environment (CONTRACT section 2), read exactly as the hub reads it.

One rule for every variable: unset, empty and blank (only white space) all mean "use the
default". Any other value is taken as written, except that numbers may have white space
around them. Each reader takes the environment as a mapping (nothing here reads
``os.environ``) and raises :class:`ConfigError` naming the variable; the ``check_*``
functions hold the ranges, so a value built in code is held to the same rules.

The hub refuses to start on a :class:`ConfigError`. An ops tool that only needs to find the
hub catches it, warns and uses the default instead; it never reads a value the hub would
read differently.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from .layout import DEFAULT_HOME

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_CONTROL_PORT: Final = 8787
DEFAULT_DATA_PORT: Final = 8788
DEFAULT_NODE_STALE_S: Final = 30.0
DEFAULT_NODE_DEAD_S: Final = 120.0
DEFAULT_JOB_LEASE_S: Final = 30.0
DEFAULT_JOB_MAX_ATTEMPTS: Final = 3
PORT_DEFAULTS: Final[Mapping[str, int]] = {"HUB_CONTROL_PORT": DEFAULT_CONTROL_PORT,
                                           "HUB_DATA_PORT": DEFAULT_DATA_PORT}
MIN_TOKEN_LENGTH: Final = 16
MAX_TOKEN_LENGTH: Final = 1024
#: Longest lease the hub accepts, from the environment or a claim: one day.
MAX_LEASE_S: Final = 86400.0
#: Longest node age thresholds: a year.
MAX_NODE_AGE_S: Final = 365 * 86400.0
MAX_JOB_ATTEMPTS: Final = 1000

#: A wildcard bind, and the loopback address a client on the same machine reaches it at.
_WILDCARD_LOOPBACK: Final = {"0.0.0.0": "127.0.0.1", "::": "::1"}
_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
# RFC 6750 b64token: what a Bearer header can carry, and nothing JSON or a log would escape
# (an escaped token would slip past the leak guard's byte comparison).
_TOKEN_RE = re.compile(r"^[A-Za-z0-9._~+/-]+=*$")
_ASCII_INT_RE = re.compile(r"^[+-]?[0-9]+$")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(ValueError):
    """A configuration value the hub cannot start with.

    Attributes:
        field: the environment variable (or file) at fault.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def value(env: Mapping[str, str], name: str) -> str | None:
    """The variable as written, or None when it is unset, empty or blank."""
    raw = env.get(name)
    return raw if raw is not None and raw.strip() else None


def home(env: Mapping[str, str]) -> Path:
    """``SHERATAN_HOME``, else ``./.sheratan``."""
    raw = value(env, "SHERATAN_HOME")
    return DEFAULT_HOME if raw is None else Path(raw)


def resolve_home(option: Path | None, env: Mapping[str, str]) -> tuple[Path, str]:
    """A command's home: its ``--home`` option, else ``SHERATAN_HOME``, else the default;
    with where it came from, for the command to print beside it."""
    if option is not None:
        return option, "from --home"
    raw = value(env, "SHERATAN_HOME")
    if raw is not None:
        return Path(raw), "from SHERATAN_HOME"
    return DEFAULT_HOME, f"SHERATAN_HOME is unset: the default ./{DEFAULT_HOME} of this folder"


def host(env: Mapping[str, str]) -> str:
    """``HUB_HOST``: an IP address or a host name, as the hub binds it."""
    raw = value(env, "HUB_HOST")
    if raw is None:
        return DEFAULT_HOST
    check_host(raw)
    return raw


def is_wildcard(host: str) -> bool:
    """Whether binding ``host`` listens on every interface (``0.0.0.0``, ``::``)."""
    return host in _WILDCARD_LOOPBACK or host in ("", "[::]")


def connect_host(bound: str) -> str:
    """Where a client on this machine reaches a hub bound to ``bound``: over loopback for a
    wildcard bind, else that host."""
    return _WILDCARD_LOOPBACK.get(bound, bound)


def url_host(host: str) -> str:
    """``host`` as the host of a URL: an IPv6 address in brackets (once)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def is_loopback(host: str) -> bool:
    """Whether only this machine reaches ``host``: ``localhost``, 127.0.0.0/8 or ``::1``, also
    in brackets or with a zone (``::1%lo``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def port(env: Mapping[str, str], name: str) -> int:
    """``HUB_CONTROL_PORT`` or ``HUB_DATA_PORT``: 0..65535 (0: the OS picks a free one)."""
    number = integer(env, name, PORT_DEFAULTS[name])
    check_port(name, number)
    return number


def host_or_default(env: Mapping[str, str], warn: list[str], *, using: str = "using") -> str:
    """``HUB_HOST`` as the hub reads it, for a tool: a value the hub would refuse gives the
    default and a warning in ``warn`` (``using`` words what the default is used for)."""
    try:
        return host(env)
    except ConfigError as exc:
        warn.append(f"{exc}; the hub would not start with it; {using} {DEFAULT_HOST}")
        return DEFAULT_HOST


def port_or_default(env: Mapping[str, str], name: str, warn: list[str], *,
                    using: str = "using", zero_hint: str = "") -> int:
    """A port variable as the hub reads it, for a tool that must reach the port: a value the
    hub would refuse, or 0 (the port the OS picked, which no tool can guess), gives the
    default and a warning in ``warn``; ``zero_hint`` is added for a 0."""
    default = PORT_DEFAULTS[name]
    try:
        number = port(env, name)
    except ConfigError:
        number, zero_hint = 0, ""
    if number:
        return number
    warn.append(f"{name}={env.get(name, '')!r} is not a port 1..65535; {using} {default}"
                f"{zero_hint}")
    return default


def node_ages(env: Mapping[str, str]) -> tuple[float, float]:
    """``HUB_NODE_STALE_S`` and ``HUB_NODE_DEAD_S``, each in range and dead above stale."""
    stale_s = seconds(env, "HUB_NODE_STALE_S", DEFAULT_NODE_STALE_S)
    dead_s = seconds(env, "HUB_NODE_DEAD_S", DEFAULT_NODE_DEAD_S)
    check_seconds("HUB_NODE_STALE_S", stale_s, MAX_NODE_AGE_S)
    check_seconds("HUB_NODE_DEAD_S", dead_s, MAX_NODE_AGE_S)
    check_dead_after_stale(stale_s, dead_s)
    return stale_s, dead_s


def integer(env: Mapping[str, str], name: str, default: int) -> int:
    """An ASCII decimal integer, optionally signed; no ``_``, no other digits."""
    raw = value(env, name)
    if raw is None:
        return default
    text = raw.strip()
    if not _ASCII_INT_RE.match(text):
        raise ConfigError(name, f"expected an integer, got {raw!r}")
    return int(text)


def seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A finite ASCII number of seconds (``1.5``, ``2e1``); no ``_``, no other digits."""
    raw = value(env, name)
    if raw is None:
        return default
    text = raw.strip()
    try:
        if not text.isascii() or "_" in text:
            raise ValueError(text)
        number = float(text)
    except ValueError:
        raise ConfigError(name, f"expected a number of seconds, got {raw!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ConfigError(name, f"expected a finite number of seconds, got {raw!r}")
    return number


def trusted_proxies(env: Mapping[str, str]) -> tuple[IPNetwork, ...]:
    """``HUB_TRUSTED_PROXIES``: comma-separated IP addresses and CIDR networks, IPv4 or IPv6;
    blank items are skipped."""
    name = "HUB_TRUSTED_PROXIES"
    networks: list[IPNetwork] = []
    for item in (value(env, name) or "").split(","):
        text = item.strip()
        if not text:
            continue
        try:
            # strict: "10.0.0.1/8" is more likely a typo than a wish to trust 10.0.0.0/8
            networks.append(ipaddress.ip_network(text))
        except ValueError:
            raise ConfigError(name, _network_error(text)) from None
    return tuple(networks)


def check_host(host: str) -> None:
    """An IP address or a host name (letters, digits, ``.`` and ``-``)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOSTNAME_RE.match(host):
            raise ConfigError("HUB_HOST", f"not an IP address or host name: {host!r}") from None


def check_port(name: str, number: int) -> None:
    if not 0 <= number <= 65535:
        raise ConfigError(name, f"port must be 0..65535, got {number}")


def check_token(token: str, field: str) -> None:
    """Reject tokens the leak guard could not protect: too short, or with characters beyond
    RFC 6750's token alphabet (letters, digits, ``-._~+/``, trailing ``=``).

    The message never contains the token itself.
    """
    if not MIN_TOKEN_LENGTH <= len(token) <= MAX_TOKEN_LENGTH:
        raise ConfigError(field, f"token must be {MIN_TOKEN_LENGTH} to {MAX_TOKEN_LENGTH} "
                                 f"characters long, got {len(token)}")
    if not _TOKEN_RE.match(token):
        raise ConfigError(field, "token may only contain ASCII letters, digits and -._~+/ "
                                 "(with = only at the end)")


def check_seconds(name: str, number: float, most: float) -> None:
    if not 0 < number <= most:
        raise ConfigError(name, f"must be a number of seconds in (0, {most:g}], got {number}")


def check_dead_after_stale(stale_s: float, dead_s: float) -> None:
    if not dead_s > stale_s:
        raise ConfigError("HUB_NODE_DEAD_S",
                          f"must be greater than HUB_NODE_STALE_S ({stale_s}), got {dead_s}")


def check_attempts(number: int) -> None:
    if not 1 <= number <= MAX_JOB_ATTEMPTS:
        raise ConfigError("HUB_JOB_MAX_ATTEMPTS", f"must be 1..{MAX_JOB_ATTEMPTS}, got {number}")


def _network_error(text: str) -> str:
    try:
        meant = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return f"expected IP addresses or CIDR networks, separated by commas, got {text!r}"
    return f"{text!r} has host bits set; the network is {meant}"
