"""The audit format: another hub's field names, time format and event names, validated."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from otel.auditlog import (
    AUDIT_FIELDS,
    AuditFormat,
    AuditFormatError,
    RecordDecoder,
    TsFormat,
    load_audit_format,
    parse_audit_format,
)
from watcher import Counters

MAPPED = {"fields": {"event": "type", "client": "ip", "ts": "time", "reason": "why"},
          "ts_format": "epoch_s",
          "events": {"AUTH_FAILURE": "auth.failed", "PORT_MISMATCH": "wrong_port"}}


def test_the_default_is_the_contract_line() -> None:
    fmt = AuditFormat()
    assert fmt.is_contract
    assert dict(fmt.fields) == {name: name for name in AUDIT_FIELDS}
    assert parse_audit_format({}) == fmt


def test_a_mapping_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "audit_format.json"
    path.write_text(json.dumps(MAPPED))
    fmt = load_audit_format(path)
    assert not fmt.is_contract
    assert fmt.fields["event"] == "type" and fmt.fields["plane"] == "plane"
    assert fmt.ts_format is TsFormat.EPOCH_S
    assert dict(fmt.events) == {"auth.failed": "AUTH_FAILURE", "wrong_port": "PORT_MISMATCH"}


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ([], "(file)"),
        ({"colour": 1}, "colour"),
        ({"fields": []}, "fields"),
        ({"fields": {"user": "u"}}, "fields.user"),
        ({"fields": {"client": ""}}, "fields.client"),
        ({"fields": {"client": 7}}, "fields.client"),
        ({"fields": {"client": "x" * 129}}, "fields.client"),
        ({"fields": {"client": "event"}}, "fields.client"),
        ({"fields": {"client": "ip", "path": "ip"}}, "fields.path"),
        ({"ts_format": "iso"}, "ts_format"),
        ({"events": {"LOGIN": "x"}}, "events.LOGIN"),
        ({"events": {"AUTH_FAILURE": "x", "PORT_MISMATCH": "x"}}, "events.PORT_MISMATCH"),
    ],
)
def test_a_bad_format_names_the_field(doc: object, field: str) -> None:
    with pytest.raises(AuditFormatError) as info:
        parse_audit_format(doc)
    assert info.value.field == field


@pytest.mark.parametrize("content", [b"{", b"\xff", b"[" * 100_000, b" " * 70_000])
def test_a_file_that_is_not_a_format_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "audit_format.json"
    path.write_bytes(content)
    with pytest.raises(AuditFormatError, match="audit_format"):
        load_audit_format(path)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AuditFormatError, match="cannot read"):
        load_audit_format(tmp_path / "absent.json")


def _decode(fmt: AuditFormat, line: dict[str, object]) -> tuple[Any, Counters]:
    """The record (with its extra fields as attributes) and what was counted."""
    counters = Counters()
    decoder = RecordDecoder(["reason"], counters, audit_format=fmt)
    record = decoder.careful(json.dumps(line).encode())
    return record, counters


def test_lines_with_other_names_decode_to_contract_records() -> None:
    fmt = parse_audit_format(MAPPED)
    record, _ = _decode(fmt, {"time": 1764411302.5, "type": "auth.failed", "ip": "10.0.0.7",
                              "why": "invalid_token", "event": "ignored"})
    assert record.ts == datetime(2025, 11, 29, 10, 15, 2, 500000, tzinfo=UTC)
    assert record.event == "AUTH_FAILURE"
    assert record.client == "10.0.0.7"
    assert record.reason == "invalid_token"


def test_epoch_milliseconds_and_unmapped_events() -> None:
    fmt = parse_audit_format({"ts_format": "epoch_ms", "events": {"AUTH_FAILURE": "a"}})
    record, _ = _decode(fmt, {"ts": 1764411302500, "event": "SOMETHING_ELSE"})
    assert record.ts == datetime(2025, 11, 29, 10, 15, 2, 500000, tzinfo=UTC)
    assert record.event == "SOMETHING_ELSE"


@pytest.mark.parametrize(
    ("fmt", "line"),
    [
        ({"ts_format": "epoch_s"}, {"ts": "yesterday", "event": "AUTH_FAILURE"}),
        ({"ts_format": "epoch_ms"}, {"ts": 1e30, "event": "AUTH_FAILURE"}),
        ({"ts_format": "epoch_ms"}, {"ts": "1764411302500", "event": "AUTH_FAILURE"}),
        ({"fields": {"event": "type"}}, {"ts": "2026-11-29T10:15:02Z", "event": "AUTH_FAILURE"}),
        ({}, {"ts": 1764411302, "event": "AUTH_FAILURE"}),
    ],
)
def test_a_line_that_breaks_its_format_is_an_invalid_event(
    fmt: dict[str, object], line: dict[str, object]
) -> None:
    record, counters = _decode(parse_audit_format(fmt), line)
    assert record is None
    assert counters.invalid_events == 1
