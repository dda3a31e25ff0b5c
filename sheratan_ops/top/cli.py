"""``sheratan-top`` (``python scripts/hub_top.py``): the edge. Arguments and environment are
read here, once.

The known secrets (``HUB_TOKEN``, the home's token file, ``--token-file`` paths, secret env
values and the hub token's fingerprint) are gathered here once, at start; every string a
frame shows is redacted with them and its terminal controls escaped (``top.scrub``).

It says on stderr which home it reads (``--home``, else ``SHERATAN_HOME``, else
``./.sheratan`` of the current folder), which of its files it found, and which rules give the
rate limits (the watcher's active rules: ``--rules``, else the home's, else the packaged ones).
A home rules file the watcher would refuse does not stop it: the frame says so, and the
packaged limits are drawn meanwhile (exit codes unchanged).

A frame is always written whole: when stdout cannot encode a character (a Windows
``> frame.txt`` is cp1252), rich draws ASCII boxes, the view's own symbols are drawn in ASCII
(``top.render``) and any other such character is written as ``?``, never a traceback.

Exit codes: 0 a frame was drawn (``--once``, even when the hub is unreachable: that frame
is the answer) or the live view was left with Ctrl+C; 2 bad usage (a bad argument, a
``--token-file`` that cannot be read, a bad ``--rules`` file, or a home that does not exist
or has no ``logs`` folder).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import httpx
from rich.console import Console
from rich.live import Live

from otel import (
    KnownSecrets,
    SecretSourceError,
    load_known_secrets,
    terminal_safe,
)
from sheratan_home import HomeLayout
from sheratan_home import env as hub_env
from sheratan_ops import hubenv
from sheratan_ops.cliargs import SafeParser, base_url_arg, program_name
from watcher import RulesError

from .limits import view_rate_limits
from .model import Snapshot
from .render import render
from .scrub import Scrubber
from .sources import fetch

EXIT_OK = 0
EXIT_USAGE = 2
DEFAULT_INTERVAL_S = 2.0
MIN_INTERVAL_S = 0.2
MAX_INTERVAL_S = 3600.0
DEFAULT_ALERTS = 8
MAX_ALERTS = 200
#: Per request. Short, so a hung hub costs a refresh at most two seconds, never the view.
TIMEOUT_S = 1.0

Fetcher = Callable[[], Snapshot]


@dataclass(frozen=True, slots=True)
class TopConfig:
    """One run of the view, parsed from the arguments and the environment."""

    control_url: str
    data_url: str
    home: Path
    interval_s: float
    once: bool
    alerts: int
    token_files: tuple[Path, ...] = ()
    #: Where the home came from (``from --home``, ...), said beside it.
    home_from: str = "from --home"
    #: ``--rules``: the watcher's rules file; None: the one a watcher on the home uses.
    rules: Path | None = None



def build_parser(env: Mapping[str, str], warn: list[str]) -> argparse.ArgumentParser:
    """The CLI; its defaults come from ``env`` (already read once by the caller)."""
    urls = hubenv.plane_urls(env, warn)
    parser = SafeParser(
        prog=program_name("hub_top.py"),
        description="A live terminal view of the Sheratan hub: both planes' /metrics, the "
                    "watcher's status and the newest alerts. Ctrl+C quits.",
    )
    parser.add_argument("--control-url", type=base_url_arg, default=urls["control"],
                        help="control plane base URL (default: from HUB_HOST and "
                             "HUB_CONTROL_PORT, else http://127.0.0.1:8787)")
    parser.add_argument("--data-url", type=base_url_arg, default=urls["data"],
                        help="data plane base URL (default: from HUB_HOST and HUB_DATA_PORT, "
                             "else http://127.0.0.1:8788)")
    parser.add_argument("--home", type=Path,
                        help="hub home with logs/alerts.jsonl and state/watcher_status.json; "
                             "it must exist (default: SHERATAN_HOME, else ./.sheratan)")
    parser.add_argument("--rules", type=Path, metavar="FILE",
                        help="the watcher's rules, for the rate limits (default: the home's "
                             "configs/alert_rules.json, else the packaged rules)")
    parser.add_argument("--interval-s", type=_interval, default=DEFAULT_INTERVAL_S,
                        help=f"seconds between refreshes (default {DEFAULT_INTERVAL_S:g})")
    parser.add_argument("--alerts", type=_alerts, default=DEFAULT_ALERTS, metavar="N",
                        help=f"how many recent alerts to show (default {DEFAULT_ALERTS})")
    parser.add_argument("--once", action="store_true",
                        help="print one frame to stdout and exit 0 (also when the hub is "
                             "unreachable: the frame says so)")
    parser.add_argument("--token-file", type=Path, action="append", default=[],
                        dest="token_files", metavar="PATH",
                        help="a file holding the hub token, so that it is never shown "
                             "(repeatable; HUB_TOKEN and <home>/secrets/hub_token are read "
                             "anyway, and the hub's token fingerprint is used when present)")
    return parser


def parse_config(argv: Sequence[str], env: Mapping[str, str],
                 warn: list[str]) -> TopConfig:
    """Arguments and environment into a :class:`TopConfig`; exits 2 on bad usage.

    Args:
        argv: The arguments, without the program name.
        env: The environment.
        warn: Collects warnings about environment values that fell back to defaults.
    """
    args = build_parser(env, warn).parse_args(list(argv))
    home, home_from = hub_env.resolve_home(args.home, env)
    return TopConfig(control_url=args.control_url, data_url=args.data_url, home=home,
                     interval_s=args.interval_s, once=args.once, alerts=args.alerts,
                     token_files=tuple(args.token_files), home_from=home_from,
                     rules=args.rules)


def run(config: TopConfig, console: Console, fetcher: Fetcher, *,
        sleep: Callable[[float], None] = time.sleep) -> int:
    """Draw frames until interrupted (or one with ``--once``).

    Args:
        config: The run.
        console: Where to draw; a terminal gets a full-screen live view, anything else
            one frame per refresh.
        fetcher: Reads one snapshot (never raises for a down hub).
        sleep: Waits between refreshes (a test can make it raise ``KeyboardInterrupt``).

    Returns:
        The exit code: 0.
    """
    if config.once:
        console.print(render(fetcher()))
        return EXIT_OK
    hint = f"every {config.interval_s:g} s · Ctrl+C quits"
    previous: Snapshot | None = None
    try:
        if not console.is_terminal:
            while True:
                snapshot = fetcher()
                console.print(render(snapshot, previous, hint=hint))
                previous = snapshot
                sleep(config.interval_s)
        with Live(console=console, screen=True, auto_refresh=False,
                  redirect_stdout=False, redirect_stderr=False) as live:
            while True:
                snapshot = fetcher()
                frame = render(snapshot, previous, hint=hint, height=console.size.height)
                live.update(frame, refresh=True)
                previous = snapshot
                sleep(config.interval_s)
    except KeyboardInterrupt:
        return EXIT_OK


def main(argv: Sequence[str] | None = None, *, environ: Mapping[str, str] | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """The entry point: parse, then draw until Ctrl+C (or once).

    Args:
        argv: The arguments (default ``sys.argv[1:]``).
        environ: The environment (default ``os.environ``), read here and nowhere else.
        stdout: Where frames go (default ``sys.stdout``).
        stderr: Where warnings go (default ``sys.stderr``).

    Returns:
        The exit code (argparse exits 2 itself on bad usage; a bad ``--token-file`` is 2 too).
    """
    env = dict(os.environ if environ is None else environ)
    err = stderr or sys.stderr
    warn: list[str] = []
    config = parse_config(sys.argv[1:] if argv is None else argv, env, warn)
    try:
        secrets, (limits, rules_from, rules_problem) = _start(config, env)
    except _Refused as exc:
        print(f"hub_top: error: {terminal_safe(str(exc))}", file=err)
        return EXIT_USAGE
    for message in (*warn, *secrets.warnings):
        print(f"hub_top: warning: {terminal_safe(message)}", file=err)
    files = HomeLayout(config.home)
    used = hubenv.describe_home(config.home, config.home_from,
                                (files.alerts, files.watcher_status, files.supervisor_status))
    for line in f"hub_top: {used}\n  rules: {rules_from}".splitlines():
        print(terminal_safe(line), file=err)
    for message in (*_token_unknown(secrets, config),
                    *([] if rules_problem is None else [rules_problem])):
        print(f"hub_top: warning: {terminal_safe(message)}", file=err)
    scrubber = make_scrubber(secrets)
    console = Console(file=replace_unencodable(stdout or sys.stdout))
    try:
        with httpx.Client(timeout=TIMEOUT_S, trust_env=False) as client:
            return run(config, console, lambda: fetch(
                client, control_url=config.control_url, data_url=config.data_url,
                home=config.home, alerts=config.alerts, scrubber=scrubber,
                rate_limits=limits, rules_problem=rules_problem))
    except KeyboardInterrupt:  # Ctrl+C between frames or while connecting: quiet
        return EXIT_OK


class _Refused(Exception):
    """What keeps the view from starting: the user must fix the command (exit 2)."""


def _start(config: TopConfig, env: Mapping[str, str]
           ) -> tuple[KnownSecrets, tuple[Mapping[str, int], str, str | None]]:
    """The known secrets, and the rate limits with the rules they came from and what is
    wrong with the home's rules (``top.limits.view_rate_limits``).

    Raises:
        _Refused: a ``--token-file`` that cannot be read, a home that does not exist or has
            no ``logs`` folder, or a ``--rules`` file the watcher would refuse.
    """
    try:
        secrets = load_known_secrets(env, home=config.home, token_files=config.token_files)
    except SecretSourceError as exc:
        raise _Refused(str(exc)) from None
    problem = hubenv.logs_problem(config.home, config.home_from)
    if problem is not None:
        raise _Refused(problem)
    try:
        return secrets, view_rate_limits(config.rules, config.home)
    except RulesError as exc:
        raise _Refused(f"invalid rules: {exc}") from None


def replace_unencodable(stream: TextIO) -> TextIO:
    """``stream``, made to write a character its encoding lacks as ``?`` instead of raising
    ``UnicodeEncodeError`` midway through a frame: a text file object that would raise is
    reconfigured (``errors="replace"``); any other stream is returned as it is."""
    if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
        stream.reconfigure(errors="replace")
    return stream


def _token_unknown(secrets: KnownSecrets, config: TopConfig) -> list[str]:
    """The one warning when the hub token can be neither known nor found by its fingerprint:
    what is shown is then redacted by the credential patterns only."""
    if secrets.token_findable:
        return []
    files = HomeLayout(config.home)
    return [f"the hub token is unknown here (no HUB_TOKEN, --token-file, "
            f"{files.token_file} or {files.token_fingerprint}): what is shown "
            "is redacted by the credential patterns only"]


def make_scrubber(secrets: KnownSecrets) -> Scrubber:
    """The scrubber every frame goes through: ``secrets`` and the credential patterns."""
    return Scrubber(secrets.redactor())


def _interval(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {value!r}") from None
    if not MIN_INTERVAL_S <= seconds <= MAX_INTERVAL_S:
        raise argparse.ArgumentTypeError(
            f"must be {MIN_INTERVAL_S:g}..{MAX_INTERVAL_S:g} s, got {value!r}")
    return seconds


def _alerts(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count, got {value!r}") from None
    if not 0 <= count <= MAX_ALERTS:
        raise argparse.ArgumentTypeError(f"must be 0..{MAX_ALERTS}, got {value!r}")
    return count
