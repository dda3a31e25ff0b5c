"""The v1.5 routes: bodies, handlers and error answers. The gate has run before any of it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from . import VERSION
from .tasks import TaskBoard, TaskRefused
from .workers import WorkerBook

__all__ = ["CONTROL_ROUTES", "DATA_ROUTES", "control_api", "data_api", "health_api",
           "install_error_answers"]

#: Each plane's protected path templates; the gate answers 421 for the other plane's.
CONTROL_ROUTES: tuple[str, ...] = (
    "/nodes/register", "/nodes/{node_id}/heartbeat", "/nodes/{node_id}", "/nodes")
DATA_ROUTES: tuple[str, ...] = (
    "/jobs", "/jobs/claim", "/jobs/{job_id}/complete", "/jobs/{job_id}/fail", "/jobs/{job_id}")

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
_STATUS_NAMES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class Join(_Body):
    node_id: Annotated[str, Field(pattern=_NAME)]
    name: Annotated[str, Field(max_length=256)] | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class NewTask(_Body):
    kind: Annotated[str, Field(min_length=1, max_length=128)]
    payload: dict[str, Any] = Field(default_factory=dict)
    max_attempts: Annotated[int, Field(ge=1, le=1000)] | None = None


class Take(_Body):
    node_id: Annotated[str, Field(pattern=_NAME)]
    lease_s: Annotated[float, Field(gt=0, le=86400, allow_inf_nan=False)] | None = None


class Finish(_Body):
    node_id: Annotated[str, Field(pattern=_NAME)]
    result: dict[str, Any] | None = None


class Fail(_Body):
    node_id: Annotated[str, Field(pattern=_NAME)]
    error: Annotated[str, Field(max_length=65536)]


def _error(status: int, error: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": error, **extra}, status_code=status)


def health_api(plane: str) -> APIRouter:
    router = APIRouter()

    @router.get("/health")
    async def health() -> Response:
        return JSONResponse({"status": "ok", "plane": plane, "version": VERSION})

    return router


def control_api(book: WorkerBook) -> APIRouter:
    """The node routes of the control plane."""
    router = APIRouter()

    @router.post(CONTROL_ROUTES[0])
    async def register(body: Join) -> Response:
        book.join(body.node_id, body.name, body.meta)
        return JSONResponse({"node_id": body.node_id, "status": "online"})

    @router.post(CONTROL_ROUTES[1])
    async def heartbeat(node_id: str) -> Response:
        if not book.beat(node_id):
            return _error(404, "not_found")
        return JSONResponse({"node_id": node_id, "status": "online"})

    @router.delete(CONTROL_ROUTES[2], status_code=204)
    async def deregister(node_id: str) -> Response:
        book.leave(node_id)
        return Response(status_code=204)

    @router.get(CONTROL_ROUTES[3])
    async def roster() -> Response:
        return JSONResponse({"nodes": book.roster()})

    return router


def data_api(board: TaskBoard) -> APIRouter:
    """The job routes of the data plane."""
    router = APIRouter()

    @router.post(DATA_ROUTES[0], status_code=201)
    async def submit(body: NewTask) -> Response:
        uuid = board.post(body.kind, body.payload, body.max_attempts)
        return JSONResponse({"job_id": uuid, "state": "queued"}, status_code=201)

    @router.post(DATA_ROUTES[1])
    async def claim(body: Take) -> Response:
        task = board.take(body.node_id, body.lease_s)
        return Response(status_code=204) if task is None else JSONResponse({"job": task})

    @router.post(DATA_ROUTES[2])
    async def complete(job_id: str, body: Finish) -> Response:
        try:
            state = board.finish(job_id, body.node_id, body.result)
        except TaskRefused as refused:
            return _refused(refused)
        return JSONResponse({"job_id": job_id, "state": state})

    @router.post(DATA_ROUTES[3])
    async def fail(job_id: str, body: Fail) -> Response:
        try:
            state = board.fail(job_id, body.node_id, body.error)
        except TaskRefused as refused:
            return _refused(refused)
        return JSONResponse({"job_id": job_id, "state": state})

    @router.get(DATA_ROUTES[4])
    async def job(job_id: str) -> Response:
        task = board.get(job_id)
        return _error(404, "not_found") if task is None else JSONResponse(task)

    return router


def _refused(refused: TaskRefused) -> JSONResponse:
    if refused.state is None:
        return _error(404, refused.error)
    return _error(409, refused.error, state=refused.state)


def install_error_answers(app: FastAPI) -> None:
    """Every error is ``{"error": ...}``; a bad body never has its input echoed back."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        answer = _error(exc.status_code, _STATUS_NAMES.get(exc.status_code, "http_error"))
        if exc.headers and "Allow" in exc.headers:  # a 405 says what is allowed
            answer.headers["Allow"] = exc.headers["Allow"]
        return answer

    async def bad_body(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if any(err.get("type") == "json_invalid" for err in exc.errors()):
            return _error(400, "malformed_json")
        return _error(422, "invalid_request")

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, bad_body)
