"""Turning one collector's output into bundle bytes, inside that collector's error isolation.

Redaction and serialization run on data from outside (a node's ``meta``, a log line). When
either fails on one collector's output, that collector gets placeholders and an error, as
when the collector itself fails, and every other member is still written. Values strict
JSON cannot hold (NaN, a lone surrogate) do not even get that far: :func:`json_safe`
replaces them, and the manifest counts them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from otel import Redactor

from .bundle import canonical_json
from .collectors import Result
from .jsonsafe import json_safe
from .output import ERROR
from .redact import HomePaths, LayeredRedactor, RedactionCounts


@dataclass(frozen=True, slots=True)
class Finished:
    """A collector's members as bytes, its manifest entry, and the redactions made."""

    members: dict[str, bytes]
    entry: dict[str, Any]
    counts: RedactionCounts


def finish(result: Result, owed: Sequence[str], *, redactor: Redactor, home: HomePaths,
           reproducible: bool) -> Finished:
    """Redact and serialize ``result``; on failure, placeholders for its members.

    Args:
        result: what the collector returned.
        owed: the members the collector always produces.
        redactor: the run's redactor.
        home: the home-path scrubber.
        reproducible: durations are recorded as null (``SOURCE_DATE_EPOCH``).
    """
    counts = RedactionCounts()
    try:
        return _finish(result, LayeredRedactor(redactor, counts), home, counts, reproducible)
    except Exception as exc:  # one collector's data must not cost the other members
        return _placeholders(result, owed, exc, reproducible)


def _finish(result: Result, layered: LayeredRedactor, home: HomePaths,
            counts: RedactionCounts, reproducible: bool) -> Finished:
    output = result.output
    counts.add("allowlist", "dropped_fields", output.dropped_fields)
    members: dict[str, bytes] = {}
    replaced = 0
    for name, member in sorted(output.members.items()):
        if isinstance(member, bytes):
            data = layered.text(member.decode("utf-8", "replace")).encode("utf-8")
        else:
            safe, n = json_safe(member)
            replaced += n
            data = canonical_json(layered.structure(safe))
        members[name] = home.scrub(data, counts)
    detail, n = json_safe(output.detail)
    notes = [layered.text(output.note)] if output.note else []
    if replaced + n:
        notes.append(f"{replaced + n} value(s) strict JSON cannot hold (NaN, Infinity, a "
                     "lone surrogate) replaced by a string")
    entry = _entry(result, reproducible, status=output.status,
                   error=layered.text(output.error) if output.error else None,
                   note="; ".join(notes) or None, members=sorted(members))
    entry["detail"] = layered.structure(detail)
    if replaced + n:
        entry["replaced_values"] = replaced + n
    return Finished(members, entry, counts)


def _placeholders(result: Result, owed: Sequence[str], exc: Exception,
                  reproducible: bool) -> Finished:
    # Only the exception's class: its message may quote the data that could not be handled.
    error = f"the collected data could not be redacted or serialized ({type(exc).__name__})"
    names = sorted(set(owed) | set(result.output.members))
    placeholder = canonical_json({"collector": result.name, "error": error})
    members = {name: placeholder if name.endswith(".json") else b"" for name in names}
    entry = _entry(result, reproducible, status=ERROR, error=error, note=None, members=names)
    entry["detail"] = {}
    return Finished(members, entry, RedactionCounts())


def _entry(result: Result, reproducible: bool, *, status: str, error: str | None,
           note: str | None, members: list[str]) -> dict[str, Any]:
    return {
        "status": status,
        "error": error,
        "note": note,
        # Durations differ run to run; with SOURCE_DATE_EPOCH they would break byte
        # identity, so they are null then (documented in the manifest's format).
        "duration_ms": None if reproducible else round(result.duration_s * 1000, 1),
        "members": members,
    }
