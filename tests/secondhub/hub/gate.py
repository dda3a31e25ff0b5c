"""Port isolation and the bearer token, in front of the router.

A request for a route of the other plane gets 421 (audited ``wrong_port``) whatever it
carries; then a request for one of this plane's protected routes needs the token, else 401
(audited ``auth.fail``). Everything else (``/health``, unknown paths, a known path with the
wrong method) goes on to the router untouched, which answers it as it would anyway.
The gate matches with the router's own compiled patterns, so the two cannot disagree.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from .audit import AuditWriter

__all__ = ["GateRule", "PlaneGate", "foreign_rules", "protected_rules"]


@dataclass(frozen=True, slots=True)
class GateRule:
    pattern: re.Pattern[str]
    methods: frozenset[str] | None  # None: every method


def protected_rules(routes: Iterable[object]) -> list[GateRule]:
    """This plane's routes that need the token, as the router matches them."""
    return [GateRule(route.path_regex, frozenset(route.methods or ()))
            for route in routes if isinstance(route, APIRoute)]


def foreign_rules(templates: Iterable[str]) -> list[GateRule]:
    """The other plane's path templates: any method on them is a port mismatch."""
    return [GateRule(compile_path(template)[0], None) for template in templates]


class PlaneGate:
    """Pure ASGI middleware enforcing the v1.5 guards of one plane.

    Args:
        app: the plane's app.
        protected: this plane's routes that need the token.
        foreign: the other plane's routes.
        other_port: the other plane's port (the 421's ``expected_port``).
        token: the bearer token.
        audit: where security events go.
    """

    def __init__(self, app: ASGIApp, *, protected: Sequence[GateRule],
                 foreign: Sequence[GateRule], other_port: int, token: str,
                 audit: AuditWriter) -> None:
        self.app = app
        self._protected = tuple(protected)
        self._foreign = tuple(foreign)
        self._other_port = other_port
        self._token = token.encode("ascii")
        self._audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if _matches(self._foreign, path, method):
            self._audit.wrong_port(scope, self._other_port)
            answer = JSONResponse({"error": "port_mismatch", "expected_port": self._other_port},
                                  status_code=421)
            await answer(scope, receive, send)
            return
        if _matches(self._protected, path, method):
            why = self._refusal(scope)
            if why is not None:
                self._audit.auth_fail(scope, why)
                await JSONResponse({"error": "unauthorized"}, status_code=401)(scope, receive,
                                                                               send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> str | None:
        """None for the right token, else the audit reason."""
        values = [value for name, value in scope["headers"] if name == b"authorization"]
        if not values or not values[0].strip():
            return "missing_token"
        scheme, _, presented = values[0].strip().partition(b" ")
        if (len(values) > 1 or scheme.lower() != b"bearer"
                or not hmac.compare_digest(presented.strip(), self._token)):
            return "invalid_token"
        return None


def _matches(rules: Sequence[GateRule], path: str, method: str) -> bool:
    return any(rule.pattern.match(path) and (rule.methods is None or method in rule.methods)
               for rule in rules)
