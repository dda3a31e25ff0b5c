"""Fixtures for the watcher tests: a fresh hub home per test and audit-line builders."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from watcher import main
from watcher._timefmt import format_us

#: 2025-01-01T00:00:00Z: far from the wall clock, so follow mode stays purely event-time.
T0_S = 1_735_689_600


def ts(offset_s: float) -> str:
    """The hub's timestamp format for T0 + ``offset_s``."""
    return format_us(round((T0_S + offset_s) * 1_000_000))


def audit(offset_s: float, event: str = "AUTH_FAILURE", client: str = "10.0.0.7",
          **extra: object) -> bytes:
    """One audit line (without newline), shaped like the hub writes them."""
    record: dict[str, object] = {"ts": ts(offset_s), "event": event, "plane": "control",
                                 "port": 8787, "client": client, "method": "GET",
                                 "path": "/nodes"}
    if event == "AUTH_FAILURE":
        record["reason"] = "invalid_token"
    if event == "PORT_MISMATCH":
        record["expected_port"] = 8788
    record.update(extra)
    return orjson.dumps(record)


def burst(start_s: float, count: int, *, event: str = "AUTH_FAILURE",
          client: str = "10.0.0.7", step_s: float = 1.0, **extra: object) -> list[bytes]:
    return [audit(start_s + i * step_s, event, client, **extra) for i in range(count)]


def write_lines(path: Path, lines: list[bytes], *, mode: str = "ab") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, mode) as handle:
        handle.write(b"".join(line + b"\n" for line in lines))


def read_alerts(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line]


@dataclass
class Home:
    """A fresh ``$SHERATAN_HOME`` with the watcher's default paths."""

    root: Path

    @property
    def log(self) -> Path:
        return self.root / "logs" / "hub_security_audit.jsonl"

    @property
    def alerts(self) -> Path:
        return self.root / "logs" / "alerts.jsonl"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def env(self) -> dict[str, str]:
        return {"SHERATAN_HOME": str(self.root)}


@pytest.fixture
def home(tmp_path: Path) -> Home:
    root = tmp_path / "sheratan"
    (root / "logs").mkdir(parents=True)
    return Home(root)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


CliRunner = Callable[..., CliResult]


@pytest.fixture
def run_cli(home: Home) -> CliRunner:
    """Runs ``python -m watcher`` in-process with the home's environment."""

    def run(*argv: str, env: dict[str, str] | None = None) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        code = main(list(argv), env if env is not None else home.env, stdout=out, stderr=err)
        return CliResult(code, out.getvalue(), err.getvalue())

    return run
