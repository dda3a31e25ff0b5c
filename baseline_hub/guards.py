"""The frozen v1.5 guards: bearer token, port isolation, body size and the leak guard.

A request meets them in this order: routing (404, 405), port isolation (421), the token
(401), then the body size (413). A client without the token learns nothing about how the
hub treats bodies, and its failure is audited whatever it sent.
"""

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
    404 with no audit) but before the body is read or validated. Once the token is right the
    body is read, through ``BodyLimitMiddleware``, so an oversized one gets 413 on every
    protected route, whether or not the route uses it.
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
            await request.body()  # kept on the request, where the handler reads it again
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

    The refusal happens when the app reads the body: the read raises 413 into the app, whose
    error handlers answer. The routes read only after routing, port isolation and the token
    check, so those answers (and their audit lines) come first. A declared
    ``Content-Length`` over the limit fails the first read, before any byte is taken, and
    whatever answer the request gets then says ``Connection: close``, so the server drops the
    unread body instead of draining it. A body sent without a length is counted as it is
    read. (FastAPI's ``max_body_size`` answers in plain text, which the v1.5 contract rules
    out.)
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self._max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._declared_too_large(scope):
            await self.app(scope, _refuse_body, _closing(send))
            return
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

    def _declared_too_large(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"content-length":
                # Digits counted before int(): Python refuses to parse over 4300 of them.
                digits = value.lstrip(b"0")
                return value.isdigit() and (len(digits) > len(str(self._max_body_bytes))
                                            or int(digits or b"0") > self._max_body_bytes)
        return False


async def _refuse_body() -> Message:
    raise HTTPException(status_code=413)


def _closing(send: Send) -> Send:
    """``send`` with ``Connection: close`` put first in the response headers."""

    async def closing(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(b"connection", b"close"),
                       *(item for item in message.get("headers", ()) if item[0] != b"connection")]
            message = {**message, "headers": headers}
        await send(message)

    return closing
