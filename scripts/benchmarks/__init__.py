"""The project's benchmarks, one module per subject; ``scripts/bench.py`` runs them."""

from __future__ import annotations

from .audit_source import bench_audit_source
from .diagnose import bench_diagnose
from .framework import Benchmark
from .hub import bench_health, bench_jobs
from .metrics import bench_overhead, bench_scrape
from .stall import bench_stall
from .watcher import bench_follow, bench_replay

BENCHMARKS: dict[str, Benchmark] = {
    b.name: b for b in (
        Benchmark("health", bench_health),
        Benchmark("jobs", bench_jobs),
        Benchmark("overhead", bench_overhead),
        Benchmark("scrape", bench_scrape),
        Benchmark("stall", bench_stall),
        Benchmark("replay", bench_replay),
        Benchmark("follow", bench_follow),
        Benchmark("diagnose", bench_diagnose),
        Benchmark("audit_source", bench_audit_source),
    )
}
