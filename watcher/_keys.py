"""A line's group under a rule: the values of its ``group_by`` fields, each made safe.

A string goes through the guard (an ``otel.ValueGuard``'s verdict function, whose bounded
LRU is the one cache of verdicts); an integer stays if it fits 64 bits; anything else is
None (``safe_group_value``).
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter

from otel.auditlog import AuditRecord
from watcher._alert import GroupKey, safe_group_value

KeyReader = Callable[[AuditRecord], GroupKey]


def key_reader(fields: tuple[str, ...], guard: Callable[[str], str]) -> KeyReader:
    """The function giving a record's group key under a rule that groups by ``fields``."""
    if not fields:
        return _global_key
    if len(fields) == 1:
        return _single_field(attrgetter(fields[0]), guard)
    return _many_fields(attrgetter(*fields), guard)


def _global_key(record: AuditRecord) -> GroupKey:
    return ()


def _single_field(read: Callable[[AuditRecord], object],
                  guard: Callable[[str], str]) -> KeyReader:
    def key(record: AuditRecord) -> GroupKey:
        value = read(record)
        # A string, by far the most common value, goes straight to the guard's LRU.
        return (guard(value) if type(value) is str else safe_group_value(value, guard),)
    return key


def _many_fields(read: Callable[[AuditRecord], tuple[object, ...]],
                 guard: Callable[[str], str]) -> KeyReader:
    def key(record: AuditRecord) -> GroupKey:
        return tuple([safe_group_value(value, guard) for value in read(record)])
    return key
