"""Client ID metadata documents (CIMD): a host whose client id is an https URL describes itself at that URL.

The URL comes from anyone who can open /oauth/authorize, so fetching it is a request the gateway makes on an
anonymous caller's behalf. Hence:
- only public hosts: every address a name resolves to must be a global one (no loopback, private, link-local,
  shared or reserved range), and the connection goes to the address that was checked (the resolver is the check,
  so a second lookup cannot rebind the name). GATEWAY_OAUTH_CIMD_PRIVATE_HOSTS names hosts the operator allows
  at a private address (an internal host's document; the tests' simulator);
- one GET, no redirects, no proxy, a small document (5 KB, as the CIMD draft advises), a tight deadline;
- every failure answered after the same time (the deadline), so the answer time tells nothing about a port or
  a host (no timing oracle for a port scan);
- documents kept briefly in a bounded table of this process only: anonymous traffic fills neither memory nor Redis.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
import time
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from cachetools import TTLCache
from yarl import URL

from gateway import exact_json

log = logging.getLogger(__name__)

DOCUMENT_LIMIT = 5 * 1024
KEPT_S = 600  # as long as a sign-in may take: the document is read again for the next one
KEPT_MAX = 1_000
MAX_REDIRECT_URIS = 10


class NotPublic(OSError):
    """A host that resolves to an address the gateway must not fetch from."""


def acceptable_redirect(uri: Any) -> bool:
    """A redirect URI a client may register (RFC 9700 §4.1): https, or http to a loopback address (native apps);
    no fragment, no user info, no backslash (browsers read it as a slash, URL parsers do not)."""
    if not isinstance(uri, str) or len(uri) > 2000 or "\\" in uri or not uri.isprintable():
        return False
    try:
        url = URL(uri)
    except ValueError:
        return False
    if url.fragment or not url.host or url.user is not None or url.password is not None:
        return False
    return url.scheme == "https" or (url.scheme == "http" and url.host in ("localhost", "127.0.0.1", "::1"))


def looks_like_document_url(client_id: str) -> bool:
    """A client id the gateway would fetch: https, a host, a path (the CIMD draft), nothing odd in it."""
    if len(client_id) > 2000 or "\\" in client_id or not client_id.isprintable():
        return False
    try:
        url = URL(client_id)
    except ValueError:
        return False
    return url.scheme == "https" and bool(url.host) and url.path not in ("", "/") and url.user is None


def _public(address: str) -> bool:
    parsed = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return parsed.is_global


class PublicResolver(AbstractResolver):
    """The default resolver, keeping only global addresses (all of them must be: a name with one private address
    among public ones is refused whole); hosts in `private_hosts` are resolved as they are."""

    def __init__(self, private_hosts: frozenset[str]) -> None:
        self._resolver = DefaultResolver()
        self._private_hosts = private_hosts

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._resolver.resolve(host, port, family)
        if host.lower() in self._private_hosts:
            return answers
        if not answers or not all(_public(answer["host"]) for answer in answers):
            raise NotPublic(f"{host} does not resolve to public addresses only")
        return answers

    async def close(self) -> None:
        await self._resolver.close()


class ClientDocuments:
    """Fetches, checks and briefly keeps client ID metadata documents."""

    def __init__(
        self,
        trust: ssl.SSLContext | bool,
        *,
        timeout_s: float,
        private_hosts: frozenset[str] = frozenset(),
        clock: Any = time.monotonic,
    ) -> None:
        self._trust, self._timeout_s = trust, timeout_s
        self._private_hosts = frozenset(host.lower() for host in private_hosts)
        self._kept: TTLCache[str, dict[str, Any]] = TTLCache(maxsize=KEPT_MAX, ttl=KEPT_S, timer=clock)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ClientDocuments:
        connector = aiohttp.TCPConnector(
            resolver=PublicResolver(self._private_hosts), limit=20, use_dns_cache=False, ssl=self._trust
        )
        timeout = aiohttp.ClientTimeout(total=self._timeout_s)
        self._session = aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._session is not None:
            await self._session.close()

    def kept(self, client_id: str) -> dict[str, Any] | None:
        return self._kept.get(client_id)

    async def fetch(self, client_id: str) -> dict[str, Any] | None:
        """The client the document describes, or None (after the same time whatever went wrong)."""
        started = time.monotonic()
        client = await self._fetch(client_id)
        if client is None:
            await asyncio.sleep(max(0.0, started + self._timeout_s - time.monotonic()))
            return None
        self._kept[client_id] = client
        return client

    async def _fetch(self, client_id: str) -> dict[str, Any] | None:
        assert self._session is not None, "ClientDocuments is used as an async context manager"
        host = URL(client_id).host or ""
        if _is_address(host) and host.lower() not in self._private_hosts and not _public(host):
            log.info("client metadata document refused: %s is not a public address", host)
            return None
        try:
            async with asyncio.timeout(self._timeout_s):
                async with self._session.get(client_id, allow_redirects=False) as response:
                    if response.status != 200:
                        log.info("client metadata document at %s: HTTP %d", host, response.status)
                        return None
                    document = await exact_json.read(response, DOCUMENT_LIMIT)
        except exact_json.Refused as exc:
            log.info("client metadata document at %s %s", host, exc)
            return None
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            log.info("client metadata document at %s not fetched: %s", host, type(exc).__name__)
            return None
        return _client(client_id, document)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _client(client_id: str, document: Any) -> dict[str, Any] | None:
    """The parts of a document the gateway uses, when it names itself and its redirect URIs are acceptable."""
    if not isinstance(document, dict) or document.get("client_id") != client_id:
        return None
    uris = document.get("redirect_uris")
    if not isinstance(uris, list) or not 0 < len(uris) <= MAX_REDIRECT_URIS:
        return None
    if not all(acceptable_redirect(uri) for uri in uris):
        log.info("client metadata document %s refused: a redirect URI is not https (or loopback http)", client_id)
        return None
    name = document.get("client_name")
    return {
        "client_id": client_id,
        "client_name": name[:100] if isinstance(name, str) and name.strip() else client_id,
        "redirect_uris": uris,
    }
