"""``python -m tests.secondhub.hub {control|data} [--port N]``: serve one plane.

The port is ``--port``, else ``SECONDHUB_CONTROL_PORT`` / ``SECONDHUB_DATA_PORT``; 0 picks a
free one. Once bound, the process prints ``secondhub <plane> on http://<host>:<port>``.
A bad setting prints its variable and exits 2.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
import uuid
from collections.abc import Callable, Sequence

import uvicorn

from . import PLANES
from .gateway import build_app
from .settings import Settings, SettingsError

EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None, *, clock: Callable[[], float] = time.time,
         new_id: Callable[[], str] = lambda: uuid.uuid4().hex) -> int:
    """Run one plane until SIGINT or SIGTERM.

    Args:
        argv: the arguments after the module name.
        clock: epoch seconds (the hub's only clock).
        new_id: makes task ids.
    """
    parser = argparse.ArgumentParser(prog="python -m tests.secondhub.hub")
    parser.add_argument("plane", choices=PLANES)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    env = dict(os.environ)
    try:
        settings = Settings.from_env(env)
    except SettingsError as exc:
        print(f"secondhub: {exc}", file=sys.stderr)
        return EXIT_USAGE
    port = settings.port_of(args.plane) if args.port is None else args.port
    sock = _listen(settings.host, port)
    port = sock.getsockname()[1]
    app = build_app(args.plane, settings, env, port=port, clock=clock, new_id=new_id)
    print(f"secondhub {args.plane} on http://{settings.host}:{port}", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           lifespan="on"))
    server.run(sockets=[sock])
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """Bind before building the app, so the app knows its real port (``--port 0``)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    if os.name != "nt":  # POSIX: rebind at once after a restart; on Windows it would share
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


if __name__ == "__main__":
    sys.exit(main())
