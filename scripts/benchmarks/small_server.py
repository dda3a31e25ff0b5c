"""The small app of the overhead benchmark, and a server for it (run as a script).

``python scripts/benchmarks/small_server.py {bare|layer}`` serves the app on an ephemeral
loopback port with uvicorn, configured as the hub configures it, and prints
``PORT <n>`` once it listens. The repository root must be on ``PYTHONPATH``.
"""

from __future__ import annotations

import asyncio
import socket
import sys

from fastapi import FastAPI

MODES = ("bare", "layer")


def small_app() -> FastAPI:
    """The app every variant instruments: two routes, one with a path parameter."""
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"item_id": item_id}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def _serve(mode: str) -> None:
    import uvicorn

    from hub_middleware import instrument_app
    from otel import HubTelemetry, TelemetryConfig

    # proto IPPROTO_TCP, as the hub binds: asyncio sets TCP_NODELAY only on accepted sockets
    # whose proto says TCP, and without it every keep-alive answer waits 40 ms for an ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = small_app()
    telemetry = None
    if mode == "layer":
        telemetry = HubTelemetry(TelemetryConfig())
        instrument_app(app, telemetry, plane="control", server_port=port)
    config = uvicorn.Config(app, lifespan="off", access_log=False, log_config=None,
                            proxy_headers=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    print(f"PORT {port}", flush=True)
    try:
        await task
    finally:
        if telemetry is not None:
            telemetry.shutdown()


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in MODES:
        print(f"usage: small_server.py {{{'|'.join(MODES)}}}", file=sys.stderr)
        return 2
    asyncio.run(_serve(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
