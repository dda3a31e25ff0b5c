"""The shared binary lookup: skip on a developer machine, fail loudly under CI."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import require_binary

MISSING = "definitely-not-a-prometheus-binary"


def test_a_missing_binary_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=MISSING):
        require_binary(MISSING)


def test_a_missing_binary_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=f"{MISSING} is missing, and CI=true"):
        require_binary(MISSING)


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX executable bit is used")
def test_a_present_binary_is_returned_by_path(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    fake = tmp_path / "promtool"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CI", "true")
    assert require_binary("promtool") == str(fake)
