"""After a restart the hub's *_rate_1m gauges still show the minute before it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import HubProcess, start_hub

pytestmark = pytest.mark.e2e


def _rates(hub: HubProcess) -> dict[str, object]:
    control = httpx.get(f"{hub.control_url}/metrics", timeout=5).json()
    data = httpx.get(f"{hub.data_url}/metrics", timeout=5).json()
    return {key: body[key] for body, key in (
        (control, "auth_fail_rate_1m"), (control, "port_mismatch_rate_1m"),
        (data, "retry_rate_1m"))}


def _traffic(hub: HubProcess) -> None:
    with httpx.Client(timeout=5) as client:
        for _ in range(3):
            client.get(f"{hub.control_url}/nodes")  # 401 missing_token
        client.get(f"{hub.control_url}/nodes", headers={"Authorization": "Bearer wrong-token"})
        for _ in range(2):
            client.get(f"{hub.data_url}/nodes")  # 421
        for _ in range(2):
            client.post(f"{hub.data_url}/jobs", headers=hub.auth, json={"kind": "k"})
            job = client.post(f"{hub.data_url}/jobs/claim", headers=hub.auth,
                              json={"node_id": "n1"}).json()["job"]
            client.post(f"{hub.data_url}/jobs/{job['job_id']}/fail", headers=hub.auth,
                        json={"node_id": "n1", "error": "boom"})  # requeued: one retry


def test_rates_survive_a_restart(hub_home: Path) -> None:
    hub = start_hub(hub_home)
    try:
        _traffic(hub)
        before = _rates(hub)
        assert before == {"auth_fail_rate_1m": 4, "port_mismatch_rate_1m": 2,
                          "retry_rate_1m": 2}
    finally:
        assert hub.stop() == 0
    hub = start_hub(hub_home)
    try:
        assert _rates(hub) == before
        with httpx.Client(timeout=5) as client:
            client.get(f"{hub.control_url}/nodes")
        assert _rates(hub)["auth_fail_rate_1m"] == 5  # the taps count on top
        counter = httpx.get(f"{hub.control_url}/metrics?format=prometheus", timeout=5).text
        # The counters start again: what was counted before the restart is not repeated.
        assert 'hub_auth_failures_total{plane="control",reason="missing_token"} 1.0' in counter
    finally:
        assert hub.stop() == 0


def test_with_hub_audit_log_the_log_is_the_source_and_nothing_counts_twice(
    hub_home: object,
) -> None:
    from pathlib import Path

    from tests.otlp_receiver import wait_for

    home = Path(str(hub_home))
    log = home / "logs" / "hub_security_audit.jsonl"
    hub = start_hub(home, env={"HUB_AUDIT_LOG": str(log)})
    try:
        _traffic(hub)
        assert wait_for(lambda: _rates(hub)["auth_fail_rate_1m"] == 4, 5)
        assert _rates(hub) == {"auth_fail_rate_1m": 4, "port_mismatch_rate_1m": 2,
                               "retry_rate_1m": 2}
        text = httpx.get(f"{hub.control_url}/metrics?format=prometheus", timeout=5).text
        assert 'hub_auth_failures_total{plane="control",reason="missing_token"} 3.0' in text
    finally:
        assert hub.stop() == 0
