"""Bodies over 1 MiB: judged after routing, port isolation and the token, so a client without
the token gets its 401 (audited), never a 413."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from baseline_hub import HubContext, build_plane_app
from baseline_hub.app import MAX_BODY_BYTES
from tests.conftest import TEST_TOKEN, HubProcess
from tests.hub.conftest import CONTROL, DATA, plane_client, raw_request

JSON = {"content-type": "application/json"}
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
TOO_LARGE = json.dumps({"kind": "k", "payload": {"x": "a" * MAX_BODY_BYTES}}).encode()


def audit_lines(hub: HubContext) -> list[dict[str, object]]:
    if not hub.audit.path.exists():
        return []
    return [json.loads(line) for line in hub.audit.path.read_text().splitlines()]


def chunks() -> Iterator[bytes]:
    """The too-large body without a Content-Length (chunked)."""
    for start in range(0, len(TOO_LARGE), 65536):
        yield TOO_LARGE[start:start + 65536]


@pytest.mark.parametrize(("headers", "reason"), [
    ({}, "missing_token"),
    ({"Authorization": "Bearer wrong-token-000000000000"}, "invalid_token"),
])
def test_an_oversized_body_without_the_token_is_401_and_audited(
    hub: HubContext, headers: dict[str, str], reason: str,
) -> None:
    client = plane_client(hub, DATA, auth=False)
    response = client.post("/jobs", content=TOO_LARGE, headers={**JSON, **headers})
    assert (response.status_code, response.content) == (401, b'{"error":"unauthorized"}')
    # The unread body is dropped with the connection, not drained.
    assert response.headers["connection"] == "close"
    [line] = audit_lines(hub)
    assert (line["event"], line["path"], line["reason"]) == ("AUTH_FAILURE", "/jobs", reason)


def test_a_chunked_oversized_body_without_the_token_is_401(hub: HubContext) -> None:
    client = plane_client(hub, DATA, auth=False)
    response = client.post("/jobs", content=chunks(), headers=JSON)
    assert (response.status_code, response.json()) == (401, {"error": "unauthorized"})
    assert [line["reason"] for line in audit_lines(hub)] == ["missing_token"]


def test_port_isolation_still_comes_first(hub: HubContext) -> None:
    client = plane_client(hub, CONTROL, auth=False)
    response = client.post("/jobs", content=TOO_LARGE, headers=JSON)
    assert (response.status_code, response.json()) == (
        421, {"error": "port_mismatch", "expected_port": 8788})
    assert [line["event"] for line in audit_lines(hub)] == ["PORT_MISMATCH"]


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/nodes/register"), ("GET", "/nodes"), ("DELETE", "/nodes/n1"),
    ("POST", "/nodes/n1/heartbeat"),
])
def test_with_the_token_an_oversized_body_is_413_on_every_protected_route(
    hub: HubContext, control: TestClient, method: str, path: str,
) -> None:
    response = control.request(method, path, content=TOO_LARGE, headers=JSON)
    assert (response.status_code, response.content) == (413, b'{"error":"body_too_large"}')
    # The same bytes as before the reorder: Connection: close first.
    assert response.headers.raw[0] == (b"connection", b"close")
    assert audit_lines(hub) == []
    assert hub.registry.list() == []


def test_with_the_token_a_chunked_oversized_body_is_413_even_where_unused(
    control: TestClient,
) -> None:
    response = control.request("GET", "/nodes", content=chunks(), headers=JSON)
    assert (response.status_code, response.json()) == (413, {"error": "body_too_large"})


def test_exactly_the_limit_is_accepted(data: TestClient) -> None:
    head, tail = b'{"kind": "k", "payload": {"x": "', b'"}}'
    body = head + b"a" * (MAX_BODY_BYTES - len(head) - len(tail)) + tail
    assert data.post("/jobs", content=body, headers=JSON).status_code == 201
    assert data.post("/jobs", content=body[:-2] + b' }}', headers=JSON).status_code == 413


@pytest.mark.parametrize("length", [b"1048577", b"9" * 5000])  # int() refuses 4300+ digits
@pytest.mark.parametrize(("auth", "status"), [(False, 401), (True, 413)])
def test_a_declared_length_over_the_limit_is_judged_without_a_500(
    hub: HubContext, length: bytes, auth: bool, status: int,
) -> None:
    headers = [(b"content-length", length), (b"content-type", b"application/json")]
    if auth:
        headers.append((b"authorization", f"Bearer {TEST_TOKEN}".encode()))
    response = raw_request(build_plane_app(DATA, hub), "POST", "/jobs", headers, port=8788)
    assert response.status == status, response.body
    assert response.headers[0] == (b"connection", b"close")


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/health", 200), ("POST", "/nope", 404), ("PUT", "/nodes", 405),
])
def test_what_never_reads_the_body_answers_as_it_would_without_one(
    hub: HubContext, method: str, path: str, status: int,
) -> None:
    headers = [(b"content-length", str(len(TOO_LARGE)).encode())]
    response = raw_request(build_plane_app(CONTROL, hub), method, path, headers)
    assert response.status == status
    assert response.headers[0] == (b"connection", b"close")
    assert audit_lines(hub) == []


@pytest.mark.e2e
def test_a_real_hub_answers_401_to_an_unauthenticated_oversized_body(
    hub_process: HubProcess,
) -> None:
    hub = hub_process
    with httpx.Client(timeout=5) as client:
        response = client.post(f"{hub.data_url}/jobs", content=TOO_LARGE, headers=JSON)
        assert (response.status_code, response.json()) == (401, {"error": "unauthorized"})
        authorized = client.post(f"{hub.data_url}/jobs", content=TOO_LARGE,
                                 headers={**JSON, **hub.auth})
        assert (authorized.status_code, authorized.json()) == (413, {"error": "body_too_large"})
    lines = Path(hub.home / "logs" / "hub_security_audit.jsonl").read_text().splitlines()
    assert [(json.loads(line)["event"], json.loads(line)["reason"]) for line in lines] == [
        ("AUTH_FAILURE", "missing_token")]
