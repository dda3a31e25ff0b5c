"""Real processes sending to one OTLP receiver: every hub and watcher has its own identity."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import httpx
import pytest

from baseline_hub import __version__ as HUB_VERSION
from otel._export import layer_version
from tests.conftest import HubProcess, start_hub
from tests.otlp_receiver import Receiver, attrs, wait_for

pytestmark = pytest.mark.e2e

HUB_SCOPE = "sheratan.hub.control"
PROCESS_SCOPE = "opentelemetry.instrumentation.system_metrics"


def _metric_identities(receiver: Receiver) -> dict[str, set[str]]:
    """service.instance.id -> the scopes of the metrics that carried it."""
    out: dict[str, set[str]] = {}
    with receiver.lock:
        for request in receiver.metrics:
            for rm in request.resource_metrics:
                resource = attrs(rm.resource.attributes)
                assert resource["service.version"] == HUB_VERSION, resource
                assert resource["service.name"] == "sheratan-hub", resource
                scopes = out.setdefault(resource["service.instance.id"], set())
                scopes.update(sm.scope.name for sm in rm.scope_metrics if sm.metrics)
    return out


def _log_identities(receiver: Receiver) -> list[dict[str, str]]:
    with receiver.lock:
        return [attrs(rl.resource.attributes) for request in receiver.logs
                for rl in request.resource_logs if any(sl.log_records for sl in rl.scope_logs)]


def _burst(hub: HubProcess) -> None:
    # From 127.0.0.2, which the default rules do not ignore: 12 auth failures fire an alert.
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(transport=transport, timeout=5) as intruder:
        for _ in range(12):
            assert intruder.get(f"{hub.control_url}/nodes").status_code == 401


def test_two_hubs_and_a_watcher_send_to_one_collector_without_colliding(
    tmp_path: Path, receiver: Receiver
) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_METRIC_EXPORT_INTERVAL": "200",
           "OTEL_BLRP_SCHEDULE_DELAY": "100"}
    homes = [tmp_path / "hub-a", tmp_path / "hub-b"]
    for home in homes:
        home.mkdir()
    first = start_hub(homes[0], args=("--watcher",), env=env)
    second: HubProcess | None = None
    try:
        second = start_hub(homes[1], env=env)
        _burst(first)

        def settled() -> bool:
            ids = _metric_identities(receiver)
            return (len(ids) == 2 and all({HUB_SCOPE, PROCESS_SCOPE} <= s for s in ids.values())
                    and bool(_log_identities(receiver)))

        assert wait_for(settled, 20), (_metric_identities(receiver), _log_identities(receiver))
    finally:
        assert first.stop(signal.SIGTERM) == 0
        if second is not None:
            assert second.stop(signal.SIGTERM) == 0

    hub_ids = set(_metric_identities(receiver))
    assert all(uuid.UUID(i).version == 4 for i in hub_ids)
    watchers = _log_identities(receiver)
    assert {w["service.name"] for w in watchers} == {"sheratan-watcher"}
    assert {w["service.version"] for w in watchers} == {layer_version()}
    [watcher_id] = {w["service.instance.id"] for w in watchers}
    assert uuid.UUID(watcher_id).version == 4
    assert watcher_id not in hub_ids  # the watcher is a process of its own


def test_an_instance_id_from_the_environment_is_what_the_collector_sees(
    hub_home: Path, receiver: Receiver
) -> None:
    hub = start_hub(hub_home, env={
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"{receiver.url}/v1/metrics",
        "OTEL_METRIC_EXPORT_INTERVAL": "200",
        "OTEL_RESOURCE_ATTRIBUTES": "service.instance.id=hub-eu-1,deployment.environment=lab"})
    try:
        assert wait_for(lambda: PROCESS_SCOPE in _metric_identities(receiver).get("hub-eu-1", ()),
                        15), _metric_identities(receiver)
    finally:
        assert hub.stop(signal.SIGTERM) == 0
    assert set(_metric_identities(receiver)) == {"hub-eu-1"}
