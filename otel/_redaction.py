"""The one place that decides what is secret: known values, key names and credential patterns.

Metrics, alerts, the watcher's console, ``hub_top`` and the diagnose bundle all redact through
:class:`Redactor`, so a rule added here protects every output at once.

Every detector reports *spans* of the text it judges secret, in priority order: known values
(with their encodings and fragments) and fingerprinted tokens, private-key blocks, bearer,
basic, JWT, URL-password, ``key=value`` and ``--option value`` patterns, detect-secrets'
credential plugins, and (when asked) e-mail addresses. Overlapping spans merge; each
merged span is replaced once and counted once, under the kind of its first detector.
Redacting and :meth:`Redactor.find_leaks` share the detectors, so what one removes is what
the other looks for.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Final

from ._known import FingerprintSearch, KnownValues, Span
from ._scanner import CredentialScanner, keyword_denylist

if TYPE_CHECKING:
    from ._fingerprint import TokenFingerprint

__all__ = ["MIN_SECRET_LEN", "REDACTED", "Redactor", "can_hold_secret", "is_secret_key"]

REDACTED: Final = "[REDACTED]"
MIN_SECRET_LEN: Final = 8

# Redaction kinds, the keys of the counts a Redactor returns.
KNOWN_SECRET: Final = "known_secret"
PRIVATE_KEY: Final = "private_key"
CREDENTIAL: Final = "credential"
BEARER: Final = "bearer"
BASIC: Final = "basic_auth"
JWT: Final = "jwt"
URL_PASSWORD: Final = "url_password"
SECRET_FIELD: Final = "secret_field"
SECRET_ARGUMENT: Final = "secret_argument"
EMAIL: Final = "email"

# A key is secret when its normalized form (lower case, no separators) contains one of
# these, wherever they sit ("HUB_TOKEN", "x-api-key", "apiKey", "db_password"), or when it
# matches detect-secrets' keyword denylist (see _keyword_pattern).
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
    "connectionstring",
    "webhook",
)
# These words are secret only as the last word of a key: "proxy_auth", "SSH_KEY" and
# "SENTRY_DSN" are, while "auth_fail_rate_1m", "keyboard" and "session_count" are not.
_SECRET_LAST_WORDS: Final = frozenset(
    {"auth", "session", "sid", "pwd", "pass", "jwt", "bearer", "key", "dsn"})
# The shell's working directories: "pwd" in the denylist means a password, not these.
_NOT_SECRET_KEYS: Final = frozenset({"pwd", "oldpwd"})

_BENIGN_VALUES: Final = frozenset({"", "null", "none", "true", "false"})
_WORD_SPLIT: Final = re.compile(r"[\W_]+")
_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

_PEM_RE: Final = re.compile(
    r"-----BEGIN (?P<label>(?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----"
    r"(?:[\s\S]*?-----END (?P=label)-----|[A-Za-z0-9+/=\s\\:,.\-]*)"
    r"|PuTTY-User-Key-File-\d+:[^\r\n]*(?:\\n|[\r\n])(?:[^\r\n]*(?:\\n|[\r\n]))*?"
    r"Private-MAC:[^\s\\]*"
)
_BEARER_RE: Final = re.compile(r"(?i)\bbearer\s+(?P<val>[A-Za-z0-9\-._~+/]+=*)")
_BASIC_RE: Final = re.compile(r"(?i)\bbasic\s+(?P<val>[A-Za-z0-9+/]{8,}=*)")
_JWT_RE: Final = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
# The user part may be empty: redis://:password@host.
_URL_PASSWORD_RE: Final = re.compile(
    r"(?i)\b[a-z][a-z0-9+.\-]*://[^/\s:@]*:(?P<val>[^/\s@]+)@")
# key=value, key: value and "key": "value". The lookbehind anchors a key at a word start,
# which keeps the scan linear on long runs of identifier characters.
_FIELD_RE: Final = re.compile(
    r"""(?<![A-Za-z0-9_.\-])(?P<q>["']?)(?P<key>[A-Za-z][A-Za-z0-9_.\-]*)(?P=q)"""
    r"""(?P<sep>\s*[=:]\s*)"""
    r"""(?!(?i:bearer|basic)\s)"""
    r"""(?P<val>"(?:[^"\\\n]|\\.)*"|'[^'\n]*'|(?:[A-Za-z]+[ \t]+)?[^\s&,;"'<>(){}\[\]]+)"""
)
# --password x, -p=x, --token=x on a command line.
_ARGUMENT_RE: Final = re.compile(
    r"""(?<![\w-])--?(?P<key>[A-Za-z][\w.-]*)(?:=|[ \t]+)"""
    r"""(?P<val>"[^"\n]*"|'[^'\n]*'|[^\s"'-][^\s"']*)"""
)
_EMAIL_RE: Final = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,63}\b"
)

_keyword_re: re.Pattern[str] | None = None


def _keyword_pattern() -> re.Pattern[str]:
    """detect-secrets' keyword denylist ("api_?key", "password", "secret", ...) as a search
    over a name in snake case."""
    global _keyword_re
    if _keyword_re is None:
        _keyword_re = re.compile("|".join(keyword_denylist()))
    return _keyword_re


def is_secret_key(name: str) -> bool:
    """True when a field, header or variable called ``name`` may hold a secret.

    Follows detect-secrets' keyword rules and adds the words of web and ops config: case-,
    ``-``/``_``/``.``- and camelCase-insensitive. ``HUB_TOKEN``, ``X-Api-Key``, ``apiKey``,
    ``Authorization``, ``Set-Cookie``, ``SSH_KEY``, ``SENTRY_DSN``, ``SLACK_WEBHOOK_URL`` and
    ``proxy_auth`` are secret; ``auth_fail_rate_1m``, ``author``, ``reason`` and ``PWD`` (the
    shell's folder) are not.
    """
    lowered = _CAMEL.sub("_", name).lower()
    words = [word for word in _WORD_SPLIT.split(lowered) if word]
    if not words:
        return False
    snake = "_".join(words)
    if snake in _NOT_SECRET_KEYS:
        return False
    joined = "".join(words)
    return (
        words[-1] in _SECRET_LAST_WORDS
        or any(s in joined for s in _SECRET_SUBSTRINGS)
        or _keyword_pattern().search(snake) is not None
    )


def can_hold_secret(value: object) -> bool:
    """False for the values a secret-named field may hold without a secret: None, bools, ""."""
    return value is not None and not isinstance(value, bool) and value != ""


_Found = tuple[int, int, str]
#: A redaction kind and the function that finds its spans.
_Detector = tuple[str, Callable[[str], Iterator[Span]]]


class Redactor:
    """Redacts known secrets, fingerprinted tokens, secret-looking fields and credentials.

    Args:
        known_secrets: exact values that must never appear (the hub token, say), in any
            encoding or as a long fragment. Blank values are ignored.
        fingerprints: tokens known only by their salted fingerprint.
        replacement: the text that replaces a secret.
        patterns: also apply the credential patterns (detect-secrets' plugins and the
            bearer, basic, JWT, URL-password and field rules). Off, only the known values
            and fingerprints are looked for, which is cheap enough for a hub's request log.
        mask_emails: also replace e-mail addresses (personal data in node ``meta``).

    Raises:
        ValueError: a known secret shorter than ``MIN_SECRET_LEN`` characters, which would
            redact ordinary words everywhere, or one that overlaps the replacement.

    Thread-safety: immutable after construction; safe to share between threads.
    """

    __slots__ = ("_detectors", "_fingerprints", "_known", "_replacement", "_scanner")

    def __init__(
        self,
        known_secrets: Iterable[str] = (),
        *,
        fingerprints: Iterable[TokenFingerprint] = (),
        replacement: str = REDACTED,
        patterns: bool = True,
        mask_emails: bool = False,
    ) -> None:
        values = [secret for secret in known_secrets if secret.strip()]
        for secret in values:
            if len(secret) < MIN_SECRET_LEN:
                # The value itself is never put in the message.
                raise ValueError(
                    f"a known secret of {len(secret)} characters is shorter than "
                    f"{MIN_SECRET_LEN} and would redact ordinary text"
                )
        self._known = KnownValues(values)
        if self._known.overlaps(replacement):
            raise ValueError("the replacement text must not overlap a known secret")
        self._replacement = replacement
        self._fingerprints = FingerprintSearch(fingerprints)
        self._scanner = CredentialScanner()
        self._detectors = self._build_detectors(patterns, mask_emails)

    def _build_detectors(self, patterns: bool, mask_emails: bool) -> tuple[_Detector, ...]:
        detectors: list[_Detector] = [
            (KNOWN_SECRET, self._known.spans),
            (KNOWN_SECRET, self._fingerprints.spans),
        ]
        if patterns:
            detectors += [
                (PRIVATE_KEY, _pattern_spans(_PEM_RE)),
                (BEARER, _pattern_spans(_BEARER_RE, "val")),
                (BASIC, _pattern_spans(_BASIC_RE, "val")),
                (JWT, _pattern_spans(_JWT_RE)),
                (URL_PASSWORD, self._keyed_spans(_URL_PASSWORD_RE, None)),
                (SECRET_FIELD, self._keyed_spans(_FIELD_RE, is_secret_key)),
                (SECRET_ARGUMENT, self._keyed_spans(_ARGUMENT_RE, is_secret_key)),
                (CREDENTIAL, self._scanner.spans),
            ]
        if mask_emails:
            detectors.append((EMAIL, _pattern_spans(_EMAIL_RE)))
        return tuple(detectors)

    @staticmethod
    def is_secret_key(name: str) -> bool:
        """See :func:`is_secret_key`."""
        return is_secret_key(name)

    @property
    def replacement(self) -> str:
        return self._replacement

    def redact_text(self, text: str) -> tuple[str, dict[str, int]]:
        """Redact ``text``.

        Returns:
            The redacted text and the number of redactions by kind (only kinds > 0).
        """
        found = self._merged(text)
        if not found:
            return text, {}
        counts: dict[str, int] = {}
        pieces: list[str] = []
        position = 0
        for start, end, kind in found:
            pieces += (text[position:start], self._replacement)
            position = end
            _add(counts, kind, 1)
        pieces.append(text[position:])
        redacted = "".join(pieces)
        if any(True for _ in self._known.spans(redacted)):
            # A replacement joined two fragments into a new occurrence (contrived): drop all.
            return self._replacement, counts
        return redacted, counts

    def redact_mapping(self, obj: object) -> tuple[object, dict[str, int]]:
        """Redact a JSON-like structure deeply, returning a new one (the input is untouched).

        A value under a secret-looking key is replaced whole, unless it is None or a bool
        (which cannot hold a secret). Other strings, and keys, go through
        :meth:`redact_text`. Two neighbouring strings that together spell a known or
        fingerprinted secret are both replaced. Objects of other types are returned as
        they are.

        Returns:
            The redacted copy and the number of redactions by kind.
        """
        counts: dict[str, int] = {}
        split = self._split_leaves(obj)
        return self._redact_value(obj, counts, split), counts

    def find_leaks(self, data: bytes | str) -> list[str]:
        """The kinds of secret found in ``data``, sorted; never the secrets themselves.

        Meant as a final gate over an output that was already redacted: an empty list
        means it is clean. E-mail addresses are masked, not gated.
        """
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        return sorted({kind for _, _, kind in self._merged(text) if kind != EMAIL})

    # -- detection ------------------------------------------------------------------------

    def _merged(self, text: str) -> list[_Found]:
        """Every detector's spans, merged where they overlap, in text order; a merged span
        takes the kind of its highest-ranked detector."""
        found = sorted((start, end, rank) for rank, (_, spans) in enumerate(self._detectors)
                       for start, end in spans(text) if end > start)
        merged: list[tuple[int, int, int]] = []
        for start, end, rank in found:
            if merged and start < merged[-1][1]:
                first, last, best = merged[-1]
                merged[-1] = (first, max(last, end), min(best, rank))
            else:
                merged.append((start, end, rank))
        return [(start, end, self._detectors[rank][0]) for start, end, rank in merged]

    def _keyed_spans(self, pattern: re.Pattern[str],
                     is_secret: Callable[[str], bool] | None) -> Callable[[str], Iterator[Span]]:
        def spans(text: str) -> Iterator[Span]:
            for match in pattern.finditer(text):
                if is_secret is not None and not is_secret(match.group("key")):
                    continue
                value = match.group("val")
                if self._is_benign(value):
                    continue
                start, end = match.span("val")
                if value[:1] in ("'", '"') and len(value) >= 2:
                    start, end = start + 1, end - 1  # keep the quotes
                yield start, end
        return spans

    def _is_benign(self, value: str) -> bool:
        """A value that cannot be a secret: empty, null, a bool, a small number, or already
        the replacement."""
        bare = value[1:-1] if value[:1] in ("'", '"') else value
        return (
            bare.lower() in _BENIGN_VALUES
            or bare == self._replacement
            or (bare.isdigit() and len(bare) < MIN_SECRET_LEN)
        )

    # -- structures -----------------------------------------------------------------------

    def _split_leaves(self, obj: object) -> set[int]:
        """The ids of string leaves that, joined with a neighbour, spell a known secret that
        neither holds whole (each half may still hold a fragment, found on its own)."""
        if not (self._known or self._fingerprints):
            return set()
        leaves = list(_string_leaves(obj))
        split: set[int] = set()
        for left, right in itertools.pairwise(leaves):
            joined = left + right
            for start, end in (*self._known.exact_spans(joined),
                               *self._fingerprints.exact_spans(joined)):
                if start < len(left) < end:
                    split.update((id(left), id(right)))
                    break
        return split

    def _redact_value(self, obj: object, counts: dict[str, int], split: set[int]) -> object:
        if isinstance(obj, str):
            if id(obj) in split:
                _add(counts, KNOWN_SECRET, 1)
                return self._replacement
            text, found = self.redact_text(obj)
            _merge(counts, found)
            return text
        if isinstance(obj, Mapping):
            return self._redact_items(obj, counts, split)
        if isinstance(obj, list):
            return [self._redact_value(item, counts, split) for item in obj]
        if isinstance(obj, tuple):
            return tuple(self._redact_value(item, counts, split) for item in obj)
        if isinstance(obj, bytes | bytearray):
            text, found = self.redact_text(bytes(obj).decode("utf-8", "replace"))
            _merge(counts, found)
            return text.encode("utf-8") if found else obj
        return obj

    def _redact_items(self, obj: Mapping[object, object], counts: dict[str, int],
                      split: set[int]) -> dict[object, object]:
        out: dict[object, object] = {}
        for key, value in obj.items():
            new_key = self._redact_value(key, counts, split) if isinstance(key, str) else key
            if isinstance(key, str) and is_secret_key(key) and can_hold_secret(value):
                _add(counts, SECRET_FIELD, 1)
                out[new_key] = self._replacement
            else:
                out[new_key] = self._redact_value(value, counts, split)
        return out


def _string_leaves(obj: object) -> Iterator[str]:
    """Every string value in ``obj`` (not the keys), depth first in order."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, Mapping):
        for value in obj.values():
            yield from _string_leaves(value)
    elif isinstance(obj, list | tuple):
        for item in obj:
            yield from _string_leaves(item)


def _pattern_spans(pattern: re.Pattern[str],
                   group: str | int = 0) -> Callable[[str], Iterator[Span]]:
    def spans(text: str) -> Iterator[Span]:
        for match in pattern.finditer(text):
            yield match.span(group)
    return spans


def _merge(into: dict[str, int], found: Mapping[str, int]) -> None:
    for kind, n in found.items():
        _add(into, kind, n)


def _add(counts: dict[str, int], kind: str, n: int) -> None:
    if n:
        counts[kind] = counts.get(kind, 0) + n
