"""FastAPI/ASGI integration of the telemetry core: ``GET /metrics``, HTTP metrics, taps.

Any FastAPI hub is instrumented in a few lines::

    from otel import HubTelemetry, TelemetryConfig
    from hub_middleware import HubTaps, instrument_app

    telemetry = HubTelemetry(TelemetryConfig.from_env(os.environ))
    instrument_app(app, telemetry, plane="control", server_port=8787)
    taps = HubTaps(telemetry)            # then: taps.auth_failure("control", "invalid_token")
"""

from __future__ import annotations

from fastapi import FastAPI

from otel import HubTelemetry

from ._http_metrics import DEFAULT_EXCLUDED_PATHS, UNMATCHED_ROUTE, HttpMetricsMiddleware
from ._metrics_route import MetricsFormat, mount_metrics, negotiate
from ._taps import HubTaps, SecurityEventLike, StateViewLike

__all__ = [
    "DEFAULT_EXCLUDED_PATHS",
    "UNMATCHED_ROUTE",
    "HttpMetricsMiddleware",
    "HubTaps",
    "MetricsFormat",
    "SecurityEventLike",
    "StateViewLike",
    "instrument_app",
    "mount_metrics",
    "negotiate",
]


def instrument_app(app: FastAPI, telemetry: HubTelemetry, *, plane: str, server_port: int) -> None:
    """Mount ``GET /metrics`` and the HTTP metrics middleware on one plane's app.

    Call it after adding the app's own middleware, so that the metrics middleware is the
    outermost and records the final status of every answer (401, 421 and 500 included).

    Args:
        app: the plane's FastAPI app.
        telemetry: the hub's telemetry object (one per process, shared by both planes).
        plane: ``"control"`` or ``"data"``.
        server_port: the port the app is served on.
    """
    mount_metrics(app, telemetry, plane=plane)
    app.add_middleware(HttpMetricsMiddleware, telemetry=telemetry, plane=plane,
                       server_port=server_port)
