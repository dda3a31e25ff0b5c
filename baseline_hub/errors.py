"""Every error the hub answers is JSON ``{"error": ...}``; inputs are never echoed back."""

from __future__ import annotations

import logging
from collections.abc import Mapping

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


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(err.get("type") == "json_invalid" for err in errors):
        return error_response(400, "malformed_json")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _JSON_TYPES and any(tuple(err.get("loc", ())) == ("body",)
                                               for err in errors):
        # A body FastAPI did not parse as JSON, because it was not labelled as JSON.
        return error_response(415, "unsupported_media_type", expected="application/json")
    # loc/msg/type only: pydantic's "input" and "ctx" would echo what the client sent.
    detail = [
        {"loc": [str(part) for part in err.get("loc", ())], "msg": err.get("msg", ""),
         "type": err.get("type", "")}
        for err in errors
    ]
    return error_response(422, "invalid_request", detail=detail)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    hub = getattr(request.app.state, "hub", None)
    where = f"{request.method} {request.url.path}"
    logger.error("unhandled %s on %s", type(exc).__name__, hub.scrub(where) if hub else where,
                 exc_info=(type(exc), exc, exc.__traceback__))
    return error_response(500, "internal")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
