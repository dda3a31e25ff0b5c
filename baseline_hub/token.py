"""Where the hub's bearer token comes from: ``HUB_TOKEN``, else a generated token file."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from otel import TokenFingerprint, write_fingerprint

from . import owneronly
from .config import ConfigError, HubConfig, check_token


@dataclass(frozen=True, slots=True)
class TokenSource:
    """The token and a printable description of where it came from (never the value)."""

    value: str
    origin: str

    def __repr__(self) -> str:  # keep the value out of tracebacks and debug output
        return f"TokenSource(origin={self.origin!r})"


def resolve_token(config: HubConfig) -> TokenSource:
    """Return ``HUB_TOKEN`` if set, else read or create ``secrets/hub_token`` (mode 0600).

    Raises:
        ConfigError: if the token file exists but holds an unusable token.
    """
    if config.token is not None:
        return TokenSource(config.token, "HUB_TOKEN")
    path = config.paths.token_file
    if not path.exists():
        _create_token_file(path)
    try:
        value = path.read_text(encoding="ascii").strip()
    except UnicodeDecodeError:
        raise ConfigError(str(path), "the token file is not ASCII text") from None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read the token file: {exc.strerror}") from None
    check_token(value, str(path))
    owneronly.tighten(path)  # a token file others can read is made owner-only, with a warning
    return TokenSource(value, str(path))


def _create_token_file(path: Path) -> None:
    try:
        owneronly.make_dir(path.parent)
    except OSError as exc:
        raise ConfigError(str(path), f"cannot create its folder: {exc.strerror}") from None
    value = secrets.token_urlsafe(32)
    try:
        # O_EXCL: two hubs starting at once must not overwrite each other's token.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise ConfigError(str(path), f"cannot create token file: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")


def write_token_fingerprint(path: Path, token: TokenSource) -> None:
    """Leave a salted fingerprint of the token at ``path`` (never the token itself).

    Tools run from another shell (diagnose, the watcher) cannot read ``HUB_TOKEN``, yet must
    find the token in the text they copy out; the fingerprint lets them recognise it. It is
    written atomically and owner-only, with a fresh salt on every start, since the token may
    have changed.

    Raises:
        ConfigError: naming the file when it cannot be written.
    """
    try:
        write_fingerprint(path, TokenFingerprint.of(token.value))
    except OSError as exc:
        raise ConfigError(str(path), "cannot write the token fingerprint: "
                                     f"{exc.strerror or exc}") from None
