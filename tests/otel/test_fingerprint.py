"""TokenFingerprint: finds the token by hash, gives nothing else away, and its file is safe."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from otel import FingerprintError, TokenFingerprint, read_fingerprint, write_fingerprint

TOKEN = "Zq8Xk2LmN9pR4tYvAb12Cd34Ef56Gh78Ij90Kl12Mn3"


def test_it_matches_the_token_and_nothing_else() -> None:
    fingerprint = TokenFingerprint.of(TOKEN)
    assert fingerprint.matches(TOKEN)
    assert not fingerprint.matches(TOKEN[:-1] + "x")
    assert not fingerprint.matches(TOKEN + "x")
    assert fingerprint.length == len(TOKEN)


def test_two_fingerprints_of_one_token_differ_by_salt() -> None:
    first, second = TokenFingerprint.of(TOKEN), TokenFingerprint.of(TOKEN)
    assert first.salt != second.salt
    assert first.digest != second.digest
    assert first.matches(TOKEN) and second.matches(TOKEN)


def test_the_json_round_trips_and_never_holds_the_token() -> None:
    fingerprint = TokenFingerprint.of(TOKEN)
    data = fingerprint.to_json()
    assert TOKEN.encode() not in data
    assert TokenFingerprint.from_json(data) == fingerprint
    assert TOKEN not in repr(fingerprint)


def test_the_file_is_written_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "state" / "hub_token.fingerprint.json"
    old = os.umask(0)
    try:
        write_fingerprint(path, TokenFingerprint.of(TOKEN))
    finally:
        os.umask(old)
    assert read_fingerprint(path) is not None
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_a_missing_file_is_none(tmp_path: Path) -> None:
    assert read_fingerprint(tmp_path / "absent.json") is None


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b"[]", b'{"format": 2}', b'{"format": 1, "algorithm": "md5"}',
     b'{"format": 1, "algorithm": "sha256", "salt": "zz", "length": 43, "digest": "00"}',
     b'{"format": 1, "algorithm": "sha256", "salt": "00112233445566778899", "length": 3,'
     b' "digest": "' + b"00" * 32 + b'"}',
     b'{"format": 1, "algorithm": "sha256", "salt": "00112233445566778899", "length": "43",'
     b' "digest": "' + b"00" * 32 + b'"}',
     b"\xff\xfe", b"x" * 10_000],
)
def test_a_bad_file_is_a_clear_error_naming_it(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "hub_token.fingerprint.json"
    path.write_bytes(content)
    with pytest.raises(FingerprintError, match=r"hub_token\.fingerprint\.json"):
        read_fingerprint(path)


@pytest.mark.skipif(os.name != "posix", reason="FIFOs")
def test_a_fifo_in_the_fingerprints_place_is_an_error_not_a_hang(tmp_path: Path) -> None:
    path = tmp_path / "hub_token.fingerprint.json"
    os.mkfifo(path)
    with pytest.raises(FingerprintError, match="not a regular file"):
        read_fingerprint(path)


def test_a_fragment_of_the_token_is_recognised_by_its_windows() -> None:
    fingerprint = TokenFingerprint.of(TOKEN)
    assert fingerprint.window == 16
    assert len(fingerprint.windows) == len(TOKEN) - 15
    assert fingerprint.is_window(TOKEN[5:21])
    assert not fingerprint.is_window("x" * 16)
    assert TOKEN[:16].encode() not in fingerprint.to_json()


def test_a_fingerprint_without_windows_still_reads() -> None:
    doc = json.loads(TokenFingerprint.of(TOKEN).to_json())
    del doc["window"], doc["windows"]
    old = TokenFingerprint.from_json(json.dumps(doc).encode())
    assert old.matches(TOKEN) and old.window == 0 and not old.is_window(TOKEN[:16])


def test_a_short_token_has_no_windows() -> None:
    fingerprint = TokenFingerprint.of("short-token-1234"[:12])
    assert fingerprint.window == 0 and fingerprint.windows == frozenset()
