"""The resource: service.instance.id and service.version, with redaction still in force."""

from __future__ import annotations

import importlib.metadata
import logging
import uuid

import pytest

from otel import HubTelemetry, Redactor, TelemetryConfig
from otel._export import DISTRIBUTION_NAME, UNKNOWN_VERSION, build_resource, layer_version
from tests.otlp_receiver import Receiver, attrs, wait_for

_TOKEN = "hub-token-abcdef0123456789"


def _resource(environ: dict[str, str], extra: dict[str, str] | None = None,
              redactor: Redactor | None = None) -> dict[str, object]:
    return dict(build_resource(TelemetryConfig.from_env(environ), extra, redactor).attributes)


def test_every_resource_gets_a_fresh_uuid4_instance_id() -> None:
    first, second = _resource({}), _resource({})
    ids = [uuid.UUID(str(r["service.instance.id"])) for r in (first, second)]
    assert all(i.version == 4 for i in ids)
    assert ids[0] != ids[1]


def test_an_instance_id_named_in_the_environment_is_kept() -> None:
    got = _resource({"OTEL_RESOURCE_ATTRIBUTES": "service.instance.id=hub-eu-1"})
    assert got["service.instance.id"] == "hub-eu-1"
    blank = _resource({"OTEL_RESOURCE_ATTRIBUTES": "service.instance.id= "})
    assert uuid.UUID(str(blank["service.instance.id"])).version == 4


def test_the_version_is_the_hubs_else_the_layers() -> None:
    assert _resource({}, {"service.version": "1.5.0"})["service.version"] == "1.5.0"
    own = importlib.metadata.version(DISTRIBUTION_NAME)
    assert _resource({})["service.version"] == own == layer_version()
    # The hub's own word wins over the environment's, as every extra attribute does.
    environ = {"OTEL_RESOURCE_ATTRIBUTES": "service.version=9.9"}
    assert _resource(environ)["service.version"] == "9.9"
    assert _resource(environ, {"service.version": "1.5.0"})["service.version"] == "1.5.0"


@pytest.mark.parametrize("error", [importlib.metadata.PackageNotFoundError, ValueError])
def test_an_uninstalled_or_broken_layer_reads_unknown(
    monkeypatch: pytest.MonkeyPatch, error: type[Exception]
) -> None:
    def missing(name: str) -> str:
        raise error(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert layer_version() == UNKNOWN_VERSION == "unknown"
    assert _resource({})["service.version"] == "unknown"
    assert _resource({})["telemetry.sdk.version"] == "unknown"


def test_the_sdk_version_is_the_installed_sdks() -> None:
    got = _resource({})
    assert got["telemetry.sdk.version"] == importlib.metadata.version("opentelemetry-sdk")
    assert (got["telemetry.sdk.language"], got["telemetry.sdk.name"]) == ("python",
                                                                          "opentelemetry")


@pytest.mark.parametrize("key", ["service.instance.id", "service.version"])
def test_a_token_in_the_identity_is_replaced_by_the_default_not_exported(
    key: str, caplog: pytest.LogCaptureFixture
) -> None:
    environ = {"OTEL_RESOURCE_ATTRIBUTES": f"{key}=x-{_TOKEN}"}
    with caplog.at_level(logging.WARNING, logger="otel"):
        got = _resource(environ, redactor=Redactor([_TOKEN]))
    assert _TOKEN not in str(got)
    assert _TOKEN not in caplog.text
    assert f"{key} looks like a secret" in caplog.text
    if key == "service.instance.id":
        assert uuid.UUID(str(got[key])).version == 4
    else:
        assert got[key] == layer_version()


def test_the_redactor_does_not_mistake_the_generated_id_for_a_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="otel"):
        for _ in range(200):
            _resource({}, redactor=Redactor([_TOKEN]))
    assert caplog.text == ""


def test_metrics_and_logs_of_one_telemetry_share_its_identity(receiver: Receiver) -> None:
    cfg = TelemetryConfig.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
                                    "OTEL_METRIC_EXPORT_INTERVAL": "100"})
    with HubTelemetry(cfg, extra_resource_attributes={"service.version": "1.5.0"},
                      redactor=Redactor([_TOKEN])) as tel, HubTelemetry(cfg) as other:
        assert tel.logger_provider is not None and other.logger_provider is not None
        tel.logger_provider.get_logger("t").emit(body="alert")
        other.logger_provider.get_logger("t").emit(body="alert")
        assert wait_for(lambda: len(receiver.metric_points()) > 5)
    with receiver.lock:
        resources = [attrs(rm.resource.attributes)
                     for m in receiver.metrics for rm in m.resource_metrics]
        resources += [attrs(rl.resource.attributes)
                      for m in receiver.logs for rl in m.resource_logs]
    by_id: dict[str, set[str]] = {}
    for resource in resources:
        by_id.setdefault(resource["service.instance.id"], set()).add(resource["service.version"])
    assert len(by_id) == 2  # one identity per telemetry object, for every signal
    assert sorted(by_id.values(), key=sorted) == sorted([{"1.5.0"}, {layer_version()}],
                                                         key=sorted)
