"""The sources, unit by unit: tails from the end, hub.db read-only, secrets and layers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from otel import KnownSecrets
from sheratan_ops.diag import LayeredRedactor, RedactionCounts, tail_lines
from sheratan_ops.diag.config import (
    UsageError,
    endpoints_from_env,
    parse_loopback_url,
    source_date_epoch,
)
from sheratan_ops.diag.files import collect_log
from sheratan_ops.diag.hubdb import query_nodes, read_db

from .conftest import make_home


@pytest.mark.parametrize(
    ("content", "lines", "expected"),
    [
        (b"a\nb\nc\n", 2, b"b\nc\n"),
        (b"a\nb\nc", 2, b"b\nc"),  # a partial last line (a writer mid-append) is kept
        (b"a\nb\n", 5, b"a\nb\n"),
        (b"", 3, b""),
        (b"\n\n", 1, b"\n"),
    ],
)
def test_tail_returns_the_last_lines(tmp_path: Path, content: bytes, lines: int,
                                     expected: bytes) -> None:
    path = tmp_path / "f.log"
    path.write_bytes(content)
    assert tail_lines(path, lines).data == expected


def test_tail_reads_only_the_end_of_a_big_file(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    block = b"".join(b"%08d filler filler filler\n" % i for i in range(100_000))
    path.write_bytes(block)
    tail = tail_lines(path, 3, max_bytes=1024)
    assert tail.data == b"00099997 filler filler filler\n00099998 filler filler filler\n" \
                        b"00099999 filler filler filler\n"
    assert tail.truncated


def test_tail_stops_at_a_line_that_fits_the_cap_but_not_what_is_left(tmp_path: Path) -> None:
    path = tmp_path / "long.log"
    path.write_bytes(b"a" * 60 + b"\n" + b"b" * 60 + b"\nshort\n")
    tail = tail_lines(path, 5, max_bytes=100)
    assert tail.data == b"b" * 60 + b"\nshort\n"
    assert tail.truncated and tail.cut_lines == 0


def test_log_tail_continues_into_the_rotated_file(tmp_path: Path) -> None:
    live = tmp_path / "hub_security_audit.jsonl"
    live.write_bytes(b"new1\nnew2\n")
    (tmp_path / "hub_security_audit.jsonl.1").write_bytes(b"old1\nold2\nold3")
    out = collect_log("logs/x", live, 4)
    assert out.members["logs/x"] == b"old2\nold3\nnew1\nnew2\n"
    assert out.detail["sources"] == ["hub_security_audit.jsonl.1", "hub_security_audit.jsonl"]


def test_a_stopped_hubs_db_is_read_without_creating_wal_files(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", nodes=[("n1", {}, 1.0)], fingerprint=None)
    db = home / "state" / "hub.db"
    before = db.read_bytes()
    read = read_db(db, query_nodes, timeout_s=1)
    assert read.open_mode == "immutable" and [r.node_id for r in read.value.rows] == ["n1"]
    assert sorted(p.name for p in db.parent.iterdir()) == ["hub.db"]
    assert db.read_bytes() == before


def test_the_db_connection_cannot_write(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")

    def write(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM nodes")

    with pytest.raises(sqlite3.OperationalError):
        read_db(home / "state" / "hub.db", write, timeout_s=1)


def test_layers_count_what_each_one_redacted() -> None:
    counts = RedactionCounts()
    redactor = LayeredRedactor(KnownSecrets(("known-value-abc123",)).redactor(mask_emails=True),
                               counts)
    out = redactor.structure({"meta": {"api_key": "k-1234567890", "enabled": True,
                                       "note": "see known-value-abc123",
                                       "url": "http://u:pw123456@host/",
                                       "owner": "ops lead <ops.lead@example.org>",
                                       "cmd": "token=abcdef0123456789"},
                              "token": None})
    assert out == {"meta": {"api_key": "[REDACTED]", "enabled": True,
                            "note": "see [REDACTED]", "url": "http://u:[REDACTED]@host/",
                            "owner": "ops lead <[REDACTED]>", "cmd": "token=[REDACTED]"},
                   "token": None}
    # A field replaced for its key's name is layer 2; a key=value found in text is a pattern.
    assert counts.counts["key_names"] == {"secret_field": 1}
    assert counts.counts["known_values"] == {"known_secret": 1}
    assert counts.counts["patterns"]["url_password"] == 1
    assert counts.counts["patterns"]["secret_field"] == 1
    assert counts.counts["pii"] == {"email": 1}


@pytest.mark.parametrize("url", ["http://127.0.0.1:8787", "http://localhost:1/",
                                 "http://[::1]:8788", "http://127.3.4.5:80"])
def test_loopback_urls_are_accepted(url: str) -> None:
    assert parse_loopback_url(url, "control").port in (8787, 1, 8788, 80)


@pytest.mark.parametrize("url", ["http://192.168.1.1:8787", "http://example.com:8787",
                                 "ftp://127.0.0.1:1", "http://127.0.0.1:99999"])
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(UsageError):
        parse_loopback_url(url, "control")


def test_a_wildcard_hub_host_is_reached_over_loopback() -> None:
    warnings: list[str] = []
    endpoint = endpoints_from_env({"HUB_HOST": "0.0.0.0", "HUB_DATA_PORT": "9000"},
                                  warnings)["data"]
    assert (endpoint.host, endpoint.port, endpoint.refused, warnings) == (
        "127.0.0.1", 9000, None, [])


@pytest.mark.parametrize("raw", ["-1", "1.5", "abc", " 12", "99999999999999"])
def test_a_malformed_source_date_epoch_is_refused(raw: str) -> None:
    with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH"):
        source_date_epoch({"SOURCE_DATE_EPOCH": raw})
