"""Running a measured process: its wall time and its own peak RSS, fairly."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .framework import BenchError
from .hubs import REPO_ROOT

#: Starts the measured process and reports its wall time and rusage. A child forked by the
#: bench process itself would report at least the bench process' own peak RSS: Linux carries
#: the parent's high-water mark into the child's ru_maxrss across fork and exec. Forked from
#: this small interpreter instead, the floor is about 10 MB, below every measured process.
_LAUNCHER = ("import os, subprocess, sys, time\n"
             "start = time.perf_counter()\n"
             "proc = subprocess.Popen(sys.argv[2:])\n"
             "_, status, usage = os.wait4(proc.pid, 0)\n"
             "elapsed = time.perf_counter() - start\n"
             "with open(sys.argv[1], 'w') as f:\n"
             "    f.write(f'{os.waitstatus_to_exitcode(status)} {elapsed} {usage.ru_maxrss}')\n")


def run_child(args: list[str], *, what: str, env: dict[str, str]
              ) -> tuple[float, float | None, str]:
    """Runs one process to its end: its wall seconds, its own peak RSS in MB (``os.wait4`` in
    a small launcher, this child alone; None where there is no ``os.wait4``) and its output."""
    with tempfile.TemporaryDirectory(prefix="bench-child-") as tmp:
        report = Path(tmp) / "rusage"
        launch = hasattr(os, "wait4")
        full = [sys.executable, "-c", _LAUNCHER, str(report), *args] if launch else args
        with (Path(tmp) / "out").open("w+b") as sink:
            start = time.perf_counter()
            code = subprocess.run(full, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                                  stdout=sink, stderr=subprocess.STDOUT, check=False).returncode
            elapsed_s = time.perf_counter() - start
            sink.seek(0)
            output = sink.read().decode(errors="replace")
        rss_mb: float | None = None
        if launch and code == 0:
            child_code, child_s, maxrss_kib = report.read_text().split()
            code, elapsed_s, rss_mb = int(child_code), float(child_s), int(maxrss_kib) / 1024
    if code != 0:
        raise BenchError(f"{what} exited {code}: {output[-2000:]}")
    return elapsed_s, rss_mb, output
