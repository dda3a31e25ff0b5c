"""Every error the hub answers is JSON ``{"error": ...}``; inputs are never echoed back."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Coroutine, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

logger = logging.getLogger(__name__)

_ERROR_NAMES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
}


_JSON_TYPES = {"application/json", ""}

#: What a 422 says about each pydantic error type. pydantic's own ``msg`` is never sent:
#: it can quote the input ("Input should be 'x'", a validator's message).
_MESSAGES = {
    "missing": "field required",
    "extra_forbidden": "unknown field",
    "model_attributes_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "string_type": "must be a string",
    "string_too_short": "too short",
    "string_too_long": "too long",
    "too_short": "too short",  # length limits on a validated str (Text) have these types
    "too_long": "too long",
    "string_pattern_mismatch": "does not match the allowed pattern",
    "int_type": "must be an integer",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "greater_than": "too small",
    "greater_than_equal": "too small",
    "less_than": "too large",
    "less_than_equal": "too large",
    "recursion_loop": "nested too deeply",
    "value_error": "invalid value",
}
_DEFAULT_MESSAGE = "invalid value"
#: Stands in for a ``loc`` element the hub did not declare: a client's own field name or
#: object key, which may be anything (the token, escape sequences, 10 KB of text).
UNKNOWN_FIELD = "<unknown field>"
_LOC_ROOTS = frozenset({"body", "path", "query", "header", "cookie"})
# pydantic's types are identifiers; anything else (a custom error's type) is not repeated.
_ERROR_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def error_response(
    status: int, error: str, *, headers: Mapping[str, str] | None = None, **extra: object,
) -> JSONResponse:
    """``{"error": error, **extra}`` with ``status``; also a plain ASGI app for middleware."""
    return JSONResponse({"error": error, **extra}, status_code=status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    response = error_response(exc.status_code, _ERROR_NAMES.get(exc.status_code, "http_error"))
    if exc.status_code == 405 and exc.headers and "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response


def _validation_error(
    field_names: frozenset[str],
) -> Callable[[Request, Exception], Coroutine[Any, Any, JSONResponse]]:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        if any(err.get("type") == "json_invalid" for err in errors):
            return error_response(400, "malformed_json")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in _JSON_TYPES and any(tuple(err.get("loc", ())) == ("body",)
                                                   for err in errors):
            # A body FastAPI did not parse as JSON, because it was not labelled as JSON.
            return error_response(415, "unsupported_media_type", expected="application/json")
        detail = [_safe_detail(err, field_names) for err in errors]
        return error_response(422, "invalid_request", detail=detail)

    return handle


def _safe_detail(error: Mapping[str, Any], field_names: frozenset[str]) -> dict[str, object]:
    """One 422 detail item, built only from text the hub defines.

    pydantic's ``input`` and ``ctx`` would echo what the client sent, and so can its ``msg``
    and, for an unknown field, the ``loc``.
    """
    kind = error.get("type")
    kind = kind if isinstance(kind, str) and _ERROR_TYPE_RE.match(kind) else "invalid"
    return {"loc": _safe_loc(error.get("loc", ()), field_names),
            "msg": _MESSAGES.get(kind, _DEFAULT_MESSAGE), "type": kind}


def _safe_loc(loc: Sequence[object], field_names: frozenset[str]) -> list[str]:
    """``loc`` with every element the hub did not declare replaced by ``UNKNOWN_FIELD``.

    Kept: the root (``body``, ``path``, ...), declared field and path parameter names, and
    list indexes.
    """
    safe: list[str] = []
    for index, part in enumerate(loc):
        names = _LOC_ROOTS if index == 0 else field_names
        if type(part) is int or part in names:
            safe.append(str(part))
        else:
            safe.append(UNKNOWN_FIELD)
    return safe


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    hub = getattr(request.app.state, "hub", None)
    where = f"{request.method} {request.url.path}"
    logger.error("unhandled %s on %s", type(exc).__name__, hub.scrub(where) if hub else where,
                 exc_info=(type(exc), exc, exc.__traceback__))
    return error_response(500, "internal")


def install_error_handlers(app: FastAPI, *, field_names: Collection[str] = ()) -> None:
    """Answer every error as JSON.

    Args:
        app: the plane app.
        field_names: the body fields and path parameters the hub declares: the only names a
            422 repeats from pydantic's ``loc``.
    """
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error(frozenset(field_names)))
    app.add_exception_handler(Exception, _unexpected)
