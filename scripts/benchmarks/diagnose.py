"""The diagnose bundle (issue 5): 1 MB vs 1 GB logs with the hub down, and with the hub up."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from .framework import Row, Settings, Variant, measure
from .hubs import REPO_ROOT, WIRED_HUB, expect, loopback_hub
from .procs import run_child

DIAGNOSE = REPO_ROOT / "scripts" / "diagnose.py"
_MIB = 1024 * 1024
#: Where diagnose finds no hub: the "hub down" cases measure the offline path.
_CLOSED_URL = "http://127.0.0.1:9"
#: The token of the stopped hubs' homes, known to diagnose only by its fingerprint.
_BENCH_TOKEN = "bench-hub-token-0123456789abcdefXYZ"
_AUDIT_LINE = (b'{"ts":"2026-11-29T10:15:02.123456Z","event":"AUTH_FAILURE","plane":"control",'
               b'"port":8787,"client":"10.0.0.7","method":"GET","path":"/nodes",'
               b'"reason":"invalid_token"}\n')


def _fill_log(path: Path, size_bytes: int) -> None:
    """Write ``size_bytes`` of audit-like lines fast: one 1 MiB block, written repeatedly."""
    block = _AUDIT_LINE * (_MIB // len(_AUDIT_LINE))
    with path.open("wb") as handle:
        written = 0
        while written < size_bytes:
            chunk = block[: size_bytes - written]
            handle.write(chunk)
            written += len(chunk)


def _diagnose_home(root: Path, name: str, log_bytes: int, *, link: bool) -> Path:
    """A stopped hub's home: 50 nodes, and the three hub logs of ``log_bytes`` each. With
    ``link`` they are hard links of one file, so 1 GB costs 1 GB of disk, not 3 (not for a
    home a live hub will append to)."""
    from baseline_hub.db import connect  # only this benchmark needs it
    from otel import TokenFingerprint, write_fingerprint
    from sheratan_home import HomeLayout

    home = root / name
    files = HomeLayout(home)
    files.logs_dir.mkdir(parents=True)
    # As a v1.5 hub leaves its home: diagnose, run without HUB_TOKEN, finds the token by
    # this fingerprint, and without it would write no bundle.
    write_fingerprint(files.token_fingerprint, TokenFingerprint.of(_BENCH_TOKEN))
    conn = connect(files.db)
    try:
        now = time.time()
        for i in range(50):
            conn.execute("INSERT INTO nodes (node_id, name, meta, registered_at, last_seen) "
                         "VALUES (?, ?, '{\"api_key\":\"k-123456789\"}', ?, ?)",
                         (f"node-{i}", f"n{i}", now, now - i))
    finally:
        conn.close()
    first = files.control_log
    _fill_log(first, log_bytes)
    for other in (files.data_log, files.audit_log):
        try:
            if not link:
                raise OSError("copy wanted")
            os.link(first, other)
        except OSError:  # a file system without hard links, or a live hub's home
            _fill_log(other, log_bytes)
    return home


def _run_diagnose(home: Path, out: Path, urls: tuple[str, str]) -> tuple[float, float | None]:
    """One ``python scripts/diagnose.py`` run: its wall seconds and its own peak RSS in MB."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HUB_", "OTEL_")) and k != "SOURCE_DATE_EPOCH"}
    env["SHERATAN_HOME"] = str(home)
    # The checkout's ``sheratan_ops`` (scripts/diagnose.py changes no import path itself).
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    elapsed_s, rss_mb, _ = run_child(
        [sys.executable, str(DIAGNOSE), "--out", str(out), "--control-url", urls[0],
         "--data-url", urls[1]], what="diagnose", env=env)
    for bundle in out.glob("diag_bundle_*.zip"):
        bundle.unlink()
    return elapsed_s, rss_mb


@contextlib.contextmanager
def _hub_in(home: Path) -> Iterator[tuple[str, str]]:
    """``python -m baseline_hub`` on ``home`` (ephemeral loopback ports), with some traffic."""
    with (loopback_hub(WIRED_HUB, home=home) as hub,
          httpx.Client(trust_env=False, timeout=10, headers=hub.auth) as client):
        for i in range(20):
            expect(client.post(f"{hub.data_url}/jobs", json={"kind": "k"}), 201)
            expect(client.post(f"{hub.control_url}/nodes/node-{i}/heartbeat"), 200)
        yield hub.control_url, hub.data_url


def bench_diagnose(settings: Settings) -> list[Row]:
    """``scripts/diagnose.py`` end to end: 1 MB vs 1 GB logs (hub down), and with the hub up.

    Reported as ms per bundle and the diagnose process' peak RSS, each with its ratio to the
    1 MB case. Goals (issue 5): 1 GB <= 1.3x the 1 MB time, RSS < 80 MB, hub up < 1 s. The
    1 GB logs go under the temp folder and are deleted afterwards (``--quick``: 64 MB).
    """
    big_bytes = 1024 * _MIB if settings.scale >= 1 else 64 * _MIB
    big_label = f"{big_bytes // _MIB} MB logs" if big_bytes < 1024 * _MIB else "1 GB logs"
    rss: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-diagnose-") as tmp:
        root = Path(tmp)
        out = root / "out"
        out.mkdir()
        small = _diagnose_home(root, "small", _MIB, link=True)
        big = _diagnose_home(root, "big", big_bytes, link=True)
        live = _diagnose_home(root, "live", _MIB, link=False)
        down = (_CLOSED_URL, _CLOSED_URL)
        with _hub_in(live) as live_urls:

            def variant(mode: str, home: Path, urls: tuple[str, str],
                        baseline: str | None) -> Variant:
                def run(n: int) -> float:
                    total_s, peak = 0.0, 0.0
                    for _ in range(n):
                        elapsed_s, rss_mb = _run_diagnose(home, out, urls)
                        total_s += elapsed_s
                        peak = max(peak, rss_mb or 0.0)
                    rss.setdefault(mode, []).append(peak)
                    return total_s
                return Variant(mode, settings.ops(10), run, baseline)

            variants = [variant("hub down, 1 MB logs", small, down, None),
                        variant(f"hub down, {big_label}", big, down, "hub down, 1 MB logs"),
                        variant("hub up, 1 MB logs", live, live_urls, "hub down, 1 MB logs")]
            rows = measure("diagnose", "bundle", "bundles/s", variants, settings)
    base = "hub down, 1 MB logs"
    ms_rows, rss_rows = [], []
    base_ms = tuple(1000 / s for s in rows[0].samples)
    for row in rows:
        ms = tuple(1000 / s for s in row.samples)
        ms_rows.append(Row("diagnose", "time per bundle", row.mode, "ms", row.ops_per_run, ms,
                           row.baseline, tuple(a / b for a, b in zip(ms, base_ms, strict=True))
                           if row.baseline else ()))
        peaks = tuple(rss[row.mode][1:])  # the first entry is the warm-up
        if all(peaks):
            base_peaks = tuple(rss[base][1:])
            rss_rows.append(Row("diagnose", "peak RSS", row.mode, "MB", row.ops_per_run, peaks,
                                row.baseline,
                                tuple(a / b for a, b in zip(peaks, base_peaks, strict=True))
                                if row.baseline else ()))
    return ms_rows + rss_rows
