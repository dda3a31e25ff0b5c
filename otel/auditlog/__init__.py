"""Reading a hub's security audit log: the exactly-once tailer, the line decoder and the
audit format, shared by the watcher (alerts) and the metrics layer (security rates).

The log is read by polling, never held open between polls, never locked or written; it
survives rotation by rename, copytruncate, truncation, deletion and a log that does not
exist yet (see :class:`Tailer`).
"""

from __future__ import annotations

from otel.auditlog._format import (
    AUDIT_EVENTS,
    AUDIT_FIELDS,
    AuditFormat,
    AuditFormatError,
    TsFormat,
    load_audit_format,
    parse_audit_format,
)
from otel.auditlog._lookback import ReadBack, lookback_offset, read_back
from otel.auditlog._record import AuditRecord, LineCounts, RecordDecoder
from otel.auditlog._tail import (
    DEFAULT_READ_BYTES,
    KEEP_ROTATED,
    MAX_LINE_BYTES,
    Chunk,
    Cursor,
    Split,
    TailCounts,
    Tailer,
    is_int64,
    iter_file_lines,
    split_lines,
)

__all__ = [
    "AUDIT_EVENTS",
    "AUDIT_FIELDS",
    "DEFAULT_READ_BYTES",
    "KEEP_ROTATED",
    "MAX_LINE_BYTES",
    "AuditFormat",
    "AuditFormatError",
    "AuditRecord",
    "Chunk",
    "Cursor",
    "LineCounts",
    "ReadBack",
    "RecordDecoder",
    "Split",
    "TailCounts",
    "Tailer",
    "TsFormat",
    "is_int64",
    "iter_file_lines",
    "load_audit_format",
    "lookback_offset",
    "parse_audit_format",
    "read_back",
    "split_lines",
]
