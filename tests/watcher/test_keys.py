"""A line's group key: the ignore verdict and the safe group values, however they are cached.

The reference is the key as first written: None when ``ClientFilter.matches`` says the
client is ignored, else each ``group_by`` value made safe by ``safe_group_value``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings

from tests.watcher.test_client_filter import CLIENTS, NETWORK_SETS
from watcher import ClientFilter
from watcher._alert import GroupKey, safe_group_value
from watcher._guard import default_value_guard
from watcher._keys import CLIENT_KEY_CACHE_SIZE, ignore_check, key_reader

_GUARD = default_value_guard().guard
_GROUPINGS: list[tuple[str, ...]] = [(), ("client",), ("path",), ("client", "path")]


@dataclass
class _Record:
    client: Any
    path: Any = "/nodes"
    ts: datetime = datetime(2025, 1, 1, tzinfo=UTC)
    event: str = "AUTH_FAILURE"


def _filters() -> list[ClientFilter]:
    return [ClientFilter([ipaddress.ip_network(spec, strict=False) for spec in specs])
            for specs in NETWORK_SETS]


def _reference(fields: tuple[str, ...], client_filter: ClientFilter,
               record: _Record) -> GroupKey | None:
    if client_filter.matches(record.client):
        return None
    return tuple(safe_group_value(getattr(record, field), _GUARD) for field in fields)


#: One key reader per network set and grouping, made once: their caches carry over from
#: example to example, as they do from line to line.
_READERS = [(fields, client_filter, key_reader(fields, ignore_check(client_filter), _GUARD))
            for client_filter in _filters() for fields in _GROUPINGS]


@settings(max_examples=1500)
@given(client=CLIENTS, path=CLIENTS)
def test_every_key_is_the_reference_key_first_time_and_cached(client: object,
                                                              path: object) -> None:
    record = _Record(client, path)
    for fields, client_filter, key_of in _READERS:
        want = _reference(fields, client_filter, record)
        assert key_of(record) == want, (fields, client_filter)
        assert key_of(record) == want, (fields, client_filter)  # now from a cache, if any


def test_keys_stay_right_past_the_client_key_cache() -> None:
    client_filter = ClientFilter([ipaddress.ip_network("10.0.0.0/16")])
    key_of = key_reader(("client",), ignore_check(client_filter), _GUARD)
    clients = [f"10.{i >> 8 & 255}.{i & 255}.1" for i in range(CLIENT_KEY_CACHE_SIZE + 500)]
    for _ in range(2):  # the second round finds the first clients evicted
        keys = [key_of(_Record(client)) for client in clients]
        assert keys == [None if client.startswith("10.0.") else (client,)
                        for client in clients]


def test_a_rule_that_ignores_nobody_has_no_check() -> None:
    assert ignore_check(ClientFilter([])) is None


@pytest.mark.parametrize("fields", _GROUPINGS)
def test_an_unhashable_client_is_never_ignored(fields: tuple[str, ...]) -> None:
    client_filter = ClientFilter([ipaddress.ip_network("::/0"), ipaddress.ip_network("0.0.0.0/0")])
    key_of = key_reader(fields, ignore_check(client_filter), _GUARD)
    record = _Record(["::1"], {"a": 1})
    assert key_of(record) == tuple(None for _ in fields)


def test_a_dotted_quad_client_needs_no_guard() -> None:
    judged: list[str] = []

    def guard(value: str) -> str:
        judged.append(value)
        return _GUARD(value)

    key_of = key_reader(("client",), None, guard)
    clients = ["10.0.0.7", "203.0.113.255", "010.0.0.7", "10.0.0.256", "::ffff:10.0.0.7",
               "ws1.corp.example"]
    assert [key_of(_Record(client)) for client in clients] == [(_GUARD(c),) for c in clients]
    assert judged == clients[2:]  # the spellings that are no canonical dotted quad
