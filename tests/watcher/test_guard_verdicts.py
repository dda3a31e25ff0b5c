"""The watcher's guard judges a canonical address without ipaddress, keeps the hub's own audit
reasons, and otherwise judges as otel's does."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel import KnownSecrets, ValueGuard
from watcher._alert import REDACTED
from watcher._guard import HUB_REASONS, default_value_guard, ipv6_text

VALUES = st.one_of(
    st.integers(0, 2**32 - 1).map(lambda v: str(ipaddress.IPv4Address(v))),
    st.lists(st.integers(0, 300).map(str), min_size=3, max_size=5).map(".".join),
    st.sampled_from(["010.0.0.1", "10.0.0.1?token=abc", "10.0.0.1#x", "[10.0.0.1]", "::1",
                     "::FFFF:10.0.0.1", "/nodes", "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
                     "api_key", "someone@example.com", "", "x" * 300, *sorted(HUB_REASONS),
                     "invalid_token?x", "invalid_token2"]),
    st.text(max_size=40),
)


@settings(max_examples=2000)
@given(value=VALUES)
def test_the_verdict_is_the_one_otel_gives(value: str) -> None:
    _assert_otel_verdict(value)


def _assert_otel_verdict(value: str) -> None:
    plain = ValueGuard(lambda: KnownSecrets().redactor(mask_emails=True), replacement=REDACTED,
                       secret_names=True)
    want = value if value in HUB_REASONS else plain.guard(value)
    assert default_value_guard().guard(value) == want


@pytest.mark.parametrize("value", ["10.0.0.7", "203.0.113.255", "0.0.0.0", "2001:db8::7",
                                   "::1", "::", "fe80::1:0:0:2", "1:0:0:2::3"])
def test_a_canonical_address_is_judged_without_ipaddress(monkeypatch: pytest.MonkeyPatch,
                                                         value: str) -> None:
    def refuse(text: str) -> object:
        raise AssertionError(f"ipaddress asked about {text!r}")
    monkeypatch.setattr(ipaddress, "ip_address", refuse)  # the one otel._values calls
    assert default_value_guard().guard(value) == value


_ZERO_PATTERNS = [[(pattern >> i & 1) * (0x1000 + i) for i in range(8)] for pattern in range(256)]


@pytest.mark.parametrize("groups", _ZERO_PATTERNS, ids=lambda groups: "".join(
    "x" if group else "0" for group in groups))
def test_ipv6_text_is_ipaddress_text_for_every_run_of_zero_groups(groups: list[int]) -> None:
    packed = struct.pack("!8H", *groups)
    want = None if groups[:6] == [0, 0, 0, 0, 0, 0xFFFF] else str(ipaddress.IPv6Address(packed))
    assert ipv6_text(packed) == want


@settings(max_examples=3000)
@given(value=st.one_of(st.integers(0, 2**128 - 1),
                       st.integers(0, 2**16 - 1).map(lambda v: v << 64),
                       st.integers(0, 2**48 - 1).map(lambda v: 0xFFFF << 32 | v)))
def test_ipv6_text_is_ipaddress_text(value: int) -> None:
    address = ipaddress.IPv6Address(value)
    assert ipv6_text(address.packed) == (None if address.ipv4_mapped else str(address))


_IPV6_SPELLINGS = st.tuples(
    st.one_of(st.integers(0, 2**128 - 1), st.integers(0, 2**32 - 1),
              st.integers(0, 2**32 - 1).map(lambda v: 0xFFFF_0000_0000 | v),
              st.sampled_from([0, 1, 0x20010DB8 << 96, 0xFE80 << 112])).map(ipaddress.IPv6Address),
    st.sampled_from(["{}", "[{}]", "{}%eth0", "{}?x=1", " {}", "{}:", "{}::"]),
    st.booleans(),
).map(lambda spec: spec[1].format(spec[0].exploded if spec[2] else spec[0]))


@settings(max_examples=2000)
@given(value=_IPV6_SPELLINGS)
def test_the_verdict_on_any_ipv6_spelling_is_the_one_otel_gives(value: str) -> None:
    _assert_otel_verdict(value)
