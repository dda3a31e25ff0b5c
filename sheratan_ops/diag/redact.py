"""Redaction in layers, every layer deciding through ``otel``'s rules (``otel.Redactor``).

1. ``allowlist``: structured sources keep only known fields (done by the collectors, which
   report how many fields they dropped).
2. ``key_names``: in structured data, a value under a secret-looking key
   (:func:`otel.is_secret_key`) is replaced whole.
3. ``known_values``: the hub token (its value, or its fingerprint) and every secret value of
   the environment (:func:`otel.load_known_secrets`), in any encoding and as fragments.
4. ``patterns``: credentials by shape: private keys, bearer/basic credentials, JWTs, URL
   passwords, ``key=value`` fields and ``--option value`` arguments with a secret-looking
   name, and detect-secrets' credential plugins.
5. ``pii``: e-mail addresses, masked in every member. A bundle goes to whoever helps with
   the hub, who needs no one's address; and an address that is masked in the registry
   would otherwise still be in the audit log's path (``/nodes/alice@example.com``).
6. ``paths``: the home's absolute path becomes ``$SHERATAN_HOME``: it names the user.

Layers 2 to 5 are one ``Redactor``; its per-kind counts are filed under the layer they belong
to. The final gate (:mod:`diag.gate`) then checks the result with the same redactor.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from otel import Redactor, can_hold_secret, is_secret_key

_KNOWN_KIND = "known_secret"
_FIELD_KIND = "secret_field"
_EMAIL_KIND = "email"
_HOME_KIND = "home_path"
#: The pattern kinds of ``otel.Redactor``, listed even at zero so the manifest's shape is
#: stable.
_PATTERN_KINDS = ("basic_auth", "bearer", "credential", "jwt", "private_key",
                  "secret_argument", "secret_field", "url_password")
#: What the home's absolute path becomes in a member.
HOME_MARK = "$SHERATAN_HOME"


@dataclass(slots=True)
class RedactionCounts:
    """How many redactions each layer made, by kind. Not thread-safe: one per collector,
    merged by the run in collector order."""

    counts: dict[str, dict[str, int]] = field(default_factory=lambda: {
        "allowlist": {"dropped_fields": 0},
        "key_names": {_FIELD_KIND: 0},
        "known_values": {_KNOWN_KIND: 0},
        "patterns": dict.fromkeys(_PATTERN_KINDS, 0),
        "pii": {_EMAIL_KIND: 0},
        "paths": {_HOME_KIND: 0},
    })

    def add(self, layer: str, kind: str, n: int = 1) -> None:
        bucket = self.counts[layer]
        bucket[kind] = bucket.get(kind, 0) + n

    def add_kinds(self, found: Mapping[str, int]) -> None:
        """File ``otel.Redactor``'s counts under their layers."""
        for kind, n in found.items():
            self.add(layer_of(kind), kind, n)

    def merge(self, other: RedactionCounts) -> None:
        for layer, bucket in other.counts.items():
            for kind, n in bucket.items():
                self.add(layer, kind, n)

    def total(self) -> int:
        return sum(n for bucket in self.counts.values() for n in bucket.values())


def layer_of(kind: str) -> str:
    """The layer a redaction kind of ``otel.Redactor`` belongs to."""
    if kind == _KNOWN_KIND:
        return "known_values"
    return "pii" if kind == _EMAIL_KIND else "patterns"


class LayeredRedactor:
    """Applies layers 2 to 5 to a member and counts what each layer did.

    Args:
        redactor: the run's redactor (``KnownSecrets.redactor(mask_emails=True)``), shared
            with the gate.
        counts: where the counts go.
    """

    def __init__(self, redactor: Redactor, counts: RedactionCounts) -> None:
        self._redactor = redactor
        self._counts = counts

    def text(self, text: str) -> str:
        """Layers 3 to 5 on free text (a log tail, an error message)."""
        out, found = self._redactor.redact_text(text)
        self._counts.add_kinds(found)
        return out

    def structure(self, value: object) -> object:
        """Layers 2 to 5 on JSON-like data; returns a redacted copy."""
        by_key = secret_keyed_fields(value)
        out, found = self._redactor.redact_mapping(value)
        found = dict(found)
        # otel counts a field replaced for its key name and a key=value found in text
        # alike; the key names are counted here, the rest is the pattern's.
        found[_FIELD_KIND] = found.get(_FIELD_KIND, 0) - by_key
        self._counts.add("key_names", _FIELD_KIND, by_key)
        self._counts.add_kinds({kind: n for kind, n in found.items() if n > 0})
        return out


def secret_keyed_fields(value: object) -> int:
    """How many values ``otel.Redactor.redact_mapping`` replaces whole for their key's name:
    under a secret-looking string key, able to hold a secret, and not inside one such."""
    if isinstance(value, Mapping):
        n = 0
        for key, item in value.items():
            if isinstance(key, str) and is_secret_key(key) and can_hold_secret(item):
                n += 1
            else:
                n += secret_keyed_fields(item)
        return n
    if isinstance(value, list | tuple):
        return sum(secret_keyed_fields(item) for item in value)
    return 0


class HomePaths:
    """Replaces the home's absolute path (as given and resolved, plain and JSON-escaped)
    with ``$SHERATAN_HOME`` in member bytes.

    A home that is the root (or has no name) is left alone: replacing ``/`` would mangle
    every path.
    """

    def __init__(self, home: Path) -> None:
        forms = set()
        for base in home_forms(home):
            text = str(base)
            if base.name:
                forms.update({text, json.dumps(text, ensure_ascii=False)[1:-1]})
        ordered = sorted((form.encode("utf-8", "surrogateescape") for form in forms),
                         key=len, reverse=True)
        # Not followed by a name character: /tmp/home must not eat /tmp/home2's prefix.
        self._pattern = (re.compile(b"(?:" + b"|".join(map(re.escape, ordered))
                                    + rb")(?![\w.\-])") if ordered else None)

    def scrub(self, data: bytes, counts: RedactionCounts | None = None) -> bytes:
        """``data`` with the home's path replaced; counted under ``paths`` when given."""
        if self._pattern is None:
            return data
        out, n = self._pattern.subn(HOME_MARK.encode("ascii"), data)
        if counts is not None and n:
            counts.add("paths", _HOME_KIND, n)
        return out


def home_forms(home: Path) -> list[Path]:
    """The home's absolute path as given and as resolved (symlinks followed)."""
    forms = [home.absolute()]
    # A symlink loop cannot be resolved: the absolute form is all there is then.
    with contextlib.suppress(OSError, RuntimeError):
        forms.append(home.resolve())
    return forms
