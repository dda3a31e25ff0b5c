"""Audit lines decoded into just the fields the rules read.

The hot path is msgspec decoding an ASCII line straight into a small struct: unknown fields
are checked as JSON and skipped without building objects, and ``ts`` is parsed as an
RFC 3339 timestamp in C. Everything else (non-ASCII lines, type mismatches, malformed JSON)
takes :meth:`RecordDecoder.careful`, which adds the UTF-8 check the fast path skips and tells
a parse error from an invalid event. Both read numbers in fields no rule reads only as JSON
syntax: JSON itself sets no bound on them.

What a valid audit line is:

- a JSON object (RFC 8259; the fields the rules don't read are checked too);
- ``ts`` an RFC 3339 timestamp with its zone (``Z`` or an offset), as the hub writes it; a
  fraction beyond microseconds is rounded to the nearest one;
- ``event`` a string;
- the other fields the rules read (``client``, ``group_by`` fields) of any JSON type, but a
  number there must fit a Python int or float (JSON sets no bound, so this depends on the
  rules: elsewhere such a number is only checked as JSON syntax).

A line that is not a JSON object is a parse error; an object that breaks the other rules is
an invalid event. A blank line is neither.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Annotated, Any, Protocol, cast

import msgspec

_TIMESTAMP = Annotated[datetime, msgspec.Meta(tz=True)]


class AuditRecord(Protocol):
    """What the engine reads of a line; the struct has one more attribute per extra field."""

    ts: datetime
    event: str
    client: Any  # any JSON value; the rules' caches look up strings only


class LineCounts(Protocol):
    parse_errors: int
    invalid_events: int


class RecordDecoder:
    """Decodes audit lines into records of ``ts``, ``event`` and the given fields.

    Args:
        fields: the other fields the rules read (``group_by`` fields; ``client`` is always
            read); each is an attribute of the record, None when the line lacks it.
        counts: where :meth:`careful` counts parse errors and invalid events.
    """

    __slots__ = ("_counts", "decode")

    def __init__(self, fields: Iterable[str], counts: LineCounts) -> None:
        names = [f for f in dict.fromkeys(("client", *fields)) if f not in ("ts", "event")]
        record = msgspec.defstruct(
            "AuditRecord",
            [("ts", _TIMESTAMP), ("event", str), *((name, Any, None) for name in names)],
            gc=False,  # values come from JSON: no reference cycles to collect
        )
        self._counts = counts
        #: The fast path, for ASCII lines: raises ``msgspec.DecodeError`` (a ValidationError
        #: when the JSON is fine so far but a field is not), or RecursionError when deeply
        #: nested. Any of these goes to :meth:`careful`.
        self.decode: Callable[[bytes], AuditRecord] = cast(
            "Callable[[bytes], AuditRecord]", msgspec.json.Decoder(record).decode)

    def careful(self, line: bytes) -> AuditRecord | None:
        """Decodes any line; counts it and returns None when it is no valid audit event.

        A line of valid UTF-8 gets exactly the fast path's verdict: the fast path only skips
        the UTF-8 check, which is redundant for ASCII. What it rejects is then told apart:
        JSON that is an object is an invalid event, anything else a parse error.
        """
        try:
            line.decode()
        except UnicodeDecodeError:
            self._counts.parse_errors += 1
            return None
        try:
            return self.decode(line)
        except (msgspec.DecodeError, RecursionError):
            pass
        try:
            msgspec.json.decode(line, type=msgspec.Raw)  # checks the JSON, builds nothing
        except (msgspec.DecodeError, RecursionError):
            if line.strip():
                self._counts.parse_errors += 1
            return None
        if line.lstrip()[:1] == b"{":
            self._counts.invalid_events += 1
        else:
            self._counts.parse_errors += 1
        return None
