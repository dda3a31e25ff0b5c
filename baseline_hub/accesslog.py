"""One line per request in the plane's log: method, path (no query), status, time, client."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .clientip import client_of


class AccessLogMiddleware:
    """Pure ASGI: logs after the response, with ``scrub`` applied to the path.

    The query string is never logged, since clients put credentials there.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        log: logging.LoggerAdapter[logging.Logger],
        scrub: Callable[[str], str],
    ) -> None:
        self.app = app
        self._log = log
        self._scrub = scrub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            # Scrubbed before cutting (a cut token would slip past the scrub), then escaped so
            # a %0A in the URL cannot forge a second log line.
            path = _printable(self._scrub(scope.get("path", ""))[:512])
            method = _printable(self._scrub(str(scope.get("method", "-")))[:32])
            self._log.info(
                "%s %s %d %.1fms client=%s",
                method, path, status,
                (time.perf_counter() - started) * 1000, client_of(scope),
            )


def _printable(text: str) -> str:
    return text.encode("unicode_escape").decode("ascii")
