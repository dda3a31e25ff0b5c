"""Pure ASGI middleware that records ``http.server.request.duration`` for every request."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from otel import HubTelemetry, Plane

from ._metrics_route import parse_plane

#: The ``http.route`` of requests that matched no route: one series for all of them, so
#: scanners probing random paths cannot create new series.
UNMATCHED_ROUTE = "__unmatched__"
#: Methods outside this set are recorded as ``_OTHER`` (OTel semantic conventions).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
                           "TRACE", "CONNECT"})
DEFAULT_EXCLUDED_PATHS = ("/metrics", "/health")


def check_server_port(server_port: object) -> None:
    """Raises ValueError unless ``server_port`` is an int in 1..65535 (not a bool, a float or
    a string: each would label every request with a port the server does not have)."""
    if type(server_port) is not int or not 0 < server_port < 65536:
        raise ValueError(f"server_port must be an int in 1..65535, got {server_port!r}")


class HttpMetricsMiddleware:
    """Times each HTTP request and records it once, after the response, on ``telemetry``.

    The route template is read from ``scope["route"]``, which FastAPI's router sets while
    routing, so nothing is matched twice; ``route_of`` reads it otherwise (a plain Starlette
    app, see :class:`EndpointRoutes`). An exception from the app is recorded as 500 and
    re-raised. No per-request state is kept on the instance.

    Args:
        app: the ASGI app to wrap.
        telemetry: where to record.
        plane: the plane this app serves: ``Plane.CONTROL`` or ``Plane.DATA`` (or their
            values).
        server_port: the port this app is served on.
        excluded_paths: exact paths not to record (scrapes and health checks).
        route_of: the route template of a routed request's scope, None when it matched no
            route; default: FastAPI's ``scope["route"].path``.

    Raises:
        ValueError: an unknown plane, or a port outside 1..65535.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        telemetry: HubTelemetry,
        plane: Plane | str,
        server_port: int,
        excluded_paths: Iterable[str] = DEFAULT_EXCLUDED_PATHS,
        route_of: Callable[[Scope], str | None] | None = None,
    ) -> None:
        check_server_port(server_port)
        self.app = app
        self._telemetry = telemetry
        self._plane = parse_plane(plane).value
        self._server_port = server_port
        self._excluded = frozenset(excluded_paths)
        self._route_of = route_of or _fastapi_route

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
            method = scope["method"]
            self._telemetry.record_request(
                self._plane,
                method if method in KNOWN_METHODS else "_OTHER",
                self._route_of(scope) or UNMATCHED_ROUTE,
                status,
                self._server_port,
                time.perf_counter() - started,
            )


def _fastapi_route(scope: Scope) -> str | None:
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else None


class EndpointRoutes:
    """The route template of a request routed by a plain Starlette app, whose router puts
    the matched ``endpoint`` in the scope but not the route.

    The map from endpoint to template is built from ``routes`` when first needed and again
    when an endpoint is not in it (routes added later); an endpoint still not found reads as
    unmatched. ``Mount`` prefixes are joined to their routes' paths. One endpoint serving
    two routes is recorded under the later one.

    Thread-safety: the map is replaced whole, never changed in place.
    """

    def __init__(self, routes: Callable[[], Iterable[object]]) -> None:
        self._routes = routes
        self._by_endpoint: dict[object, str] = {}

    def __call__(self, scope: Scope) -> str | None:
        endpoint = scope.get("endpoint")
        if endpoint is None:
            return _fastapi_route(scope)
        path = self._by_endpoint.get(endpoint)
        if path is None:
            self._by_endpoint = dict(_templates(self._routes(), ""))
            path = self._by_endpoint.get(endpoint)
        return path


def _templates(routes: Iterable[object], prefix: str) -> Iterable[tuple[object, str]]:
    for route in routes:
        path = getattr(route, "path", None)
        if not isinstance(path, str):
            continue
        nested = getattr(route, "routes", None)
        if nested:
            yield from _templates(nested, prefix + path)
        # A Mount of a plain ASGI app (static files, say) has no endpoint: its app is what
        # the router puts in the scope as the endpoint.
        endpoint = getattr(route, "endpoint", None) or (
            None if nested else getattr(route, "app", None))
        if endpoint is not None:
            yield endpoint, prefix + path
