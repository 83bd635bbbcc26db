"""The client's address behind proxies the operator trusts (GATEWAY_TRUSTED_PROXIES), and only those.

The one header the trusted proxies set (GATEWAY_TRUSTED_PROXY_HEADER: X-Forwarded-For, or RFC 7239 Forwarded) is
read from the right: every hop that is a trusted proxy is skipped, and the first address that is not one is the
client. The other header is never read: a proxy that appends X-Forwarded-For passes a client's own `Forwarded`
through untouched, and that one must not override the hops the proxy wrote. Without trusted proxies both are
ignored: any client can write them.
"""

from __future__ import annotations

import ipaddress
import re

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_FORWARDED_FOR = re.compile(r'for="?\[?([0-9A-Fa-f:.]+)\]?(?::\d+)?"?', re.IGNORECASE)


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: str | None, proxies: tuple[Network, ...]) -> bool:
    parsed = _parse(address) if address else None
    return parsed is not None and any(parsed in network for network in proxies)


def _hops(request: web.Request, header: str) -> list[str]:
    if header == "forwarded":
        values = request.headers.getall("Forwarded", [])
        return [match.group(1) for value in values for match in _FORWARDED_FOR.finditer(value)]
    return [hop.strip() for value in request.headers.getall("X-Forwarded-For", []) for hop in value.split(",")]


def client_address(request: web.Request, proxies: tuple[Network, ...], header: str = "x-forwarded-for") -> str:
    peer = request.remote or "unknown"
    if not proxies or not _trusted(peer, proxies):
        return peer
    client = peer
    for hop in reversed(_hops(request, header)):
        if _parse(hop) is None:
            break  # a hop we cannot read: believe nothing beyond the last trusted proxy that sent it
        client = hop
        if not _trusted(hop, proxies):
            break
    return client
