"""Redactor: known secrets, secret-looking keys and token patterns, in text and structures."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel import REDACTED, Redactor, is_secret_key

TOKEN = "hub-token-0123456789abcdef"


@pytest.fixture
def redactor() -> Redactor:
    return Redactor([TOKEN])


@pytest.mark.parametrize(
    "key",
    ["HUB_TOKEN", "token", "x-api-key", "API_KEY", "apiKey", "Authorization", "Set-Cookie",
     "cookie", "private_key", "privateKey", "password", "DB_PASSWD", "client_secret",
     "proxy_auth", "auth", "session", "sessionId", "credentials", "db_pass", "refresh-token"],
)
def test_secret_looking_keys_are_recognised(key: str) -> None:
    assert is_secret_key(key)
    assert Redactor.is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    ["auth_fail_rate_1m", "author", "reason", "plane", "session_count", "node_id", "event",
     "compass", "keyboard", "path", ""],
)
def test_ordinary_keys_are_not_secret(key: str) -> None:
    assert not is_secret_key(key)


@pytest.mark.parametrize(
    ("text", "expected", "kind"),
    [
        ("Authorization: Bearer abc.def-123", "Authorization: Bearer [REDACTED]", "bearer"),
        ("auth: basic dXNlcjpwYXNzd29yZA==", "auth: basic [REDACTED]", "basic_auth"),
        ("GET /nodes?token=abcd1234&x=1", "GET /nodes?token=[REDACTED]&x=1", "secret_field"),
        ("/cb?api_key=ZXhhbXBsZQ&page=2", "/cb?api_key=[REDACTED]&page=2", "secret_field"),
        ('{"password": "hunter2"}', '{"password": "[REDACTED]"}', "secret_field"),
        ("HUB_TOKEN=deadbeefcafe", "HUB_TOKEN=[REDACTED]", "secret_field"),
        ("Authorization: Token abc123", "Authorization: [REDACTED]", "secret_field"),
        ("postgres://user:pw123@db/x", "postgres://user:[REDACTED]@db/x", "url_password"),
        ("jwt eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl", "jwt [REDACTED]", "jwt"),
        (f"token was {TOKEN}!", "token was [REDACTED]!", "known_secret"),
    ],
)
def test_patterns_are_redacted_and_counted(
    redactor: Redactor, text: str, expected: str, kind: str
) -> None:
    out, counts = redactor.redact_text(text)
    assert out == expected
    assert counts[kind] >= 1
    assert redactor.find_leaks(out) == []
    assert kind in redactor.find_leaks(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"event":"AUTH_FAILURE","reason":"invalid_token","auth_fail_rate_1m":3}',
        '"token": null',
        "token_count: 5",
        "has_token=true",
        "GET /nodes/n1/heartbeat 200",
    ],
)
def test_ordinary_text_is_left_alone(redactor: Redactor, text: str) -> None:
    assert redactor.redact_text(text) == (text, {})
    assert redactor.find_leaks(text) == []


def test_redaction_is_idempotent(redactor: Redactor) -> None:
    once, _ = redactor.redact_text(f"Bearer {TOKEN} token={TOKEN} u://a:{TOKEN}@h")
    assert redactor.redact_text(once) == (once, {})


def test_url_encoded_and_json_escaped_forms_of_a_known_secret_are_caught() -> None:
    secret = 'p@ss/w"rd+long'
    redactor = Redactor([secret])
    encoded = "q=p%40ss%2Fw%22rd%2Blong"
    escaped = json.dumps({"note": secret})
    for text in (encoded, escaped):
        out, counts = redactor.redact_text(text)
        assert counts.get("known_secret") == 1
        assert redactor.find_leaks(out) == []
        assert redactor.find_leaks(text) == ["known_secret"]


def test_mapping_is_redacted_deeply_without_touching_the_input(redactor: Redactor) -> None:
    original = {
        "node": {"meta": {"api-key": "zzz", "ok": 1, "enabled": True, "token": None}},
        "headers": [{"Authorization": "Bearer abc"}, ("x", f"see {TOKEN}")],
        "raw": b"password=abc123",
        TOKEN: "a key that is the secret",
    }
    snapshot = json.dumps(original, default=repr)
    out, counts = redactor.redact_mapping(original)
    assert out == {
        "node": {"meta": {"api-key": REDACTED, "ok": 1, "enabled": True, "token": None}},
        "headers": [{"Authorization": REDACTED}, ("x", f"see {REDACTED}")],
        "raw": b"password=[REDACTED]",
        # The key is the secret, and it also looks like one ("hub-token-..."), so both go.
        REDACTED: REDACTED,
    }
    assert counts == {"secret_field": 4, "known_secret": 2}
    assert json.dumps(original, default=repr) == snapshot


def test_find_leaks_reports_kinds_never_values(redactor: Redactor) -> None:
    leaks = redactor.find_leaks(f"x {TOKEN} Bearer abcdef".encode())
    assert leaks == ["bearer", "known_secret"]
    assert all(TOKEN not in kind for kind in leaks)


def test_find_leaks_on_binary_garbage_does_not_raise(redactor: Redactor) -> None:
    assert redactor.find_leaks(bytes(range(256)) * 4) == []
    assert redactor.find_leaks(b"\xff\xfe" + TOKEN.encode() + b"\x00") == ["known_secret"]


@pytest.mark.parametrize("short", ["abc", "1234567"])
def test_short_known_secrets_are_rejected_without_echoing_them(short: str) -> None:
    with pytest.raises(ValueError, match="shorter than 8") as info:
        Redactor([short])
    assert short not in str(info.value)


def test_blank_known_secrets_are_ignored() -> None:
    assert Redactor(["", "   "]).redact_text("plain text") == ("plain text", {})


def test_a_secret_overlapping_the_replacement_is_rejected() -> None:
    with pytest.raises(ValueError, match="replacement"):
        Redactor(["REDACTED"])


def test_custom_replacement_is_used_and_not_re_redacted() -> None:
    redactor = Redactor([TOKEN], replacement="***")
    out, _ = redactor.redact_text(f"token={TOKEN} password=hunter22")
    assert out == "token=*** password=***"
    assert redactor.redact_text(out) == (out, {})
    assert redactor.find_leaks(out) == []


def test_a_long_identifier_run_is_scanned_quickly(redactor: Redactor) -> None:
    import time

    text = "a" * 200_000 + "=" + "b" * 200_000
    started = time.perf_counter()
    redactor.redact_text(text)
    redactor.find_leaks(text)
    assert time.perf_counter() - started < 2.0


_SECRETS = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=8, max_size=40
).filter(lambda s: s.strip() and "REDACTED" not in s and s not in "[REDACTED]")
_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=80)


@settings(max_examples=300, deadline=None)
@given(secret=_SECRETS, parts=st.lists(_TEXT, min_size=1, max_size=4))
def test_a_known_secret_never_survives_anywhere_in_random_text(
    secret: str, parts: list[str]
) -> None:
    redactor = Redactor([secret])
    text = secret.join(parts) + secret
    out, counts = redactor.redact_text(text)
    assert secret not in out
    assert counts.get("known_secret", 0) >= 1
    assert "known_secret" not in redactor.find_leaks(out)


@settings(max_examples=200, deadline=None)
@given(
    secret=st.text(alphabet="abcdefABCDEF0123456789-_.", min_size=8, max_size=24),
    prefix=st.sampled_from(["Bearer ", "token=", '"password": "', "u://me:", "eyJ", ""]),
    suffix=st.sampled_from(["", "@host", "&a=1", '"', ".eyJzdWIiOiIx.sig"]),
    around=st.tuples(_TEXT, _TEXT),
)
def test_a_known_secret_inside_other_patterns_never_survives(
    secret: str, prefix: str, suffix: str, around: tuple[str, str]
) -> None:
    redactor = Redactor([secret])
    text = f"{around[0]}{prefix}{secret}{suffix}{around[1]}{prefix}{secret}"
    out, _ = redactor.redact_text(text)
    assert secret not in out
    mapped, _ = redactor.redact_mapping({"k": text, "nested": [text, {text: text}]})
    assert secret not in json.dumps(mapped, ensure_ascii=False)
