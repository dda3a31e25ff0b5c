"""load_known_secrets: what a tool finds out by itself about the secrets it must not print."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from otel import (
    FINGERPRINT_FILE,
    TOKEN_FILE,
    KnownSecrets,
    SecretSourceError,
    TokenFingerprint,
    load_known_secrets,
    write_fingerprint,
)

TOKEN = "Zq8Xk2LmN9pR4tYvAb12Cd34Ef56Gh78Ij90Kl12Mn3"


def test_nothing_known_means_the_token_is_not_findable(tmp_path: Path) -> None:
    known = load_known_secrets({"PATH": "/usr/bin:/bin"}, home=tmp_path)
    assert known == KnownSecrets()
    assert not known.token_known and not known.token_findable


def test_hub_token_in_the_environment(tmp_path: Path) -> None:
    known = load_known_secrets({"HUB_TOKEN": f" {TOKEN}\n"}, home=tmp_path)
    assert known.values == (TOKEN,)
    assert known.token_sources == ("HUB_TOKEN",)
    assert TOKEN not in repr(known)


def test_the_home_token_file_and_a_named_token_file(tmp_path: Path) -> None:
    (tmp_path / TOKEN_FILE).parent.mkdir(parents=True)
    (tmp_path / TOKEN_FILE).write_text(TOKEN + "\n")
    other = tmp_path / "elsewhere"
    other.write_text("another-token-0123456789\n")
    known = load_known_secrets({}, home=tmp_path, token_files=[other])
    assert set(known.values) == {TOKEN, "another-token-0123456789"}
    assert known.token_sources == (str(other), str(tmp_path / TOKEN_FILE))


def test_the_fingerprint_makes_the_token_findable_without_its_value(tmp_path: Path) -> None:
    write_fingerprint(tmp_path / FINGERPRINT_FILE, TokenFingerprint.of(TOKEN))
    known = load_known_secrets({}, home=tmp_path)
    assert not known.token_known and known.token_findable
    redactor = known.redactor()
    for text in (f"/nodes/{TOKEN}/heartbeat", base64.b64encode(TOKEN.encode()).decode()):
        assert TOKEN not in redactor.redact_text(text)[0]
        assert redactor.find_leaks(text) == ["known_secret"]


def test_a_broken_fingerprint_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    (tmp_path / FINGERPRINT_FILE).parent.mkdir(parents=True)
    (tmp_path / FINGERPRINT_FILE).write_text("garbage")
    known = load_known_secrets({}, home=tmp_path)
    assert not known.token_findable
    assert len(known.warnings) == 1 and "hub_token.fingerprint.json" in known.warnings[0]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SSH_KEY", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"),
        ("DEPLOY_KEY", "dk-1234-abcd-5678"),
        ("MASTER_KEY", "master-key-value"),
        ("FERNET_KEY", "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="),
        ("SENTRY_DSN", "https://abc123def456@o1.ingest.sentry.io/1"),
        ("AZURE_STORAGE_CONNECTION_STRING",
         "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=" + "A" * 86 + "=="),
        ("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T000/B000/XXXXXXXX"),
        ("DATABASE_URL", "postgres://app:s3cret-pass@db/app"),
        ("INNOCENT_NAME", "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"),
        ("ANOTHER", "Zq8Xk2LmN9pR4tYv"),
    ],
)
def test_secret_env_values_are_known_by_name_or_by_the_scanner(name: str, value: str) -> None:
    assert value.strip() in load_known_secrets({name: value}).values


@pytest.mark.parametrize(
    ("name", "value"),
    [("PATH", "/usr/local/bin:/usr/bin"), ("PWD", "/work/main"), ("OLDPWD", "/home/user"),
     ("HOME", "/root"), ("LANG", "C.UTF-8"), ("HUB_CONTROL_PORT", "8787"),
     ("SHERATAN_HOME", "/srv/sheratan/home")],
)
def test_ordinary_env_values_are_not_secrets(name: str, value: str) -> None:
    assert load_known_secrets({name: value}).values == ()


def test_short_secret_values_are_counted_not_loaded() -> None:
    known = load_known_secrets({"DB_PASSWORD": "pw", "API_KEY": "REDACTED"})
    assert known.values == () and known.too_short == 2


@pytest.mark.parametrize("kind", ["missing", "empty", "folder", "huge"])
def test_a_bad_named_token_file_is_a_clear_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "token"
    if kind == "empty":
        path.write_text("  \n")
    elif kind == "folder":
        path.mkdir()
    elif kind == "huge":
        path.write_text("x" * 5000)
    with pytest.raises(SecretSourceError, match="--token-file") as info:
        load_known_secrets({}, token_files=[path])
    assert "xxxx" not in str(info.value)


@pytest.mark.skipif(os.name != "posix", reason="file modes")
def test_an_unreadable_home_token_file_is_skipped(tmp_path: Path) -> None:
    (tmp_path / TOKEN_FILE).parent.mkdir(parents=True)
    (tmp_path / TOKEN_FILE).mkdir()  # not readable as a file
    assert load_known_secrets({}, home=tmp_path).values == ()


@pytest.mark.skipif(os.name != "posix", reason="FIFOs")
def test_a_fifo_as_a_token_file_never_blocks(tmp_path: Path) -> None:
    (tmp_path / TOKEN_FILE).parent.mkdir(parents=True)
    os.mkfifo(tmp_path / TOKEN_FILE)
    fifo = tmp_path / "named"
    os.mkfifo(fifo)
    assert load_known_secrets({}, home=tmp_path).values == ()
    with pytest.raises(SecretSourceError, match="not a regular file"):
        load_known_secrets({}, token_files=[fifo])
