"""``scripts/bench.py``: the framework's arithmetic in-process, one quick benchmark end to end.

Benchmarks are not tests: nothing here asserts a speed, only that the numbers are produced
and put together correctly.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import SCRIPTS, clean_env, load_script

BENCH = SCRIPTS / "bench.py"
bench = load_script("bench")  # puts scripts/ on sys.path
framework = importlib.import_module("benchmarks.framework")


def _fixed(seconds: list[float]) -> Callable[[int], float]:
    """A run that takes the next of ``seconds`` (the warm-up run comes first)."""
    pending = list(seconds)
    return lambda n: pending.pop(0)


def test_measure_takes_the_median_and_per_run_ratios() -> None:
    settings = framework.Settings(runs=3)
    variants = [
        framework.Variant("fast", 100, _fixed([9.0, 1.0, 2.0, 4.0])),
        framework.Variant("slow", 100, _fixed([9.0, 2.0, 2.0, 16.0]), baseline="fast"),
    ]

    fast, slow = framework.measure("b", "case", "op/s", variants, settings)

    assert fast.samples == (100.0, 50.0, 25.0) and fast.median == 50.0
    assert fast.spread == pytest.approx(1.5)  # (100 - 25) / 50
    assert slow.samples == (50.0, 50.0, 6.25)
    # Per-run ratios 0.5, 1.0, 0.25: their median, not the ratio of the medians (1.0).
    assert slow.ratio == 0.5 and fast.ratio is None


def test_measure_reports_cpu_per_operation_when_given_a_cpu_clock() -> None:
    readings = iter([0.0, 0.001, 0.002, 0.004])  # before/after each of two runs
    variant = framework.Variant("a", 100, _fixed([1.0, 1.0, 1.0]),
                            cpu_s=lambda: next(readings))

    (row,) = framework.measure("b", "case", "op/s", [variant], framework.Settings(runs=2))

    assert row.cpu_us_per_op == pytest.approx((10.0, 20.0)) and row.cpu_us == pytest.approx(15)


def test_measure_rejects_an_unknown_baseline() -> None:
    variants = [framework.Variant("a", 10, _fixed([1.0]), baseline="nope")]
    with pytest.raises(ValueError, match="nope"):
        framework.measure("b", "case", "op/s", variants, framework.Settings(runs=1))


def test_list_and_bad_usage() -> None:
    listed = subprocess.run([sys.executable, str(BENCH), "--list"], env=clean_env(),
                            capture_output=True, text=True, timeout=60, check=False)
    assert listed.returncode == 0
    assert [line.split()[0] for line in listed.stdout.splitlines()] == list(bench.BENCHMARKS)
    jobs = next(line for line in listed.stdout.splitlines() if line.startswith("jobs "))
    # The whole first paragraph of the docstring, not its first line cut mid-sentence.
    assert jobs.endswith("on the data plane. The unit is cycles (3 requests, 3 SQLite writes).")

    bad = subprocess.run([sys.executable, str(BENCH), "--only", "nope"], env=clean_env(),
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


@pytest.mark.e2e
def test_quick_health_benchmark_runs_end_to_end() -> None:
    # About 3 s on a 2-core machine: an in-process hub plus a real hub process on loopback.
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--only", "health", "--runs", "2", "--json"],
        env=clean_env(), capture_output=True, text=True, timeout=60, check=False,
    )

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["runs"] == 2 and report["machine"]["nproc"] >= 1
    rows = report["rows"]
    assert [row["mode"] for row in rows] == [
        "in-process", "loopback httpx", "loopback raw c=1", "loopback raw c=8"]
    for row in rows:
        assert row["benchmark"] == "health" and len(row["samples"]) == 2
        assert row["median"] > 0 and row["min"] <= row["median"] <= row["max"]
        assert (row["ratio"] is None) == (row["baseline"] is None)


def test_the_generated_audit_log_knows_what_a_fail2ban_filter_must_match(tmp_path: Path) -> None:
    # The replay benchmark checks fail2ban-regex's counts against these; a wrong count would
    # fail every run, a count that is right by accident would hide a filter that misses lines.
    watcher_bench = importlib.import_module("benchmarks.watcher")
    log = watcher_bench.write_audit_log(tmp_path / "audit.jsonl", 5_000)
    remote: dict[str, int] = {}
    local: dict[str, int] = {}
    lines = (tmp_path / "audit.jsonl").read_bytes().splitlines()
    for line in lines:
        record = json.loads(line)
        counts = local if record["client"] in ("127.0.0.1", "::1") else remote
        counts[record["event"]] = counts.get(record["event"], 0) + 1
    assert log.lines == len(lines) == 5_000
    assert (log.remote, log.local) == (remote, local)
    for events in watcher_bench.F2B_EVENTS.values():
        assert log.matched(events) == (sum(local.get(e, 0) for e in events),
                                       sum(remote.get(e, 0) for e in events))
    assert log.matched(watcher_bench.F2B_EVENTS["both"])[1] > \
        log.matched(watcher_bench.F2B_EVENTS["auth"])[1] > 0
