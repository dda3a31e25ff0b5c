"""The edge of ``smoke_checks.py``: arguments, the token and its source, and the output.

Everything printed that came from outside (a check's detail, the token's source path, a
usage error quoting an argument) goes through ``smoke.output`` or ``otel.terminal_safe``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from otel import SecretSourceError, read_token_file, terminal_safe
from sheratan_home import HomeLayout
from sheratan_home import env as hub_env
from sheratan_ops import hubenv
from sheratan_ops.cliargs import SafeParser, base_url_arg, program_name

from .checks import all_checks, run_checks
from .context import SmokeContext, UsageError
from .output import SafeOutput

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2

DEFAULT_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Token:
    """The bearer token and where it came from (``--token``, ``HUB_TOKEN`` or a path)."""

    value: str
    source: str

    def __repr__(self) -> str:  # never the value
        return f"Token(source={self.source!r})"


def _timeout(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {value!r}") from None
    if not 0 < seconds <= 300:
        raise argparse.ArgumentTypeError(f"must be > 0 and <= 300, got {value!r}")
    return seconds


def build_parser(env: Mapping[str, str] | None = None,
                 warn: list[str] | None = None) -> argparse.ArgumentParser:
    """The CLI; the default URLs come from ``env`` as the hub binds its planes (``HUB_HOST``
    and the port variables; a value the hub would refuse warns into ``warn`` and falls back).
    """
    env = {} if env is None else env
    warn = [] if warn is None else warn
    urls = hubenv.plane_urls(env, warn)
    parser = SafeParser(
        prog=program_name("smoke_checks.py"),
        description="Check a running Sheratan hub: health, 401, 421, node and job round trips,"
                    " /metrics. Exit 0: all passed; 1: a check failed; 2: bad usage.",
    )
    parser.add_argument("--control-url", type=base_url_arg,
                        default=urls["control"],
                        help="control plane base URL (default: from HUB_HOST and "
                             "HUB_CONTROL_PORT, else http://127.0.0.1:8787)")
    parser.add_argument("--data-url", type=base_url_arg, default=urls["data"],
                        help="data plane base URL (default: from HUB_HOST and HUB_DATA_PORT, "
                             "else http://127.0.0.1:8788)")
    parser.add_argument("--token", help="bearer token (default: HUB_TOKEN, else the token file)")
    parser.add_argument("--home", type=Path,
                        help="SHERATAN_HOME holding secrets/hub_token"
                             " (default: SHERATAN_HOME, else ./.sheratan)")
    parser.add_argument("--timeout-s", type=_timeout, default=DEFAULT_TIMEOUT_S,
                        help=f"per-request timeout in seconds (default {DEFAULT_TIMEOUT_S:g})")
    parser.add_argument("--skip-jobs", action="store_true",
                        help="do not touch the job queue (see sheratan_ops/smoke/jobs.py)")
    return parser


def resolve_token(token: str | None, home: Path | None, env: Mapping[str, str]) -> Token:
    """``--token``, else ``HUB_TOKEN``, else ``<home>/secrets/hub_token``.

    Raises:
        UsageError: when no token is found; the message names the sources, never a value.
    """
    if token:
        return Token(token, "--token")
    from_env = hub_env.value(env, "HUB_TOKEN")  # empty or blank: unset, as for the hub
    if from_env is not None:
        return Token(from_env, "HUB_TOKEN")
    home, home_from = hub_env.resolve_home(home, env)
    path = HomeLayout(home).token_file
    problem = HomeLayout(home).problem()
    if problem is not None:
        raise UsageError(f"no token: --token and HUB_TOKEN are unset and {path} cannot be read:"
                         f" {problem} ({home_from}); pass --token or --home")
    try:
        value = read_token_file(path)  # a FIFO there would otherwise hang the checks
    except SecretSourceError as exc:
        raise UsageError(f"no token: --token and HUB_TOKEN are unset and {path} cannot be "
                         f"used ({exc}); pass --token or --home") from None
    # Absolute, so that a 401 from a hub with another home is easy to explain.
    return Token(value, str(path.resolve()))


def _home_used(token: Token) -> str:
    """Whether a home was used: only for its token file, which the ``token:`` line names."""
    return "" if token.source not in ("--token", "HUB_TOKEN") else "; no home used"


def _port(url: str) -> int:
    parsed = httpx.URL(url)
    return parsed.port or (443 if parsed.scheme == "https" else 80)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run the checks; returns the exit code.

    Args:
        argv: the arguments (default ``sys.argv[1:]``).
        env: the environment (default ``os.environ``), read here only.
    """
    env = dict(os.environ if env is None else env)
    warn: list[str] = []
    args = build_parser(env, warn).parse_args(argv)
    try:
        token = resolve_token(args.token, args.home, env)
    except UsageError as exc:
        print(f"error: {terminal_safe(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    safe = SafeOutput(token.value)
    for message in warn:
        print(f"warning: {safe(message)}", file=sys.stderr)
    print(f"smoke_checks: control {safe(args.control_url)}, data {safe(args.data_url)}"
          f"{_home_used(token)}", file=sys.stderr, flush=True)
    # Only the source is redacted: "token: from" itself reads as a secret field.
    print(f"token: from {safe(token.source)}", flush=True)
    timeout = httpx.Timeout(args.timeout_s)
    # trust_env=False: a proxy from the environment must not carry loopback checks elsewhere.
    with httpx.Client(base_url=args.control_url, timeout=timeout, trust_env=False) as control, \
            httpx.Client(base_url=args.data_url, timeout=timeout, trust_env=False) as data:
        ctx = SmokeContext(
            clients={"control": control, "data": data},
            ports={"control": _port(args.control_url), "data": _port(args.data_url)},
            token=token.value,
            node_id=f"smoke-{uuid.uuid4().hex[:12]}",
            skip_jobs=args.skip_jobs,
        )
        counts = dict.fromkeys(("PASS", "FAIL", "SKIP"), 0)
        for result in run_checks(ctx, all_checks()):
            counts[result.outcome] += 1
            shown = dataclasses.replace(result, detail=safe(result.detail))
            print(shown.line(), flush=True)
    print(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
    return EXIT_CHECK_FAILED if counts["FAIL"] else EXIT_OK
