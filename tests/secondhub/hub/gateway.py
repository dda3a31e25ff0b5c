"""The gateway: where each process builds its FastAPI app, mounts the routers and adds the
middleware.

This is the only module of the hub that knows about the observability layer, and the layer
is the block marked below: with ``SECONDHUB_OBSERVE=1`` it mounts ``GET /metrics`` and the
HTTP metrics middleware; everything else it reports (security rates from the audit log,
node and job counts and retries from the database) comes from configuration
(``HUB_AUDIT_LOG``, ``HUB_AUDIT_FORMAT``, ``HUB_COUNTS_SQL``), not from calls in the hub.
The gate, the stores and the audit writer never hear of it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping

from fastapi import FastAPI

from .api import (
    CONTROL_ROUTES,
    DATA_ROUTES,
    control_api,
    data_api,
    health_api,
    install_error_answers,
)
from .audit import AuditWriter
from .gate import PlaneGate, foreign_rules, protected_rules
from .settings import Settings
from .store import connect
from .tasks import TaskBoard, sweep_forever
from .workers import WorkerBook

__all__ = ["build_app"]


def build_app(plane: str, settings: Settings, env: Mapping[str, str], *, port: int,
              clock: Callable[[], float], new_id: Callable[[], str]) -> FastAPI:
    """Build the app one process serves.

    Args:
        plane: ``"control"`` or ``"data"``.
        settings: the hub's settings.
        env: the process environment, read by the layer's block only.
        port: the port this process is bound to.
        clock: epoch seconds, for the stores and the audit writer.
        new_id: makes task ids.
    """
    conn = connect(settings.db_path)
    closers: list[Callable[[], object]] = [conn.close]
    board: TaskBoard | None = None
    if plane == "control":
        other_port, foreign = settings.data_port, DATA_ROUTES
        router = control_api(WorkerBook(conn, stale_s=settings.stale_s,
                                        dead_s=settings.dead_s, clock=clock))
    else:
        other_port, foreign = settings.control_port, CONTROL_ROUTES
        board = TaskBoard(conn, lease_s=settings.lease_s, max_tries=settings.max_tries,
                          clock=clock, new_id=new_id)
        router = data_api(board)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sweeper = None if board is None else asyncio.create_task(
            sweep_forever(board, settings.sweep_s))
        try:
            yield
        finally:
            if sweeper is not None:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
            for close in reversed(closers):
                close()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None,
                  redirect_slashes=False)
    install_error_answers(app)
    app.include_router(health_api(plane))
    app.include_router(router)
    audit = AuditWriter(settings.audit_path, svc=plane, port=port, clock=clock)
    app.add_middleware(PlaneGate, protected=protected_rules(router.routes),
                       foreign=foreign_rules(foreign), other_port=other_port,
                       token=settings.token, audit=audit)

    # -- the observability layer (docs/integration.md): these lines, and no others ------
    if env.get("SECONDHUB_OBSERVE") == "1":
        from hub_middleware import instrument_app
        from otel import HubTelemetry, Redactor, TelemetryConfig
        telemetry = HubTelemetry(TelemetryConfig.from_env(env), redactor=Redactor([settings.token]))
        instrument_app(app, telemetry, plane=plane, server_port=port)
        closers.append(telemetry.shutdown)
    # -- end of the layer ----------------------------------------------------------------
    return app
