"""Fixtures for the diagnose bundle: synthetic hub homes, CLI runs and bundle readers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from baseline_hub.db import connect
from otel import FINGERPRINT_FILE, TokenFingerprint, write_fingerprint
from tests.scripts.conftest import checkout_env

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "scripts"
DIAGNOSE = SCRIPTS / "diagnose.py"

#: Every member CONTRACT section 5 names.
CONTRACT_MEMBERS = frozenset({
    "manifest.json", "health/control.json", "health/data.json", "metrics/control.json",
    "metrics/data.json", "registry.json", "logs/hub_control.log", "logs/hub_data.log",
    "logs/hub_security_audit.jsonl", "logs/alerts.jsonl", "env_keys.txt",
})
#: A port nothing listens on: diagnose sees a hub that is down.
DOWN_URLS = ("--control-url", "http://127.0.0.1:9", "--data-url", "http://127.0.0.1:9")
#: The token of a test home that has only the hub's fingerprint of it (as a v1.5 hub that
#: took its token from its own environment leaves it), and nowhere else.
FINGERPRINTED_TOKEN = "fingerprinted-hub-token-7Qm2Lx9Rv4"
#: A token for runs that only need diagnose to know some token (HUB_TOKEN).
ENV_TOKEN = "env-hub-token-0123456789abcdef"


def clean_env(**extra: str) -> dict[str, str]:
    """The test process' environment without hub, OTel or reproducibility settings, with
    this checkout first on ``PYTHONPATH`` (for diagnose run in a subprocess)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HUB_", "OTEL_"))
           and k not in ("SHERATAN_HOME", "SOURCE_DATE_EPOCH")}
    env.update(extra)
    return checkout_env(env)


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def bundle(self) -> Path:
        assert self.returncode == 0, self.stderr
        return Path(self.stdout.strip().splitlines()[-1])


def run_cli(args: Iterable[str], env: Mapping[str, str], *, cwd: Path) -> Run:
    """``python scripts/diagnose.py ARGS`` as a user runs it, in its own process (this
    checkout's code)."""
    proc = subprocess.run([sys.executable, str(DIAGNOSE), *args], cwd=cwd, env=checkout_env(env),
                          capture_output=True, text=True, timeout=60, check=False)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def read_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def read_json(members: Mapping[str, bytes], name: str) -> Any:
    return json.loads(members[name])


def make_home(home: Path, *, token: str | None = None,
              fingerprint: str | None = FINGERPRINTED_TOKEN,
              nodes: Iterable[tuple[str, Any, float]] = (),
              job_states: Iterable[str] = (),
              logs: Mapping[str, str] | None = None) -> Path:
    """A hub home as a stopped hub leaves it: ``hub.db`` (checkpointed, no WAL files),
    logs, the token file when ``token`` is given, and the fingerprint of ``fingerprint``
    (the v1.5 hub writes one at start) unless it is None.

    Args:
        nodes: (node_id, meta, last_seen) rows.
        job_states: one job per entry, in that state.
        logs: file name under ``logs/`` -> content.
    """
    for folder in ("logs", "state", "secrets", "configs"):
        (home / folder).mkdir(parents=True, exist_ok=True)
    if token is not None:
        (home / "secrets" / "hub_token").write_text(token + "\n", encoding="utf-8")
    if fingerprint is not None:
        write_fingerprint(home / FINGERPRINT_FILE, TokenFingerprint.of(fingerprint))
    conn = connect(home / "state" / "hub.db")
    try:
        now = time.time()
        for node_id, meta, last_seen in nodes:
            conn.execute("INSERT INTO nodes (node_id, name, meta, registered_at, last_seen) "
                         "VALUES (?, ?, ?, ?, ?)",
                         (node_id, node_id.upper(), json.dumps(meta), last_seen, last_seen))
        for i, state in enumerate(job_states):
            conn.execute("INSERT INTO jobs (job_id, kind, state, max_attempts, created_at, "
                         "updated_at) VALUES (?, 'k', ?, 3, ?, ?)", (f"job-{i}", state, now, now))
    finally:
        conn.close()  # the last connection checkpoints and removes -wal/-shm
    for name, text in (logs or {}).items():
        (home / "logs" / name).write_text(text, encoding="utf-8")
    return home


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path
