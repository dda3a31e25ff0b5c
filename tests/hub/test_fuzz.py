"""Schemathesis over both planes' OpenAPI, in-process: no 500s and no schema violations.

Uses schemathesis' strategies with hypothesis directly: its pytest plugin does not run on
pytest 9.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok

from baseline_hub import HubConfig, HubContext, PlaneInfo, build_plane_app
from tests.conftest import TEST_TOKEN
from tests.hub.conftest import CONTROL, DATA

AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}


@pytest.mark.parametrize("plane", [CONTROL, DATA], ids=["control", "data"])
def test_every_operation_conforms_to_the_schema(tmp_path: Path, plane: PlaneInfo) -> None:
    hub = HubContext.open(HubConfig(home=tmp_path), TEST_TOKEN)
    try:
        app = build_plane_app(plane, hub)
        assert isinstance(app, FastAPI)  # typed as the ASGIApp it is served as
        schema = schemathesis.openapi.from_dict(app.openapi())
        schema.app = app
        results = list(schema.get_all_operations())
        operations = [result.ok() for result in results if isinstance(result, Ok)]
        assert len(operations) == len(results), [r.err() for r in results
                                                 if not isinstance(r, Ok)]
        assert len(operations) >= (4 if plane is CONTROL else 5)
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(max_examples=40, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            def conforms(case: schemathesis.Case[Any]) -> None:
                case.call_and_validate(headers=AUTH)

            conforms()
    finally:
        hub.close()
