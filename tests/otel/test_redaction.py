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


# -- issue 10: encodings, fragments, fingerprints and the credential scanner ---------------

RANDOM_TOKEN = "Zq8Xk2LmN9pR4tYvAb12Cd34Ef56Gh78Ij90Kl12Mn3"


def _encodings(secret: str) -> dict[str, str]:
    import base64
    from urllib.parse import quote

    raw = secret.encode()
    return {
        "base64": base64.b64encode(raw).decode(),
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "basic": "Basic " + base64.b64encode(b"admin:" + raw).decode(),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "percent": quote(secret + "/+", safe=""),
        "json_u": "".join(f"\\u{ord(c):04x}" for c in secret),
        "path": f"/nodes/{secret}/heartbeat",
    }


@pytest.mark.parametrize("form", list(_encodings(RANDOM_TOKEN)))
@pytest.mark.parametrize("how", ["known", "fingerprint"])
def test_a_token_is_found_in_every_encoding(form: str, how: str) -> None:
    from otel import TokenFingerprint

    text = f"seen: {_encodings(RANDOM_TOKEN)[form]} end"
    redactor = (Redactor([RANDOM_TOKEN]) if how == "known"
                else Redactor(fingerprints=[TokenFingerprint.of(RANDOM_TOKEN)], patterns=False))
    out, counts = redactor.redact_text(text)
    assert counts.get("known_secret") == 1
    assert out.startswith("seen: ") and out.endswith(" end")
    assert redactor.find_leaks(out) == []
    assert "known_secret" in redactor.find_leaks(text)


def test_a_path_keeps_its_shape_around_the_token() -> None:
    out, _ = Redactor([RANDOM_TOKEN]).redact_text(f"POST /nodes/{RANDOM_TOKEN}/heartbeat 200")
    assert out == "POST /nodes/[REDACTED]/heartbeat 200"


def test_non_ascii_secrets_are_found_as_the_access_log_writes_them() -> None:
    secret = "pässwörd-€-geheim"
    logged = secret.encode("unicode_escape").decode("ascii")
    assert logged != secret
    out, counts = Redactor([secret]).redact_text(f"GET /x/{logged} 404")
    assert out == "GET /x/[REDACTED] 404" and counts == {"known_secret": 1}


def test_a_token_split_across_two_fields_is_caught() -> None:
    from otel import TokenFingerprint

    half = len(RANDOM_TOKEN) // 2
    node = {"name": RANDOM_TOKEN[:half], "meta": {"x": RANDOM_TOKEN[half:]}}
    for redactor in (Redactor([RANDOM_TOKEN]),
                     Redactor(fingerprints=[TokenFingerprint.of(RANDOM_TOKEN)])):
        out, counts = redactor.redact_mapping(node)
        assert out == {"name": REDACTED, "meta": {"x": REDACTED}}
        assert counts == {"known_secret": 2}
    text = json.dumps(node)
    assert Redactor([RANDOM_TOKEN]).find_leaks(text) == ["known_secret"]


def test_neighbouring_values_that_do_not_split_a_secret_are_kept() -> None:
    node = {"a": "hello", "b": RANDOM_TOKEN, "c": "world"}
    out, _ = Redactor([RANDOM_TOKEN]).redact_mapping(node)
    assert out == {"a": "hello", "b": REDACTED, "c": "world"}


_PEM = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7Zq8Xk2LmN9pR4tY\nvAb12Cd34Ef56==\n"
        "-----END RSA PRIVATE KEY-----")


@pytest.mark.parametrize(
    ("text", "expected", "kind"),
    [
        (f"key: {_PEM} done", "key: [REDACTED] done", "private_key"),
        ("k=" + _PEM.replace("\n", "\\n")[:80], "k=[REDACTED]", "private_key"),
        ("AccountName=a;AccountKey=" + "Ab1+" * 22 + ";Suffix=x",
         "AccountName=a;[REDACTED];Suffix=x", "secret_field"),
        ("hook https://hooks.slack.com/services/T0A1B2C3/B0A1B2C3/abcdefghij0123 ok",
         "hook [REDACTED] ok", "credential"),
        ("redis://:hunter2pass@cache:6379/0", "redis://:[REDACTED]@cache:6379/0", "url_password"),
        ("run --password x --token=abc --name bob",
         "run --password [REDACTED] --token=[REDACTED] --name bob", "secret_argument"),
        ("gh ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8 x", "gh [REDACTED] x", "credential"),
        ("aws AKIAIOSFODNN7EXAMPLE x", "aws [REDACTED] x", "credential"),
        ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe [REDACTED]", "credential"),
    ],
)
def test_the_credential_scanner_and_new_patterns(text: str, expected: str, kind: str) -> None:
    redactor = Redactor()
    out, counts = redactor.redact_text(text)
    assert out == expected
    assert set(counts) == {kind}
    assert redactor.find_leaks(out) == []


def test_emails_are_masked_on_request_and_never_gated() -> None:
    text = "owner: jane.doe+ops@example.co.uk, not an address: a@b"
    assert Redactor().redact_text(text) == (text, {})
    out, counts = Redactor(mask_emails=True).redact_text(text)
    assert out == "owner: [REDACTED], not an address: a@b" and counts == {"email": 1}
    assert Redactor(mask_emails=True).find_leaks(text) == []


def test_patterns_off_finds_only_the_known_values() -> None:
    redactor = Redactor([RANDOM_TOKEN], patterns=False)
    assert redactor.redact_text("password=hunter22 Bearer abcdefgh") == (
        "password=hunter22 Bearer abcdefgh", {})
    assert redactor.redact_text(RANDOM_TOKEN)[0] == REDACTED


@pytest.mark.parametrize(
    "key",
    ["SSH_KEY", "DEPLOY_KEY", "MASTER_KEY", "FERNET_KEY", "SENTRY_DSN",
     "AZURE_STORAGE_CONNECTION_STRING", "SLACK_WEBHOOK_URL", "db_pass", "contraseña",
     "client_key", "PRIV_KEY"],
)
def test_keyword_rules_cover_ops_names(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["PWD", "OLDPWD", "keyboard", "monkey_count", "key_count"])
def test_shell_folders_and_key_words_inside_others_are_not_secret(key: str) -> None:
    assert not is_secret_key(key)


_TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"


@settings(max_examples=150, deadline=None)
@given(
    token=st.text(alphabet=_TOKEN_ALPHABET, min_size=16, max_size=64),
    form=st.sampled_from(sorted(_encodings("x" * 16))),
    around=st.tuples(_TEXT, _TEXT),
)
def test_a_fingerprinted_token_never_survives_in_any_encoding(
    token: str, form: str, around: tuple[str, str]
) -> None:
    from otel import TokenFingerprint

    redactor = Redactor(fingerprints=[TokenFingerprint.of(token)], patterns=False)
    text = f"{around[0]} {_encodings(token)[form]} {around[1]}"
    out, _ = redactor.redact_text(text)
    assert token not in out
    assert redactor.find_leaks(out) == []


def test_a_lone_half_of_a_fingerprinted_token_is_found() -> None:
    from otel import TokenFingerprint

    redactor = Redactor(fingerprints=[TokenFingerprint.of(RANDOM_TOKEN)], patterns=False)
    half = RANDOM_TOKEN[: len(RANDOM_TOKEN) // 2]
    out, counts = redactor.redact_text(f"name={half} path=/n/{half}/x")
    assert out == "name=[REDACTED] path=/n/[REDACTED]/x" and counts == {"known_secret": 2}


def test_a_token_escaped_twice_is_found() -> None:
    """The \\u form of the token in a request path, as the audit log's JSON writes it."""
    from otel import TokenFingerprint

    escaped = "".join(f"\\u{ord(c):04x}" for c in RANDOM_TOKEN)
    line = json.dumps({"path": f"/nodes/{escaped}"})
    for redactor in (Redactor([RANDOM_TOKEN]),
                     Redactor(fingerprints=[TokenFingerprint.of(RANDOM_TOKEN)])):
        out, counts = redactor.redact_text(line)
        assert counts == {"known_secret": 1} and "\\\\u005a" not in out
