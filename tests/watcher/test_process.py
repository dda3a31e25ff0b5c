"""The watcher as a real process: follow mode, SIGTERM, and kill -9 with exactly-once alerts."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from tests.otlp_receiver import wait_for
from tests.watcher.conftest import Home, audit, burst, read_alerts, write_lines
from watcher import EXIT_INTERRUPTED, EXIT_LOCKED, default_rules, replay

REPO = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]


def start(home: Home, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "OTEL_"))}
    env.update(home.env, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "watcher", *args], cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_follow_mode_alerts_and_exits_0_on_sigterm(home: Home) -> None:
    proc = start(home, "--interval-ms", "50", "--status-interval-s", "0.2")
    try:
        status = home.state / "watcher_status.json"
        # "starting" comes first (the lock is held); then the log, which does not exist yet,
        # is waited for.
        assert wait_for(lambda: status.exists()
                        and orjson.loads(status.read_bytes())["state"] == "waiting_for_log", 15)
        write_lines(home.log, burst(0, 11, client="10.0.0.9"))
        assert wait_for(lambda: len(read_alerts(home.alerts)) == 1, 15)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "ALERT FIRING auth_failure_burst" in out
    assert "status: following lines=11" in out
    final = orjson.loads(status.read_bytes())
    assert final["state"] == "stopped"
    assert final["lines_read"] == 11
    assert final["alerts"] == 1
    assert final["lag_bytes"] == 0
    assert (home.state / "watcher_checkpoint.json").exists()


def test_sigint_exits_0_too(home: Home) -> None:
    write_lines(home.log, [audit(0)])
    proc = start(home, "--interval-ms", "50")
    try:
        assert wait_for(lambda: (home.state / "watcher_status.json").exists(), 15)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err


def _firing(alerts: list[dict[str, object]]) -> Counter[bytes]:
    return Counter(orjson.dumps(a, option=orjson.OPT_SORT_KEYS) for a in alerts
                   if a["state"] == "firing")


def test_kill_9_at_random_moments_never_loses_or_duplicates_alerts(
    home: Home, tmp_path: Path
) -> None:
    rnd = random.Random(4242)
    lines: list[bytes] = []
    now = 0.0
    for _ in range(1500):
        now += rnd.choice([0.01, 0.05, 0.3, 2.0])
        event = rnd.choice(["AUTH_FAILURE", "PORT_MISMATCH", "PORT_MISMATCH", "LEAK_BLOCKED"])
        lines.append(audit(now, event, rnd.choice(["10.0.0.1", "10.0.0.2", "10.0.0.3"])))
    data = b"".join(line + b"\n" for line in lines)
    home.log.touch()
    proc = start(home, "--interval-ms", "10")
    # The watcher's life starts with the log's: its first checkpoint names the file. After
    # that, every kill is at a random moment.
    assert wait_for((home.state / "watcher_checkpoint.json").exists, 15)
    written = 0
    rotated = False
    try:
        for kill in range(4):
            for _ in range(rnd.randint(10, 30)):
                cut = min(len(data), written + rnd.randint(1, 4000))  # cuts mid-line too
                with open(home.log, "ab") as handle:
                    handle.write(data[written:cut])
                written = cut
                time.sleep(rnd.choice([0, 0.001, 0.01]))
            if kill == 1 and not rotated:
                newline = data.find(b"\n", written)
                with open(home.log, "ab") as handle:
                    handle.write(data[written:newline + 1])
                written = newline + 1
                os.replace(home.log, home.log.with_name(home.log.name + ".1"))
                rotated = True
            time.sleep(rnd.random() * 0.2)
            proc.kill()  # SIGKILL: no handler, no flush, no final checkpoint
            proc.communicate()
            proc = start(home, "--interval-ms", "10")
        with open(home.log, "ab") as handle:
            handle.write(data[written:])
        time.sleep(0.3)
        proc.kill()
        proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    finish = start(home, "--once")
    _, err = finish.communicate(timeout=60)
    assert finish.returncode == 0, err
    whole = tmp_path / "whole.jsonl"
    whole.write_bytes(data)
    replay(default_rules(), whole, tmp_path / "replayed.jsonl")
    expected = _firing(read_alerts(tmp_path / "replayed.jsonl"))
    assert expected  # the log does contain bursts
    assert _firing(read_alerts(home.alerts)) == expected


def test_a_second_watcher_on_the_same_home_exits_and_the_first_keeps_going(
    home: Home
) -> None:
    write_lines(home.log, burst(0, 11, client="10.0.0.9"))
    follower = start(home, "--interval-ms", "20")
    try:
        assert wait_for(lambda: len(read_alerts(home.alerts)) == 1, 15)
        for _ in range(3):
            second = start(home, "--once")
            _, err = second.communicate(timeout=30)
            assert second.returncode == EXIT_LOCKED, err
            assert f"another watcher is already running on {home.root}" in err
            assert "Traceback" not in err
        assert follower.poll() is None  # not crashed by the other's temp files
        write_lines(home.log, burst(100, 11, client="10.0.0.9"))
        # resolved, then firing again
        assert wait_for(lambda: len(read_alerts(home.alerts)) == 3, 15)
        time.sleep(0.3)
        assert follower.poll() is None
        follower.send_signal(signal.SIGTERM)
        _, err = follower.communicate(timeout=10)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.communicate()
    assert follower.returncode == 0, err
    alerts = read_alerts(home.alerts)
    assert [a["state"] for a in alerts] == ["firing", "resolved", "firing"]
    assert len({orjson.dumps(a) for a in alerts}) == 3
    # After the follower is gone, --once may run, and writes nothing twice.
    again = start(home, "--once")
    _, err = again.communicate(timeout=30)
    assert again.returncode == 0, err
    assert read_alerts(home.alerts) == alerts


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_replay_stopped_by_a_signal_exits_130_and_writes_nothing(
    home: Home, tmp_path: Path, signum: int
) -> None:
    log = tmp_path / "big.jsonl"
    block = b"".join(line + b"\n" for line in burst(0, 20_000, step_s=0.001))
    with open(log, "wb") as handle:
        for _ in range(30):  # 600k lines: seconds of work, and chunks to stop between
            handle.write(block)
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = outdir / "alerts.jsonl"
    proc = start(home, "--replay", str(log), "--alerts", str(out))
    try:
        # the temp output exists: the replay is running
        assert wait_for(lambda: any(outdir.iterdir()), 15)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "Traceback" not in err
    assert "interrupted" in err
    assert list(outdir.iterdir()) == []  # neither the final name nor a temp file
