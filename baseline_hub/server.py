"""Runs the hub: one process, two uvicorn servers on one event loop, and the lease sweeper."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import uvicorn

from sheratan_home.env import connect_host, url_host

from .app import PlaneInstrumenter, build_plane_app
from .banner import banner
from .config import ConfigError, HubConfig
from .context import HubContext, PlaneInfo, PlaneName
from .homelock import HomeLock, HomeLocked
from .observer import HubObserver
from .token import TokenSource, resolve_token, write_token_fingerprint

logger = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 0.25
#: Open connections per plane beyond which uvicorn answers 503: a bound on what held or
#: slow connections can take.
MAX_CONNECTIONS_PER_PLANE = 1000
_HANDLED_SIGNALS = tuple(
    sig for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGBREAK", None)) if sig
)


class HubStartError(RuntimeError):
    """The hub could not start (a port in use, an unwritable home)."""


class _PlaneServer(uvicorn.Server):
    # Two servers share one process: the hub owns signal handling for both.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class HubRuntime:
    """A started hub, handed to ``on_ready`` hooks (the demo fleet, tests)."""

    config: HubConfig
    hub: HubContext
    token: TokenSource
    control: PlaneInfo
    data: PlaneInfo
    servers: list[_PlaneServer] = field(default_factory=list)
    #: The address both planes' sockets are bound to (``HUB_HOST``, resolved).
    bound_host: str = "127.0.0.1"

    @property
    def control_url(self) -> str:
        return f"http://{url_host(connect_host(self.config.host))}:{self.control.port}"

    @property
    def data_url(self) -> str:
        return f"http://{url_host(connect_host(self.config.host))}:{self.data.port}"

    @property
    def stop_requested(self) -> bool:
        """True once a stop was requested (a signal, ``request_stop``): from then on a
        failing call to the hub is the shutdown, not an error."""
        return any(server.should_exit for server in self.servers)

    def request_stop(self, force: bool = False) -> None:
        for server in self.servers:
            server.should_exit = True
            server.force_exit = server.force_exit or force


def bind(host: str, port: int) -> socket.socket:
    """Bind a listening socket, so a configured port 0 resolves before the apps are built."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError("HUB_HOST", f"cannot resolve {host!r}: {exc}") from None
    family, kind, proto, _, address = infos[0]
    # proto must be IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets whose
    # proto says TCP, and without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
    if sys.platform != "win32":  # on Windows SO_REUSEADDR would let another process share it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRNOTAVAIL:  # not an address of this machine: a bad value
            raise ConfigError("HUB_HOST", f"{host} is not an address of this machine") from None
        raise HubStartError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


@contextlib.contextmanager
def _signals_stop(runtime: HubRuntime) -> Iterator[None]:
    """First SIGINT/SIGTERM: graceful stop; a second one forces the exit. Handlers set flags."""
    received: list[int] = []

    def handle(sig: int, frame: FrameType | None) -> None:
        received.append(sig)
        runtime.request_stop(force=len(received) > 1)

    try:
        originals = {sig: signal.signal(sig, handle) for sig in _HANDLED_SIGNALS}
    except ValueError:  # not the main thread (tests running the hub in a thread)
        yield
        return
    try:
        yield
    finally:
        for sig, original in originals.items():
            signal.signal(sig, original)


async def _sweep_leases(runtime: HubRuntime, stop: asyncio.Event) -> None:
    hub = runtime.hub
    while not stop.is_set():
        try:
            hub.sweep_leases()
        except Exception:  # the sweeper must outlive a locked or busy database
            logger.exception("lease sweep failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SWEEP_INTERVAL_S)


OnReady = Callable[[HubRuntime], Coroutine[Any, Any, None]]


async def serve(
    config: HubConfig,
    *,
    observers: Sequence[HubObserver] = (),
    instrument: PlaneInstrumenter | None = None,
    on_ready: Sequence[OnReady] = (),
    on_stop: Sequence[Callable[[], None]] = (),
    wall_clock: Callable[[], float] = time.time,
    token: TokenSource | None = None,
) -> None:
    """Run the hub until SIGINT/SIGTERM (or ``HubRuntime.request_stop``).

    Args:
        token: the token, when the caller resolved it already (``resolve_token``).

    Raises:
        ConfigError: for a value the user must fix (home, host, token file, an unwritable
            token fingerprint).
        HubStartError: when a port is taken, or another hub runs on this home.
    """
    paths = config.paths
    paths.create()
    if token is None:
        token = resolve_token(config)
    # Everything acquired below is released in reverse order, however far start-up got.
    with contextlib.ExitStack() as cleanup:
        lock = HomeLock(paths.lock_file)
        try:
            lock.acquire()
        except HomeLocked:
            raise HubStartError(
                f"another hub is already running on {paths.home.resolve()}") from None
        except OSError as exc:
            raise HubStartError(f"cannot lock {paths.lock_file}: {exc.strerror or exc}") from None
        cleanup.callback(lock.release)
        # Only the hub that holds the home may replace the fingerprint: a second hub, refused
        # above, must not leave one of a token the running hub does not use.
        write_token_fingerprint(paths.token_fingerprint, token)
        control_sock = bind(config.host, config.control_port)
        cleanup.callback(control_sock.close)
        data_sock = bind(config.host, config.data_port)
        cleanup.callback(data_sock.close)
        try:
            hub = HubContext.open(config, token.value, observers=observers,
                                  wall_clock=wall_clock)
        except (sqlite3.Error, OSError) as exc:
            raise HubStartError(f"cannot open the hub state in {paths.home}: {exc}") from None
        cleanup.callback(print, "Sheratan hub stopped", flush=True)
        cleanup.callback(hub.close)
        cleanup.callback(_run_stop_hooks, on_stop)
        for plane_log in hub.plane_logs.values():
            cleanup.callback(plane_log.info, "stopped")
        control_port = control_sock.getsockname()[1]
        data_port = data_sock.getsockname()[1]
        runtime = HubRuntime(config, hub, token,
                             control=PlaneInfo("control", control_port, data_port),
                             data=PlaneInfo("data", data_port, control_port),
                             bound_host=control_sock.getsockname()[0])
        await _run(runtime, instrument, on_ready,
                   {runtime.control.name: control_sock, runtime.data.name: data_sock})


async def _run(
    runtime: HubRuntime,
    instrument: PlaneInstrumenter | None,
    on_ready: Sequence[OnReady],
    sockets: dict[PlaneName, socket.socket],
) -> None:
    """Serve both planes and sweep leases until a stop is requested."""
    hub = runtime.hub
    for plane in (runtime.control, runtime.data):
        app = build_plane_app(plane, hub, instrument=instrument,
                              trusted_proxies=runtime.config.trusted_proxies)
        # proxy_headers off: uvicorn would otherwise trust X-Forwarded-For from 127.0.0.1 (or
        # FORWARDED_ALLOW_IPS), letting any local process name any client. The app applies
        # HUB_TRUSTED_PROXIES itself.
        server_config = uvicorn.Config(app, lifespan="off", access_log=False, log_config=None,
                                       proxy_headers=False,
                                       timeout_graceful_shutdown=2,
                                       limit_concurrency=MAX_CONNECTIONS_PER_PLANE)
        runtime.servers.append(_PlaneServer(server_config))
    stop = asyncio.Event()
    with _signals_stop(runtime):
        tasks = [asyncio.create_task(server.serve(sockets=[sockets[plane.name]]))
                 for server, plane in zip(runtime.servers, (runtime.control, runtime.data),
                                          strict=True)]
        sweeper = asyncio.create_task(_sweep_leases(runtime, stop))
        while not all(server.started for server in runtime.servers):
            if any(task.done() for task in tasks):
                break
            await asyncio.sleep(0.01)
        ready: list[asyncio.Task[None]] = []
        if all(server.started for server in runtime.servers):
            for plane in (runtime.control, runtime.data):
                hub.plane_logs[plane.name].info("started on port %d", plane.port)
            print(banner(runtime), flush=True)
            ready = [asyncio.create_task(hook(runtime)) for hook in on_ready]
        else:  # a plane failed to start: stop the other, and let gather raise its error
            runtime.request_stop()
        try:
            await asyncio.gather(*tasks)
        finally:
            stop.set()
            for task in ready:
                task.cancel()
            await asyncio.gather(sweeper, *ready, return_exceptions=True)


def _run_stop_hooks(hooks: Sequence[Callable[[], None]]) -> None:
    for hook in hooks:
        try:
            hook()
        except Exception:
            logger.exception("shutdown hook failed")
