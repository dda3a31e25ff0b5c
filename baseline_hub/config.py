"""The hub's configuration: the frozen v1.5 environment, parsed once into a typed value.

The home layout and the variable readers are ``sheratan_home``'s, shared with the watcher and
the ops tools; this module adds what only the hub does with them (creating the folders
owner-only, the checks across variables).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sheratan_home import DEFAULT_HOME, ConfigError, HomeLayout
from sheratan_home import env as hub_env
from sheratan_home.env import (
    MAX_LEASE_S,
    MAX_NODE_AGE_S,
    MAX_TOKEN_LENGTH,
    MIN_TOKEN_LENGTH,
    IPNetwork,
    check_token,
)

from . import owneronly

__all__ = ["EXIT_CONFIG_ERROR", "MAX_LEASE_S", "MAX_NODE_AGE_S", "MAX_TOKEN_LENGTH",
           "MIN_TOKEN_LENGTH", "ConfigError", "HubConfig", "HubPaths", "IPNetwork",
           "check_token"]

#: Exit code for a configuration the user must fix (bad env var, bad argument).
EXIT_CONFIG_ERROR = 2


@dataclass(frozen=True, slots=True)
class HubPaths(HomeLayout):
    """Every file and folder the hub owns below ``SHERATAN_HOME`` (the shared layout), and
    how the hub creates them."""

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

    home: Path = DEFAULT_HOME
    host: str = hub_env.DEFAULT_HOST
    control_port: int = hub_env.DEFAULT_CONTROL_PORT
    data_port: int = hub_env.DEFAULT_DATA_PORT
    token: str | None = None
    node_stale_s: float = hub_env.DEFAULT_NODE_STALE_S
    node_dead_s: float = hub_env.DEFAULT_NODE_DEAD_S
    job_lease_s: float = hub_env.DEFAULT_JOB_LEASE_S
    job_max_attempts: int = hub_env.DEFAULT_JOB_MAX_ATTEMPTS
    #: Peers whose ``X-Forwarded-For`` names the client; empty: the peer is the client.
    trusted_proxies: tuple[IPNetwork, ...] = ()

    def __post_init__(self) -> None:
        hub_env.check_host(self.host)
        hub_env.check_port("HUB_CONTROL_PORT", self.control_port)
        hub_env.check_port("HUB_DATA_PORT", self.data_port)
        if self.control_port == self.data_port and self.control_port != 0:
            raise ConfigError("HUB_DATA_PORT",
                              f"must differ from HUB_CONTROL_PORT ({self.control_port})")
        if self.token is not None:
            check_token(self.token, "HUB_TOKEN")
        hub_env.check_seconds("HUB_NODE_STALE_S", self.node_stale_s, MAX_NODE_AGE_S)
        hub_env.check_seconds("HUB_NODE_DEAD_S", self.node_dead_s, MAX_NODE_AGE_S)
        hub_env.check_seconds("HUB_JOB_LEASE_S", self.job_lease_s, MAX_LEASE_S)
        hub_env.check_dead_after_stale(self.node_stale_s, self.node_dead_s)
        hub_env.check_attempts(self.job_max_attempts)

    @property
    def paths(self) -> HubPaths:
        return HubPaths(self.home)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HubConfig:
        """Parse the ``HUB_*`` and ``SHERATAN_HOME`` variables (``sheratan_home.env``: an
        empty or blank value counts as unset, for every variable).

        Raises:
            ConfigError: naming the first variable whose value is invalid.
        """
        return cls(
            home=hub_env.home(env),
            host=hub_env.value(env, "HUB_HOST") or hub_env.DEFAULT_HOST,
            control_port=hub_env.integer(env, "HUB_CONTROL_PORT", hub_env.DEFAULT_CONTROL_PORT),
            data_port=hub_env.integer(env, "HUB_DATA_PORT", hub_env.DEFAULT_DATA_PORT),
            token=hub_env.value(env, "HUB_TOKEN"),
            node_stale_s=hub_env.seconds(env, "HUB_NODE_STALE_S", hub_env.DEFAULT_NODE_STALE_S),
            node_dead_s=hub_env.seconds(env, "HUB_NODE_DEAD_S", hub_env.DEFAULT_NODE_DEAD_S),
            job_lease_s=hub_env.seconds(env, "HUB_JOB_LEASE_S", hub_env.DEFAULT_JOB_LEASE_S),
            job_max_attempts=hub_env.integer(env, "HUB_JOB_MAX_ATTEMPTS",
                                             hub_env.DEFAULT_JOB_MAX_ATTEMPTS),
            trusted_proxies=hub_env.trusted_proxies(env),
        )
