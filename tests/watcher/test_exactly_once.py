"""Exactly once: chunked ``--once`` runs, rotations, truncation and crashes equal one replay."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.watcher.conftest import audit, read_alerts, write_lines
from watcher import RuleSet, Watcher, WatchPaths, parse_rules, replay

RULES = parse_rules({"ignore_clients": ["127.0.0.1"], "rules": [
    {"name": "auth", "event": "AUTH_FAILURE", "threshold": 3, "window_s": 10,
     "severity": "warning"},
    {"name": "mismatch", "event": "PORT_MISMATCH", "threshold": 2, "window_s": 5,
     "severity": "warning", "group_by": ["client"], "repeat_after_s": 8},
]})
KEEP = 5


class CrashingWatcher(Watcher):
    """Dies like ``kill -9`` right after writing alerts: no checkpoint ever reaches disk."""

    def checkpoint(self) -> None:
        pass


def run_once(paths: WatchPaths, rules: RuleSet = RULES, *, crash: bool = False) -> None:
    watcher = (CrashingWatcher if crash else Watcher)(rules, paths, idle_advance=False)
    watcher.poll()
    if not crash:
        watcher.close()


def key_counts(alerts: list[dict[str, object]], state: str | None = None) -> Counter[bytes]:
    return Counter(orjson.dumps(a, option=orjson.OPT_SORT_KEYS) for a in alerts
                   if state is None or a["state"] == state)


def replay_alerts(log_bytes: bytes, workdir: Path) -> list[dict[str, object]]:
    whole = workdir / "whole.jsonl"
    whole.write_bytes(log_bytes)
    out = workdir / "replayed.jsonl"
    replay(RULES, whole, out)
    return read_alerts(out)


def shift_rotated(log: Path) -> None:
    for index in range(KEEP - 1, 0, -1):
        older = log.with_name(f"{log.name}.{index}")
        if older.exists():
            os.replace(older, log.with_name(f"{log.name}.{index + 1}"))


_line = st.tuples(
    # The hub stamps microseconds, so no two of its lines are equal; the fingerprint relies on
    # that to tell a rewritten file from the one already read.
    st.sampled_from([0.001, 0.2, 0.5, 1.0, 3.0, 12.0]),
    st.sampled_from(["AUTH_FAILURE", "AUTH_FAILURE", "PORT_MISMATCH", "LEAK_BLOCKED"]),
    st.sampled_from(["10.0.0.1", "10.0.0.2", "127.0.0.1"]),
    st.booleans(),
)
_step = st.tuples(
    st.floats(min_value=0, max_value=1),
    st.sampled_from(["run", "run", "crash", "rotate", "copytruncate", "truncate", "none"]),
)


def build_log(spec: list[tuple[float, str, str, bool]]) -> bytes:
    lines: list[bytes] = []
    now = 0.0
    for index, (delta, event, client, garbage) in enumerate(spec):
        now += delta
        lines.append(audit(now, event, client))
        if garbage:
            lines.append(b'{"ts": broken \xff %d' % index)
    return b"".join(line + b"\n" for line in lines)


def simulate(spec: list[tuple[float, str, str, bool]], steps: list[tuple[float, str]],
             root: Path) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Feeds the log of ``spec`` through runs, rotations and crashes; returns (chunked, replay)."""
    data = build_log(spec)
    log = root / "logs" / "audit.jsonl"
    log.parent.mkdir()
    log.touch()
    paths = WatchPaths(log=log, alerts=root / "logs" / "alerts.jsonl", state_dir=root / "state")
    run_once(paths)  # the watcher's life starts with the log's
    written = 0
    rotations = 0
    for fraction, action in sorted(steps):
        cut = max(written, int(fraction * len(data)))
        if action in ("rotate", "copytruncate", "truncate"):
            newline = data.find(b"\n", cut)  # these happen between lines
            cut = len(data) if newline < 0 else newline + 1
        with open(log, "ab") as handle:
            handle.write(data[written:cut])
        written = cut
        if action in ("rotate", "copytruncate"):
            rotations += 1
            if rotations >= KEEP:  # never rotate unread data out of the kept set
                run_once(paths)
                rotations = 0
            shift_rotated(log)
            if action == "rotate":
                os.replace(log, log.with_name(f"{log.name}.1"))
                log.touch()
            else:
                shutil.copyfile(log, log.with_name(f"{log.name}.1"))
                with open(log, "r+b") as handle:
                    handle.truncate(0)
        elif action == "truncate":
            run_once(paths)  # truncation loses whatever was not read yet
            rotations = 0
            with open(log, "r+b") as handle:
                handle.truncate(0)
        elif action in ("run", "crash"):
            run_once(paths, crash=action == "crash")
            if action == "run":
                rotations = 0
    with open(log, "ab") as handle:
        handle.write(data[written:])
    run_once(paths)
    return read_alerts(paths.alerts), replay_alerts(data, root)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=st.lists(_line, min_size=5, max_size=120), steps=st.lists(_step, max_size=12))
def test_chunked_runs_with_rotations_and_crashes_equal_one_replay(
    spec: list[tuple[float, str, str, bool]], steps: list[tuple[float, str]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        chunked, whole = simulate(spec, steps, Path(tmp))
    context = f"spec={spec!r} steps={steps!r}"
    assert key_counts(chunked, "firing") == key_counts(whole, "firing"), context
    assert key_counts(chunked) == key_counts(whole), context  # no wall clock: resolves too


def test_alerts_are_not_written_twice_after_losing_the_checkpoint(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_lines(log, [*(audit(i) for i in range(10)), audit(100, "LEAK_BLOCKED")])
    paths = WatchPaths(log=log, alerts=tmp_path / "alerts.jsonl", state_dir=tmp_path / "state")
    run_once(paths)
    assert len(read_alerts(paths.alerts)) == 2
    paths.checkpoint.unlink()
    run_once(paths)
    assert len(read_alerts(paths.alerts)) == 2


def test_a_torn_alert_line_is_cut_and_written_whole_again(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_lines(log, [*(audit(i) for i in range(10)), audit(100, "LEAK_BLOCKED")])
    paths = WatchPaths(log=log, alerts=tmp_path / "alerts.jsonl", state_dir=tmp_path / "state")
    run_once(paths, crash=True)
    complete = paths.alerts.read_bytes()
    paths.alerts.write_bytes(complete[: len(complete) - 15])  # the crash tore the last write
    run_once(paths)
    assert paths.alerts.read_bytes() == complete
