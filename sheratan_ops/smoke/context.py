"""What every check shares: the clients of both planes, result types and HTTP helpers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

MAX_DETAIL_CHARS = 200
REDACTED = "[REDACTED]"
SMOKE_JOB_KIND = "smoke_check"

Outcome = Literal["PASS", "FAIL", "SKIP"]
PlaneName = Literal["control", "data"]


class CheckFailed(Exception):
    """A check found the hub not behaving as the contract says."""


class CheckSkipped(Exception):
    """A check could not run honestly (say, a busy queue); not a failure."""


class UsageError(Exception):
    """The user must fix the invocation (exit 2)."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check."""

    name: str
    outcome: Outcome
    detail: str = ""

    def line(self) -> str:
        return f"{self.outcome} {self.name}" + (f": {self.detail}" if self.detail else "")


@dataclass
class SmokeContext:
    """The clients of both planes and what the checks learn along the way.

    Every response body and header passes through ``request`` and is kept, so that the last
    check can assert the token never came back.
    """

    clients: Mapping[PlaneName, httpx.Client]
    ports: Mapping[PlaneName, int]
    token: str
    node_id: str
    skip_jobs: bool = False
    unreachable: dict[PlaneName, str] = field(default_factory=dict)
    seen: list[bytes] = field(default_factory=list)

    def request(self, plane: PlaneName, method: str, path: str, *, auth: bool = True,
                body: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None) -> httpx.Response:
        if plane in self.unreachable:
            raise CheckFailed(f"{plane} plane unreachable ({self.unreachable[plane]})")
        all_headers = dict(headers or {})
        if auth:
            all_headers["Authorization"] = f"Bearer {self.token}"
        response = self.clients[plane].request(method, path, json=body, headers=all_headers)
        self.seen.append(response.content)
        self.seen.extend(f"{name}: {value}".encode() for name, value in
                         response.headers.multi_items())
        return response


def describe(response: httpx.Response) -> str:
    """``METHOD /path -> status body``, the body cut short."""
    text = response.text
    if len(text) > MAX_DETAIL_CHARS:
        text = text[:MAX_DETAIL_CHARS] + "..."
    return f"{response.request.method} {response.request.url.path} -> {response.status_code} {text}"


def expect(response: httpx.Response, status: int) -> Any:
    """Return the JSON body if the status is ``status``, else raise CheckFailed."""
    if response.status_code != status:
        hint = " (is the token right?)" if response.status_code == 401 else ""
        raise CheckFailed(f"expected {status}: {describe(response)}{hint}")
    if status == 204:
        return None
    try:
        return response.json()
    except ValueError:
        raise CheckFailed(f"not JSON: {describe(response)}") from None


def expect_fields(what: str, body: Any, expected: Mapping[str, object]) -> None:
    """Raise CheckFailed unless ``body`` is an object holding every expected pair."""
    if not isinstance(body, dict):
        raise CheckFailed(f"{what}: expected a JSON object, got {body!r}"[:MAX_DETAIL_CHARS])
    for key, value in expected.items():
        if body.get(key) != value:
            raise CheckFailed(f"{what}: {key}={body.get(key)!r}, expected {value!r}")


def transport_detail(exc: httpx.TransportError) -> str:
    """A one-line reason for a request that never got an answer."""
    try:
        url: object = exc.request.url
    except RuntimeError:  # an error raised before the request was attached
        url = "?"
    reason = str(exc) or type(exc).__name__
    return f"cannot reach {url}: {type(exc).__name__}: {reason}"
