"""A salted fingerprint of the hub token: lets a tool find the token in text without knowing it.

The hub writes one at start (``state/hub_token.fingerprint.json``, owner-only). A tool run
from another shell, which cannot read ``HUB_TOKEN`` or the token file, loads the fingerprint
and tests every run of the token alphabet that is as long as the token: a run whose salted
hash matches *is* the token, wherever it appears. It also holds short salted hashes of every
window of 8 to 16 characters of the token, so a fragment of it (half the token, in one field
of two) is recognised too.

What it gives away: the token's length and salted SHA-256 hashes of it and of its windows.
That does not help against a generated token (256 random bits; a 16-character window still
holds 96), but a short human-chosen ``HUB_TOKEN`` could be guessed offline by someone who can
read the file, which is why it is owner-only like the token file itself. The hash must be
fast: a scan tests one window per character of every long run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ._atomic import atomic_write
from ._files import read_small_regular
from ._scanner import fragment_len

__all__ = ["FINGERPRINT_FORMAT", "FingerprintError", "TokenFingerprint", "read_fingerprint",
           "write_fingerprint"]

FINGERPRINT_FORMAT: Final = 1
_SALT_BYTES: Final = 16
#: A fingerprint file is about 800 bytes for a generated token, 21 KiB for the longest.
_MAX_FILE_BYTES: Final = 64 * 1024
_MIN_LENGTH: Final = 8
#: The longest token the hub accepts.
_MAX_LENGTH: Final = 1024
#: The bytes of a window's digest that are kept: enough to make a chance match in a
#: gigabyte of logs unlikely (2**-64 per test), few enough to keep the file small.
_WINDOW_DIGEST_BYTES: Final = 8


class FingerprintError(ValueError):
    """A fingerprint file that cannot be used; the message names the file and the fault."""


@dataclass(frozen=True, slots=True)
class TokenFingerprint:
    """The salt, the token's length, ``sha256(salt + token)``, and the truncated hashes of
    every ``window``-character stretch of the token (0 and empty when it is too short).

    Thread-safety: immutable; :meth:`matches` may be called from any thread.
    """

    salt: bytes
    length: int
    digest: bytes
    window: int = 0
    windows: frozenset[bytes] = frozenset()

    def __post_init__(self) -> None:
        if not _MIN_LENGTH <= self.length <= _MAX_LENGTH:
            raise ValueError(f"token length must be {_MIN_LENGTH}..{_MAX_LENGTH}, "
                             f"got {self.length}")
        if len(self.salt) < 8 or len(self.digest) != hashlib.sha256().digest_size:
            raise ValueError("a fingerprint needs a salt of 8+ bytes and a SHA-256 digest")
        if (self.window == 0) != (not self.windows) or not 0 <= self.window <= self.length or \
                any(len(d) != _WINDOW_DIGEST_BYTES for d in self.windows):
            raise ValueError("a fingerprint's windows do not fit its window size")

    def __repr__(self) -> str:
        return f"TokenFingerprint(length={self.length})"

    @classmethod
    def of(cls, token: str, *, salt: bytes | None = None) -> TokenFingerprint:
        """The fingerprint of ``token``, with a fresh random salt unless one is given."""
        salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
        size = fragment_len(len(token))
        windows = frozenset(_window_digest(salt, token[i : i + size])
                            for i in range(len(token) - size + 1)) if size else frozenset()
        return cls(salt, len(token), _digest(salt, token), size, windows)

    def matches(self, candidate: str) -> bool:
        """True when ``candidate`` is the token."""
        return len(candidate) == self.length and hmac.compare_digest(
            _digest(self.salt, candidate), self.digest)

    def is_window(self, candidate: str) -> bool:
        """True when ``candidate`` is one of the token's ``window``-character stretches."""
        return _window_digest(self.salt, candidate) in self.windows

    def to_json(self) -> bytes:
        doc = {"format": FINGERPRINT_FORMAT, "algorithm": "sha256", "salt": self.salt.hex(),
               "length": self.length, "digest": self.digest.hex(), "window": self.window,
               "windows": sorted(digest.hex() for digest in self.windows)}
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
            length, window = doc["length"], doc.get("window", 0)
            if type(length) is not int or type(window) is not int:
                raise ValueError("length or window is not an integer")
            windows = frozenset(bytes.fromhex(item) for item in doc.get("windows", ()))
            return cls(bytes.fromhex(doc["salt"]), length, bytes.fromhex(doc["digest"]),
                       window, windows)
        except (AttributeError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise ValueError(f"not a token fingerprint ({type(exc).__name__})") from None


def _digest(salt: bytes, token: str) -> bytes:
    return hashlib.sha256(salt + token.encode("utf-8", "surrogatepass")).digest()


def _window_digest(salt: bytes, window: str) -> bytes:
    # "w" keeps a window's hash apart from a whole token's hash of the same text.
    data = salt + b"w" + window.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).digest()[:_WINDOW_DIGEST_BYTES]


def write_fingerprint(path: Path, fingerprint: TokenFingerprint) -> None:
    """Write ``fingerprint`` to ``path`` atomically, readable by the owner only.

    Raises:
        OSError: the folder cannot be written.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with atomic_write(path, durable=True) as handle:  # 0600 whatever the umask
        handle.write(fingerprint.to_json())


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
    try:
        return TokenFingerprint.from_json(data)
    except ValueError as exc:
        raise FingerprintError(f"{path}: {exc}") from None
