"""A salted fingerprint of the hub token: lets a tool find the token in text without knowing it.

The hub writes one at start (``state/hub_token.fingerprint.json``, owner-only). A tool run
from another shell, which cannot read ``HUB_TOKEN`` or the token file, loads the fingerprint
and tests every run of the token alphabet that is as long as the token: a run whose salted
hash matches *is* the token, wherever it appears.

What it gives away: the token's length and a salted SHA-256 of it. That does not help
against a generated token (256 random bits), but a short human-chosen ``HUB_TOKEN`` could be
guessed offline by someone who can read the file, which is why it is owner-only like the
token file itself. The hash must be fast: a scan tests one window per character of every
long run.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ._files import read_small_regular

__all__ = ["FINGERPRINT_FORMAT", "FingerprintError", "TokenFingerprint", "read_fingerprint",
           "write_fingerprint"]

FINGERPRINT_FORMAT: Final = 1
_SALT_BYTES: Final = 16
#: A fingerprint file is about 200 bytes; anything much larger is not one.
_MAX_FILE_BYTES: Final = 4096
_MIN_LENGTH: Final = 8
_MAX_LENGTH: Final = 4096


class FingerprintError(ValueError):
    """A fingerprint file that cannot be used; the message names the file and the fault."""


@dataclass(frozen=True, slots=True)
class TokenFingerprint:
    """The salt, the token's length, and ``sha256(salt + token)``.

    Thread-safety: immutable; :meth:`matches` may be called from any thread.
    """

    salt: bytes
    length: int
    digest: bytes

    def __post_init__(self) -> None:
        if not _MIN_LENGTH <= self.length <= _MAX_LENGTH:
            raise ValueError(f"token length must be {_MIN_LENGTH}..{_MAX_LENGTH}, "
                             f"got {self.length}")
        if len(self.salt) < 8 or len(self.digest) != hashlib.sha256().digest_size:
            raise ValueError("a fingerprint needs a salt of 8+ bytes and a SHA-256 digest")

    def __repr__(self) -> str:
        return f"TokenFingerprint(length={self.length})"

    @classmethod
    def of(cls, token: str, *, salt: bytes | None = None) -> TokenFingerprint:
        """The fingerprint of ``token``, with a fresh random salt unless one is given."""
        salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
        return cls(salt, len(token), _digest(salt, token))

    def matches(self, candidate: str) -> bool:
        """True when ``candidate`` is the token."""
        return len(candidate) == self.length and hmac.compare_digest(
            _digest(self.salt, candidate), self.digest)

    def to_json(self) -> bytes:
        doc = {"format": FINGERPRINT_FORMAT, "algorithm": "sha256", "salt": self.salt.hex(),
               "length": self.length, "digest": self.digest.hex()}
        return (json.dumps(doc, sort_keys=True) + "\n").encode("ascii")

    @classmethod
    def from_json(cls, data: bytes) -> TokenFingerprint:
        """Parse :meth:`to_json`'s output.

        Raises:
            ValueError: anything else, with a message naming the fault.
        """
        try:
            doc = json.loads(data)
            if doc.get("format") != FINGERPRINT_FORMAT or doc.get("algorithm") != "sha256":
                raise ValueError("unknown format or algorithm")
            length = doc["length"]
            if type(length) is not int:
                raise ValueError("length is not an integer")
            return cls(bytes.fromhex(doc["salt"]), length, bytes.fromhex(doc["digest"]))
        except (AttributeError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise ValueError(f"not a token fingerprint ({type(exc).__name__})") from None


def _digest(salt: bytes, token: str) -> bytes:
    return hashlib.sha256(salt + token.encode("utf-8", "surrogatepass")).digest()


def write_fingerprint(path: Path, fingerprint: TokenFingerprint) -> None:
    """Write ``fingerprint`` to ``path`` atomically, readable by the owner only.

    Raises:
        OSError: the folder cannot be written.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp makes it 0600 whatever the umask
            handle.write(fingerprint.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def read_fingerprint(path: Path) -> TokenFingerprint | None:
    """The fingerprint at ``path``, or None when there is no such file.

    Raises:
        FingerprintError: the file exists but cannot be read or is not a fingerprint.
    """
    try:
        data = read_small_regular(path, _MAX_FILE_BYTES)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FingerprintError(f"{path}: cannot read the token fingerprint: "
                               f"{exc.strerror or exc}") from None
    if len(data) > _MAX_FILE_BYTES:
        raise FingerprintError(f"{path}: too large to be a token fingerprint")
    try:
        return TokenFingerprint.from_json(data)
    except ValueError as exc:
        raise FingerprintError(f"{path}: {exc}") from None
