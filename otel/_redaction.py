"""The one place that decides what is secret: known values, key names and token patterns.

Metrics, alerts and the diagnose bundle all redact through :class:`Redactor`, so a rule
added here protects every output at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Final
from urllib.parse import quote

__all__ = ["MIN_SECRET_LEN", "REDACTED", "Redactor", "is_secret_key"]

REDACTED: Final = "[REDACTED]"
MIN_SECRET_LEN: Final = 8

# Redaction kinds, the keys of the counts a Redactor returns.
KNOWN_SECRET: Final = "known_secret"
BEARER: Final = "bearer"
BASIC: Final = "basic_auth"
JWT: Final = "jwt"
URL_PASSWORD: Final = "url_password"
SECRET_FIELD: Final = "secret_field"

# A key is secret when its normalized form (lower case, no separators) contains one of
# these, wherever they sit: "HUB_TOKEN", "x-api-key", "apiKey", "db_password".
_SECRET_SUBSTRINGS: Final = (
    "token",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "apikey",
    "privatekey",
    "accesskey",
    "signingkey",
    "encryptionkey",
    "credential",
    "authorization",
    "cookie",
    "sessionid",
)
# These words are secret only as the last word of a key: "proxy_auth" and "session" are,
# while "auth_fail_rate_1m", "author" and "session_count" are not.
_SECRET_LAST_WORDS: Final = frozenset({"auth", "session", "sid", "pwd", "pass", "jwt", "bearer"})

_BENIGN_VALUES: Final = frozenset({"", "null", "none", "true", "false"})
_WORD_SPLIT: Final = re.compile(r"[^a-z0-9]+")
_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

_BEARER_RE: Final = re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9\-._~+/]+=*")
_BASIC_RE: Final = re.compile(r"(?i)\b(basic)(\s+)[A-Za-z0-9+/]{8,}=*")
_JWT_RE: Final = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_URL_PASSWORD_RE: Final = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]+:)(?P<pw>[^/\s@]+)(@)")
# key=value, key: value and "key": "value". The lookbehind anchors a key at a word start,
# which keeps the scan linear on long runs of identifier characters.
_FIELD_RE: Final = re.compile(
    r"""(?<![A-Za-z0-9_.\-])(?P<q>["']?)(?P<key>[A-Za-z][A-Za-z0-9_.\-]*)(?P=q)"""
    r"""(?P<sep>\s*[=:]\s*)"""
    r"""(?!(?i:bearer|basic)\s)"""
    r"""(?P<val>"(?:[^"\\\n]|\\.)*"|'[^'\n]*'|(?:[A-Za-z]+[ \t]+)?[^\s&,;"'<>(){}\[\]]+)"""
)


def is_secret_key(name: str) -> bool:
    """True when a field, header or variable called ``name`` may hold a secret.

    Case-, ``-``/``_``/``.``- and camelCase-insensitive: ``HUB_TOKEN``, ``X-Api-Key``,
    ``apiKey``, ``Authorization``, ``Set-Cookie``, ``private_key`` and ``proxy_auth`` are
    secret; ``auth_fail_rate_1m``, ``author`` and ``reason`` are not.
    """
    lowered = _CAMEL.sub("_", name).lower()
    words = [word for word in _WORD_SPLIT.split(lowered) if word]
    if not words:
        return False
    joined = "".join(words)
    return words[-1] in _SECRET_LAST_WORDS or any(s in joined for s in _SECRET_SUBSTRINGS)


def _variants(secret: str) -> set[str]:
    """The forms a secret takes when it is embedded in a URL or a JSON string."""
    return {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}


class Redactor:
    """Redacts known secret values, secret-looking fields and token patterns.

    Args:
        known_secrets: exact values that must never appear (the hub token, say). Empty
            strings and None-like blanks are ignored.
        replacement: the text that replaces a secret.

    Raises:
        ValueError: a known secret shorter than ``MIN_SECRET_LEN`` characters, which would
            redact ordinary words everywhere.

    Thread-safety: immutable after construction; safe to share between threads.
    """

    __slots__ = ("_known_bytes", "_known_re", "_replacement")

    def __init__(self, known_secrets: Iterable[str] = (), *, replacement: str = REDACTED) -> None:
        variants: set[str] = set()
        for secret in known_secrets:
            if not secret.strip():
                continue
            if len(secret) < MIN_SECRET_LEN:
                # The value itself is never put in the message.
                raise ValueError(
                    f"a known secret of {len(secret)} characters is shorter than "
                    f"{MIN_SECRET_LEN} and would redact ordinary text"
                )
            variants |= _variants(secret)
        if any(replacement in v or v in replacement for v in variants):
            raise ValueError("the replacement text must not overlap a known secret")
        self._replacement = replacement
        # Longest first, so a secret that contains another is replaced whole.
        ordered = sorted(variants, key=len, reverse=True)
        self._known_re = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._known_bytes = tuple(v.encode("utf-8") for v in ordered)

    @staticmethod
    def is_secret_key(name: str) -> bool:
        """See :func:`is_secret_key`."""
        return is_secret_key(name)

    def redact_text(self, text: str) -> tuple[str, dict[str, int]]:
        """Redact ``text``.

        Returns:
            The redacted text and the number of redactions by kind (only kinds > 0).
        """
        counts: dict[str, int] = {}
        text = self._redact_known(text, counts)
        text = self._sub(_BEARER_RE, text, BEARER, counts, r"\g<1>\g<2>{}")
        text = self._sub(_BASIC_RE, text, BASIC, counts, r"\g<1>\g<2>{}")
        text = self._sub(_JWT_RE, text, JWT, counts, "{}")
        text = self._redact_url_passwords(text, counts)
        text = self._redact_fields(text, counts)
        return text, counts

    def redact_mapping(self, obj: object) -> tuple[object, dict[str, int]]:
        """Redact a JSON-like structure deeply, returning a new one (the input is untouched).

        A value under a secret-looking key is replaced whole, unless it is None or a bool
        (which cannot hold a secret). Other strings, and keys, go through
        :meth:`redact_text`. Objects of other types are returned as they are.

        Returns:
            The redacted copy and the number of redactions by kind.
        """
        counts: dict[str, int] = {}
        return self._redact_value(obj, counts), counts

    def find_leaks(self, data: bytes | str) -> list[str]:
        """The kinds of secret found in ``data``, sorted; never the secrets themselves.

        Meant as a final gate over an output that was already redacted: an empty list
        means it is clean.
        """
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        kinds: set[str] = set()
        if any(secret in raw for secret in self._known_bytes):
            kinds.add(KNOWN_SECRET)
        text = raw.decode("utf-8", "replace")
        for kind, pattern in (
            (BEARER, _BEARER_RE),
            (BASIC, _BASIC_RE),
            (JWT, _JWT_RE),
        ):
            if pattern.search(text):
                kinds.add(kind)
        if any(map(self._is_secret_url, _URL_PASSWORD_RE.finditer(text))):
            kinds.add(URL_PASSWORD)
        if any(map(self._is_secret_field, _FIELD_RE.finditer(text))):
            kinds.add(SECRET_FIELD)
        return sorted(kinds)

    # What counts as a secret match is decided once, here, for redacting and for
    # find_leaks alike.
    def _is_secret_url(self, match: re.Match[str]) -> bool:
        return match.group("pw") != self._replacement

    def _is_secret_field(self, match: re.Match[str]) -> bool:
        return is_secret_key(match.group("key")) and not self._is_benign(match.group("val"))

    def _is_benign(self, value: str) -> bool:
        """A field value that cannot be a secret: empty, null, a bool, a small number,
        or already the replacement."""
        bare = value[1:-1] if value[:1] in ("'", '"') else value
        return (
            bare.lower() in _BENIGN_VALUES
            or bare == self._replacement
            or (bare.isdigit() and len(bare) < MIN_SECRET_LEN)
        )

    def _redact_known(self, text: str, counts: dict[str, int]) -> str:
        pattern = self._known_re
        if pattern is None:
            return text
        # A replacement can join two fragments into a new occurrence only in contrived
        # cases; repeat until none is left, and if that does not settle, drop it all.
        for _ in range(4):
            text, n = pattern.subn(self._replacement, text)
            if n == 0:
                return text
            _add(counts, KNOWN_SECRET, n)
        if pattern.search(text):
            _add(counts, KNOWN_SECRET, 1)
            return self._replacement
        return text

    def _sub(
        self,
        pattern: re.Pattern[str],
        text: str,
        kind: str,
        counts: dict[str, int],
        template: str,
    ) -> str:
        # The template's groups keep the scheme word and separators; "{}" is the secret.
        text, n = pattern.subn(template.format(self._replacement.replace("\\", "\\\\")), text)
        _add(counts, kind, n)
        return text

    def _redact_url_passwords(self, text: str, counts: dict[str, int]) -> str:
        return self._sub_secrets(
            _URL_PASSWORD_RE, text, URL_PASSWORD, counts, self._is_secret_url,
            lambda match: f"{match.group(1)}{self._replacement}@",
        )

    def _redact_fields(self, text: str, counts: dict[str, int]) -> str:
        def redacted(match: re.Match[str]) -> str:
            value = match.group("val")
            quote_char = value[0] if value[:1] in ("'", '"') else ""
            head = match.group(0)[: match.start("val") - match.start(0)]
            return f"{head}{quote_char}{self._replacement}{quote_char}"

        return self._sub_secrets(
            _FIELD_RE, text, SECRET_FIELD, counts, self._is_secret_field, redacted
        )

    @staticmethod
    def _sub_secrets(
        pattern: re.Pattern[str],
        text: str,
        kind: str,
        counts: dict[str, int],
        is_secret: Callable[[re.Match[str]], bool],
        redacted: Callable[[re.Match[str]], str],
    ) -> str:
        """Replace each match that ``is_secret`` flags by ``redacted(match)``; count them."""
        found = 0

        def replace(match: re.Match[str]) -> str:
            nonlocal found
            if not is_secret(match):
                return match.group(0)
            found += 1
            return redacted(match)

        text = pattern.sub(replace, text)
        _add(counts, kind, found)
        return text

    def _redact_value(self, obj: object, counts: dict[str, int]) -> object:
        if isinstance(obj, str):
            text, found = self.redact_text(obj)
            _merge(counts, found)
            return text
        if isinstance(obj, Mapping):
            out: dict[object, object] = {}
            for key, value in obj.items():
                new_key = self._redact_value(key, counts) if isinstance(key, str) else key
                if isinstance(key, str) and is_secret_key(key) and can_hold_secret(value):
                    _add(counts, SECRET_FIELD, 1)
                    out[new_key] = self._replacement
                else:
                    out[new_key] = self._redact_value(value, counts)
            return out
        if isinstance(obj, list):
            return [self._redact_value(item, counts) for item in obj]
        if isinstance(obj, tuple):
            return tuple(self._redact_value(item, counts) for item in obj)
        if isinstance(obj, bytes | bytearray):
            text, found = self.redact_text(bytes(obj).decode("utf-8", "replace"))
            _merge(counts, found)
            return text.encode("utf-8") if found else obj
        return obj


def can_hold_secret(value: object) -> bool:
    """False for the values a secret-named field may hold without a secret: None, bools, ""."""
    return value is not None and not isinstance(value, bool) and value != ""


def _merge(into: dict[str, int], found: Mapping[str, int]) -> None:
    for kind, n in found.items():
        _add(into, kind, n)


def _add(counts: dict[str, int], kind: str, n: int) -> None:
    if n:
        counts[kind] = counts.get(kind, 0) + n
