"""The secrets diagnose keeps out of a bundle, and how it came to know the hub token.

Diagnose is usually run from the operator's own shell, which was not handed the token. It
gathers what it can itself, through :func:`otel.load_known_secrets`: ``HUB_TOKEN``, the
home's token file, any ``--token-file``, the secret values of the environment, and the
fingerprint the hub leaves under ``state/``. If after all that it neither knows the token nor
can find it by its fingerprint, it refuses (:class:`NoTokenError`): a bundle whose leak gate
cannot see the token promises nothing.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from otel import FINGERPRINT_FILE, TOKEN_FILE, KnownSecrets, SecretSourceError, load_known_secrets

from .config import UsageError


class NoTokenError(Exception):
    """The hub token is neither known nor findable; the message says how to provide it."""

    def __init__(self, home: Path, *, headline: str) -> None:
        home = home.absolute()
        token_file = home / TOKEN_FILE
        fingerprint = home / FINGERPRINT_FILE
        super().__init__(
            f"{headline}:\n"
            "  - HUB_TOKEN is not set in this environment\n"
            f"  - there is no token file at {token_file}\n"
            "  - no --token-file was given\n"
            f"  - there is no token fingerprint at {fingerprint}\n"
            "Give it the token in one of these ways:\n"
            f"  - if {home} is not the hub's home (run from another folder, say), pass "
            "--home PATH or set SHERATAN_HOME to the folder the hub runs with\n"
            "  - set HUB_TOKEN to the hub's token for this run\n"
            "  - pass --token-file PATH, a file that holds the token (one line)\n"
            f"  - if it is, start the v1.5 hub once with it (SHERATAN_HOME={home}); it writes "
            f"{FINGERPRINT_FILE.as_posix()}, with which diagnose finds the token without "
            "knowing it")


def load_secrets(env: Mapping[str, str], home: Path, token_files: Sequence[Path], *,
                 headline: str) -> KnownSecrets:
    """The run's known secrets; the hub token must be among them, by value or fingerprint.

    Args:
        env: the environment diagnose runs in.
        home: the hub's home, whose token file and fingerprint are read when present.
        token_files: the ``--token-file`` paths.
        headline: the message's first line: what was not done, and why.

    Raises:
        UsageError: see :func:`gather_secrets`.
        NoTokenError: the token is neither known nor findable.
    """
    known = gather_secrets(env, home, token_files)
    require_token(known, home, headline=headline)
    return known


def gather_secrets(env: Mapping[str, str], home: Path,
                   token_files: Sequence[Path]) -> KnownSecrets:
    """The known secrets, whether or not the hub token is among them.

    Raises:
        UsageError: a ``--token-file`` cannot be read, or the home holds a FIFO or device
            where the token file or the fingerprint belongs (reading it could block).
    """
    for relative in (TOKEN_FILE, FINGERPRINT_FILE):
        _refuse_special(home, relative)
    try:
        return load_known_secrets(env, home=home, token_files=tuple(token_files))
    except SecretSourceError as exc:
        raise UsageError(str(exc)) from None


def require_token(known: KnownSecrets, home: Path, *, headline: str) -> None:
    """Raise :class:`NoTokenError` unless the hub token is known or findable."""
    if not known.token_findable:
        raise NoTokenError(home, headline=headline)


def _refuse_special(home: Path, relative: Path) -> None:
    # A symlink to a regular file is fine here (a token kept elsewhere): these files are
    # read to be redacted, never copied. A FIFO or device would block the read, though.
    try:
        mode = os.stat(home / relative).st_mode
    except OSError:
        return  # absent or unreadable: load_known_secrets treats it as not there
    if not stat.S_ISREG(mode):
        raise UsageError(f"{home / relative} is not a regular file (a FIFO, device or "
                         "folder); diagnose does not read it. Remove it, or point "
                         "SHERATAN_HOME/--home at the hub's home")


def token_sources(known: KnownSecrets, home: Path, token_files: Sequence[Path], *,
                  full_paths: bool) -> list[str]:
    """How the hub token was found, one entry a source, never the value.

    Args:
        known: the loaded secrets.
        home: the hub's home.
        token_files: the ``--token-file`` paths.
        full_paths: give paths as they are (for the console); otherwise relative to the
            home, or a bare file name for a ``--token-file`` (for the manifest).
    """
    home_token = str(home / TOKEN_FILE)
    named = {str(path): path for path in token_files}
    described: list[str] = []
    for source in known.token_sources:
        if source == home_token:
            shown = source if full_paths else TOKEN_FILE.as_posix()
            described.append(f"token file {shown}")
        elif source in named and full_paths:
            described.append(f"--token-file {source}")
        elif source in named:
            # Not "--token-file NAME": the gate rightly takes that shape for a secret
            # argument on a command line.
            described.append(f"token file {named[source].name} (given with --token-file)")
        else:
            described.append(source)  # HUB_TOKEN
    if known.fingerprints:
        described.append(f"fingerprint {FINGERPRINT_FILE.as_posix()}")
    return described


def token_summary(known: KnownSecrets, home: Path, token_files: Sequence[Path]) -> str:
    """The console's one line on the token: where its value came from, or that it is known
    only by its fingerprint."""
    sources = token_sources(known, home, token_files, full_paths=True)
    if known.token_known:
        return "token: " + ", ".join(sources)
    return f"token: known by fingerprint ({FINGERPRINT_FILE.as_posix()})"


def manifest_entry(known: KnownSecrets, home: Path,
                   token_files: Sequence[Path]) -> dict[str, Any]:
    """The manifest's ``token`` section: whether the value was known, and from where."""
    return {"value_known": known.token_known,
            "found_by": token_sources(known, home, token_files, full_paths=False)}
