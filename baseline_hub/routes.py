"""The v1.5 routes of both planes. Handlers are thin: the store does the work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse

from . import models
from .context import HubContext
from .errors import error_response
from .guards import ProtectedRoute
from .jobs import JobConflict, JobNotFound

Responses = dict[int | str, dict[str, Any]]

_ID = Path(pattern=models.NODE_ID_PATTERN)
_JOB_ID = Path(min_length=1, max_length=128)

_E401: Responses = {401: {"model": models.Error, "description": "missing or wrong bearer token"}}
_E404: Responses = {404: {"model": models.Error, "description": "unknown id"}}
_E409: Responses = {
    409: {"model": models.Error, "description": "job not inflight, or held by another node"}
}
_EBODY: Responses = {
    400: {"model": models.Error, "description": "malformed JSON"},
    413: {"model": models.Error, "description": "body over 1 MiB"},
}


def _hub(request: Request) -> HubContext:
    hub: HubContext = request.app.state.hub
    return hub


def control_router() -> APIRouter:
    """Node registry routes (port 8787). All need the bearer token."""
    router = APIRouter(route_class=ProtectedRoute, responses=_E401)

    @router.post("/nodes/register", response_model=models.NodeStatus, responses=_EBODY)
    async def register_node(request: Request, body: models.RegisterNode) -> Response:
        status = _hub(request).registry.register(body.node_id, body.name, body.meta)
        return JSONResponse({"node_id": body.node_id, "status": status})

    @router.post("/nodes/{node_id}/heartbeat", response_model=models.NodeStatus, responses=_E404)
    async def heartbeat(request: Request, node_id: str = _ID) -> Response:
        if not _hub(request).registry.heartbeat(node_id):
            return error_response(404, "not_found")
        return JSONResponse({"node_id": node_id, "status": "online"})

    @router.delete("/nodes/{node_id}", status_code=204, response_class=Response)
    async def delete_node(request: Request, node_id: str = _ID) -> Response:
        _hub(request).registry.delete(node_id)
        return Response(status_code=204)

    @router.get("/nodes", response_model=models.NodeList)
    async def list_nodes(request: Request) -> Response:
        return JSONResponse({"nodes": _hub(request).registry.list()})

    return router


def data_router() -> APIRouter:
    """Job queue routes (port 8788). All need the bearer token."""
    router = APIRouter(route_class=ProtectedRoute, responses=_E401)

    @router.post("/jobs", status_code=201, response_model=models.JobState, responses=_EBODY)
    async def submit_job(request: Request, body: models.SubmitJob) -> Response:
        job_id = _hub(request).jobs.submit(body.kind, body.payload, body.max_attempts)
        return JSONResponse({"job_id": job_id, "state": "queued"}, status_code=201)

    @router.post(
        "/jobs/claim",
        response_model=models.Claimed,
        responses={204: {"description": "the queue is empty"}, **_EBODY},
    )
    async def claim_job(request: Request, body: models.ClaimJob) -> Response:
        job = _hub(request).jobs.claim(body.node_id, body.lease_s)
        if job is None:
            return Response(status_code=204)
        return JSONResponse({"job": job})

    @router.post("/jobs/{job_id}/complete", response_model=models.JobState,
                 responses={**_E404, **_E409, **_EBODY})
    async def complete_job(request: Request, body: models.CompleteJob,
                           job_id: str = _JOB_ID) -> Response:
        return _settle(job_id, lambda: _hub(request).jobs.complete(job_id, body.node_id,
                                                                   body.result))

    @router.post("/jobs/{job_id}/fail", response_model=models.JobState,
                 responses={**_E404, **_E409, **_EBODY})
    async def fail_job(request: Request, body: models.FailJob, job_id: str = _JOB_ID) -> Response:
        hub = _hub(request)

        def fail() -> str:
            retry = hub.jobs.fail(job_id, body.node_id, body.error)
            if retry.state == "queued":
                hub.job_retried(retry)
            return retry.state

        return _settle(job_id, fail)

    @router.get("/jobs/{job_id}", response_model=models.JobOut, responses=_E404)
    async def get_job(request: Request, job_id: str = _JOB_ID) -> Response:
        try:
            return JSONResponse(_hub(request).jobs.get(job_id))
        except JobNotFound:
            return error_response(404, "not_found")

    return router


def _settle(job_id: str, action: Callable[[], str]) -> Response:
    """Run a settle; answer the job's new state, or why it was refused."""
    try:
        state = action()
    except JobNotFound:
        return error_response(404, "not_found")
    except JobConflict as exc:
        return error_response(409, exc.error, state=exc.state)
    return JSONResponse({"job_id": job_id, "state": state})
