"""The audit watcher (issue 4): replay throughput and peak RSS, and follow-mode alert latency.

``replay`` runs whole processes side by side on one generated audit log: ``python -m watcher
--replay``, a bare ``orjson.loads`` loop, and ``fail2ban-regex`` (Debian package ``fail2ban``)
with an equivalent filter. ``follow`` starts ``python -m watcher`` with its default settings on
a temporary home and times each alert from the append of the line that crosses a threshold.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sheratan_home import HomeLayout

from .framework import BenchError, Row, Settings, Variant, measure
from .hubs import REPO_ROOT, stop_process
from .procs import run_child

FULL_LINES = 1_000_000
FOLLOW_SAMPLES = 40
FOLLOW_POLL_S = 0.005
FOLLOW_TIMEOUT_S = 10.0
FAIL2BAN_PACKAGE = "fail2ban"
BYTECODE_CACHE = Path(tempfile.gettempdir()) / "sheratan-bench-bytecode"
#: fail2ban filters equivalent to the default rules: the events of one rule (AUTH_FAILURE, as
#: ``auth_failure_burst``) or of both, the client as <HOST>, the ``ts`` field as the date,
#: loopback clients ignored. One fail2ban filter cannot hold two rules' thresholds, so "both"
#: is the cheapest fail2ban setup that reads every event the two default rules read.
F2B_DATEPATTERN = r'"ts":"%Y-%m-%dT%H:%M:%S\.%fZ"'
F2B_EVENTS = {"auth": ("AUTH_FAILURE",), "both": ("AUTH_FAILURE", "PORT_MISMATCH")}
F2B_IGNOREREGEX = r'"client":"(?:127\.0\.0\.1|::1)"'
_F2B_LINES = re.compile(r"^Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed",
                        re.MULTILINE)
_STATUS = re.compile(r"lines=(\d+) parse_errors=(\d+) invalid=(\d+) .* alerts=(\d+)")
_BARE_LOOP = ("import sys, orjson\n"
              "with open(sys.argv[1], 'rb') as f:\n"
              "    for line in f:\n"
              "        orjson.loads(line)\n")
_LOCAL = ("127.0.0.1", "::1")
_EVENT_TAIL = {"AUTH_FAILURE": ',"reason":"invalid_token"}',
               "PORT_MISMATCH": ',"expected_port":8787}',
               "LEAK_BLOCKED": "}"}
_PATHS = {"AUTH_FAILURE": ("GET", "/nodes"), "PORT_MISMATCH": ("POST", "/jobs/claim"),
          "LEAK_BLOCKED": ("GET", "/jobs/123")}


@dataclass(frozen=True, slots=True)
class AuditLog:
    """A generated log and what an equivalent filter must find in it."""

    path: Path
    lines: int
    remote: dict[str, int]  # lines per event from clients the watcher does not ignore
    local: dict[str, int]  # ... and from the loopback clients it ignores

    def matched(self, events: tuple[str, ...]) -> tuple[int, int]:
        """How many lines of ``events`` a filter must ignore, and how many it must match."""
        return (sum(self.local.get(e, 0) for e in events),
                sum(self.remote.get(e, 0) for e in events))


def _line(ts_prefix: str, us: int, event: str, client: str) -> str:
    method, path = _PATHS[event]
    plane, port = ("control", 8787) if event != "PORT_MISMATCH" else ("data", 8788)
    return (f'{{"ts":"{ts_prefix}{us:06d}Z","event":"{event}","plane":"{plane}",'
            f'"port":{port},"client":"{client}","method":"{method}","path":"{path}"'
            f"{_EVENT_TAIL[event]}\n")


def _scan_client(index: int) -> str:
    """The ``index``-th address of a scanning botnet: public-looking IPv4, one in eight IPv6."""
    if index % 8 == 7:
        return f"2001:db8:{index >> 16:x}:{index & 0xFFFF:x}::{(index * 37) % 65521 + 1:x}"
    return (f"{(index * 131) % 223 + 1}.{(index * 7919) % 256}.{(index >> 8) % 256}."
            f"{index % 256}")


def write_audit_log(path: Path, lines: int, *, seed: int = 4, scan_fraction: float = 0.0,
                    scan_clients: int = 0) -> AuditLog:
    """Writes ``lines`` audit lines (CONTRACT section 2) like a hub under occasional attack.

    Background traffic is sparse (0 to 4 s apart) from 200 clients plus loopback tools: 60%
    PORT_MISMATCH, 30% LEAK_BLOCKED, 10% AUTH_FAILURE. About every 50 background lines a burst
    of 6 to 30 lines 2 to 60 ms apart comes from one of 20 attackers (one is 127.0.0.1):
    AUTH_FAILURE (60%) or PORT_MISMATCH, so both default rules fire and resolve. The same seed
    gives the same file, and a shorter file is a prefix of a longer one.

    With ``scan_fraction``, that share of the lines (exactly, spread evenly) is a scan from a
    botnet: each line 0 to 100 ms after the one before, from one of ``scan_clients`` addresses
    drawn at random (a few lines each, so mostly new groups), AUTH_FAILURE (credential
    stuffing, 70%) or PORT_MISMATCH. Its draws come from a generator of their own, so the
    background is drawn as without a scan.
    """
    if scan_fraction and scan_clients < 1:
        raise ValueError("a scan needs scan_clients >= 1")
    rnd = random.Random(seed)
    scan_rnd = random.Random(seed + 1_000_003)
    scanned = 0
    clients = [f"10.{i // 100}.{i % 100}.{(7 * i) % 250 + 1}" for i in range(200)]
    attackers = [f"203.0.113.{i}" for i in range(1, 20)] + ["127.0.0.1"]
    # A year before the bench runs: the watcher ignores lines stamped beyond the wall clock.
    start = datetime.now(UTC).replace(month=1, day=1, hour=0, minute=0, second=0,
                                      microsecond=0)
    t_us = int(start.timestamp() - 366 * 86400) * 1_000_000
    second, prefix = -1, ""
    written = 0
    remote: dict[str, int] = {}
    local: dict[str, int] = {}
    buf: list[str] = []

    def emit(event: str, client: str) -> None:
        nonlocal second, prefix, written
        sec, us = divmod(t_us, 1_000_000)
        if sec != second:
            second = sec
            prefix = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        buf.append(_line(prefix, us, event, client))
        written += 1
        counts = local if client in _LOCAL else remote
        counts[event] = counts.get(event, 0) + 1

    with path.open("w", encoding="ascii", newline="\n") as out:
        while written < lines:
            if scanned < scan_fraction * written:
                t_us += scan_rnd.randrange(0, 100_000)
                emit("AUTH_FAILURE" if scan_rnd.random() < 0.7 else "PORT_MISMATCH",
                     _scan_client(scan_rnd.randrange(scan_clients)))
                scanned += 1
            elif rnd.random() < 0.02:
                client = rnd.choice(attackers)
                event = "AUTH_FAILURE" if rnd.random() < 0.6 else "PORT_MISMATCH"
                for _ in range(min(rnd.randint(6, 30), lines - written)):
                    t_us += rnd.randrange(2_000, 60_000)
                    emit(event, client)
            else:
                t_us += rnd.randrange(0, 4_000_000)
                draw = rnd.random()
                event = ("PORT_MISMATCH" if draw < 0.6 else
                         "LEAK_BLOCKED" if draw < 0.9 else "AUTH_FAILURE")
                draw = rnd.random()
                client = ("127.0.0.1" if draw < 0.08 else "::1" if draw < 0.1
                          else rnd.choice(clients))
                emit(event, client)
            if len(buf) >= 10_000:
                out.write("".join(buf))
                buf.clear()
        out.write("".join(buf))
    return AuditLog(path, written, remote, local)


def _clean_env() -> dict[str, str]:
    """The environment of a Python child: no hub settings, the repository on the path, and a
    bytecode cache.

    An installed package has its bytecode compiled (pip does it at install); the repository
    may not, and with ``PYTHONDONTWRITEBYTECODE`` set (as on these machines) every run of the
    watcher recompiled its modules from source, about 20 ms. So the children keep their
    bytecode in a cache of their own, filled by the warm-up run.
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HUB_", "OTEL_", "SHERATAN_"))
           and k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["PYTHONPYCACHEPREFIX"] = str(BYTECODE_CACHE)
    return env


def _fail2ban_regex() -> str:
    found = shutil.which("fail2ban-regex")
    if found is None:
        raise BenchError(f"fail2ban-regex not found: install Debian's {FAIL2BAN_PACKAGE!r} "
                         f"package (apt-get install -y {FAIL2BAN_PACKAGE}; its service need "
                         f"not run)")
    return found


def _replay_runner(log: AuditLog, out: Path) -> tuple[float, float | None]:
    elapsed_s, rss_mb, output = run_child(
        [sys.executable, "-m", "watcher", "--replay", str(log.path), "--alerts", str(out)],
        what="python -m watcher --replay", env=_clean_env())
    status = _STATUS.search(output)
    if status is None or int(status[1]) != log.lines or int(status[2]) or int(status[3]) or \
            not int(status[4]):
        raise BenchError(f"watcher --replay of {log.lines} lines reported: {output.strip()}")
    return elapsed_s, rss_mb


def _bare_runner(log: AuditLog, out: Path) -> tuple[float, float | None]:
    elapsed_s, rss_mb, _ = run_child([sys.executable, "-c", _BARE_LOOP, str(log.path)],
                                     what="bare orjson loop", env=_clean_env())
    return elapsed_s, rss_mb


def _fail2ban_runner(program: str, events: tuple[str, ...]
                     ) -> Callable[[AuditLog, Path], tuple[float, float | None]]:
    failregex = f'"event":"(?:{"|".join(events)})".*"client":"<HOST>"'

    def run(log: AuditLog, out: Path) -> tuple[float, float | None]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        elapsed_s, rss_mb, output = run_child(
            [program, "--print-no-missed", "--print-no-ignored", "--raw", "--timezone", "UTC",
             "--datepattern", F2B_DATEPATTERN, str(log.path), failregex, F2B_IGNOREREGEX],
            what="fail2ban-regex", env=env)
        found = _F2B_LINES.search(output)
        counts = tuple(int(g) for g in found.groups()) if found else None
        ignored, matched = log.matched(events)
        if counts != (log.lines, ignored, matched, log.lines - ignored - matched):
            raise BenchError(f"fail2ban-regex did not match the expected lines (want "
                             f"{log.lines} lines, {ignored} ignored, {matched} matched): "
                             f"{output[-1500:]}")
        return elapsed_s, rss_mb
    return run


@dataclass(frozen=True, slots=True)
class LogKind:
    """One of the replay benchmark's generated logs: a share of scan lines from a botnet."""

    name: str
    scan_fraction: float = 0.0
    scan_clients: int = 0


#: Today's mix (about 220 clients), 5% scan lines (about 17,000 clients) and a third scan
#: lines (about 170,000 clients), each 1,000,000 lines (issue 12).
LOG_KINDS = (LogKind("today's mix"),
             LogKind("5% scan", 0.05, 18_000),
             LogKind("1/3 scan", 1 / 3, 215_000))
#: The log whose peak RSS is also measured at RSS_LINES, to see it flat in the log's size.
RSS_KIND = LOG_KINDS[-1]
RSS_LINES = 3_000_000


def _ratio_row(row: Row, other: Row) -> Row:
    """``row``'s rate over ``other``'s, run by run."""
    return Row(row.benchmark, row.case, row.mode, row.unit, row.ops_per_run, row.samples,
               other.mode, tuple(a / b for a, b in zip(row.samples, other.samples,
                                                       strict=True)))


def _rss_rows(case: str, rows: dict[str, Row], rss: dict[str, list[float]],
              pairs: list[tuple[str, str | None]]) -> list[Row]:
    out = []
    for mode, baseline in pairs:
        peaks = tuple(rss.get(mode, ()))
        if not peaks:
            continue  # no os.wait4 here
        ratios = (tuple(a / b for a, b in zip(peaks, rss[baseline], strict=True))
                  if baseline else ())
        out.append(Row("replay", case, mode, "MB", rows[mode].ops_per_run, peaks, baseline,
                       ratios))
    return out


def bench_replay(settings: Settings) -> list[Row]:
    """``watcher --replay`` vs a bare orjson loop vs fail2ban-regex on three 1M-line logs.

    Whole processes, interleaved, on today's mix, a log with 5% scan lines and one with a
    third scan lines (``LOG_KINDS``); lines/s and ratios, then each process' peak RSS, and
    the watcher's on the one-third log at 3,000,000 lines against 1,000,000. Goals (issue 12):
    >= 0.5x / 0.45x / 0.4x the bare loop, >= 10x fail2ban-regex (both events), RSS <= 100 MB
    and flat from 1M to 3M lines. The warm-up runs use logs of a fifth of the lines
    (``--quick``: a tenth of every size).
    """
    program = _fail2ban_regex()
    full, big = settings.ops(FULL_LINES), settings.ops(RSS_LINES)
    rss: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-watcher-") as tmp:
        root = Path(tmp)
        logs: dict[tuple[str, int], AuditLog] = {}

        def log_of(kind: LogKind, lines: int) -> AuditLog:
            if (kind.name, lines) not in logs:
                path = root / f"audit_{len(logs)}.jsonl"
                logs[kind.name, lines] = write_audit_log(
                    path, lines, scan_fraction=kind.scan_fraction,
                    scan_clients=kind.scan_clients)
            return logs[kind.name, lines]

        def variant(mode: str, kind: LogKind, lines: int,
                    runner: Callable[[AuditLog, Path], tuple[float, float | None]],
                    baseline: str | None = None) -> Variant:
            def run(n: int) -> float:
                elapsed_s, rss_mb = runner(log_of(kind, n), root / "alerts.jsonl")
                if n == lines and rss_mb is not None:  # not the warm-up's smaller log
                    rss.setdefault(mode, []).append(rss_mb)
                return elapsed_s
            return Variant(mode, lines, run, baseline)

        f2b_run = _fail2ban_runner(program, F2B_EVENTS["both"])
        variants: list[Variant] = []
        for kind in LOG_KINDS:
            label = f"{kind.name}, {full:,} lines"
            variants += [variant(f"bare orjson loop, {label}", kind, full, _bare_runner),
                         variant(f"fail2ban-regex, both events, {label}", kind, full, f2b_run),
                         variant(f"watcher --replay, {label}", kind, full, _replay_runner,
                                 f"bare orjson loop, {label}")]
        big_mode = f"watcher --replay, {RSS_KIND.name}, {big:,} lines"
        big_base = f"watcher --replay, {RSS_KIND.name}, {full:,} lines"
        variants.append(variant(big_mode, RSS_KIND, big, _replay_runner, big_base))
        rows = measure("replay", "audit log", "lines/s", variants, settings)
    by_mode = {row.mode: row for row in rows}
    out: list[Row] = []
    pairs: list[tuple[str, str | None]] = []
    for kind in LOG_KINDS:
        label = f"{kind.name}, {full:,} lines"
        bare = by_mode[f"bare orjson loop, {label}"]
        f2b = by_mode[f"fail2ban-regex, both events, {label}"]
        watcher = by_mode[f"watcher --replay, {label}"]
        out += [bare, f2b, watcher, _ratio_row(watcher, f2b)]
        pairs += [(bare.mode, None), (f2b.mode, None), (watcher.mode, None)]
    out.append(by_mode[big_mode])
    pairs.append((big_mode, big_base))
    return out + _rss_rows("peak RSS", by_mode, rss, pairs)


def _live_line(event: str, client: str) -> str:
    """An audit line stamped now, so the watcher treats the log as live."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return _line(now[:20], int(now[20:26]), event, client)


def _append(path: Path, lines: list[str]) -> None:
    with path.open("a", encoding="ascii", newline="\n") as handle:
        handle.write("".join(lines))


def bench_follow(settings: Settings) -> list[Row]:
    """Follow mode, default settings: ms from appending the crossing line to its alert.

    ``python -m watcher --home TMP`` (poll every 200 ms); per sample, 5 PORT_MISMATCH lines
    from a fresh client, a pause of 250 to 450 ms, then the 6th line, which crosses the
    threshold; ``alerts.jsonl`` is polled every 5 ms. Goal (issue 4): p95 <= 500 ms.
    """
    samples = settings.ops(FOLLOW_SAMPLES)
    rnd = random.Random(4)
    latencies_ms: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-follow-") as tmp:
        home = Path(tmp) / "home"
        log, alerts = HomeLayout(home).audit_log, HomeLayout(home).alerts
        log.parent.mkdir(parents=True)
        log.touch()
        console = Path(tmp) / "watcher.out"
        with console.open("wb") as sink:
            proc = subprocess.Popen([sys.executable, "-m", "watcher", "--home", str(home)],
                                    cwd=REPO_ROOT, env=_clean_env(), stdin=subprocess.DEVNULL,
                                    stdout=sink, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + FOLLOW_TIMEOUT_S
            while b"watcher: following" not in console.read_bytes():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise BenchError(f"watcher did not start: {console.read_text()[-2000:]}")
                time.sleep(0.05)
            for i in range(samples + 2):  # the first two are a warm-up
                client = f"198.51.100.{i + 1}"
                _append(log, [_live_line("PORT_MISMATCH", client) for _ in range(5)])
                time.sleep(rnd.uniform(0.25, 0.45))  # a random phase of the 200 ms poll
                before = alerts.stat().st_size if alerts.exists() else 0
                crossing = _live_line("PORT_MISMATCH", client)
                start = time.perf_counter()
                _append(log, [crossing])
                wanted = f'"client":"{client}"'.encode()
                while True:
                    elapsed_s = time.perf_counter() - start
                    if alerts.exists() and alerts.stat().st_size > before:
                        with alerts.open("rb") as handle:
                            handle.seek(before)
                            if any(wanted in line and b'"firing"' in line
                                   for line in handle.read().splitlines()):
                                break
                    if elapsed_s > FOLLOW_TIMEOUT_S or proc.poll() is not None:
                        raise BenchError(f"no alert for {client} after {elapsed_s:.1f} s: "
                                         f"{console.read_text()[-2000:]}")
                    time.sleep(FOLLOW_POLL_S)
                if i >= 2:
                    latencies_ms.append(elapsed_s * 1000)
        finally:
            stop_process(proc)
    ordered = sorted(latencies_ms)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    case = "append -> alert"
    return [
        Row("follow", case, f"all {len(ordered)} samples (median = p50)", "ms", 1,
            tuple(latencies_ms)),
        Row("follow", case, f"p95 of {len(ordered)}", "ms", 1, (p95,)),
        Row("follow", case, "mean", "ms", 1, (statistics.fmean(ordered),)),
    ]
