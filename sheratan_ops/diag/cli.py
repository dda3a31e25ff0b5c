"""The ``diagnose`` command line: parse once, run or verify, map outcomes to exit codes.

Nothing here ever prints a secret, an argument value that could hold one, or a traceback
for an expected error; and every text that comes from outside (a collector's error, a path,
a member name from a zip) goes through :func:`otel.terminal_safe` first, so it cannot drive
the terminal.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from otel import KnownSecrets, irregular_kind, terminal_safe
from sheratan_home import HomeLayout
from sheratan_home import env as hub_env
from sheratan_ops import hubenv
from sheratan_ops.cliargs import program_name

from .bundle import LeakFound
from .config import (
    DEFAULT_LINES,
    DEFAULT_TIMEOUT_S,
    MAX_LINES,
    MAX_TIMEOUT_S,
    DiagConfig,
    UsageError,
    endpoints_from_env,
    now_epoch_s,
    parse_loopback_url,
    source_date_epoch,
)
from .gate import LeakGate
from .known import NoTokenError, gather_secrets, require_token, token_summary
from .run import VERSION, create_bundle
from .verify import NotAZipFile, verify_bundle

EXIT_OK = 0
#: No bundle was written (the output folder is not writable, say).
EXIT_NO_BUNDLE = 1
EXIT_USAGE = 2
#: The leak gate found a secret: the bundle was deleted (or, with --verify, is unsafe).
EXIT_LEAK = 3
#: --verify: the bundle does not match its manifest.
EXIT_TAMPERED = 4
#: The hub token is neither known nor findable: no bundle written (or, with --verify, the
#: bundle not declared clean).
EXIT_NO_TOKEN = 5
EXIT_INTERRUPTED = 130

_DESCRIPTION = ("Write diag_bundle_<UTC timestamp>.zip: hub health, metrics, a node snapshot, "
                "log tails and env names, with secrets redacted and gated. Prints the bundle "
                "path as the last line.")
_EPILOG = f"""\
the home:
  diagnose says on stderr which home it used (--home, else SHERATAN_HOME, else
  ./.sheratan of the current folder) and which of its files it found. A home that does
  not exist, has no logs folder, or holds none of the hub's files gives no bundle and
  exit {EXIT_USAGE}, unless --allow-empty. A hub that is down is fine: its files are read.

the hub token:
  diagnose keeps the hub token out of the bundle, so it must know the token or be able
  to find it: HUB_TOKEN, the home's secrets/hub_token, --token-file PATH, or the
  fingerprint the v1.5 hub writes at start (state/hub_token.fingerprint.json). With
  none of them it writes no bundle and exits {EXIT_NO_TOKEN}.

exit codes:
  {EXIT_OK}  a bundle was written (even if some collectors failed), or --verify passed
  {EXIT_NO_BUNDLE}  no bundle was written (the output folder is not writable, say)
  {EXIT_USAGE}  bad usage (an option, SOURCE_DATE_EPOCH, an unreadable --token-file, a
     --verify file that is not a zip), or a missing or empty home without --allow-empty
  {EXIT_LEAK}  the leak gate found a secret: the bundle was deleted (--verify: unsafe)
  {EXIT_TAMPERED}  --verify: the bundle does not match its manifest
  {EXIT_NO_TOKEN}  the hub token is neither known nor findable: no bundle written
     (--verify: not declared clean)
"""


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
    parser = _Parser(prog=program_name("diagnose.py"), description=_DESCRIPTION, epilog=_EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
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
    parser.add_argument("--token-file", type=Path, action="append", default=[],
                        metavar="PATH",
                        help="a file holding the hub token (one line), when this shell has "
                             "no HUB_TOKEN; repeatable")
    parser.add_argument("--allow-empty", action="store_true",
                        help="write a bundle even when the home is missing or holds none of "
                             "the hub's files (health and env names only)")
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
    home, home_from = hub_env.resolve_home(args.home, env)
    if args.out.exists() and not args.out.is_dir():
        raise UsageError("--out: exists and is not a folder")
    from_env = ({} if args.control_url and args.data_url
                else endpoints_from_env(env, warnings))
    control = (parse_loopback_url(args.control_url, "control") if args.control_url
               else from_env["control"])
    data = (parse_loopback_url(args.data_url, "data") if args.data_url
            else from_env["data"])
    epoch = source_date_epoch(env)
    stale_s, dead_s = hubenv.node_ages(env, warnings)
    return DiagConfig(
        home=home, out_dir=args.out, lines=args.lines, control=control, data=data,
        timeout_s=args.timeout_s, epoch_s=epoch if epoch is not None else now_epoch_s(),
        reproducible=epoch is not None, node_stale_s=stale_s, node_dead_s=dead_s,
        token_files=tuple(args.token_file), home_from=home_from,
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
        return _create(args, env)
    except UsageError as exc:
        _err(f"error: {exc}")
        return EXIT_USAGE
    except NoTokenError as exc:
        _err(f"error: {exc}")
        return EXIT_NO_TOKEN
    except LeakFound as exc:
        _err("error: the leak gate found secrets in the bundle, which was deleted. "
             f"Kinds found, by member: {exc}")
        return EXIT_LEAK
    except OSError as exc:
        _err(f"error: no bundle written: {exc.strerror or exc} ({type(exc).__name__})")
        return EXIT_NO_BUNDLE
    except KeyboardInterrupt:
        _err("interrupted; no bundle written")
        return EXIT_INTERRUPTED


def _create(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    warnings: list[str] = []
    config = config_from(args, env, warnings)
    for warning in warnings:
        _err(f"warning: {warning}")
    _err(hubenv.describe_home(config.home, config.home_from, config.paths.read))
    empty = _empty_home(config)
    if empty is not None and not args.allow_empty:
        raise UsageError(f"no bundle written: {empty}; or pass --allow-empty to write one "
                         "anyway")
    secrets = _secrets(env, config.home, config.token_files,
                       "no bundle written: diagnose must keep the hub token out of the "
                       "bundle, but it neither knows the token nor can find it")
    report = create_bundle(config, env, secrets)
    for name, entry in sorted(report.collectors.items()):
        said = entry["error"] or entry.get("note")
        suffix = f": {said}" if said else ""
        print(terminal_safe(f"{name:16} {entry['status']}{suffix}"))
    print(terminal_safe(str(report.path)))
    return EXIT_OK


def _secrets(env: Mapping[str, str], home: Path, token_files: Sequence[Path],
             headline: str | None) -> KnownSecrets:
    """The known secrets; says on stderr how the token was found, and any warning.

    Raises:
        NoTokenError: with a ``headline``, when the token is neither known nor findable.
    """
    secrets = gather_secrets(env, home, token_files)
    for warning in secrets.warnings:
        _err(f"warning: {warning}")
    if headline is not None:
        require_token(secrets, home, headline=headline)
    if secrets.token_findable:
        _err(token_summary(secrets, home, token_files))
    return secrets


def _verify(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    path: Path = args.verify
    if not path.is_file():
        kind = irregular_kind(path)  # "." for an empty argument: a folder
        _err(f"error: --verify: {path} is {kind}, not a bundle" if kind
             else f"error: --verify: no such file: {path}")
        return EXIT_USAGE
    home, home_from = hub_env.resolve_home(args.home, env)
    files = HomeLayout(home)
    _err(hubenv.describe_home(home, home_from, (files.token_file, files.token_fingerprint)))
    # Checked without the token first: a leak by pattern or a tampered member is worth
    # reporting either way; only "clean" needs the token.
    secrets = _secrets(env, home, args.token_file, None)
    try:
        verdict = verify_bundle(path, LeakGate(secrets.redactor()))
    except NotAZipFile as exc:
        raise UsageError(f"--verify: {exc}") from None
    for problem in verdict.problems:
        print(terminal_safe(f"TAMPERED {problem}"))
    for leak in verdict.leaks:
        print(terminal_safe(f"LEAK {leak.describe()}"))
    if verdict.leaks:
        _err(f"error: {path} contains secrets; do not send it")
        return EXIT_LEAK
    if verdict.problems:
        _err(f"error: {path} does not match its manifest")
        return EXIT_TAMPERED
    require_token(secrets, home, headline=f"{path} not declared clean: diagnose cannot check "
                                           "it for the hub token, which it neither knows nor "
                                           "can find")
    print(terminal_safe(f"OK {path}: {verdict.members} members match the manifest; "
                        "no secrets found"))
    return EXIT_OK


def _empty_home(config: DiagConfig) -> str | None:
    """Why the home gives no bundle worth sending: it does not exist, has no logs folder, or
    holds none of the files a bundle is made from (run from the wrong folder, most likely)."""
    problem = hubenv.logs_problem(config.home, config.home_from)
    if problem is None and not any(path.exists() for path in config.paths.read):
        problem = (f"the home {config.home.absolute()} ({config.home_from}) holds none of the "
                   "hub's files (state/hub.db, logs/*)")
    return problem


def _err(text: str) -> None:
    """One message on stderr, made terminal-safe line by line (its own newlines kept)."""
    print("\n".join(terminal_safe(line) for line in text.split("\n")), file=sys.stderr)
