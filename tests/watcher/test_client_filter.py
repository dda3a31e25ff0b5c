"""The ignore check decides common clients without ipaddress and agrees with it on every client.

The reference model is the filter as it was: ``ipaddress.ip_address`` on the client without its
brackets, then each candidate (the address, and its IPv4-mapped form) against each network of
its version.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watcher import ClientFilter
from watcher._rules import IGNORE_CACHE_SIZE, IpNetwork

NETWORK_SETS = [
    ["127.0.0.1", "::1"],
    ["10.0.0.0/8"],
    ["10.1.0.0/16", "127.0.0.1", "::1"],
    ["0.0.0.0/0"],
    ["::/0"],
    ["::ffff:0:0/96"],
    ["::ffff:10.0.0.17/128"],
    ["2001:db8::/32", "192.168.0.0/24"],
    ["255.255.255.255", "0.0.0.0", "1.2.3.4/31", "fe80::/10"],
    [],
]


def reference(networks: Sequence[IpNetwork], client: object) -> bool:
    if not isinstance(client, str) or len(client) > 64:
        return False
    try:
        address = ipaddress.ip_address(client.strip("[]"))
    except ValueError:
        return False
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        candidates.append(address.ipv4_mapped)
    return any(a in net for a in candidates for net in networks if a.version == net.version)


def _networks(specs: list[str]) -> list[IpNetwork]:
    return [ipaddress.ip_network(spec, strict=False) for spec in specs]


_octet = st.one_of(st.integers(0, 300).map(str), st.sampled_from(["00", "01", "010", "", "1a"]))
_ipv4ish = st.lists(_octet, min_size=3, max_size=5).map(".".join)
_ipv6 = st.one_of(st.integers(0, 2**128 - 1),
                  st.integers(0, 2**32 - 1).map(lambda v: 0xFFFF_0000_0000 | v),
                  st.sampled_from([1, 0x20010DB8 << 96, 0xFE80 << 112])
                  ).map(ipaddress.IPv6Address)
_ipv6_text = st.tuples(_ipv6, st.sampled_from(["{}", "{:X}", "[{}]", "{}%eth0", "{}%1"])).map(
    lambda pair: pair[1].format(pair[0]) if "X" not in pair[1] else pair[0].exploded.upper())
_ipv4 = st.integers(0, 2**32 - 1).map(lambda v: str(ipaddress.IPv4Address(v)))
_wrapped = st.tuples(_ipv4, st.sampled_from(["[{}]", "]]{}[", "::ffff:{}", "::{}", " {}",
                                             "{}/32", "{}\n"])).map(lambda p: p[1].format(p[0]))
CLIENTS = st.one_of(_ipv4, _ipv4ish, _ipv6_text, _wrapped,
                    st.text(alphabet="0123456789abcdefABCDEF:.[]% ", max_size=24),
                    st.text(max_size=8), st.none(), st.integers(), st.floats(),
                    st.lists(st.integers(), max_size=2))


@settings(max_examples=3000)
@given(client=CLIENTS)
def test_every_client_gets_the_verdict_of_ipaddress(client: object) -> None:
    for specs in NETWORK_SETS:
        networks = _networks(specs)
        assert ClientFilter(networks).matches(client) is reference(networks, client), specs


@pytest.mark.parametrize("client", ["10.0.0.7", "203.0.113.9", "127.0.0.2", "", "host"])
def test_a_client_without_colon_or_bracket_is_decided_without_ipaddress(
        monkeypatch: pytest.MonkeyPatch, client: str) -> None:
    def refuse(text: str) -> object:
        raise AssertionError(f"ipaddress asked about {text!r}")
    monkeypatch.setattr(ipaddress, "ip_address", refuse)  # the one watcher._rules calls
    for specs in NETWORK_SETS:
        ClientFilter(_networks(specs)).matches(client)


def test_an_ipv6_client_outside_every_network_is_decided_without_ipaddress(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(text: str) -> object:
        raise AssertionError(f"ipaddress asked about {text!r}")
    monkeypatch.setattr(ipaddress, "ip_address", refuse)  # the one watcher._rules calls
    client_filter = ClientFilter(_networks(["127.0.0.1", "::1", "10.0.0.0/8"]))
    assert not client_filter.matches("2001:db8::7")
    assert not client_filter.matches("::ffff:192.0.2.1")


class _CountingFilter(ClientFilter):
    """Records each spelling it had to parse."""

    def __init__(self, specs: list[str]) -> None:
        self.parsed: list[str] = []
        super().__init__(_networks(specs))

    def _matches_parsed(self, client: str) -> bool:
        self.parsed.append(client)
        return super()._matches_parsed(client)


def test_only_spellings_that_need_parsing_are_remembered() -> None:
    client_filter = _CountingFilter(["127.0.0.1", "::1", "10.0.0.0/8"])
    clients: list[object] = ["::ffff:127.0.0.1", "2001:db8::7", "[10.0.0.8]", "::1",
                             "127.0.0.1", "10.0.0.7", "192.0.2.1", 7, None, ["::1"]]
    verdicts = [[client_filter.matches(client) for client in clients] for _ in range(3)]
    assert verdicts == [[True, False, True, True, True, True, False, False, False, False]] * 3
    # Parsed once each; an ignored host's spelling ("::1") and the rest need no parsing.
    assert client_filter.parsed == ["::ffff:127.0.0.1", "2001:db8::7", "[10.0.0.8]"]


def test_the_parsed_verdicts_are_bounded() -> None:
    client_filter = _CountingFilter(["::1"])
    clients = [f"2001:db8::{i:x}" for i in range(IGNORE_CACHE_SIZE + 1)]
    for client in [*clients, clients[-1], clients[0]]:  # the last is kept, the first evicted
        assert not client_filter.matches(client)
    assert client_filter.parsed == [*clients, clients[0]]
