"""FastAPI/ASGI integration of the telemetry core: ``GET /metrics``, HTTP metrics, taps.

Any FastAPI (or Starlette) hub is instrumented in a few lines::

    from otel import HubTelemetry, TelemetryConfig
    from hub_middleware import HubTaps, instrument_app

    telemetry = HubTelemetry(TelemetryConfig.from_env(os.environ))
    instrument_app(app, telemetry, plane="control", server_port=8787)
    taps = HubTaps(telemetry)            # then: taps.auth_failure("control", "invalid_token")
"""

from __future__ import annotations

from starlette.applications import Starlette

from otel import HubTelemetry, Plane

from ._http_metrics import (
    DEFAULT_EXCLUDED_PATHS,
    UNMATCHED_ROUTE,
    EndpointRoutes,
    HttpMetricsMiddleware,
    check_server_port,
)
from ._metrics_route import MetricsFormat, mount_metrics, negotiate, parse_plane
from ._taps import HubTaps, SecurityEventLike, StateViewLike

__all__ = [
    "DEFAULT_EXCLUDED_PATHS",
    "UNMATCHED_ROUTE",
    "EndpointRoutes",
    "HttpMetricsMiddleware",
    "HubTaps",
    "MetricsFormat",
    "SecurityEventLike",
    "StateViewLike",
    "instrument_app",
    "mount_metrics",
    "negotiate",
    "parse_plane",
]


def instrument_app(app: Starlette, telemetry: HubTelemetry, *, plane: Plane | str,
                   server_port: int) -> None:
    """Mount ``GET /metrics`` and the HTTP metrics middleware on one plane's app.

    Call it after adding the app's own middleware, so that the metrics middleware is the
    outermost and records the final status of every answer (401, 421 and 500 included).
    A FastAPI app or a plain Starlette app.

    Args:
        app: the plane's app.
        telemetry: the hub's telemetry object (one per process, shared by both planes).
        plane: ``Plane.CONTROL`` or ``Plane.DATA`` (or their values).
        server_port: the port the app is served on.

    Raises:
        ValueError: an unknown plane, a port that is not an int in 1..65535, or an app
            instrumented already, at once, not on the first request.
    """
    which = parse_plane(plane)
    check_server_port(server_port)  # here too: Starlette builds middleware lazily
    if any(getattr(m, "cls", None) is HttpMetricsMiddleware for m in app.user_middleware):
        raise ValueError("this app is instrumented already: every request would be "
                         "recorded twice")
    route_of = None if hasattr(app, "add_api_route") else EndpointRoutes(lambda: app.routes)
    mount_metrics(app, telemetry, plane=which)
    app.add_middleware(HttpMetricsMiddleware, telemetry=telemetry, plane=which.value,
                       server_port=server_port, route_of=route_of)
