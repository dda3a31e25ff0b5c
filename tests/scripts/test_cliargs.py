"""What the three ops commands share at their edge (``sheratan_ops.cliargs``), and the thin
scripts run by a python that lacks the package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sheratan_ops.cliargs import metrics_disabled, parse_base_url, program_name
from sheratan_ops.diag import main as diagnose_main

from .conftest import SCRIPTS


@pytest.mark.parametrize(("url", "message"), [
    ("notaurl", "only http:// or https:// is supported, got 'notaurl'"),
    ("ftp://hub:21", "only http:// or https:// is supported, got 'ftp://hub:21'"),
    ("http://127.0.0.1:99999", "bad port in 'http://127.0.0.1:99999' (expected 1..65535)"),
    ("http://127.0.0.1:0", "bad port in 'http://127.0.0.1:0' (expected 1..65535)"),
    ("http://127.0.0.1:http", "bad port in 'http://127.0.0.1:http' (expected 1..65535)"),
    ("http://127.0.0.1:", "bad port in 'http://127.0.0.1:' (expected 1..65535)"),
    ("http://:8787", "expected http://host:port, got 'http://:8787'"),
    ("http://hub:1/?x=1", "give the base URL only (no query or fragment), got 'http://hub:1/?x=1'"),
    ("ftp://u:s3cret@hub", "only http:// or https:// is supported, got the URL (not shown: it "
                           "holds credentials)"),
])
def test_a_bad_base_url_says_what_was_typed(url: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_base_url(url)
    assert str(raised.value) == message


@pytest.mark.parametrize("url", ["http://127.0.0.1:8787", "https://hub.example:1/",
                                 "http://[::1]:65535", "http://localhost", " http://h:2 "])
def test_a_good_base_url_passes(url: str) -> None:
    assert parse_base_url(url).hostname


def test_only_the_schemes_asked_for_pass() -> None:
    with pytest.raises(ValueError, match=r"^only http:// is supported, got 'https://h:1'$"):
        parse_base_url("https://h:1", schemes=("http",))


@pytest.mark.parametrize(("status", "content", "reason"), [
    (503, b'{"error":"metrics_unavailable","reason":"disabled"}', "disabled"),
    (503, b'{"error":"metrics_unavailable","reason":"shut_down"}', None),
    (503, b'{"error":"metrics_unavailable","reason":"collect_failed"}', None),
    (503, b'{"error":"other","reason":"disabled"}', None),
    (503, b"Service Unavailable", None),
    (503, b"[1]", None),
    (200, b'{"error":"metrics_unavailable","reason":"disabled"}', None),
])
def test_only_the_hubs_documented_disabled_answer_counts(status: int, content: bytes,
                                                         reason: str | None) -> None:
    assert metrics_disabled(status, content) == reason


@pytest.mark.parametrize(("argv0", "name"), [
    ("/venv/bin/sheratan-diagnose", "sheratan-diagnose"),
    ("scripts/diagnose.py", "diagnose.py"),
    ("/x/sheratan_ops/diag/__main__.py", "diagnose.py"),
    ("", "diagnose.py"),
])
def test_the_program_name_is_the_one_invoked(argv0: str, name: str) -> None:
    assert program_name("diagnose.py", argv0) == name


def test_diagnose_errors_carry_the_invoked_name(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["/venv/bin/sheratan-diagnose", "--lines", "0"])
    with pytest.raises(SystemExit) as exited:
        diagnose_main(["--lines", "0"], env={})
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "sheratan-diagnose: error: argument --lines" in err and "diagnose.py" not in err


@pytest.mark.parametrize("script", ["diagnose", "hub_top", "smoke_checks"])
def test_a_python_without_the_package_gets_one_line_and_exit_2(script: str,
                                                                tmp_path: Path) -> None:
    # -I -S: no PYTHONPATH, no site-packages, no script folder on the path: only the stdlib.
    done = subprocess.run([sys.executable, "-I", "-S", str(SCRIPTS / f"{script}.py"), "--help"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith(f"{script}.py: this python ({sys.executable}) cannot import "
                                  "sheratan_ops; install the package")
    assert ".venv/bin/pip install ." in done.stderr
    assert f".venv/bin/python scripts/{script}.py" in done.stderr


def test_bench_without_its_dependencies_gets_one_line_and_exit_2(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-I", "-S", str(SCRIPTS / "bench.py"), "--list"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith(f"bench.py: this python ({sys.executable}) cannot import ")
    assert ".venv/bin/pip install '.[bench]'" in done.stderr
