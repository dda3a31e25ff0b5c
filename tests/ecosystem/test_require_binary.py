"""The shared binary lookup: skip on a developer machine, fail loudly under CI."""

from __future__ import annotations

import pytest

from tests.ecosystem.conftest import require_binary

MISSING = "definitely-not-a-prometheus-binary"


def test_a_missing_binary_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=MISSING):
        require_binary(MISSING)


def test_a_missing_binary_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=f"{MISSING} is missing, and CI=true"):
        require_binary(MISSING)


def test_a_present_binary_is_returned_by_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert require_binary("sh").endswith("/sh")
