"""ValueGuard: an untrusted value is kept only when it is safe by construction."""

from __future__ import annotations

import base64

import pytest

from otel import Redactor, TokenFingerprint, ValueGuard, canonical_ip

TOKEN = "Zq8Xk2LmN9pR4tYvAb12Cd34Ef56Gh78Ij90Kl12Mn3"
MARK = "[redacted]"


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("10.0.0.7", "10.0.0.7"), ("::FFFF:10.0.0.7", "::ffff:a00:7"),
     ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"), ("[::1]", "::1"), ("fe80::1%eth0", "fe80::1%eth0")],
)
def test_any_textual_form_of_an_address_is_canonical(text: str, canonical: str) -> None:
    assert canonical_ip(text) == canonical
    assert ValueGuard(Redactor, replacement=MARK)(text) == canonical


@pytest.mark.parametrize("text", ["unknown", "worker-node-01.internal", "10.0.0.7:8080", ""])
def test_ordinary_names_are_kept(text: str) -> None:
    assert canonical_ip(text) is None
    assert ValueGuard(Redactor, replacement=MARK)(text) == text


@pytest.mark.parametrize(
    "text",
    [TOKEN, "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "0123456789abcdef0123456789abcdef",
     "AKIAIOSFODNN7EXAMPLE", "Bearer abcdefgh12345678", "token=abcdefgh1234"],
)
def test_credential_looking_values_are_redacted_without_being_told(text: str) -> None:
    assert ValueGuard(Redactor, replacement=MARK)(text) == MARK


def test_known_and_fingerprinted_secrets_are_redacted_in_any_encoding() -> None:
    weak = "correct-horse-battery"  # not random-looking: found only because it is known
    encoded = base64.b64encode(weak.encode()).decode()
    assert ValueGuard(Redactor, replacement=MARK)(weak) == weak
    known = ValueGuard(lambda: Redactor([weak]), replacement=MARK)
    assert known(weak) == MARK
    assert known(encoded) == MARK
    by_fingerprint = ValueGuard(
        lambda: Redactor(fingerprints=[TokenFingerprint.of(weak)]), replacement=MARK)
    assert by_fingerprint(f"x-{weak}") == MARK


def test_queries_and_fragments_never_group_and_long_values_are_cut() -> None:
    guard = ValueGuard(Redactor, replacement=MARK, max_chars=10)
    assert guard("/nodes?token=abc#frag") == "/nodes"
    assert guard("a" * 50) == "a" * 10


def test_a_value_too_long_to_judge_cheaply_is_replaced_unjudged() -> None:
    guard = ValueGuard(Redactor, replacement=MARK)
    assert guard("a" * 1024) == "a" * 128
    assert guard("a" * 1025) == MARK
    assert guard.guard.cache_info().currsize == 1  # type: ignore[attr-defined]  # an lru_cache


def test_the_redactor_is_built_only_for_a_value_that_is_not_an_address() -> None:
    built: list[int] = []

    def factory() -> Redactor:
        built.append(1)
        return Redactor()

    guard = ValueGuard(factory, replacement=MARK)
    for i in range(300):
        guard(f"10.0.{i // 250}.{i % 250}")
    assert built == []
    guard("a-hostname")
    guard("another-hostname")
    assert built == [1]


def test_verdicts_are_cached_in_a_bounded_lru() -> None:
    guard = ValueGuard(Redactor, replacement=MARK, cache_size=100)
    for i in range(1000):
        guard(f"host-{i}")
    info = guard.guard.cache_info()  # type: ignore[attr-defined]  # typed as a Callable
    assert info.currsize == 100
    guard("host-999")
    assert guard.guard.cache_info().hits == 1  # type: ignore[attr-defined]  # an lru_cache


@pytest.mark.parametrize(("max_chars", "cache_size"), [(0, 10), (10, 0)])
def test_bad_bounds_are_refused(max_chars: int, cache_size: int) -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        ValueGuard(Redactor, replacement=MARK, max_chars=max_chars, cache_size=cache_size)
