"""Where the known secrets come from: the environment, token files, and the token fingerprint.

A tool run from the operator's own shell is usually not handed the hub token. It still has to
keep it out of everything it writes, so it gathers what it can itself:

* ``HUB_TOKEN``, when this environment has it;
* the token file under the home (``secrets/hub_token``, where the hub keeps a generated
  token) and any ``--token-file`` the operator names;
* every environment variable whose name sounds secret (detect-secrets' keyword rules and
  ours) or whose value the credential scanner judges secret;
* the hub's token fingerprint (``state/hub_token.fingerprint.json``), with which the token is
  found in text even when its value is unknown.

Nothing here reads ``os.environ``: the caller passes the environment in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from sheratan_home.layout import FINGERPRINT_FILE, TOKEN_FILE

from ._files import read_small_regular
from ._fingerprint import FingerprintError, TokenFingerprint, read_fingerprint
from ._redaction import MIN_SECRET_LEN, REDACTED, Redactor, is_secret_key
from ._scanner import CredentialScanner

__all__ = ["FINGERPRINT_FILE", "TOKEN_FILE", "KnownSecrets", "SecretSourceError",
           "load_known_secrets"]

#: A token file holds one line; reading more could only pull in garbage.
_TOKEN_FILE_MAX_BYTES: Final = 4096


class SecretSourceError(ValueError):
    """A token file the operator named cannot be used; the message names it, never its
    content."""


@dataclass(frozen=True, slots=True)
class KnownSecrets:
    """The secrets a tool must keep out of its output, and where they came from.

    Attributes:
        values: exact secret values (never printed: see ``__repr__``).
        fingerprints: tokens known only by fingerprint.
        token_sources: where the hub token's value was found (``HUB_TOKEN``, a file path),
            for the tool to report; never the value.
        too_short: secret-sounding values too short to look for (they would match ordinary
            words); the patterns still apply to them.
        warnings: problems met while gathering (an unreadable fingerprint, say).
    """

    values: tuple[str, ...] = ()
    fingerprints: tuple[TokenFingerprint, ...] = ()
    token_sources: tuple[str, ...] = ()
    too_short: int = 0
    warnings: tuple[str, ...] = field(default=())

    def __repr__(self) -> str:  # keep the values out of tracebacks and debug output
        return (f"KnownSecrets(<{len(self.values)} values>, "
                f"fingerprints={len(self.fingerprints)}, token_sources={self.token_sources})")

    @property
    def token_known(self) -> bool:
        """The hub token's value was found."""
        return bool(self.token_sources)

    @property
    def token_findable(self) -> bool:
        """The hub token can be kept out of output: its value or its fingerprint is known."""
        return self.token_known or bool(self.fingerprints)

    def redactor(self, *, patterns: bool = True, mask_emails: bool = False,
                 replacement: str = REDACTED) -> Redactor:
        """A :class:`Redactor` for these secrets."""
        return Redactor(self.values, fingerprints=self.fingerprints, patterns=patterns,
                        mask_emails=mask_emails, replacement=replacement)


def load_known_secrets(
    env: Mapping[str, str],
    *,
    home: Path | None = None,
    token_files: Sequence[Path] = (),
) -> KnownSecrets:
    """Gather the known secrets from ``env``, the token files and the home's fingerprint.

    Args:
        env: the environment the tool runs in.
        home: the hub's ``SHERATAN_HOME``; its token file and fingerprint are read when
            present (missing is normal: the hub may take its token from its environment).
        token_files: files the operator named (``--token-file``); each must be readable.

    Raises:
        SecretSourceError: a named token file is missing, unreadable or empty.
    """
    tokens: list[str] = []
    sources: list[str] = []
    hub_token = env.get("HUB_TOKEN", "").strip()
    if hub_token:
        tokens.append(hub_token)
        sources.append("HUB_TOKEN")
    for path in token_files:
        tokens.append(_read_named_token_file(path))
        sources.append(str(path))
    warnings: list[str] = []
    fingerprints: list[TokenFingerprint] = []
    if home is not None:
        home_token = _read_token_file(home / TOKEN_FILE)
        if home_token:
            tokens.append(home_token)
            sources.append(str(home / TOKEN_FILE))
        try:
            fingerprint = read_fingerprint(home / FINGERPRINT_FILE)
        except FingerprintError as exc:
            warnings.append(str(exc))
            fingerprint = None
        if fingerprint is not None:
            fingerprints.append(fingerprint)
    values, too_short = _usable([*tokens, *_secret_env_values(env)])
    return KnownSecrets(values, tuple(fingerprints), tuple(dict.fromkeys(sources)),
                        too_short, tuple(warnings))


def _secret_env_values(env: Mapping[str, str]) -> Iterable[str]:
    scanner = CredentialScanner()
    for name, value in env.items():
        stripped = value.strip()
        if stripped and (is_secret_key(name) or scanner.is_credential(stripped)):
            yield stripped


def _usable(candidates: Iterable[str]) -> tuple[tuple[str, ...], int]:
    values: set[str] = set()
    too_short = 0
    for value in candidates:
        # A value inside the marker ("REDACTED") cannot be told from our own output.
        if len(value) < MIN_SECRET_LEN or value in REDACTED:
            too_short += 1
        else:
            values.add(value)
    return tuple(sorted(values)), too_short


def _read_token_file(path: Path) -> str:
    """The token in ``path``, or "" when there is none to read."""
    try:
        return read_token_file(path)
    except SecretSourceError:
        return ""


def read_token_file(path: Path) -> str:
    """The token in a token file: a regular file (a FIFO is not waited on) of at most
    ``_TOKEN_FILE_MAX_BYTES``, its one line stripped.

    Raises:
        SecretSourceError: it cannot be read, is no regular file, is too large or empty; the
            message says which, and leaves naming the file to the caller.
    """
    try:
        data = read_small_regular(path, _TOKEN_FILE_MAX_BYTES)
    except OSError as exc:
        raise SecretSourceError(str(exc.strerror or exc)) from None
    token = data.decode("utf-8", "replace").strip()
    if not token:
        raise SecretSourceError("the file is empty")
    return token


def _read_named_token_file(path: Path) -> str:
    try:
        return read_token_file(path)
    except SecretSourceError as exc:
        raise SecretSourceError(f"--token-file {path}: {exc}") from None
