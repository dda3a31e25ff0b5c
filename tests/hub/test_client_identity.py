"""The audit and plane-log ``client``: the socket peer, unless the peer is a trusted proxy
(``HUB_TRUSTED_PROXIES``), and never a string of the client's choosing."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient
from starlette.types import ASGIApp

from baseline_hub import ConfigError, HubConfig, HubContext, build_plane_app
from baseline_hub.clientip import canonical_ip
from baseline_hub.config import IPNetwork
from tests.conftest import TEST_TOKEN, start_hub
from tests.hub.conftest import CONTROL, raw_request

LOOPBACK = ("127.0.0.1", 40000)
HOSTILE = [TEST_TOKEN, "\x1b[2J", "a\nb", "10.0.0.1\r\nX-Evil: 1", "x" * 10_000,
           "/run/hub.sock", "1.2.3.4 \x1b]0;owned\x07"]


def networks(*texts: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(text) for text in texts)


def audit_clients(hub: HubContext) -> list[object]:
    if not hub.audit.path.exists():
        return []
    return [json.loads(line)["client"] for line in hub.audit.path.read_text().splitlines()]


def log_text(hub: HubContext, config: HubConfig) -> str:
    hub.close()  # flushes and closes the plane logs
    return config.paths.control_log.read_text(encoding="utf-8")


def anon(hub: HubContext, trusted: Sequence[IPNetwork] = (),
         peer: tuple[str, int] = LOOPBACK) -> TestClient:
    return TestClient(build_plane_app(CONTROL, hub, trusted_proxies=trusted), client=peer)


def raw_get(app: ASGIApp, headers: list[tuple[bytes, bytes]],
            peer: tuple[str, int] | None = LOOPBACK) -> int:
    """A GET /nodes with headers exactly as given (bytes no HTTP client would send)."""
    return raw_request(app, "GET", "/nodes", headers, peer=peer).status


def test_without_trusted_proxies_a_forwarded_header_is_ignored(
    hub: HubContext, config: HubConfig,
) -> None:
    client = anon(hub)
    assert client.get("/nodes", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 401
    assert audit_clients(hub) == ["127.0.0.1"]
    text = log_text(hub, config)
    assert "client=127.0.0.1" in text
    assert "203.0.113.9" not in text


def test_a_trusted_proxy_names_the_client(hub: HubContext, config: HubConfig) -> None:
    client = anon(hub, networks("127.0.0.1"))
    client.get("/nodes", headers={"X-Forwarded-For": "203.0.113.9"})
    client.get("/nodes")  # no header: the proxy itself
    assert audit_clients(hub) == ["203.0.113.9", "127.0.0.1"]
    assert "client=203.0.113.9" in log_text(hub, config)


def test_the_chain_is_read_from_the_right_skipping_trusted_proxies(hub: HubContext) -> None:
    client = anon(hub, networks("127.0.0.1", "10.0.0.0/8"))
    # The client can write anything on the left; only the proxies' own entries count.
    client.get("/nodes", headers={"X-Forwarded-For": "1.1.1.1, 198.51.100.7, 10.1.2.3"})
    client.get("/nodes", headers={"X-Forwarded-For": "2001:DB8:0::0001, 10.9.9.9"})
    assert audit_clients(hub) == ["198.51.100.7", "2001:db8::1"]


def test_a_peer_that_is_not_a_trusted_proxy_is_the_client(hub: HubContext) -> None:
    client = anon(hub, networks("10.0.0.0/8"), peer=("192.0.2.44", 5000))
    client.get("/nodes", headers={"X-Forwarded-For": "203.0.113.9"})
    assert audit_clients(hub) == ["192.0.2.44"]


@pytest.mark.parametrize("trusted", [(), networks("127.0.0.1")], ids=["default", "trusted"])
def test_a_forwarded_value_that_is_no_ip_never_reaches_audit_or_logs(
    hub: HubContext, config: HubConfig, trusted: tuple[IPNetwork, ...],
) -> None:
    app = build_plane_app(CONTROL, hub, trusted_proxies=trusted)
    for value in HOSTILE:
        assert raw_get(app, [(b"x-forwarded-for", value.encode())]) == 401
    expected = "127.0.0.1" if not trusted else "unknown"
    assert audit_clients(hub) == [expected] * len(HOSTILE)
    audit = hub.audit.path.read_text(encoding="utf-8")
    text = log_text(hub, config)
    for value in HOSTILE:
        for where in (audit, text):
            assert value not in where
            assert json.dumps(value)[1:-1] not in where  # nor escaped
    assert TEST_TOKEN[:12] not in audit + text
    assert "\x1b" not in audit + text


def test_a_peer_that_is_no_ip_is_unknown(hub: HubContext) -> None:
    app = build_plane_app(CONTROL, hub)
    assert raw_get(app, [], peer=("/run/hub.sock", 0)) == 401
    assert raw_get(app, [], peer=None) == 401
    assert audit_clients(hub) == ["unknown", "unknown"]


@pytest.mark.parametrize(("host", "written"), [
    ("127.0.0.1", "127.0.0.1"),
    ("2001:DB8:0:0::0001", "2001:db8::1"),
    ("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
    ("::FFFF:7f00:1", "::ffff:127.0.0.1"),
    ("fe80::1%eth0", "fe80::1"),
    ("fe80::1%\x1b[2J", "fe80::1"),
    ("127.000.0.1", "unknown"),
    ("localhost", "unknown"),
    ("", "unknown"),
    (None, "unknown"),
    (TEST_TOKEN, "unknown"),
])
def test_canonical_ip(host: object, written: str) -> None:
    assert canonical_ip(host) == written


def test_trusted_proxies_parse_ips_and_cidrs_of_both_families() -> None:
    config = HubConfig.from_env(
        {"HUB_TRUSTED_PROXIES": " 127.0.0.1, 10.0.0.0/8,::1,2001:db8::/32, "})
    assert config.trusted_proxies == networks("127.0.0.1/32", "10.0.0.0/8", "::1/128",
                                              "2001:db8::/32")
    assert HubConfig.from_env({}).trusted_proxies == ()
    assert HubConfig.from_env({"HUB_TRUSTED_PROXIES": ""}).trusted_proxies == ()


@pytest.mark.parametrize("value", ["*", "proxy.local", "10.0.0.1/8", "300.1.1.1",
                                   "127.0.0.1;10.0.0.1", "10.0.0.0/33", "127.0.0.1 10.0.0.1"])
def test_bad_trusted_proxies_name_the_variable(value: str) -> None:
    with pytest.raises(ConfigError) as exc:
        HubConfig.from_env({"HUB_TRUSTED_PROXIES": value})
    assert exc.value.field == "HUB_TRUSTED_PROXIES"


def test_host_bits_get_a_hint() -> None:
    with pytest.raises(ConfigError, match=r"the network is 10\.0\.0\.0/8"):
        HubConfig.from_env({"HUB_TRUSTED_PROXIES": "10.0.0.1/8"})


@pytest.mark.e2e
def test_a_real_hub_honours_forwarded_for_only_from_trusted_proxies(hub_home: Path) -> None:
    # FORWARDED_ALLOW_IPS is uvicorn's own switch; the hub must not listen to it.
    hub = start_hub(hub_home, env={"FORWARDED_ALLOW_IPS": "*"})
    try:
        for value in ("203.0.113.9", TEST_TOKEN):
            httpx.get(f"{hub.control_url}/nodes", headers={"X-Forwarded-For": value})
    finally:
        assert hub.stop() == 0
    trusted = start_hub(hub_home, env={"HUB_TRUSTED_PROXIES": "127.0.0.1"})
    try:
        for value in ("203.0.113.9", TEST_TOKEN):
            httpx.get(f"{trusted.control_url}/nodes", headers={"X-Forwarded-For": value})
    finally:
        assert trusted.stop() == 0
    audit = (hub_home / "logs" / "hub_security_audit.jsonl").read_text()
    assert [json.loads(line)["client"] for line in audit.splitlines()] == [
        "127.0.0.1", "127.0.0.1", "203.0.113.9", "unknown"]
    log = (hub_home / "logs" / "hub_control.log").read_text()
    assert [line.rsplit("client=", 1)[1] for line in log.splitlines() if "client=" in line] == [
        "127.0.0.1", "127.0.0.1", "203.0.113.9", "unknown"]
    for path in (hub_home / "logs").iterdir():
        assert TEST_TOKEN not in path.read_text(), path
