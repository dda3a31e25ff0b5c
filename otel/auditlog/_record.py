"""Audit lines decoded into just the fields the rules read.

The hot path is msgspec decoding an ASCII line straight into a small struct: unknown fields
are checked as JSON and skipped without building objects, and ``ts`` is parsed as an
RFC 3339 timestamp in C. Everything else (non-ASCII lines, type mismatches, malformed JSON)
takes :meth:`RecordDecoder.careful`, which adds the UTF-8 check the fast path skips and tells
a parse error from an invalid event. Both read numbers in fields no rule reads only as JSON
syntax: JSON itself sets no bound on them.

Lines are read through an :class:`AuditFormat` (the contract's line unless told otherwise):
fields are renamed in the decoder itself, epoch seconds are read by msgspec too, and only
epoch milliseconds and renamed events cost a step per line.

What a valid audit line is:

- a JSON object (RFC 8259; the fields the rules don't read are checked too);
- ``ts`` an RFC 3339 timestamp with its zone (``Z`` or an offset), as the hub writes it (or
  epoch seconds or milliseconds, as the format says); a fraction beyond microseconds is
  rounded to the nearest one;
- ``event`` a string;
- the other fields the rules read (``client``, ``group_by`` fields) of any JSON type, but a
  number there must fit a Python int or float (JSON sets no bound, so this depends on the
  rules: elsewhere such a number is only checked as JSON syntax).

A line that is not a JSON object is a parse error; an object that breaks the other rules is
an invalid event. A blank line is neither.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Protocol, cast

import msgspec

from otel.auditlog._format import AuditFormat, TsFormat

_TIMESTAMP = Annotated[datetime, msgspec.Meta(tz=True)]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
        fields: the other fields read (``group_by`` fields; ``client`` is always read);
            each is an attribute of the record, None when the line lacks it.
        counts: where :meth:`careful` counts parse errors and invalid events.
        audit_format: the names and time format of the lines; records always carry the
            contract's names, ``ts`` as an aware datetime and contract event names.
    """

    __slots__ = ("_counts", "decode")

    def __init__(self, fields: Iterable[str], counts: LineCounts, *,
                 audit_format: AuditFormat | None = None) -> None:
        fmt = audit_format if audit_format is not None else AuditFormat()
        names = tuple(f for f in dict.fromkeys(("client", *fields)) if f not in ("ts", "event"))
        ts_type: Any = float if fmt.ts_format is TsFormat.EPOCH_MS else _TIMESTAMP
        record = msgspec.defstruct(
            "AuditRecord",
            [("ts", ts_type), ("event", str), *((name, Any, None) for name in names)],
            rename=fmt.renames(("ts", "event", *names)),
            gc=False,  # values come from JSON: no reference cycles to collect
        )
        self._counts = counts
        # Epoch seconds are read as a datetime by msgspec's lax mode, which changes nothing
        # else here: event is a str either way, and the other fields take any JSON value.
        decoder = msgspec.json.Decoder(record, strict=fmt.ts_format is not TsFormat.EPOCH_S)
        #: The fast path, for ASCII lines: raises ``msgspec.DecodeError`` (a ValidationError
        #: when the JSON is fine so far but a field is not), or RecursionError when deeply
        #: nested. Any of these goes to :meth:`careful`. How deep is too deep depends on how
        #: much of Python's recursion limit the caller's stack already uses: a line nested
        #: about 985 levels (only a hand-made line; the hub writes strings) may be read by
        #: one caller and be a parse error to another (``--replay`` and ``--once``).
        self.decode: Callable[[bytes], AuditRecord] = cast(
            "Callable[[bytes], AuditRecord]",
            _mapped(decoder.decode, fmt) if _needs_mapping(fmt) else decoder.decode)

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


def _needs_mapping(fmt: AuditFormat) -> bool:
    return fmt.ts_format is TsFormat.EPOCH_MS or bool(fmt.events)


def _mapped(decode: Callable[[bytes], Any], fmt: AuditFormat) -> Callable[[bytes], Any]:
    """``decode`` followed by what msgspec cannot do itself: milliseconds to a datetime,
    and event names to the contract's."""
    events: Mapping[str, str] = fmt.events
    millis = fmt.ts_format is TsFormat.EPOCH_MS

    def decode_mapped(line: bytes) -> Any:
        record = decode(line)
        if millis:
            record.ts = _from_millis(record.ts)
        if events:
            record.event = events.get(record.event, record.event)
        return record

    return decode_mapped


def _from_millis(value: float) -> datetime:
    try:
        return _EPOCH + timedelta(milliseconds=value)
    except (OverflowError, ValueError):
        # Out of datetime's range (or NaN): an invalid event, as for any bad ts.
        raise msgspec.ValidationError("ts: epoch milliseconds out of range") from None
