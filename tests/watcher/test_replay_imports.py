"""``python -m watcher --replay`` imports only what a replay uses (issue 12).

A replay holds no lock, writes no checkpoint, posts to no Alertmanager unless asked and
exports no OTel records; for a log whose clients are all addresses it gathers no secrets.
Each of those modules costs start-up time; follow mode and ``--once`` still import them,
which shows the check below would see them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.watcher.conftest import Home, burst, write_lines

REPO = Path(__file__).resolve().parents[2]
#: What --replay of a log of addresses must not import.
NOT_FOR_REPLAY = (
    "filelock",
    "httpx",
    "opentelemetry",
    "otel._fingerprint",
    "otel._known",
    "otel._lockfile",
    "otel._redaction",
    "otel._scanner",
    "otel._secrets",
    "watcher._alertmanager",
    "watcher._am_alerts",
    "watcher._checkpoint",
    "watcher._lock",
    "watcher._otel",
    "watcher._runner",
    "importlib.resources",
)
#: Runs the module as ``python -m watcher`` does, then names what of the above it imported.
_SCRIPT = f"""
import json, runpy, sys
sys.argv = ["watcher", *sys.argv[1:]]
try:
    runpy.run_module("watcher", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
names = {NOT_FOR_REPLAY!r}
print(json.dumps([code, [n for n in names if n in sys.modules]]))
"""


def _imported(home: Home, *argv: str) -> tuple[int, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "OTEL_"))}
    done = subprocess.run([sys.executable, "-c", _SCRIPT, *argv],
                          cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={**env, **home.env, "PYTHONPATH": str(REPO)})
    code, names = json.loads(done.stdout.splitlines()[-1])
    return code, names


def test_a_replay_of_addresses_imports_no_lock_checkpoint_alertmanager_or_secrets(
    home: Home, tmp_path: Path
) -> None:
    write_lines(home.log, [*burst(0, 11, event="PORT_MISMATCH", client="10.0.0.7"),
                           *burst(20, 11, event="PORT_MISMATCH", client="2001:db8::7")])
    out = tmp_path / "out.jsonl"
    assert _imported(home, "--replay", str(home.log), "--alerts", str(out)) == (0, [])
    assert len(out.read_bytes().splitlines()) == 2  # it did replay: one alert per client


def test_once_and_a_hostname_client_still_import_what_they_use(home: Home,
                                                               tmp_path: Path) -> None:
    write_lines(home.log, burst(0, 11, event="PORT_MISMATCH", client="ws0001.corp.example"))
    code, names = _imported(home, "--replay", str(home.log), "--alerts",
                            str(tmp_path / "out.jsonl"))
    assert code == 0 and {"otel._secrets", "otel._redaction"} <= set(names)
    assert "filelock" not in names and "watcher._checkpoint" not in names
    code, names = _imported(home, "--once")
    assert code == 0
    assert {"filelock", "watcher._lock", "watcher._checkpoint", "watcher._runner"} <= set(names)
