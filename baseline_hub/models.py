"""Request bodies of the v1.5 API. Strict: wrong types and unknown fields are a 4xx."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from . import db

MAX_JSON_DEPTH = 64
NODE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"


def _storable(value: dict[str, Any]) -> dict[str, Any]:
    """Reject objects the store cannot round-trip: too deep, NaN/Infinity, lone surrogates."""
    _check_depth(value, 1)
    try:
        db.dump_json(value).encode("utf-8")
    except (ValueError, UnicodeEncodeError) as exc:
        raise ValueError(f"not storable as JSON: {type(exc).__name__}") from None
    return value


def _utf8(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text (lone surrogate)") from None
    return value


def _check_depth(value: object, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, dict):
        for item in value.values():
            _check_depth(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_depth(item, depth + 1)


def _integral(value: object) -> object:
    """JSON Schema counts 3.0 as an integer; strings and booleans stay refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


NodeId = Annotated[str, Field(pattern=NODE_ID_PATTERN)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_storable)]
Text = Annotated[str, AfterValidator(_utf8)]


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class RegisterNode(_Body):
    node_id: NodeId
    name: Annotated[Text, Field(max_length=256)] | None = None
    meta: JsonObject = Field(default_factory=dict)


class SubmitJob(_Body):
    kind: Annotated[Text, Field(min_length=1, max_length=128)]
    payload: JsonObject = Field(default_factory=dict)
    max_attempts: Annotated[int, Field(ge=1, le=1000), BeforeValidator(_integral)] | None = None


class ClaimJob(_Body):
    node_id: NodeId
    lease_s: Annotated[float, Field(gt=0, le=86400, allow_inf_nan=False)] | None = None


class CompleteJob(_Body):
    node_id: NodeId
    result: JsonObject | None = None


class FailJob(_Body):
    node_id: NodeId
    error: Annotated[Text, Field(max_length=65536)]


#: Every request body model: their field names are the ones a 422 may repeat.
REQUEST_BODIES: tuple[type[BaseModel], ...] = (RegisterNode, SubmitJob, ClaimJob, CompleteJob,
                                               FailJob)


# Response shapes, declared for the OpenAPI schema (and so for schemathesis). Handlers
# return JSONResponse directly, which FastAPI does not re-validate.
class Health(BaseModel):
    status: str
    plane: str
    version: str


class Error(BaseModel):
    error: str


class NodeStatus(BaseModel):
    node_id: str
    status: str


class NodeOut(BaseModel):
    node_id: str
    name: str | None
    status: str
    last_seen: str
    registered_at: str
    meta: dict[str, Any]


class NodeList(BaseModel):
    nodes: list[NodeOut]


class JobOut(BaseModel):
    job_id: str
    kind: str
    payload: dict[str, Any]
    state: str
    attempts: int
    max_attempts: int
    node_id: str | None
    lease_expires_at: str | None
    result: dict[str, Any] | None
    last_error: str | None
    created_at: str
    updated_at: str


class JobState(BaseModel):
    job_id: str
    state: str


class Claimed(BaseModel):
    job: JobOut
