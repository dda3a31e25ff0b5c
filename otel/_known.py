"""Finding known secrets in text: exact values, their encodings, fragments, and fingerprints.

A secret rarely leaks in the form it was given. A client base64-encodes it into a Basic
header, a URL percent-encodes it, JSON and Python's ``unicode_escape`` (the hub's access log)
escape it, a hex dump spells it out, or two fields each hold half of it. This module finds
all of those, for values it is told (:class:`KnownValues`) and for a token it only has a
salted fingerprint of (:class:`FingerprintSearch`). Both report spans; the redactor decides
what to do with them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Final
from urllib.parse import quote, quote_plus, unquote

from ._scanner import fragment_len, token_runs

if TYPE_CHECKING:
    from ._fingerprint import TokenFingerprint

__all__ = ["FingerprintSearch", "KnownValues", "Span", "covered", "encoded_forms",
           "encoded_runs_holding"]

Span = tuple[int, int]
#: Encoded runs that may hold a fingerprinted token once decoded.
_BASE64_RUN: Final = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX_RUN: Final = re.compile(r"(?:[0-9a-fA-F]{2}){8,}")
# A backslash may be doubled (or more): JSON escapes the backslash of a \u escape again.
_ESCAPED_RUN: Final = re.compile(
    r"(?:%[0-9A-Fa-f]{2}|\\+u[0-9A-Fa-f]{4}|\\+x[0-9A-Fa-f]{2}|[A-Za-z0-9\-._~+/=])+")
#: How many layers of backslash escapes are undone.
_MAX_UNESCAPES: Final = 3


def encoded_forms(secret: str) -> set[str]:
    """The forms ``secret`` takes in URLs, JSON, Python escapes, base64 and hex.

    Base64 forms are the characters that depend on the secret alone, at each of the three
    alignments it can have inside a longer encoded string (``user:secret`` in a Basic
    header), so they are found inside longer base64 too.
    """
    raw = secret.encode("utf-8", "surrogatepass")
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        secret.encode("unicode_escape").decode("ascii"),
        "".join(f"\\u{ord(c):04x}" for c in secret),
        "".join(f"\\u{ord(c):04X}" for c in secret),
        raw.hex(),
        raw.hex().upper(),
    }
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw).decode("ascii")
        core = encoded[-(-8 * pad // 6) : 8 * (pad + len(raw)) // 6]
        forms.add(core)
        forms.add(core.replace("+", "-").replace("/", "_"))
    return {form for form in forms if form}


class KnownValues:
    """Finds known secret values: whole, encoded, or as a long enough fragment.

    Args:
        values: the secrets, at least 8 characters each (checked by the caller).

    Thread-safety: immutable after construction.
    """

    __slots__ = ("_forms", "_fragments", "_min_len", "_pattern")

    def __init__(self, values: Iterable[str]) -> None:
        values = list(values)
        forms: set[str] = set()
        fragments: dict[int, set[str]] = {}
        for value in values:
            forms |= encoded_forms(value)
            for run in token_runs(value, 1):
                size = fragment_len(len(run.group()))
                if not size:
                    continue
                grams = fragments.setdefault(size, set())
                grams.update(run.group()[i : i + size]
                             for i in range(len(run.group()) - size + 1))
        # Longest first, so a secret that contains another is matched whole.
        ordered = sorted(forms, key=len, reverse=True)
        self._forms = tuple(ordered)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._fragments = {size: frozenset(grams) for size, grams in fragments.items()}
        self._min_len = min(map(len, values), default=0)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def overlaps(self, replacement: str) -> bool:
        """True when ``replacement`` contains a form, or a form contains it."""
        return any(replacement in form or form in replacement for form in self._forms)

    def exact_spans(self, text: str) -> Iterator[Span]:
        """Each whole or encoded occurrence."""
        if self._pattern is not None:
            for match in self._pattern.finditer(text):
                yield match.span()

    def spans(self, text: str) -> Iterator[Span]:
        """Whole and encoded occurrences, encoded runs that hold one once decoded, and the
        stretches of token runs covered by fragments."""
        if self._pattern is None:
            return
        yield from self.exact_spans(text)
        yield from encoded_runs_holding(text, self.exact_spans, self._min_len)
        for size, grams in self._fragments.items():
            for run in token_runs(text, size):
                yield from covered(run, size, grams.__contains__)


def covered(run: re.Match[str], size: int, is_fragment: Callable[[str], bool]) -> Iterator[Span]:
    """The stretches of ``run`` made of ``size``-character fragments of a secret: a secret's
    half is redacted, not the path around it."""
    chars, offset = run.group(), run.start()
    start = end = -1
    for i in range(len(chars) - size + 1):
        if not is_fragment(chars[i : i + size]):
            continue
        if i > end:
            if end > start:
                yield offset + start, offset + end
            start = i
        end = i + size
    if end > start:
        yield offset + start, offset + end


class FingerprintSearch:
    """Finds a token it knows only by its fingerprint: any run of the token alphabet that
    holds a window of the token's length whose salted hash matches, as it is or once
    decoded from base64, hex, percent-encoding or backslash escapes.

    Thread-safety: immutable after construction.
    """

    __slots__ = ("_fingerprints", "_min_len")

    def __init__(self, fingerprints: Iterable[TokenFingerprint]) -> None:
        self._fingerprints = tuple(fingerprints)
        self._min_len = min((fp.length for fp in self._fingerprints), default=0)

    def __bool__(self) -> bool:
        return bool(self._fingerprints)

    def spans(self, text: str) -> Iterator[Span]:
        """The token's plain occurrences, encoded runs that hold it, and the stretches of
        token runs made of its windows (a fragment of it)."""
        if not self._fingerprints:
            return
        yield from self.exact_spans(text)
        yield from encoded_runs_holding(text, self.exact_spans, self._min_len)
        for fingerprint in self._fingerprints:
            if fingerprint.window:
                for run in token_runs(text, fingerprint.window):
                    yield from covered(run, fingerprint.window, fingerprint.is_window)

    def exact_spans(self, text: str) -> Iterator[Span]:
        """Each plain occurrence of the token."""
        if not self._fingerprints:
            return
        for run in token_runs(text, self._min_len):
            start, chars = run.start(), run.group()
            for fingerprint in self._fingerprints:
                size = fingerprint.length
                for i in range(len(chars) - size + 1):
                    if fingerprint.matches(chars[i : i + size]):
                        yield start + i, start + i + size


def encoded_runs_holding(text: str, find: Callable[[str], Iterator[Span]],
                         min_len: int) -> Iterator[Span]:
    """The base64, hex and escaped runs of ``text`` in whose decoded form ``find`` finds
    something it does not find in the run as it is.

    Args:
        min_len: the shortest thing ``find`` finds: shorter runs cannot hold it encoded.
    """
    for pattern, decode, chars_per_char in _DECODERS:
        shortest = chars_per_char * min_len
        for match in pattern.finditer(text):
            run = match.group()
            if len(run) < shortest:
                continue
            if any(_finds(find, decoded) for decoded in decode(run)) and not _finds(find, run):
                yield match.span()


def _finds(find: Callable[[str], Iterator[Span]], text: str) -> bool:
    return any(True for _ in find(text))


def _base64(text: str) -> Iterator[str]:
    # At each of the four character alignments: a run may start mid-quantum, inside
    # a longer encoded string.
    stripped = text.rstrip("=").replace("+", "-").replace("/", "_")
    for skip in range(4):
        part = stripped[skip:]
        part = part[: len(part) - 1] if len(part) % 4 == 1 else part + "=" * (-len(part) % 4)
        try:
            yield _ascii(base64.urlsafe_b64decode(part))
        except (binascii.Error, ValueError):
            continue


def _hex(text: str) -> Iterator[str]:
    yield _ascii(bytes.fromhex(text))


def _unescape(text: str) -> Iterator[str]:
    if "%" not in text and "\\" not in text:
        return
    for _ in range(_MAX_UNESCAPES):
        if "\\" not in text:
            break
        try:
            text = text.encode("ascii", "backslashreplace").decode("unicode_escape")
        except (UnicodeError, ValueError):
            return
    yield unquote(text)


def _ascii(raw: bytes) -> str:
    # A token is ASCII: anything else in the decoded bytes only separates candidates.
    return raw.decode("ascii", "replace").replace("\ufffd", " ")


#: Each encoding's runs, its decoder, and how many encoded characters one character takes
#: at least (base64 takes 4 for 3, rounded down to be safe).
_DECODERS: Final[tuple[tuple[re.Pattern[str], Callable[[str], Iterator[str]], int], ...]] = (
    (_BASE64_RUN, _base64, 1), (_HEX_RUN, _hex, 2), (_ESCAPED_RUN, _unescape, 1))
