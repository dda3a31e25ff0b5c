"""A 422 carries only text the hub defines: never a value, a message quoting one, or a field
name the client made up."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from baseline_hub import HubContext
from baseline_hub.errors import UNKNOWN_FIELD, _safe_detail
from tests.conftest import TEST_TOKEN

JSON = {"content-type": "application/json"}
CRAFTED_NAMES = [TEST_TOKEN, "\x1b[2J\x1b]0;owned\x07", "a\nb", "k" * 10_240, "kind ",
                 "<unknown field>\u202e"]


@pytest.mark.parametrize("name", CRAFTED_NAMES, ids=["token", "escapes", "newline", "10kb",
                                                      "near-miss", "bidi"])
def test_an_unknown_field_name_is_never_echoed(hub: HubContext, data: TestClient,
                                               name: str) -> None:
    response = data.post("/jobs", content=json.dumps({"kind": "k", name: 1}).encode(),
                         headers=JSON)
    # 422, not the leak guard's 500: the token is not in the answer to begin with.
    assert response.status_code == 422, response.text
    assert response.json() == {"error": "invalid_request", "detail": [
        {"loc": ["body", UNKNOWN_FIELD], "msg": "unknown field", "type": "extra_forbidden"}]}
    assert name.encode() not in response.content
    assert json.dumps(name).encode()[1:-1] not in response.content
    assert len(response.content) < 200


@pytest.mark.parametrize(("path", "body", "detail"), [
    ("/jobs", {"kind": 7}, (["body", "kind"], "must be a string", "string_type")),
    ("/jobs", {"payload": {}}, (["body", "kind"], "field required", "missing")),
    ("/jobs", {"kind": "k", "max_attempts": "CANARY"},
     (["body", "max_attempts"], "must be an integer", "int_type")),
    ("/jobs", {"kind": "k", "max_attempts": 0},
     (["body", "max_attempts"], "too small", "greater_than_equal")),
    ("/jobs", {"kind": "k", "payload": ["CANARY"]},
     (["body", "payload"], "must be a JSON object", "dict_type")),
    ("/jobs", {"kind": "CANARY" * 30}, (["body", "kind"], "too long", "too_long")),
    ("/jobs", {"kind": ""}, (["body", "kind"], "too short", "too_short")),
    ("/jobs", ["CANARY"], (["body"], "must be a JSON object", "model_attributes_type")),
    ("/jobs/claim", {"node_id": "CANARY/x"},
     (["body", "node_id"], "does not match the allowed pattern", "string_pattern_mismatch")),
    ("/jobs/claim", {"node_id": "w", "lease_s": 1e9},
     (["body", "lease_s"], "too large", "less_than_equal")),
    ("/jobs/j1/fail", {"node_id": "w", "error": ["CANARY"]},
     (["body", "error"], "must be a string", "string_type")),
])
def test_the_detail_names_declared_fields_with_hub_text(
    data: TestClient, path: str, body: object, detail: tuple[list[str], str, str],
) -> None:
    response = data.post(path, json=body)
    assert response.status_code == 422, response.text
    loc, msg, kind = detail
    assert response.json() == {"error": "invalid_request",
                               "detail": [{"loc": loc, "msg": msg, "type": kind}]}
    assert "CANARY" not in response.text


def test_a_validator_message_is_not_passed_on(data: TestClient) -> None:
    nested: dict[str, object] = {"CANARY": 1}
    for _ in range(100):
        nested = {"n": nested}
    response = data.post("/jobs", json={"kind": "k", "payload": nested})
    assert response.json()["detail"] == [
        {"loc": ["body", "payload"], "msg": "invalid value", "type": "value_error"}]


def test_a_path_parameter_keeps_its_declared_name(control: TestClient) -> None:
    response = control.post("/nodes/-CANARY/heartbeat")
    assert response.status_code == 422
    assert response.json()["detail"] == [{"loc": ["path", "node_id"],
                                          "msg": "does not match the allowed pattern",
                                          "type": "string_pattern_mismatch"}]


@pytest.mark.parametrize(("error", "expected"), [
    ({"type": "extra_forbidden", "loc": ("body", "payload", "CANARY", 3, "kind"),
      "msg": "CANARY", "input": "CANARY"},
     {"loc": ["body", "payload", UNKNOWN_FIELD, "3", "kind"], "msg": "unknown field",
      "type": "extra_forbidden"}),
    ({"type": "CANARY type\n", "loc": ("CANARY",), "msg": "CANARY"},
     {"loc": [UNKNOWN_FIELD], "msg": "invalid value", "type": "invalid"}),
    ({"type": "some_future_type", "loc": ("body", True), "msg": "CANARY"},
     {"loc": ["body", UNKNOWN_FIELD], "msg": "invalid value", "type": "some_future_type"}),
    ({"loc": ("kind",)}, {"loc": [UNKNOWN_FIELD], "msg": "invalid value", "type": "invalid"}),
])
def test_safe_detail(error: dict[str, object], expected: dict[str, object]) -> None:
    assert _safe_detail(error, frozenset({"payload", "kind"})) == expected
