"""The benchmark framework: variants run interleaved, medians, spreads and ratios."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


class BenchError(RuntimeError):
    """A benchmark could not run, or the hub answered something other than expected."""



@dataclass(frozen=True, slots=True)
class Settings:
    """How long to run. ``scale`` multiplies every benchmark's operations per run."""

    runs: int = 5
    scale: float = 1.0

    def ops(self, full: int) -> int:
        return max(10, round(full * self.scale))


@dataclass(frozen=True, slots=True)
class Variant:
    """One way of running a workload. ``run(n)`` performs n operations and returns the seconds
    they took; ``baseline`` names the variant this one is compared with.

    ``cpu_s``, when given, reads the CPU seconds used so far by the process that serves the
    requests. CPU time per operation is far less sensitive than wall time to other processes
    competing for the cores, so it is the better number for overhead comparisons.
    """

    mode: str
    ops: int
    run: Callable[[int], float]
    baseline: str | None = None
    cpu_s: Callable[[], float | None] | None = None


@dataclass(frozen=True, slots=True)
class Row:
    """The result of one variant: its runs in operations per second."""

    benchmark: str
    case: str
    mode: str
    unit: str
    ops_per_run: int
    samples: tuple[float, ...]
    baseline: str | None = None
    ratios: tuple[float, ...] = field(default=())
    cpu_us_per_op: tuple[float, ...] = field(default=())

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> float:
        low, high = min(self.samples), max(self.samples)
        if high == low:
            return 0.0  # a count that was 0 in every run has no spread, not 0/0
        return (high - low) / self.median if self.median else float("inf")

    @property
    def ratio(self) -> float | None:
        return statistics.median(self.ratios) if self.ratios else None

    @property
    def cpu_us(self) -> float | None:
        return statistics.median(self.cpu_us_per_op) if self.cpu_us_per_op else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(median=self.median, min=min(self.samples), max=max(self.samples),
                    spread=self.spread, ratio=self.ratio, cpu_us=self.cpu_us)
        return data


def measure(benchmark: str, case: str, unit: str, variants: Sequence[Variant],
            settings: Settings) -> list[Row]:
    """Warm every variant up, then run them interleaved ``settings.runs`` times."""
    modes = {v.mode for v in variants}
    for variant in variants:
        if variant.baseline is not None and variant.baseline not in modes:
            raise ValueError(f"{variant.mode}: unknown baseline {variant.baseline!r}")
        variant.run(max(1, variant.ops // 5))  # warm-up: connections, caches, first queries
    samples: dict[str, list[float]] = {v.mode: [] for v in variants}
    cpu: dict[str, list[float]] = {v.mode: [] for v in variants}
    for _ in range(settings.runs):
        for variant in variants:
            cpu_before = variant.cpu_s() if variant.cpu_s else None
            elapsed_s = variant.run(variant.ops)
            cpu_after = variant.cpu_s() if variant.cpu_s else None
            samples[variant.mode].append(variant.ops / elapsed_s)
            if cpu_before is not None and cpu_after is not None:
                cpu[variant.mode].append((cpu_after - cpu_before) * 1e6 / variant.ops)
    rows = []
    for variant in variants:
        own = samples[variant.mode]
        ratios = (tuple(a / b for a, b in zip(own, samples[variant.baseline], strict=True))
                  if variant.baseline else ())
        rows.append(Row(benchmark, case, variant.mode, unit, variant.ops, tuple(own),
                        variant.baseline, ratios, tuple(cpu[variant.mode])))
    return rows


def render_table(rows: Sequence[Row]) -> str:
    """A Markdown table, so results paste straight into ``docs/performance.md``."""
    header = ("benchmark", "case", "mode", "median", "min", "max", "spread", "vs", "ratio",
              "hub CPU/op")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        ratio = f"{row.ratio:.3f}x" if row.ratio is not None else ""
        cpu = f"{row.cpu_us:,.0f} µs" if row.cpu_us is not None else ""
        cells = (row.benchmark, row.case, row.mode, f"{_number(row.median)} {row.unit}",
                 _number(min(row.samples)), _number(max(row.samples)),
                 f"{row.spread:.0%}", row.baseline or "", ratio, cpu)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _number(value: float) -> str:
    # Small values (a stall of 2.4 ms) keep a decimal; whole numbers and rates do not.
    return f"{value:,.1f}" if abs(value) < 100 and value != int(value) else f"{value:,.0f}"


def machine() -> dict[str, Any]:
    affinity = getattr(os, "sched_getaffinity", None)
    return {
        "nproc": len(affinity(0)) if affinity else os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "loadavg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


@dataclass(frozen=True, slots=True)
class Benchmark:
    name: str
    fn: Callable[[Settings], list[Row]]

    @property
    def summary(self) -> str:
        """The docstring's first paragraph, on one line (``--list``)."""
        first = (self.fn.__doc__ or "").strip().split("\n\n", 1)[0]
        return " ".join(first.split())
