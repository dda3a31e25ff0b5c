"""Client-controlled values made safe to show: an alert's group, a client column on a screen.

A value such as an audit line's ``client`` is written by whoever sent the request. It is
kept only when it is safe by construction: an IP address (in any textual form) becomes its
canonical form, which cannot hold a secret. Anything else goes through the redactor and the
credential scanner, and a value that looks like a credential is replaced even when nobody
told the tool about it. Verdicts are cached per distinct value in a bounded LRU, so a scan
from 100,000 clients costs one verdict per client, not one per line.
"""

from __future__ import annotations

import functools
import ipaddress
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from ._redaction import Redactor

__all__ = ["DEFAULT_VERDICT_CACHE", "MAX_JUDGED_CHARS", "ValueGuard", "canonical_ip"]

DEFAULT_VERDICT_CACHE: Final = 65_536
DEFAULT_MAX_CHARS: Final = 128
#: A value longer than this is replaced without being judged: judging costs time in
#: proportion to its length (about 2 ms at 2 KB), and a flood of long distinct values must
#: not buy an attacker that much of a tool's time. No address or name is this long.
MAX_JUDGED_CHARS: Final = 1024


def canonical_ip(text: str) -> str | None:
    """``text`` as a canonical IP address (``::FFFF:0A00:0007`` -> ``::ffff:a00:7``), or
    None when it is not one."""
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        return None


class ValueGuard:
    """Turns an untrusted string into one that may be shown and stored.

    Args:
        redactor: builds the redactor on first need. It is only called for a value that is
            not an IP address, so a tool whose values are all addresses never pays for it.
        replacement: what a value judged secret becomes.
        max_chars: longer values are cut (after judging, so no half token slips by).
        cache_size: the most distinct values whose verdicts are remembered.
        secret_names: also replace a value that reads like a secret's name (``api_key``,
            ``cookie 9f3c``), as the watcher always has.

    A value is replaced when the redactor would redact anything in it: a known or
    fingerprinted secret, a credential pattern, and an e-mail address when the redactor
    masks them.

    Thread-safety: the verdict cache is ``functools.lru_cache``, which is thread-safe; the
    redactor is built once under a lock.
    """

    def __init__(self, redactor: Callable[[], Redactor], *, replacement: str,
                 max_chars: int = DEFAULT_MAX_CHARS,
                 cache_size: int = DEFAULT_VERDICT_CACHE,
                 secret_names: bool = False) -> None:
        if max_chars < 1 or cache_size < 1:
            raise ValueError(f"max_chars and cache_size must be >= 1, got {max_chars} and "
                             f"{cache_size}")
        self._make_redactor = redactor
        self._redactor: Redactor | None = None
        self._lock = threading.Lock()
        self._replacement = replacement
        self._max_chars = max_chars
        self._secret_names = secret_names
        self.guard: Callable[[str], str] = functools.lru_cache(maxsize=cache_size)(
            self._verdict)

    def __call__(self, value: str) -> str:
        """The safe form of ``value`` (cached)."""
        if len(value) > MAX_JUDGED_CHARS:
            return self._replacement
        return self.guard(value)

    def _verdict(self, value: str) -> str:
        # A query string or fragment is where clients put credentials; it never groups.
        text = value.split("?", 1)[0].split("#", 1)[0]
        address = canonical_ip(text)
        if address is not None:
            return address
        if self._looks_secret(text):
            return self._replacement
        return text[: self._max_chars]

    def _looks_secret(self, text: str) -> bool:
        # Imported on the first value that is no IP address: a tool whose values are all
        # addresses never loads the redaction rules nor the scanner (stateless, so one per call).
        from ._redaction import is_secret_key
        from ._scanner import CredentialScanner

        return (
            (self._secret_names and is_secret_key(text))
            or bool(self._get_redactor().redact_text(text)[1])
            or CredentialScanner().is_credential(text)
        )

    def _get_redactor(self) -> Redactor:
        with self._lock:
            if self._redactor is None:
                self._redactor = self._make_redactor()
            return self._redactor
