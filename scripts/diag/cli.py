"""The ``diagnose`` command line: parse once, run or verify, map outcomes to exit codes.

Nothing here ever prints a secret, an argument value that could hold one, or a traceback
for an expected error.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import hubenv

from .bundle import LeakFound
from .config import (
    DEFAULT_LINES,
    DEFAULT_NODE_DEAD_S,
    DEFAULT_NODE_STALE_S,
    DEFAULT_TIMEOUT_S,
    MAX_LINES,
    MAX_TIMEOUT_S,
    DiagConfig,
    UsageError,
    endpoint_from_env,
    env_seconds,
    now_epoch_s,
    parse_loopback_url,
    source_date_epoch,
)
from .gate import LeakGate
from .redact import gather_known_secrets
from .run import VERSION, create_bundle
from .verify import verify_bundle

EXIT_OK = 0
#: No bundle was written (the output folder is not writable, say).
EXIT_NO_BUNDLE = 1
EXIT_USAGE = 2
#: The leak gate found a secret: the bundle was deleted (or, with --verify, is unsafe).
EXIT_LEAK = 3
#: --verify: the bundle does not match its manifest.
EXIT_TAMPERED = 4
EXIT_INTERRUPTED = 130

_DESCRIPTION = ("Write diag_bundle_<UTC timestamp>.zip: hub health, metrics, a node snapshot, "
                "log tails and env names, with secrets redacted and gated. Prints the bundle "
                "path as the last line.")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _lines(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None
    if not 1 <= number <= MAX_LINES:
        raise argparse.ArgumentTypeError(f"must be 1..{MAX_LINES}, got {number}")
    return number


def _timeout(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if not (math.isfinite(number) and 0 < number <= MAX_TIMEOUT_S):
        raise argparse.ArgumentTypeError(f"must be > 0 and <= {MAX_TIMEOUT_S:g}, got {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="diagnose.py", description=_DESCRIPTION)
    parser.add_argument("--out", type=Path, default=Path("."), metavar="DIR",
                        help="folder for the bundle (default: the current folder)")
    parser.add_argument("--lines", type=_lines, default=DEFAULT_LINES, metavar="N",
                        help=f"log lines per file (default {DEFAULT_LINES})")
    parser.add_argument("--home", type=Path, metavar="DIR",
                        help="hub state root (default: SHERATAN_HOME, else ./.sheratan)")
    parser.add_argument("--control-url", metavar="URL",
                        help="control plane, loopback only (default from HUB_HOST and "
                             "HUB_CONTROL_PORT, else http://127.0.0.1:8787)")
    parser.add_argument("--data-url", metavar="URL",
                        help="data plane, loopback only (default from HUB_HOST and "
                             "HUB_DATA_PORT, else http://127.0.0.1:8788)")
    parser.add_argument("--timeout-s", type=_timeout, default=DEFAULT_TIMEOUT_S, metavar="N",
                        help=f"per-request timeout in seconds (default {DEFAULT_TIMEOUT_S:g})")
    parser.add_argument("--verify", type=Path, metavar="ZIP",
                        help="re-check an existing bundle (manifest hashes and leak gate) "
                             "instead of writing one")
    parser.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    return parser


def config_from(args: argparse.Namespace, env: Mapping[str, str],
                warnings: list[str]) -> DiagConfig:
    """The run's configuration: arguments, else environment, else defaults.

    Raises:
        UsageError: a bad argument or ``SOURCE_DATE_EPOCH``.
    """
    home = _home(args, env)
    if args.out.exists() and not args.out.is_dir():
        raise UsageError("--out: exists and is not a folder")
    control = (parse_loopback_url(args.control_url, "control") if args.control_url
               else endpoint_from_env(env, "control", warnings))
    data = (parse_loopback_url(args.data_url, "data") if args.data_url
            else endpoint_from_env(env, "data", warnings))
    epoch = source_date_epoch(env)
    stale_s = env_seconds(env, "HUB_NODE_STALE_S", DEFAULT_NODE_STALE_S, warnings)
    dead_s = env_seconds(env, "HUB_NODE_DEAD_S", DEFAULT_NODE_DEAD_S, warnings)
    if dead_s <= stale_s:
        warnings.append("HUB_NODE_DEAD_S is not above HUB_NODE_STALE_S; using the defaults")
        stale_s, dead_s = DEFAULT_NODE_STALE_S, DEFAULT_NODE_DEAD_S
    return DiagConfig(
        home=home, out_dir=args.out, lines=args.lines, control=control, data=data,
        timeout_s=args.timeout_s, epoch_s=epoch if epoch is not None else now_epoch_s(),
        reproducible=epoch is not None, node_stale_s=stale_s, node_dead_s=dead_s,
    )


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run diagnose; returns the exit code.

    Args:
        argv: the arguments (default ``sys.argv[1:]``). They are parsed, never recorded.
        env: the environment (default ``os.environ``), read here only.
    """
    args = build_parser().parse_args(argv)
    env = dict(os.environ if env is None else env)
    try:
        if args.verify is not None:
            return _verify(args, env)
        warnings: list[str] = []
        config = config_from(args, env, warnings)
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
        report = create_bundle(config, env)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except LeakFound as exc:
        print("error: the leak gate found secrets in the bundle, which was deleted. "
              f"Kinds found, by member: {exc}", file=sys.stderr)
        return EXIT_LEAK
    except OSError as exc:
        print(f"error: no bundle written: {exc.strerror or exc} "
              f"({type(exc).__name__})", file=sys.stderr)
        return EXIT_NO_BUNDLE
    except KeyboardInterrupt:
        print("interrupted; no bundle written", file=sys.stderr)
        return EXIT_INTERRUPTED
    for name, entry in sorted(report.collectors.items()):
        suffix = f": {entry['error']}" if entry["error"] else ""
        print(f"{name:16} {entry['status']}{suffix}")
    print(report.path)
    return EXIT_OK


def _verify(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    path: Path = args.verify
    if not path.is_file():
        print(f"error: --verify: no such file: {path}", file=sys.stderr)
        return EXIT_USAGE
    home = _home(args, env)
    gate = LeakGate(gather_known_secrets(env, hubenv.token_file(home)))
    verdict = verify_bundle(path, gate)
    for problem in verdict.problems:
        print(f"TAMPERED {problem}")
    for leak in verdict.leaks:
        print(f"LEAK {leak.describe()}")
    if verdict.leaks:
        print(f"error: {path} contains secrets; do not send it", file=sys.stderr)
        return EXIT_LEAK
    if verdict.problems:
        print(f"error: {path} does not match its manifest", file=sys.stderr)
        return EXIT_TAMPERED
    print(f"OK {path}: {verdict.members} members match the manifest; no secrets found")
    return EXIT_OK


def _home(args: argparse.Namespace, env: Mapping[str, str]) -> Path:
    """``--home``, else ``SHERATAN_HOME``, else the default."""
    return args.home if args.home is not None else hubenv.home(env)
