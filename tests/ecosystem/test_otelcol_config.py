"""otelcol.yaml: every pipeline uses only components the file defines, and every one is used.

There is no collector binary in CI, so this is the structural check ``otelcol validate`` would
start with. The OTLP round trips themselves run against a real receiver elsewhere:
tests/middleware/test_hub_e2e.py::test_metrics_reach_an_otlp_collector (hub metrics) and
tests/watcher/test_beside_hub.py::test_hub_with_watcher_flag_raises_an_alert_as_a_file_line_and_an_otel_record
(the watcher's alert log records).
"""

from __future__ import annotations

from typing import Any

import yaml

from tests.ecosystem.conftest import COLLECTOR_CONFIG

OTELCOL = COLLECTOR_CONFIG / "otelcol.yaml"
KINDS = ("receivers", "processors", "exporters")


def wiring_errors(config: dict[str, Any]) -> list[str]:
    """Undefined references and unused definitions in a collector config, as readable lines."""
    errors: list[str] = []
    pipelines: dict[str, dict[str, list[str]]] = config["service"]["pipelines"]
    for kind in KINDS:
        defined = set(config.get(kind) or {})
        used: set[str] = set()
        for name, pipeline in pipelines.items():
            for component in pipeline.get(kind, []):
                used.add(component)
                if component not in defined:
                    errors.append(f"pipeline {name} uses undefined {kind[:-1]} {component}")
        errors.extend(f"{kind[:-1]} {component} is defined but unused"
                      for component in sorted(defined - used))
    return errors


def _config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(OTELCOL.read_text())
    return config


def test_every_pipeline_references_only_defined_components_and_all_are_used() -> None:
    assert wiring_errors(_config()) == []


def test_the_wiring_check_reports_an_undefined_and_an_unused_component() -> None:
    config = _config()
    config["service"]["pipelines"]["logs"]["exporters"] = ["debug", "file/typo"]
    assert wiring_errors(config) == ["pipeline logs uses undefined exporter file/typo",
                                     "exporter file/alerts is defined but unused"]


def test_metrics_and_logs_pipelines_have_the_contracted_shape() -> None:
    config = _config()
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == {"metrics", "logs"}
    protocols = config["receivers"]["otlp"]["protocols"]
    assert set(protocols) == {"grpc", "http"}
    for pipeline in pipelines.values():
        assert pipeline["receivers"] == ["otlp"]
        # memory_limiter first, so it can refuse data before anything else buffers it.
        assert pipeline["processors"] == ["memory_limiter", "batch"]
    assert sorted(pipelines["metrics"]["exporters"]) == ["debug", "prometheus"]
    assert sorted(pipelines["logs"]["exporters"]) == ["debug", "file/alerts"]
    assert config["exporters"]["file/alerts"]["path"]


def test_the_collector_listens_on_loopback_by_default() -> None:
    protocols = _config()["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"].startswith("127.0.0.1:")
    assert protocols["http"]["endpoint"].startswith("127.0.0.1:")
    assert _config()["exporters"]["prometheus"]["endpoint"].startswith("127.0.0.1:")
