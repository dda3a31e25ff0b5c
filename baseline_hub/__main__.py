"""``python -m baseline_hub [--demo]``: run the v1.5 hub on its two ports.

Every line it prints itself, logged or not, goes through :func:`otel.terminal_safe`: paths
and settings come from the environment (``SHERATAN_HOME`` may hold ``ESC]0;…``), and a
terminal would run the escape sequences they hold.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sqlite3
import sys
import time
from collections.abc import Sequence

from fastapi import FastAPI

from hub_middleware import HubTaps, instrument_app
from otel import HubTelemetry, Redactor, TelemetryConfig, TerminalSafeFormatter, terminal_safe

from .banner import next_steps
from .config import EXIT_CONFIG_ERROR, ConfigError, HubConfig
from .context import PlaneInfo
from .envhelp import epilog
from .retries import read_retries_since
from .server import HubRuntime, HubStartError, OnReady, serve
from .sidecar import WatcherSupervisor
from .token import resolve_token
from .version import __version__

EXIT_OK = 0
EXIT_START_FAILED = 1
#: Leaves room inside the 3 s a stopping hub may take, even with the collector down.
TELEMETRY_SHUTDOWN_S = 2.0
#: The trailing window of the ``*_rate_1m`` gauges, seeded after a restart.
RATE_WINDOW_S = 60


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m baseline_hub",
        description="Run the Sheratan v1.5 hub: control plane and data plane in one process.",
        epilog=epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--demo", action="store_true",
                        help="also run a small simulated fleet against the hub's real API")
    parser.add_argument("--watcher", action="store_true",
                        help="also run the audit watcher (python -m watcher) as a separate "
                             "process: it stops with the hub (also when the hub is killed), "
                             "and is restarted with backoff when it exits on its own")
    args = parser.parse_args(argv)
    _log_to_console()
    for noisy in ("uvicorn.error", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        config = HubConfig.from_env(os.environ)
        config.paths.create()
        token = resolve_token(config)
    except ConfigError as exc:
        _error(exc)
        return EXIT_CONFIG_ERROR
    on_ready: list[OnReady] = [_say_next_steps(watcher=args.watcher)]
    if args.demo:
        from .demo import run_demo

        on_ready.append(run_demo)
    # The redactor keeps the token out of every label and resource attribute.
    telemetry = HubTelemetry(TelemetryConfig.from_env(os.environ),
                             extra_resource_attributes={"service.version": __version__},
                             redactor=Redactor([token.value]))
    _seed_rates(telemetry, config)
    on_stop = [lambda: telemetry.shutdown(timeout_s=TELEMETRY_SHUTDOWN_S)]
    if args.watcher:
        supervisor = WatcherSupervisor(config.home, env=os.environ)
        on_ready.append(_supervise_watcher(supervisor))
        # One budget, not two in a row: the watcher flushes while the hub shuts its own
        # telemetry down, and is waited for (or killed) after.
        on_stop.insert(0, supervisor.request_stop)
        on_stop.append(supervisor.wait_stopped)

    def instrument(app: FastAPI, plane: PlaneInfo) -> None:
        instrument_app(app, telemetry, plane=plane.name, server_port=plane.port)

    try:
        asyncio.run(serve(
            config,
            observers=[HubTaps(telemetry)],
            instrument=instrument,
            on_ready=on_ready,
            on_stop=on_stop,
            token=token,
        ))
    except ConfigError as exc:
        _error(exc)
        return EXIT_CONFIG_ERROR
    except HubStartError as exc:
        _error(exc)
        return EXIT_START_FAILED
    except KeyboardInterrupt:  # a signal that arrived before the handlers were installed
        pass
    finally:
        telemetry.shutdown(timeout_s=TELEMETRY_SHUTDOWN_S)  # idempotent
    return EXIT_OK


def _log_to_console() -> None:
    """INFO and up on stderr, terminal-safe (a logged path may hold escape sequences)."""
    handler = logging.StreamHandler()
    handler.setFormatter(TerminalSafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])


def _error(exc: Exception) -> None:
    """``error: <exc>`` on stderr: the one line a user error gets."""
    print(f"error: {terminal_safe(str(exc))}", file=sys.stderr)


def _say_next_steps(*, watcher: bool) -> OnReady:
    """Right after the banner: what a newcomer can look at next."""

    async def say(runtime: HubRuntime) -> None:
        print(next_steps(runtime, watcher=watcher), flush=True)

    return say


def _supervise_watcher(supervisor: WatcherSupervisor) -> OnReady:
    """Starts the watcher once the hub serves, and asks it to stop as soon as the hub is
    asked to, so that its shutdown overlaps the servers' own."""

    async def supervise(runtime: HubRuntime) -> None:
        supervisor.start()
        while not runtime.stop_requested:
            await asyncio.sleep(0.05)
        supervisor.request_stop()

    return supervise


def _seed_rates(telemetry: HubTelemetry, config: HubConfig) -> None:
    """Give a restarted hub's ``*_rate_1m`` the minute before the restart: the security
    events from the audit log (unless ``HUB_AUDIT_LOG`` already makes the log the source)
    and the retries from the store. Before serving: the sweeper's first pass, which tells
    the taps of the leases it requeues, must not be counted twice."""
    if telemetry.config.audit_log is None:
        telemetry.seed_security_rates_from(config.paths.audit_log)
    try:
        past = read_retries_since(config.paths.db, time.time() - RATE_WINDOW_S)
    except sqlite3.Error as exc:
        logging.getLogger(__name__).warning("cannot read the retry history: %s", exc)
        return
    for retry in past:
        telemetry.record_job_retry(retry.cause, at=retry.at)


if __name__ == "__main__":
    sys.exit(main())

