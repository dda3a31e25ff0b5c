"""The hub's configuration: the frozen v1.5 environment, parsed once into a typed value."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import owneronly

#: Exit code for a configuration the user must fix (bad env var, bad argument).
EXIT_CONFIG_ERROR = 2

_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
# RFC 6750 b64token: what a Bearer header can carry, and nothing JSON or a log would escape
# (an escaped token would slip past the leak guard's byte comparison).
_TOKEN_RE = re.compile(r"^[A-Za-z0-9._~+/-]+=*$")
_ASCII_INT_RE = re.compile(r"^[+-]?[0-9]+$")
MIN_TOKEN_LENGTH = 16
MAX_TOKEN_LENGTH = 1024
#: Longest lease the hub accepts, from the environment or a claim: one day.
MAX_LEASE_S = 86400.0
#: Longest node age thresholds: a year.
MAX_NODE_AGE_S = 365 * 86400.0

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(ValueError):
    """A configuration value the hub cannot start with.

    Attributes:
        field: the environment variable (or file) at fault.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class HubPaths:
    """Every file and folder the hub owns below ``SHERATAN_HOME``."""

    home: Path

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def state_dir(self) -> Path:
        return self.home / "state"

    @property
    def secrets_dir(self) -> Path:
        return self.home / "secrets"

    @property
    def configs_dir(self) -> Path:
        return self.home / "configs"

    @property
    def db(self) -> Path:
        return self.state_dir / "hub.db"

    @property
    def lock_file(self) -> Path:
        return self.state_dir / "hub.lock"

    @property
    def token_file(self) -> Path:
        return self.secrets_dir / "hub_token"

    @property
    def token_fingerprint(self) -> Path:
        """A salted fingerprint of the token (never the token), for tools that scan for it."""
        return self.state_dir / "hub_token.fingerprint.json"

    @property
    def control_log(self) -> Path:
        return self.logs_dir / "hub_control.log"

    @property
    def data_log(self) -> Path:
        return self.logs_dir / "hub_data.log"

    @property
    def audit_log(self) -> Path:
        return self.logs_dir / "hub_security_audit.jsonl"

    @property
    def folders(self) -> tuple[Path, ...]:
        """The hub's folders below the home, all owner-only."""
        return (self.logs_dir, self.state_dir, self.secrets_dir, self.configs_dir)

    def _existing_files(self) -> list[Path]:
        """The hub's files that exist now: logs with their rotated copies, the database with
        SQLite's ``-wal``/``-shm``, the lock, the token file and the fingerprint."""
        files = [self.lock_file, self.token_file, self.token_fingerprint]
        for base in (self.db, self.control_log, self.data_log, self.audit_log):
            # The glob finds rotated copies (.1 to .5) and SQLite's siblings alike.
            files.extend([base, *sorted(base.parent.glob(base.name + "?*"))])
        return [path for path in files if path.is_file()]

    def create(self) -> None:
        """Create the state folders owner-only (0700), and take group and other permissions
        off the hub's folders and files that exist already (idempotent, POSIX only).

        Raises:
            ConfigError: naming ``SHERATAN_HOME`` when the folders cannot be made.
        """
        try:
            for folder in self.folders:
                owneronly.make_dir(folder)
        except OSError as exc:
            where = exc.filename or self.home
            raise ConfigError("SHERATAN_HOME", f"cannot create {where}: {exc.strerror}") from None
        for path in (*self.folders, *self._existing_files()):
            owneronly.tighten(path)


@dataclass(frozen=True, slots=True)
class HubConfig:
    """The v1.5 environment (CONTRACT section 2), validated.

    A port of 0 asks the OS for a free port; the hub prints the ports it bound.
    """

    home: Path = Path(".sheratan")
    host: str = "127.0.0.1"
    control_port: int = 8787
    data_port: int = 8788
    token: str | None = None
    node_stale_s: float = 30.0
    node_dead_s: float = 120.0
    job_lease_s: float = 30.0
    job_max_attempts: int = 3
    #: Peers whose ``X-Forwarded-For`` names the client; empty: the peer is the client.
    trusted_proxies: tuple[IPNetwork, ...] = ()

    def __post_init__(self) -> None:
        _check_host(self.host)
        ports = (("HUB_CONTROL_PORT", self.control_port), ("HUB_DATA_PORT", self.data_port))
        for name, port in ports:
            if not 0 <= port <= 65535:
                raise ConfigError(name, f"port must be 0..65535, got {port}")
        if self.control_port == self.data_port and self.control_port != 0:
            raise ConfigError("HUB_DATA_PORT",
                              f"must differ from HUB_CONTROL_PORT ({self.control_port})")
        if self.token is not None:
            check_token(self.token, "HUB_TOKEN")
        durations = (("HUB_NODE_STALE_S", self.node_stale_s, MAX_NODE_AGE_S),
                     ("HUB_NODE_DEAD_S", self.node_dead_s, MAX_NODE_AGE_S),
                     ("HUB_JOB_LEASE_S", self.job_lease_s, MAX_LEASE_S))
        for name, value, most in durations:
            if not 0 < value <= most:
                raise ConfigError(name, f"must be a number of seconds in (0, {most:g}], "
                                        f"got {value}")
        if not self.node_dead_s > self.node_stale_s:
            raise ConfigError(
                "HUB_NODE_DEAD_S",
                f"must be greater than HUB_NODE_STALE_S ({self.node_stale_s}),"
                f" got {self.node_dead_s}",
            )
        if not 1 <= self.job_max_attempts <= 1000:
            raise ConfigError("HUB_JOB_MAX_ATTEMPTS",
                              f"must be 1..1000, got {self.job_max_attempts}")

    @property
    def paths(self) -> HubPaths:
        return HubPaths(self.home)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HubConfig:
        """Parse the ``HUB_*`` and ``SHERATAN_HOME`` variables.

        Raises:
            ConfigError: naming the first variable whose value is invalid.
        """
        token = env.get("HUB_TOKEN")
        return cls(
            home=Path(env.get("SHERATAN_HOME") or ".sheratan"),
            host=env.get("HUB_HOST", "127.0.0.1"),
            control_port=_int(env, "HUB_CONTROL_PORT", 8787),
            data_port=_int(env, "HUB_DATA_PORT", 8788),
            token=token,
            node_stale_s=_float(env, "HUB_NODE_STALE_S", 30.0),
            node_dead_s=_float(env, "HUB_NODE_DEAD_S", 120.0),
            job_lease_s=_float(env, "HUB_JOB_LEASE_S", 30.0),
            job_max_attempts=_int(env, "HUB_JOB_MAX_ATTEMPTS", 3),
            trusted_proxies=_networks(env, "HUB_TRUSTED_PROXIES"),
        )


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


def _check_host(host: str) -> None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOSTNAME_RE.match(host):
            raise ConfigError("HUB_HOST", f"not an IP address or host name: {host!r}") from None


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    text = (raw or "").strip()
    if not text:
        return default
    if not _ASCII_INT_RE.match(text):
        raise ConfigError(name, f"expected an integer, got {raw!r}")
    return int(text)


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    text = (raw or "").strip()
    if not text:
        return default
    try:
        if not text.isascii() or "_" in text:
            raise ValueError(text)
        value = float(text)
    except ValueError:
        raise ConfigError(name, f"expected a number of seconds, got {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(name, f"expected a finite number of seconds, got {raw!r}")
    return value


def _networks(env: Mapping[str, str], name: str) -> tuple[IPNetwork, ...]:
    """Comma-separated IP addresses and CIDR networks, IPv4 or IPv6; blank items are skipped."""
    networks: list[IPNetwork] = []
    for item in (env.get(name) or "").split(","):
        text = item.strip()
        if not text:
            continue
        try:
            # strict: "10.0.0.1/8" is more likely a typo than a wish to trust 10.0.0.0/8
            networks.append(ipaddress.ip_network(text))
        except ValueError:
            raise ConfigError(name, _network_error(text)) from None
    return tuple(networks)


def _network_error(text: str) -> str:
    try:
        meant = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return f"expected IP addresses or CIDR networks, separated by commas, got {text!r}"
    return f"{text!r} has host bits set; the network is {meant}"
