"""The watcher's guard judges a dotted quad without ipaddress and otherwise as otel's does."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel import KnownSecrets, ValueGuard
from watcher._alert import REDACTED
from watcher._guard import default_value_guard

VALUES = st.one_of(
    st.integers(0, 2**32 - 1).map(lambda v: str(ipaddress.IPv4Address(v))),
    st.lists(st.integers(0, 300).map(str), min_size=3, max_size=5).map(".".join),
    st.sampled_from(["010.0.0.1", "10.0.0.1?token=abc", "10.0.0.1#x", "[10.0.0.1]", "::1",
                     "::FFFF:10.0.0.1", "/nodes", "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
                     "api_key", "someone@example.com", "", "x" * 300]),
    st.text(max_size=40),
)


@settings(max_examples=2000)
@given(value=VALUES)
def test_the_verdict_is_the_one_otel_gives(value: str) -> None:
    plain = ValueGuard(lambda: KnownSecrets().redactor(mask_emails=True), replacement=REDACTED,
                       secret_names=True)
    assert default_value_guard().guard(value) == plain.guard(value)


@pytest.mark.parametrize("value", ["10.0.0.7", "203.0.113.255", "0.0.0.0"])
def test_a_dotted_quad_is_judged_without_ipaddress(monkeypatch: pytest.MonkeyPatch,
                                                   value: str) -> None:
    def refuse(text: str) -> object:
        raise AssertionError(f"ipaddress asked about {text!r}")
    monkeypatch.setattr(ipaddress, "ip_address", refuse)  # the one otel._values calls
    assert default_value_guard().guard(value) == value
