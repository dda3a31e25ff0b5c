"""Making collected data encodable as the bundle's strict JSON, value by value.

``canonical_json`` refuses NaN and the infinities (``allow_nan=False``: they are not JSON)
and strings that cannot be UTF-8 (a lone surrogate, which ``json.loads`` accepts from a
``\\ud800`` escape). A node's ``meta`` may hold any of them. Rather than lose the member,
each such value is replaced, and counted, so the rest survives and the manifest says so.
"""

from __future__ import annotations

import math
from typing import Any

#: What a non-finite number becomes: its name, as a string.
_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def json_safe(value: Any) -> tuple[Any, int]:
    """A copy of ``value`` that strict JSON can encode, and how many values were replaced.

    NaN and the infinities become the strings ``"NaN"``, ``"Infinity"`` and
    ``"-Infinity"``; a lone surrogate in a string (or key) becomes U+FFFD. The input is
    not changed.
    """
    counter = [0]
    return _safe(value, counter), counter[0]


def _safe(value: Any, counter: list[int]) -> Any:
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        counter[0] += 1
        return _NON_FINITE[repr(value)]
    if isinstance(value, str):
        return _safe_text(value, counter)
    if isinstance(value, dict):
        return {_safe(key, counter): _safe(item, counter) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_safe(item, counter) for item in value]
    return value


def _safe_text(text: str, counter: list[int]) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        counter[0] += 1
        # Paired surrogates become their character; a lone one becomes U+FFFD.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text
