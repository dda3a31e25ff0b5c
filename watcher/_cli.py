"""``python -m watcher``: argument parsing into a frozen config, and the run modes."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, NoReturn, TextIO

from otel import TerminalSafeFormatter, ValueGuard, irregular_kind, remove_staged
from otel.auditlog import AuditFormat, AuditFormatError, load_audit_format
from sheratan_home import HomeLayout, layout
from sheratan_home import env as hub_env
from watcher._alerts_file import replace_problem
from watcher._am_config import (
    AlertmanagerConfig,
    AlertmanagerConfigError,
    add_alertmanager_arguments,
    alertmanager_config,
)
from watcher._console import say
from watcher._guard import known_secrets_guard
from watcher._lifeline import watch_stdin
from watcher._private import UnsafeFile
from watcher._replay import replay
from watcher._rules import RulesError, RuleSet, active_rules_path, default_rules, load_rules
from watcher._signals import Interrupted, StopFlags, stop_on_signals
from watcher._sinks import AlertSink, ConsoleAlertSink
from watcher._status import Counters, StatusFile

if TYPE_CHECKING:
    from watcher._otel import WatcherTelemetry
    from watcher._runner import Watcher

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
#: Another watcher (follow or --once) already holds this home's state/watcher.lock.
EXIT_LOCKED = 3
#: A second SIGINT/SIGTERM in follow mode: exit at once, without the final checkpoint.
EXIT_FORCED = 130
#: --replay or --check-rules stopped by SIGINT/SIGTERM before finishing; no output written.
EXIT_INTERRUPTED = 130
_EPILOG = (f"follow mode and --once need the home to exist, with its logs folder unless "
           f"--log or $HUB_AUDIT_LOG names the audit log (they print the home and the files "
           f"they use on stderr; a home is never created, nor its logs folder when the log is "
           f"the home's). exit codes: {EXIT_OK} ok; "
           f"{EXIT_FAILURE} I/O error, or the default alerts file refused; {EXIT_USAGE} bad "
           f"command line, rules or --token-file, no such home (or no logs folder in it), the "
           f"audit log a folder or another non-regular file, or the --alerts file refused "
           f"(a symlink, not a regular file, or not ending with a newline nor a torn alert "
           f"line); {EXIT_LOCKED} another watcher is already running on this home (follow and "
           f"--once hold $SHERATAN_HOME/{layout.WATCHER_LOCK_FILE.as_posix()}); "
           f"{EXIT_INTERRUPTED} stopped by a signal (--replay, --check-rules) or forced by a "
           f"second one (follow)")
DEFAULT_INTERVAL_MS = 200
_HOME_LOG = "the home's"
DEFAULT_STATUS_INTERVAL_S = 30.0
_SLEEP_SLICE_S = 0.05


class Mode(enum.Enum):
    FOLLOW = "follow"
    ONCE = "once"
    REPLAY = "replay"
    CHECK_RULES = "check-rules"
    CHECK_FORMAT = "check-audit-format"


class UsageError(Exception):
    """Bad command line or environment: reported in one line, exit code 2."""


#: The program name in ``--help`` when none is given (``__main__`` passes the invoked one).
DEFAULT_PROG = "python -m watcher"


@dataclass(frozen=True, slots=True)
class WatcherConfig:
    """Everything the watcher takes from its command line and environment, parsed once."""

    mode: Mode
    home: Path
    log_path: Path
    alerts_path: Path
    rules_path: Path | None
    interval_ms: int = DEFAULT_INTERVAL_MS
    status_interval_s: float = DEFAULT_STATUS_INTERVAL_S
    target: Path | None = None  # the --replay or --check-rules file
    otel_env: Mapping[str, str] = field(default_factory=dict)
    #: The --token-file paths: tokens to keep out of alerts, besides HUB_TOKEN and the home's.
    token_files: tuple[Path, ...] = ()
    #: The environment the known secrets are gathered from (HUB_TOKEN, secret-judged
    #: values), when a group value first needs judging. Never in the repr.
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: The alerts path came from --alerts: refusing it is a usage error (exit 2).
    alerts_from_option: bool = False
    #: How the audit lines are written: --audit-format, else $HUB_AUDIT_FORMAT, else
    #: $SHERATAN_HOME/configs/audit_format.json when present; None: the contract's line.
    audit_format_path: Path | None = None
    #: --stop-on-stdin-eof: stop (exit 0) once standard input reaches end of file.
    stop_on_stdin_eof: bool = False
    #: --alertmanager (else $HUB_ALERTMANAGER_URL, but not for --replay) and its options;
    #: None: no Alertmanager.
    alertmanager: AlertmanagerConfig | None = None
    #: Where the home came from (``from --home``, ...), said beside it.
    home_from: str = "from --home"
    #: What the environment held that is not used as written, to say on stderr at start.
    warnings: tuple[str, ...] = ()
    #: Where the log path came from: ``from --log``, ``from HUB_AUDIT_LOG`` or the home's.
    log_from: str = _HOME_LOG
    #: The command as invoked (``sheratan-watcher``, ``python -m watcher``): what the
    #: messages on stderr start with.
    prog: str = DEFAULT_PROG

    @property
    def log_named(self) -> bool:
        """The audit log is named by --log or HUB_AUDIT_LOG, not the home's."""
        return self.log_from != _HOME_LOG

    @property
    def state_dir(self) -> Path:
        return HomeLayout(self.home).state_dir


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser(prog: str = DEFAULT_PROG) -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog,
        description="Watch the hub's security audit log and raise alerts.",
        epilog=_EPILOG,
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true",
                      help="process what is there, save the checkpoint and exit")
    mode.add_argument("--replay", metavar="FILE", type=Path,
                      help="evaluate FILE from its start in event time, no checkpoint")
    mode.add_argument("--check-rules", metavar="FILE", type=Path,
                      help="validate a rules file: exit 0 if valid, 2 if not")
    mode.add_argument("--check-audit-format", metavar="FILE", type=Path,
                      help="validate an audit format file: exit 0 if valid, 2 if not")
    parser.add_argument("--log", type=Path, help="audit log (default: $HUB_AUDIT_LOG, else "
                        f"$SHERATAN_HOME/{layout.AUDIT_LOG.as_posix()})")
    parser.add_argument("--alerts", type=Path, help="alerts file (default: "
                        f"$SHERATAN_HOME/{layout.ALERTS_FILE.as_posix()})")
    parser.add_argument("--rules", type=Path, help="rules file (default: "
                        f"$SHERATAN_HOME/{layout.ALERT_RULES_FILE.as_posix()}, else the "
                        "packaged defaults)")
    parser.add_argument("--home", type=Path, help="state root, which must exist (default: "
                        "$SHERATAN_HOME, else ./.sheratan)")
    parser.add_argument("--audit-format", metavar="FILE", type=Path,
                        help="how the hub's audit lines name their fields and write their "
                        "time (default: $HUB_AUDIT_FORMAT, else "
                        f"$SHERATAN_HOME/{layout.AUDIT_FORMAT_FILE.as_posix()}, else the "
                        "v1.5 hub's line)")
    parser.add_argument("--token-file", metavar="PATH", type=Path, action="append",
                        default=[], help="a file holding the hub token (repeatable): kept "
                        "out of alerts, like $HUB_TOKEN, $SHERATAN_HOME/secrets/hub_token and "
                        "the token the hub's fingerprint finds")
    add_alertmanager_arguments(parser)
    parser.add_argument("--interval-ms", type=int, default=DEFAULT_INTERVAL_MS,
                        help=f"poll interval in follow mode (default {DEFAULT_INTERVAL_MS})")
    parser.add_argument("--status-interval-s", type=float, default=DEFAULT_STATUS_INTERVAL_S,
                        help="seconds between console status lines in follow mode")
    parser.add_argument("--stop-on-stdin-eof", action="store_true",
                        help="stop as on SIGTERM (checkpoint, exit 0) once standard input "
                        "reaches end of file: for a parent that holds a pipe to it, so the "
                        "watcher ends with the parent however the parent ends (the hub's "
                        "--watcher uses it)")
    return parser


def parse_config(argv: Sequence[str], env: Mapping[str, str], *,
                 prog: str = DEFAULT_PROG) -> WatcherConfig:
    """Builds the config from arguments and an environment mapping (``prog``: the program
    name ``--help`` shows).

    Raises:
        UsageError: naming the bad argument or variable.
    """
    args = build_parser(prog).parse_args(list(argv))
    if not 10 <= args.interval_ms <= 60_000:
        raise UsageError(f"--interval-ms must be between 10 and 60000, got {args.interval_ms}")
    if not 0 < args.status_interval_s <= 86_400:
        raise UsageError(f"--status-interval-s must be > 0, got {args.status_interval_s}")
    home, home_from = hub_env.resolve_home(args.home, env)
    files = HomeLayout(home)
    env_log = env.get("HUB_AUDIT_LOG", "").strip()
    log_path: Path = args.log or (Path(env_log) if env_log else files.audit_log)
    log_from = ("from --log" if args.log is not None
                else "from HUB_AUDIT_LOG" if env_log else _HOME_LOG)
    if args.replay is not None:
        mode, target = Mode.REPLAY, args.replay
        if args.alerts is None:
            raise UsageError("--replay FILE needs --alerts OUT")
    elif args.check_rules is not None:
        mode, target = Mode.CHECK_RULES, args.check_rules
    elif args.check_audit_format is not None:
        mode, target = Mode.CHECK_FORMAT, args.check_audit_format
    else:
        mode, target = (Mode.ONCE if args.once else Mode.FOLLOW), None
    warnings: list[str] = []
    return WatcherConfig(
        prog=prog,
        mode=mode,
        home=home,
        home_from=home_from,
        log_path=log_path,
        log_from=log_from,
        alerts_path=args.alerts or files.alerts,
        rules_path=active_rules_path(args.rules, home),
        interval_ms=args.interval_ms,
        status_interval_s=args.status_interval_s,
        target=target,
        otel_env=MappingProxyType({k: v for k, v in env.items() if k.startswith("OTEL_")}),
        token_files=tuple(args.token_file),
        env=MappingProxyType(dict(env)),
        alerts_from_option=args.alerts is not None,
        audit_format_path=_audit_format_path(args.audit_format, env, home),
        stop_on_stdin_eof=args.stop_on_stdin_eof,
        alertmanager=_alertmanager(args, env, mode, warnings),
        warnings=tuple(warnings),
    )


def _alertmanager(args: argparse.Namespace, env: Mapping[str, str], mode: Mode,
                  warn: list[str]) -> AlertmanagerConfig | None:
    try:
        return alertmanager_config(args, env, replay=mode is Mode.REPLAY, warn=warn)
    except AlertmanagerConfigError as exc:
        raise UsageError(str(exc)) from None


def _audit_format_path(option: Path | None, env: Mapping[str, str], home: Path) -> Path | None:
    """``--audit-format``, else ``HUB_AUDIT_FORMAT``, else the home's file when present."""
    if option is not None:
        return option
    from_env = env.get("HUB_AUDIT_FORMAT", "").strip()
    if from_env:
        return Path(from_env)
    default = HomeLayout(home).audit_format
    return default if default.is_file() else None


def _load_format(config: WatcherConfig) -> AuditFormat:
    path = config.audit_format_path
    return AuditFormat() if path is None else load_audit_format(path)


def _load(config: WatcherConfig) -> RuleSet:
    return default_rules() if config.rules_path is None else load_rules(config.rules_path)


def _status_line(counters: Counters, lag_bytes: int, waiting: bool) -> str:
    c = counters
    state = "waiting for log" if waiting else "following"
    return (f"status: {state} lines={c.lines_read} parse_errors={c.parse_errors} "
            f"invalid={c.invalid_events} future={c.future_events} "
            f"overlong={c.overlong_lines} rotations={c.rotations} "
            f"truncations={c.truncations} alerts={c.alerts} lag_bytes={lag_bytes}")


def _sleep(seconds: float, flags: StopFlags) -> None:
    deadline = time.monotonic() + seconds
    while not flags.should_exit:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, _SLEEP_SLICE_S))


@dataclass(frozen=True, slots=True)
class _Loaded:
    """What a run evaluates with: the rules, the group-value guard and the audit format."""

    rules: RuleSet
    guard: ValueGuard
    audit_format: AuditFormat
    #: Follow mode and --once: the line saying the hub token is unknown here, if it is.
    token_notice: str | None = None


def _watch(config: WatcherConfig, loaded: _Loaded, stdout: TextIO, stderr: TextIO,
           flags: StopFlags) -> int:
    # Only follow mode and --once hold the lock: --replay never imports filelock.
    from watcher._lock import InstanceLock, WatcherLocked
    from watcher._preflight import missing_log_notice

    say(stderr, files_used(config))
    for notice in (missing_log_notice(config.log_path, config.log_from,
                                      follow=config.mode is Mode.FOLLOW), loaded.token_notice):
        if notice is not None:
            say(stderr, f"{config.prog}: {notice}")
    # The lock comes first: a second watcher leaves before it touches any state or exporter.
    files = HomeLayout(config.home)
    lock = InstanceLock(files.watcher_lock)
    try:
        lock.acquire()
    except WatcherLocked as exc:
        say(stderr, f"{config.prog}: error: another watcher is already running on "
                    f"{config.home} (it holds {exc.path})")
        return EXIT_LOCKED
    try:
        # A watcher killed mid-write (kill -9, or by the hub as hung) leaves its temp file.
        for written in (files.watcher_status, files.watcher_checkpoint):
            remove_staged(written)
        return _watch_locked(config, loaded, files, stdout, flags)
    finally:
        lock.release()


def _watch_locked(config: WatcherConfig, loaded: _Loaded, files: HomeLayout, stdout: TextIO,
                  flags: StopFlags) -> int:
    follow = config.mode is Mode.FOLLOW
    status = StatusFile(files.watcher_status, mode=config.mode.value,
                        log_path=config.log_path, alerts_path=config.alerts_path,
                        interval_ms=config.interval_ms if follow else None)
    if follow:
        # At once, before the state is loaded: this process holds the lock and its
        # signal handlers are in, which is what a parent (or a test) waits for.
        status.starting()
    sinks, wiring = _alert_sinks(config, stdout, status)
    try:
        return _follow(config, loaded, sinks, status, stdout, flags)
    finally:
        if wiring is not None and not flags.force_exit:
            wiring.shutdown()


def _alert_sinks(config: WatcherConfig, stdout: TextIO,
                 status: StatusFile) -> tuple[list[AlertSink], WatcherTelemetry | None]:
    """The sinks besides alerts.jsonl: Alertmanager when configured (its delivery counters
    in the status file, and as OTel metrics when those are exported), OTel log records when
    exported, the console in follow mode; and the OTel wiring, to shut down at the end."""
    sinks: list[AlertSink] = []
    delivery_status = None
    if config.alertmanager is not None:
        from watcher._alertmanager import build_alertmanager_sink

        sink = build_alertmanager_sink(config.alertmanager, alerts_path=config.alerts_path,
                                       env=config.env, home=config.home,
                                       token_files=config.token_files)
        status.add_section("alertmanager", sink.status)
        sinks.append(sink)
        delivery_status = sink.status
    from watcher._otel import build_watcher_telemetry

    wiring: WatcherTelemetry | None = None
    try:
        wiring = build_watcher_telemetry(config.otel_env, delivery_status)
    except Exception:  # telemetry never takes the watcher down; alerts.jsonl still works
        logging.getLogger(__name__).warning("OTel export unavailable", exc_info=True)
    if wiring is not None and wiring.provider is not None:
        from watcher._otel_sink import OTelAlertSink

        sinks.append(OTelAlertSink(wiring.provider))
    if config.mode is Mode.FOLLOW:
        sinks.append(ConsoleAlertSink(stdout))
    return sinks, wiring


def _between_chunks(refresh: Callable[[], None] | None,
                    flags: StopFlags) -> Callable[[], bool]:
    """What a poll calls between chunks: whether to stop, after refreshing the status in
    follow mode, so a long catch-up (a backlog of millions of lines is one poll) is not
    taken for a silent watcher by hub_top."""
    def between_chunks() -> bool:
        if refresh is not None:
            refresh()
        return flags.should_exit
    return between_chunks


def _follow(config: WatcherConfig, loaded: _Loaded, sinks: list[AlertSink],
            status: StatusFile, stdout: TextIO, flags: StopFlags) -> int:
    """Follow mode until a signal (or the parent's end), or one round for --once.

    After every poll that read up to the end of the log, the wall clock may move time
    (``Watcher.idle``): on a live log an alert resolves on time even if no line ever comes.
    ``--once`` does the same once at its end: it is a check of the live home, whose
    checkpoint follow mode resumes, so it reports what is over as over (a log of old events
    stays purely event-time either way).
    """
    # The checkpointed cycle: --replay (``_replay``) imports none of it.
    from watcher._runner import Watcher, WatchPaths

    follow = config.mode is Mode.FOLLOW
    paths = WatchPaths(log=config.log_path, alerts=config.alerts_path, state_dir=config.state_dir)
    watcher = Watcher(loaded.rules, paths, sinks=sinks, idle_advance=True,
                      value_guard=loaded.guard, audit_format=loaded.audit_format)
    if follow:
        # Its files and state are usable: what a parent waits for before it says "started".
        status.update(watcher.counters, state=_state(watcher), lag_bytes=watcher.lag_bytes,
                      last_poll_s=time.time(), force=True)
        say(stdout, f"watcher: following {paths.log}, {len(loaded.rules.rules)} rules, alerts to "
                    f"{paths.alerts}")
    next_line = time.monotonic() + config.status_interval_s

    def refresh_status() -> None:  # at most a write a second (StatusFile)
        status.update(watcher.counters, state=_state(watcher), lag_bytes=watcher.lag_bytes,
                      last_poll_s=time.time())

    between_chunks = _between_chunks(refresh_status if follow else None, flags)
    unread_said = False
    restored = dataclasses.replace(watcher.counters)  # judged: what this run reads
    while True:
        watcher.poll(between_chunks)
        if not unread_said and (unread := _unreadable(watcher.counters, paths.log,
                                                      at_least=_JUDGE_AFTER_LINES,
                                                      since=restored)):
            logging.getLogger(__name__).warning("%s", unread)
            unread_said = True
        if not flags.should_exit:  # a poll cut short left lines unread: no wall clock then
            watcher.idle()
        if not follow:
            break  # --once: the "stopped" status below is its only write
        refresh_status()
        if flags.should_exit:
            break
        if time.monotonic() >= next_line:
            say(stdout, _status_line(watcher.counters, watcher.lag_bytes, watcher.waiting))
            next_line = time.monotonic() + config.status_interval_s
        _sleep(config.interval_ms / 1000, flags)
    if flags.force_exit:
        return EXIT_FORCED
    watcher.close()
    status.update(watcher.counters, state="stopped", lag_bytes=watcher.lag_bytes,
                  last_poll_s=time.time(), force=True, stop_reason=flags.reason)
    say(stdout, _status_line(watcher.counters, watcher.lag_bytes, watcher.waiting))
    return EXIT_FORCED if flags.force_exit else EXIT_OK


def _state(watcher: Watcher) -> str:
    return "waiting_for_log" if watcher.waiting else "following"


def main(argv: Sequence[str], env: Mapping[str, str], *, stdout: TextIO | None = None,
         stderr: TextIO | None = None, prog: str = DEFAULT_PROG) -> int:
    """Runs the watcher CLI and returns its exit code.

    Everything it prints (paths, values from the log, error messages) is terminal-safe.

    Args:
        argv: the arguments after the program name.
        env: the environment, read once by ``__main__``.
        prog: the program name ``--help`` shows: the command as invoked.
    """
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    try:
        config = parse_config(argv, env, prog=prog)
    except UsageError as exc:
        say(err, f"{prog}: error: {exc}")
        return EXIT_USAGE
    for warning in config.warnings:
        say(err, f"{prog}: warning: {warning}")
    problem = _alerts_problem(config) or _home_problem(config)
    if problem is not None:
        say(err, f"{prog}: error: {problem}")
        return EXIT_USAGE
    handler = logging.StreamHandler(err)
    handler.setFormatter(TerminalSafeFormatter("watcher: %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    flags = StopFlags()
    try:
        # Handlers only set flags: follow mode and replay poll them, --check-rules at its end.
        with stop_on_signals(flags):
            if config.stop_on_stdin_eof:
                watch_stdin(flags.stop_for_parent)
            return _run(config, out, err, flags)
    except (Interrupted, KeyboardInterrupt):  # KeyboardInterrupt: before the handlers were in
        say(err, f"{prog}: interrupted")
        return EXIT_INTERRUPTED


def _check_rules(config: WatcherConfig, out: TextIO, flags: StopFlags) -> int:
    assert config.target is not None
    rules = load_rules(config.target)
    if flags.should_exit:
        raise Interrupted("--check-rules stopped")
    say(out, f"{config.target}: OK, {len(rules.rules)} rules")
    return EXIT_OK


def _check_format(config: WatcherConfig, out: TextIO) -> int:
    assert config.target is not None
    fmt = load_audit_format(config.target)
    renamed = sum(1 for name, line in fmt.fields.items() if name != line)
    say(out, f"{config.target}: OK, {renamed} renamed fields, ts as {fmt.ts_format.value}, "
             f"{len(fmt.events)} renamed events")
    return EXIT_OK


#: Lines read before the watcher judges whether it can read the log at all.
_JUDGE_AFTER_LINES = 10


def _unreadable(counters: Counters, log: Path, *, at_least: int = 1,
                since: Counters | None = None) -> str | None:
    """Why most of what was read of ``log`` is no audit event, or None: not JSON (another
    file), or JSON without the contract's ``ts`` and ``event`` (another audit format, which
    the hub's ``HUB_AUDIT_FORMAT`` names and this watcher was not given). Judged on what was
    read after ``since`` (the counters a checkpoint restored), once ``at_least`` lines were."""
    base = since if since is not None else Counters()
    read = counters.lines_read - base.lines_read
    invalid = counters.invalid_events - base.invalid_events
    if read < at_least:
        return None
    if read and counters.parse_errors - base.parse_errors == read:
        return f"no line of {log} is JSON: is it the hub's audit log?"
    if read >= _JUDGE_AFTER_LINES and invalid * 2 > read:
        return (f"{invalid} of the {read} lines read of {log} are JSON but "
                f"no audit event: if the hub writes another format, give the watcher the "
                f"same audit format file (--audit-format, HUB_AUDIT_FORMAT or the home's "
                f"configs/audit_format.json); lines read meanwhile are not read again")
    return None


def _replay(config: WatcherConfig, loaded: _Loaded, out: TextIO, err: TextIO,
            flags: StopFlags) -> int:
    assert config.target is not None
    if not config.target.is_file():
        kind = irregular_kind(config.target)
        what = f"is {kind}, not a regular file" if kind else "no such file"
        say(err, f"{config.prog}: error: --replay {config.target}: {what}")
        return EXIT_USAGE
    say(err, files_used(config))
    counters = replay(loaded.rules, config.target, config.alerts_path,
                      should_stop=lambda: flags.should_exit, value_guard=loaded.guard,
                      audit_format=loaded.audit_format)
    say(out, _status_line(counters, 0, False).replace("following", "replayed"))
    unread = _unreadable(counters, config.target)
    if unread is not None:
        say(err, f"{config.prog}: warning: {unread}")
    if config.alertmanager is not None:  # asked on the command line: a backtest
        from watcher._am_replay import replay_to_alertmanager

        posted = replay_to_alertmanager(config.alertmanager, config.alerts_path,
                                        env=config.env, home=config.home,
                                        token_files=config.token_files)
        say(out, f"alertmanager: posted {posted} alerts with their events' times to "
                 f"{len(config.alertmanager.urls)} Alertmanager(s)")
    return EXIT_OK


def _alerts_problem(config: WatcherConfig) -> str | None:
    """The alerts file may never be the log a run reads (the watcher would read its own
    alerts as events, or a replay would replace the log), and a replay, which replaces its
    file, may not replace a home's alerts.jsonl, the live alert history, nor a file that
    holds anything but alerts (``replace_problem``)."""
    if config.mode not in (Mode.FOLLOW, Mode.ONCE, Mode.REPLAY):
        return None
    source = config.target if config.mode is Mode.REPLAY else config.log_path
    if source is not None and _same_file(config.alerts_path, source):
        return (f"--alerts {config.alerts_path} is the audit log this run reads; the watcher "
                "left both untouched")
    return replace_problem(config.alerts_path) if config.mode is Mode.REPLAY else None


def _same_file(one: Path, other: Path) -> bool:
    """Whether two paths name one existing file (links and spellings included)."""
    try:
        return os.path.samefile(one, other)
    except OSError:  # one of them does not exist (yet): nothing to overwrite
        return False


def _home_problem(config: WatcherConfig) -> str | None:
    """Why follow mode or ``--once`` cannot run on this home and log: the home must exist
    (with its logs folder when the log is the home's), so that a watcher started in the
    wrong folder says so instead of filling it; the log must not be a folder or a FIFO,
    where no alert could ever come from."""
    if config.mode not in (Mode.FOLLOW, Mode.ONCE):
        return None
    from watcher._preflight import home_problem, log_problem

    return (home_problem(config.home, config.home_from, log_named=config.log_named)
            or log_problem(config.log_path, config.log_from))


def files_used(config: WatcherConfig) -> str:
    """The home and the files a run reads and writes, as one line for stderr."""
    log = config.target if config.mode is Mode.REPLAY else config.log_path
    rules = "packaged defaults" if config.rules_path is None else str(config.rules_path)
    return (f"{config.prog}: home {config.home.absolute()} ({config.home_from}); "
            f"log {log}; alerts {config.alerts_path}; rules {rules}")


def _value_guard(config: WatcherConfig, unknown_said: bool) -> ValueGuard:
    """The group-value guard. It reads the --token-file files now; the other secrets wait
    until a value that is no IP address needs judging (``unknown_said``: the token is
    already said to be unknown).

    Raises:
        UsageError: a --token-file cannot be used (naming the option and the path, never the
            content).
    """
    if not config.token_files:
        return known_secrets_guard(config.env, home=config.home, unknown_said=unknown_said)
    # The secret sources load only once named here, or on the guard's first real verdict.
    from otel import SecretSourceError

    try:
        return known_secrets_guard(config.env, home=config.home, token_files=config.token_files)
    except SecretSourceError as exc:
        raise UsageError(str(exc)) from None


def _token_notice(config: WatcherConfig) -> str | None:
    """Follow mode and --once: the line saying the hub token is unknown here, if it is (a
    look at whether its sources exist; the guard reads them when first needed)."""
    if config.mode not in (Mode.FOLLOW, Mode.ONCE):
        return None
    from watcher._preflight import unknown_token_notice

    return unknown_token_notice(config.env, config.home, config.token_files)


def _rules_error(config: WatcherConfig, exc: RulesError) -> str:
    """The line for a rules file that cannot be used, naming the file (once)."""
    path = config.rules_path
    if path is None or exc.field == str(path):  # the packaged defaults, or already named
        return f"invalid rules: {exc}"
    return f"invalid rules in {path}: {exc}"


def _run(config: WatcherConfig, out: TextIO, err: TextIO, flags: StopFlags) -> int:
    try:
        if config.mode is Mode.CHECK_RULES:
            return _check_rules(config, out, flags)
        if config.mode is Mode.CHECK_FORMAT:
            return _check_format(config, out)
        notice = _token_notice(config)
        loaded = _Loaded(_load(config), _value_guard(config, notice is not None),
                         _load_format(config), notice)
    except RulesError as exc:
        say(err, f"{config.prog}: {_rules_error(config, exc)}")
        return EXIT_USAGE
    except AuditFormatError as exc:
        say(err, f"{config.prog}: invalid audit format: {exc}")
        return EXIT_USAGE
    except UsageError as exc:
        say(err, f"{config.prog}: error: {exc}")
        return EXIT_USAGE
    try:
        if config.mode is Mode.REPLAY:
            return _replay(config, loaded, out, err, flags)
        return _watch(config, loaded, out, err, flags)
    except UnsafeFile as exc:
        say(err, f"{config.prog}: error: {exc}")
        explicit = config.alerts_from_option and exc.path == config.alerts_path
        return EXIT_USAGE if explicit else EXIT_FAILURE
    except OSError as exc:
        say(err, f"{config.prog}: error: {exc}")
        return EXIT_FAILURE
