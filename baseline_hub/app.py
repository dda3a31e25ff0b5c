"""Assembles one plane's ASGI app: routes, guards, logs, and what observers mount on it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Scope

from . import models
from .accesslog import AccessLogMiddleware
from .clientip import ForwardedClientMiddleware
from .config import IPNetwork
from .context import HubContext, PlaneInfo
from .errors import error_response, install_error_handlers
from .guards import (
    ALL_METHODS,
    BodyLimitMiddleware,
    LeakGuardMiddleware,
    ProtectedRoute,
    port_mismatch,
)
from .routes import control_router, data_router
from .version import __version__

MAX_BODY_BYTES = 1024 * 1024

#: Hook through which an integration (hub_middleware) adds ``GET /metrics`` and its own
#: middleware to a plane app. It receives the app and the plane; it must not touch other routes.
PlaneInstrumenter = Callable[[FastAPI, PlaneInfo], None]


def _routers() -> dict[str, APIRouter]:
    return {"control": control_router(), "data": data_router()}


def build_plane_app(
    plane: PlaneInfo,
    hub: HubContext,
    *,
    instrument: PlaneInstrumenter | None = None,
    trusted_proxies: Sequence[IPNetwork] = (),
) -> ASGIApp:
    """Build the ASGI app of one plane.

    Args:
        plane: which plane, and the ports actually bound.
        hub: the shared hub context.
        instrument: optional hook that mounts ``GET /metrics`` (and its middleware). Without
            it, ``/metrics`` answers 501.
        trusted_proxies: peers whose ``X-Forwarded-For`` names the client
            (``HUB_TRUSTED_PROXIES``). Empty: no forwarded header is ever honoured.
    """
    routers = _routers()
    other = "data" if plane.name == "control" else "control"
    app = FastAPI(
        title=f"Sheratan hub, {plane.name} plane",
        version=__version__,
        redirect_slashes=False,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.hub = hub
    app.state.plane = plane
    install_error_handlers(app, field_names=_declared_names(routers[plane.name]))

    @app.get("/health", response_model=models.Health)
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok", "plane": plane.name, "version": __version__})

    # HEAD for load balancers and uptime checks; kept out of the schema (one operation each).
    app.add_api_route("/health", health, methods=["HEAD"], include_in_schema=False)

    app.include_router(routers[plane.name])
    # Every route of the other plane answers 421 here, whatever the method.
    for route in routers[other].routes:
        assert isinstance(route, ProtectedRoute)
        app.add_api_route(route.path, port_mismatch, methods=ALL_METHODS,
                          include_in_schema=False)

    def on_leak(scope: Scope) -> None:
        hub.security_event("LEAK_BLOCKED", scope, plane)

    app.add_middleware(BodyLimitMiddleware, max_body_bytes=MAX_BODY_BYTES)
    app.add_middleware(LeakGuardMiddleware, secret=hub.token_bytes, on_leak=on_leak)
    app.add_middleware(AccessLogMiddleware, log=hub.plane_logs[plane.name], scrub=hub.scrub)
    if trusted_proxies:  # outside the access log and the guards: both see the real client
        app.add_middleware(ForwardedClientMiddleware, trusted_proxies=trusted_proxies)
    # Last, so that middleware it adds is outermost and sees the final status of every
    # answer, the guards' 401, 421 and leak-guard 500 included.
    if instrument is not None:
        instrument(app, plane)
    else:
        @app.api_route("/metrics", methods=["GET", "HEAD"], include_in_schema=False)
        async def metrics_unavailable(request: Request) -> JSONResponse:
            return error_response(501, "metrics_not_configured")
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _declared_names(router: APIRouter) -> frozenset[str]:
    """The request body fields and the plane's path parameters."""
    names = {name for body in models.REQUEST_BODIES for name in body.model_fields}
    for route in router.routes:
        assert isinstance(route, ProtectedRoute)
        names.update(route.param_convertors)
    return frozenset(names)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The schema (not served; used by tests), with the bearer scheme on protected routes."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"}
        }
        protected = {r.path for r in app.routes if isinstance(r, ProtectedRoute)}
        for path, operations in schema.get("paths", {}).items():
            if path in protected:
                for operation in operations.values():
                    operation["security"] = [{"bearer": []}]
        app.openapi_schema = schema
    return app.openapi_schema
