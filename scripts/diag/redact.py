"""Redaction in layers, every layer deciding through ``otel``'s rules (``otel.Redactor``).

1. ``allowlist``: structured sources keep only known fields (done by the collectors, which
   report how many fields they dropped).
2. ``key_names``: in structured data, a value under a secret-looking key
   (:func:`otel.is_secret_key`) is replaced whole.
3. ``known_values``: the live token (``HUB_TOKEN`` or the token file) and every environment
   value whose name looks secret are replaced wherever they appear.
4. ``patterns``: bearer/basic credentials, JWTs, passwords in URLs and ``key=value`` pairs
   with a secret-looking key (otel's pattern set).

Layers 3 and 4 are ``Redactor.redact_text``; its per-kind counts are filed under the layer
they belong to. The final gate (:mod:`diag.gate`) then checks the result independently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from otel import MIN_SECRET_LEN, REDACTED, Redactor, can_hold_secret, is_secret_key

#: otel.Redactor's count kinds, by layer. ``secret_field`` in text is the ``key=value`` pattern.
_PATTERN_KINDS = ("basic_auth", "bearer", "jwt", "secret_field", "url_password")
_KNOWN_KIND = "known_secret"
#: The token file is a single line; reading more could only pull in garbage.
_TOKEN_FILE_MAX_BYTES = 4096


@dataclass(frozen=True, slots=True)
class KnownSecrets:
    """The exact values that must never reach a bundle.

    ``too_short`` counts secret-named values the value gate cannot look for: shorter than
    otel's ``MIN_SECRET_LEN`` (they would match ordinary words) or part of the ``[REDACTED]``
    marker itself. The patterns still apply to them. Only the count is kept, never a name.
    """

    values: tuple[str, ...]
    too_short: int = 0

    def __repr__(self) -> str:  # keep the values out of tracebacks and debug output
        return f"KnownSecrets(<{len(self.values)} values>, too_short={self.too_short})"


def gather_known_secrets(env: Mapping[str, str], token_file: Path) -> KnownSecrets:
    """``HUB_TOKEN``, the token file's content and every secret-named env value.

    Args:
        env: the environment diagnose runs in.
        token_file: ``$SHERATAN_HOME/secrets/hub_token``; a missing or unreadable file is
            skipped (there is nothing there to leak).
    """
    candidates: list[str] = []
    for name, value in env.items():
        if name == "HUB_TOKEN" or is_secret_key(name):
            candidates.append(value.strip())
    try:
        with token_file.open("rb") as handle:
            candidates.append(handle.read(_TOKEN_FILE_MAX_BYTES).decode("utf-8", "replace")
                              .strip())
    except OSError:
        pass
    values: set[str] = set()
    too_short = 0
    for value in candidates:
        if not value:
            continue
        if len(value) < MIN_SECRET_LEN:
            too_short += 1
        elif value in REDACTED:
            # otel refuses a secret that overlaps the marker; such a value ("REDACTED")
            # cannot be told apart from our own output anyway.
            too_short += 1
        else:
            values.add(value)
    return KnownSecrets(tuple(sorted(values)), too_short)


@dataclass(slots=True)
class RedactionCounts:
    """How many redactions each layer made, by kind. Not thread-safe: one per run."""

    counts: dict[str, dict[str, int]] = field(default_factory=lambda: {
        "allowlist": {"dropped_fields": 0},
        "key_names": {"secret_field": 0},
        "known_values": {_KNOWN_KIND: 0},
        "patterns": dict.fromkeys(_PATTERN_KINDS, 0),
    })

    def add(self, layer: str, kind: str, n: int = 1) -> None:
        bucket = self.counts[layer]
        bucket[kind] = bucket.get(kind, 0) + n

    def add_text_kinds(self, found: Mapping[str, int]) -> None:
        for kind, n in found.items():
            self.add("known_values" if kind == _KNOWN_KIND else "patterns", kind, n)

    def total(self) -> int:
        return sum(n for bucket in self.counts.values() for n in bucket.values())


class LayeredRedactor:
    """Applies layers 2 to 4 to a member and counts what each layer did.

    Args:
        secrets: the known values (layer 3).
        counts: where the counts go.
    """

    def __init__(self, secrets: KnownSecrets, counts: RedactionCounts) -> None:
        self._redactor = Redactor(secrets.values)
        self._counts = counts

    def text(self, text: str) -> str:
        """Layers 3 and 4 on free text (a log tail)."""
        out, found = self._redactor.redact_text(text)
        self._counts.add_text_kinds(found)
        return out

    def structure(self, value: object) -> object:
        """Layers 2 to 4 on JSON-like data; returns a redacted copy."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            out: dict[str, object] = {}
            for key, item in value.items():
                new_key = self.text(str(key))
                if is_secret_key(str(key)) and can_hold_secret(item):
                    self._counts.add("key_names", "secret_field")
                    out[new_key] = REDACTED
                else:
                    out[new_key] = self.structure(item)
            return out
        if isinstance(value, list | tuple):
            return [self.structure(item) for item in value]
        return value
