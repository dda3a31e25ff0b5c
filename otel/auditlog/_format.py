"""Audit format: how a hub's audit lines map onto the contract's audit line.

The contract's line (CONTRACT section 2) has ``ts`` (RFC 3339 with its zone), ``event``
(``AUTH_FAILURE``, ``PORT_MISMATCH``, ``LEAK_BLOCKED``), ``plane``, ``port``, ``client``,
``method``, ``path``, ``reason`` and ``expected_port``. A hub written before this layer may
call them otherwise (``type`` for ``event``, ``ip`` for ``client``), stamp its lines in epoch
seconds, or name its events differently. A small JSON file says so, and the watcher and the
metrics layer both read lines through it::

    {"fields": {"event": "type", "client": "ip", "ts": "time"},
     "ts_format": "epoch_s",
     "events": {"AUTH_FAILURE": "auth.failed", "PORT_MISMATCH": "wrong_port"}}

Every key is optional; the defaults are the contract's line. The file is validated when it
is loaded: a bad one raises :class:`AuditFormatError` naming the field, and the tools exit 2.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final

import msgspec

from otel._files import read_small_regular

__all__ = [
    "AUDIT_EVENTS",
    "AUDIT_FIELDS",
    "AuditFormat",
    "AuditFormatError",
    "TsFormat",
    "load_audit_format",
    "parse_audit_format",
]

#: The contract's audit line fields and events.
AUDIT_FIELDS: Final = ("ts", "event", "plane", "port", "client", "method", "path", "reason",
                       "expected_port")
AUDIT_EVENTS: Final = ("AUTH_FAILURE", "PORT_MISMATCH", "LEAK_BLOCKED")
_TOP_KEYS: Final = ("fields", "ts_format", "events")
#: A format file is a few hundred bytes.
_MAX_FILE_BYTES: Final = 64 * 1024
_MAX_NAME_CHARS: Final = 128


class TsFormat(enum.StrEnum):
    """How a line's time is written."""

    RFC3339 = "rfc3339"
    EPOCH_S = "epoch_s"
    EPOCH_MS = "epoch_ms"


class AuditFormatError(ValueError):
    """A bad audit format file.

    Attributes:
        field: the bad field, as a path (``fields.client``).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class AuditFormat:
    """The names and time format of a hub's audit lines.

    Attributes:
        fields: contract field -> the name in the line, for every contract field.
        ts_format: how ``ts`` is written.
        events: the name in the line -> contract event, for events named otherwise.
    """

    fields: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({name: name for name in AUDIT_FIELDS}))
    ts_format: TsFormat = TsFormat.RFC3339
    events: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def is_contract(self) -> bool:
        """True when lines are the contract's own (no renaming, RFC 3339, event names)."""
        return (self.ts_format is TsFormat.RFC3339 and not self.events
                and all(name == line for name, line in self.fields.items()))

    def renames(self, names: tuple[str, ...]) -> dict[str, str]:
        """For a struct of contract ``names``: those whose name in the line differs."""
        return {name: self.fields[name] for name in names
                if name in self.fields and self.fields[name] != name}


def parse_audit_format(doc: object) -> AuditFormat:
    """Validate a decoded format file.

    Raises:
        AuditFormatError: naming the first bad field.
    """
    if not isinstance(doc, dict):
        raise AuditFormatError("(file)", "must be a JSON object")
    for key in doc:
        if key not in _TOP_KEYS:
            raise AuditFormatError(str(key)[:_MAX_NAME_CHARS],
                                   f"unknown key; expected one of {', '.join(_TOP_KEYS)}")
    fields = _names(doc.get("fields", {}), "fields", AUDIT_FIELDS)
    events = _names(doc.get("events", {}), "events", AUDIT_EVENTS)
    try:
        ts_format = TsFormat(doc.get("ts_format", TsFormat.RFC3339))
    except ValueError:
        raise AuditFormatError("ts_format", "must be one of "
                               + ", ".join(t.value for t in TsFormat)) from None
    all_fields = {name: fields.get(name, name) for name in AUDIT_FIELDS}
    _unique(all_fields, "fields")
    return AuditFormat(MappingProxyType(all_fields), ts_format,
                       MappingProxyType({line: name for name, line in events.items()}))


def _names(value: object, where: str, allowed: tuple[str, ...]) -> dict[str, str]:
    if not isinstance(value, dict):
        raise AuditFormatError(where, "must be an object of names")
    names: dict[str, str] = {}
    for key, name in value.items():
        if key not in allowed:
            raise AuditFormatError(f"{where}.{str(key)[:_MAX_NAME_CHARS]}",
                                   f"unknown; expected one of {', '.join(allowed)}")
        if not isinstance(name, str) or not name or len(name) > _MAX_NAME_CHARS:
            raise AuditFormatError(f"{where}.{key}",
                                   f"must be a name of 1 to {_MAX_NAME_CHARS} characters")
        names[key] = name
    _unique(names, where)
    return names


def _unique(names: Mapping[str, str], where: str) -> None:
    seen: dict[str, str] = {}
    for key, name in names.items():
        if name in seen:
            raise AuditFormatError(f"{where}.{key}",
                                   f"{name!r} is already the name of {seen[name]}")
        seen[name] = key


def load_audit_format(path: Path) -> AuditFormat:
    """Read and validate the format file at ``path``.

    Raises:
        AuditFormatError: it cannot be read, is not JSON, or a field is bad.
    """
    try:
        data = read_small_regular(path, _MAX_FILE_BYTES)
    except OSError as exc:
        raise AuditFormatError(str(path), f"cannot read: {exc.strerror or exc}") from None
    try:
        doc = msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise AuditFormatError(str(path), f"not valid JSON ({exc})") from None
    return parse_audit_format(doc)
