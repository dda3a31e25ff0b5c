"""Every file and folder below ``SHERATAN_HOME``, in one table (CONTRACT sections 2, 4 and 6).

The hub, the watcher, diagnose, ``hub_top``, the smoke checks and the telemetry layer all
find their files here, so a rename is one edit. Each relative path is also a module
constant, for code that joins it to a home it was handed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

#: The home when ``SHERATAN_HOME`` is unset or blank: ``./.sheratan``, relative to the
#: current folder (which is why every ops command prints the home it used).
DEFAULT_HOME: Final = Path(".sheratan")

LOGS_DIR: Final = Path("logs")
STATE_DIR: Final = Path("state")
SECRETS_DIR: Final = Path("secrets")
CONFIGS_DIR: Final = Path("configs")

# The hub's files.
DB_FILE: Final = STATE_DIR / "hub.db"
HUB_LOCK_FILE: Final = STATE_DIR / "hub.lock"
#: The token the hub generates when ``HUB_TOKEN`` is unset (owner-only).
TOKEN_FILE: Final = SECRETS_DIR / "hub_token"
#: A salted fingerprint of the hub's token (never the token), for tools that scan for it.
FINGERPRINT_FILE: Final = STATE_DIR / "hub_token.fingerprint.json"
CONTROL_LOG: Final = LOGS_DIR / "hub_control.log"
DATA_LOG: Final = LOGS_DIR / "hub_data.log"
AUDIT_LOG: Final = LOGS_DIR / "hub_security_audit.jsonl"
#: What the hub's ``--watcher`` supervisor writes about the watcher it runs.
SUPERVISOR_STATUS_FILE: Final = STATE_DIR / "watcher_supervisor.json"

# The watcher's files.
ALERTS_FILE: Final = LOGS_DIR / "alerts.jsonl"
WATCHER_STATUS_FILE: Final = STATE_DIR / "watcher_status.json"
WATCHER_CHECKPOINT_FILE: Final = STATE_DIR / "watcher_checkpoint.json"
WATCHER_LOCK_FILE: Final = STATE_DIR / "watcher.lock"
ALERT_RULES_FILE: Final = CONFIGS_DIR / "alert_rules.json"
AUDIT_FORMAT_FILE: Final = CONFIGS_DIR / "audit_format.json"


@dataclass(frozen=True, slots=True)
class HomeLayout:
    """The paths below one home. Pure: nothing here touches the file system except
    :meth:`problem`, which only looks.

    Attributes:
        home: the ``SHERATAN_HOME`` these paths are below, as given (relative stays relative).
    """

    home: Path

    @property
    def logs_dir(self) -> Path:
        return self.home / LOGS_DIR

    @property
    def state_dir(self) -> Path:
        return self.home / STATE_DIR

    @property
    def secrets_dir(self) -> Path:
        return self.home / SECRETS_DIR

    @property
    def configs_dir(self) -> Path:
        return self.home / CONFIGS_DIR

    @property
    def folders(self) -> tuple[Path, ...]:
        """The folders below the home: logs, state, secrets and configs."""
        return (self.logs_dir, self.state_dir, self.secrets_dir, self.configs_dir)

    @property
    def db(self) -> Path:
        return self.home / DB_FILE

    @property
    def lock_file(self) -> Path:
        """The hub's instance lock."""
        return self.home / HUB_LOCK_FILE

    @property
    def token_file(self) -> Path:
        return self.home / TOKEN_FILE

    @property
    def token_fingerprint(self) -> Path:
        return self.home / FINGERPRINT_FILE

    @property
    def control_log(self) -> Path:
        return self.home / CONTROL_LOG

    @property
    def data_log(self) -> Path:
        return self.home / DATA_LOG

    @property
    def audit_log(self) -> Path:
        return self.home / AUDIT_LOG

    @property
    def supervisor_status(self) -> Path:
        return self.home / SUPERVISOR_STATUS_FILE

    @property
    def alerts(self) -> Path:
        return self.home / ALERTS_FILE

    @property
    def watcher_status(self) -> Path:
        return self.home / WATCHER_STATUS_FILE

    @property
    def watcher_checkpoint(self) -> Path:
        return self.home / WATCHER_CHECKPOINT_FILE

    @property
    def watcher_lock(self) -> Path:
        return self.home / WATCHER_LOCK_FILE

    @property
    def alert_rules(self) -> Path:
        """The operator's rules file; the watcher uses its packaged rules when it is absent."""
        return self.home / ALERT_RULES_FILE

    @property
    def audit_format(self) -> Path:
        return self.home / AUDIT_FORMAT_FILE

    def problem(self) -> str | None:
        """Why this home cannot be the hub's, or None when it is a folder.

        The message names the home's absolute path: a relative default read from the wrong
        folder is the usual cause.
        """
        if self.home.is_dir():
            return None
        where = self.home.absolute()
        if self.home.exists():
            return f"the home {where} is not a folder"
        return f"the home {where} does not exist"
