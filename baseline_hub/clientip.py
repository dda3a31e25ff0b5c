"""Who a request's client is, as the audit log and the plane logs write it.

The client is the socket peer. Only when the peer is a trusted proxy (``HUB_TRUSTED_PROXIES``)
does ``X-Forwarded-For`` count, read the standard way by uvicorn's ProxyHeadersMiddleware:
from the right, the first address that is not itself a trusted proxy. Whatever the source,
only a valid IP address is written, in canonical form. Anything else (a garbage forwarded
entry, a unix socket peer) becomes ``"unknown"``, so a client can never put text of its
choosing (the token, terminal escapes, a newline) into the audit or a log.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any, cast

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from .config import IPNetwork

UNKNOWN_CLIENT = "unknown"


def client_of(scope: Scope) -> str:
    """The request's client: a canonical IP address, or ``"unknown"``."""
    client = scope.get("client")
    return canonical_ip(client[0]) if client else UNKNOWN_CLIENT


def canonical_ip(host: object) -> str:
    """``host`` as ipaddress writes it when it is an IP address, else ``"unknown"``.

    An IPv4-mapped IPv6 address (a dual-stack socket's IPv4 peer) is written
    ``::ffff:a.b.c.d`` on every Python version. An IPv6 zone (``%eth0``) is dropped: it is
    free text, which ipaddress accepts with any character in it.
    """
    if not isinstance(host, str):
        return UNKNOWN_CLIENT
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return UNKNOWN_CLIENT
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"::ffff:{address.ipv4_mapped}"
        address = ipaddress.IPv6Address(address.packed)  # without the zone
    return str(address)


class ForwardedClientMiddleware:
    """Pure ASGI: takes the client from ``X-Forwarded-For`` when the peer is a trusted proxy.

    Wraps uvicorn's ProxyHeadersMiddleware (which also honours ``X-Forwarded-Proto`` from
    those proxies). The hub adds it only when ``HUB_TRUSTED_PROXIES`` lists a proxy, and runs
    uvicorn with ``proxy_headers`` off, so without one no forwarded header ever counts.
    """

    def __init__(self, app: ASGIApp, *, trusted_proxies: Sequence[IPNetwork]) -> None:
        self.app = app
        self._proxy = ProxyHeadersMiddleware(cast(Any, app),
                                             trusted_hosts=_trusted_hosts(trusted_proxies))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._proxy(scope, receive, send)  # type: ignore[arg-type]


def _trusted_hosts(networks: Sequence[IPNetwork]) -> list[str]:
    """uvicorn's trusted hosts: each network, and each IPv4 one also as IPv4-mapped IPv6,
    which is how a dual-stack socket (``HUB_HOST=::``) names an IPv4 peer."""
    hosts: list[str] = []
    for network in networks:
        hosts.append(str(network))
        if isinstance(network, ipaddress.IPv4Network):
            hosts.append(f"::ffff:{network.network_address}/{96 + network.prefixlen}")
    return hosts
