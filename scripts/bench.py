"""The project's benchmarks: the one place they live, one module each in scripts/benchmarks/.

Usage, from the repository root::

    python scripts/bench.py                 # every benchmark, 5 runs each
    python scripts/bench.py --quick         # a short run (3 smaller runs): a smoke test
    python scripts/bench.py --only health   # one benchmark (repeat --only for more)
    python scripts/bench.py --list
    python scripts/bench.py --json          # machine-readable rows instead of the table

How it measures. A benchmark builds *variants* of one workload (say ``GET /health`` called
in-process, over loopback, over loopback with 8 concurrent clients), each a callable that
times one run and returns operations per second. The variants' runs are interleaved (run 1
of every variant, then run 2, ...), so a noisy neighbour slows all of them alike, and each
variant is reported as the median of its runs with min, max and spread
(``(max - min) / median``). A variant may name a baseline variant: its ratio to it is the
median of the per-run ratios, which is the number to compare on a noisy 2-core machine.

Adding a benchmark: in a module of ``scripts/benchmarks/``, write
``def bench_x(settings: Settings) -> list[Row]`` that builds its variants and returns
``measure("x", "<case>", "<unit>", variants, settings)`` rows, and list it in
``benchmarks.BENCHMARKS``. The framework is ``benchmarks/framework.py``; the hubs to measure
(in-process and loopback) are in ``benchmarks/hubs.py``.

The scripts benchmark the checkout they live in: the repository root goes first on
``sys.path``, and the loopback hub is started with it on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
for _path in (REPO_ROOT, REPO_ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

try:
    from benchmarks import BENCHMARKS
    from benchmarks.framework import BenchError, Row, Settings, machine, render_table
except ModuleNotFoundError as missing:  # run by a python without the package: one line
    print(f"bench.py: this python ({sys.executable}) cannot import {missing.name}; install the "
          "package as the README says (python3 -m venv .venv && .venv/bin/pip install '.[bench]')"
          " and run .venv/bin/python scripts/bench.py", file=sys.stderr)
    raise SystemExit(2) from None

EXIT_OK = 0
EXIT_BENCH_FAILED = 1
EXIT_USAGE = 2


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None
    if not 1 <= number <= 100:
        raise argparse.ArgumentTypeError(f"must be 1..100, got {number}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench.py", description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--quick", action="store_true",
                        help="a short run: 3 runs of a tenth of the operations")
    parser.add_argument("--runs", type=_positive_int, help="runs per variant (default 5; 3 quick)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        for bench in BENCHMARKS.values():
            print(f"{bench.name:10} {bench.summary}")
        return EXIT_OK
    settings = Settings(runs=args.runs or (3 if args.quick else 5),
                        scale=0.1 if args.quick else 1.0)
    names = args.only or list(BENCHMARKS)
    command = " ".join(["python scripts/bench.py", *(sys.argv[1:] if argv is None else argv)])
    host = machine()  # before the run: the load average then is other processes' load
    rows: list[Row] = []
    started = time.perf_counter()
    try:
        for name in dict.fromkeys(names):
            rows += BENCHMARKS[name].fn(settings)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BENCH_FAILED
    elapsed_s = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps({"command": command, "machine": host, "runs": settings.runs,
                          "scale": settings.scale, "elapsed_s": elapsed_s,
                          "rows": [row.to_json() for row in rows]}, indent=2))
    else:
        print(f"# {command}")
        print(f"# {host['nproc']} CPUs, load {host['loadavg_1m']}, {host['implementation']} "
              f"{host['python']}, {host['platform']}; {settings.runs} runs; {elapsed_s} s")
        print(render_table(rows))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
