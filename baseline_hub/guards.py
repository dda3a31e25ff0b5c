"""The frozen v1.5 guards: bearer token, port isolation and the leak guard."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .context import HubContext, PlaneInfo
from .errors import error_response

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"]


class ProtectedRoute(APIRoute):
    """A route that answers 401 (and audits it) unless the bearer token is right.

    The check wraps FastAPI's whole handler, so it runs after routing (unknown paths stay
    404 with no audit) but before the body is read or validated.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            hub: HubContext = request.app.state.hub
            reason = hub.check_auth(request.headers.get("authorization"))
            if reason is not None:
                hub.security_event("AUTH_FAILURE", request.scope, request.app.state.plane,
                                   reason=reason)
                return error_response(401, "unauthorized")
            return await handler(request)

        return guarded


async def port_mismatch(request: Request) -> Response:
    """The endpoint behind every route of the other plane: 421, audited, before any auth."""
    hub: HubContext = request.app.state.hub
    plane: PlaneInfo = request.app.state.plane
    hub.security_event("PORT_MISMATCH", request.scope, plane, expected_port=plane.other_port)
    return error_response(421, "port_mismatch", expected_port=plane.other_port)


class LeakGuardMiddleware:
    """Holds each response until it is complete; if it contains ``secret`` anywhere in its
    headers or body, sends 500 ``{"error":"leak_guard"}`` instead and calls ``on_leak``.

    Hub responses are small JSON documents, so buffering them costs little.
    """

    def __init__(self, app: ASGIApp, *, secret: bytes, on_leak: Callable[[Scope], None]) -> None:
        if len(secret) < 8:
            raise ValueError("the leak guard needs a secret of at least 8 bytes")
        self.app = app
        self._secret = secret
        self._on_leak = on_leak

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def hold(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            assert start is not None
            body = b"".join(chunks)
            if self._leaks(start, body):
                self._on_leak(scope)
                await error_response(500, "leak_guard")(scope, receive, send)
                return
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, hold)

    def _leaks(self, start: Message, body: bytes) -> bool:
        if self._secret in body:
            return True
        return any(self._secret in name or self._secret in value
                   for name, value in start.get("headers", ()))


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_body_bytes`` with 413 ``{"error":"body_too_large"}``.

    A declared ``Content-Length`` is refused before the app runs. A body sent without one is
    counted as it is read, and the read raises 413 into the app, whose error handlers answer.
    (FastAPI's ``max_body_size`` answers in plain text, which the v1.5 contract rules out.)
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self._max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self._max_body_bytes:
                    response = error_response(413, "body_too_large",
                                              headers={"connection": "close"})
                    await response(scope, receive, send)
                    return
                break
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self._max_body_bytes:
                    raise HTTPException(status_code=413)
            return message

        await self.app(scope, counted, send)
