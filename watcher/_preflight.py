"""What follow mode and ``--once`` look at before they start: the home, the audit log and
whether the hub token can be known.

Each check only looks (a ``stat`` or two): nothing is created, opened or read, so a watcher
pointed at the wrong folder leaves it as it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from otel import irregular_kind
from sheratan_home import HomeLayout
from sheratan_home import env as hub_env
from watcher._guard import unknown_token_message


def home_problem(home: Path, home_from: str, *, log_named: bool) -> str | None:
    """Why the watcher cannot run on ``home``: it does not exist, or it has no ``logs``
    folder, which the hub makes at its first start (unless ``log_named``: ``--log`` or
    ``HUB_AUDIT_LOG`` names the audit log); None when it can."""
    files = HomeLayout(home)
    problem = files.problem()
    fix = "set SHERATAN_HOME or pass --home to the hub's home"
    if problem is not None:  # --log does not help: the watcher keeps its state in the home
        return f"{problem} ({home_from}); {fix}"
    if not log_named and not files.logs_dir.is_dir():
        return (f"the home {home.absolute()} ({home_from}) has no {files.logs_dir.name} "
                f"folder, which the hub makes at its first start; {fix}, or name the audit "
                "log with --log")
    return None


def log_problem(log: Path, log_from: str) -> str | None:
    """Why ``log`` cannot be the audit log: it is a folder, a FIFO or a device (a symlink to
    a regular file is followed, as the tailer does); None when it is a regular file or
    missing (:func:`missing_log_notice`)."""
    kind = irregular_kind(log)  # None when missing too: the run reports that itself
    if kind is None:
        return None
    return (f"the audit log {log} ({log_from}) is {kind}, not a regular file; the watcher "
            "left it untouched")


def missing_log_notice(log: Path, log_from: str, *, follow: bool) -> str | None:
    """One line for stderr when ``log`` does not exist (yet): a typo shows at once, while a
    log the hub has not written yet is still waited for (follow) or found empty (``--once``)."""
    if log.exists():
        return None
    then = "waiting for it" if follow else "nothing to read"
    return (f"the audit log {log} ({log_from}) does not exist yet (the hub creates it); "
            f"{then}")


def unknown_token_notice(env: Mapping[str, str], home: Path,
                         token_files: Sequence[Path]) -> str | None:
    """The line that says the hub token cannot be known here, or None when a source of it
    exists: ``HUB_TOKEN``, a ``--token-file``, the home's token file or its token
    fingerprint. Only looks whether they exist; the guard reads them when first needed."""
    if token_files or hub_env.value(env, "HUB_TOKEN") is not None:
        return None
    files = HomeLayout(home)
    if files.token_file.exists() or files.token_fingerprint.exists():
        return None
    return unknown_token_message(home)
