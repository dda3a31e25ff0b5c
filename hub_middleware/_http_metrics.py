"""Pure ASGI middleware that records ``http.server.request.duration`` for every request."""

from __future__ import annotations

import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from otel import HubTelemetry

#: The ``http.route`` of requests that matched no route: one series for all of them, so
#: scanners probing random paths cannot create new series.
UNMATCHED_ROUTE = "__unmatched__"
#: Methods outside this set are recorded as ``_OTHER`` (OTel semantic conventions).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
                           "TRACE", "CONNECT"})
DEFAULT_EXCLUDED_PATHS = ("/metrics", "/health")


class HttpMetricsMiddleware:
    """Times each HTTP request and records it once, after the response, on ``telemetry``.

    The route template is read from ``scope["route"]``, which the router sets while routing,
    so nothing is matched twice. An exception from the app is recorded as 500 and re-raised.
    No per-request state is kept on the instance.

    Args:
        app: the ASGI app to wrap.
        telemetry: where to record.
        plane: the plane this app serves (``"control"`` or ``"data"``).
        server_port: the port this app is served on.
        excluded_paths: exact paths not to record (scrapes and health checks).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        telemetry: HubTelemetry,
        plane: str,
        server_port: int,
        excluded_paths: Iterable[str] = DEFAULT_EXCLUDED_PATHS,
    ) -> None:
        if not 0 < server_port < 65536:
            raise ValueError(f"server_port must be 1..65535, got {server_port!r}")
        self.app = app
        self._telemetry = telemetry
        self._plane = plane
        self._server_port = server_port
        self._excluded = frozenset(excluded_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._excluded:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            method = scope["method"]
            self._telemetry.record_request(
                self._plane,
                method if method in KNOWN_METHODS else "_OTHER",
                getattr(route, "path", None) or UNMATCHED_ROUTE,
                status,
                self._server_port,
                time.perf_counter() - started,
            )
