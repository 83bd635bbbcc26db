"""The authorization-server façade, for identity providers that do not let hosts register themselves: what its
sign-in endpoints share (web/signin.py is their HTTP face).

ChatGPT and Claude register with the authorization server dynamically (DCR, RFC 7591) or by a client ID metadata
document (CIMD: the client id is an https URL of its metadata). Entra ID, IBM IM with manual registration and many
Keycloak or Okta setups offer neither. With GATEWAY_OAUTH_PROXY_UPSTREAM_* the gateway is the authorization server
the hosts see: it registers them (DCR, CIMD, or the operator's list), checks PKCE (S256 only), exact redirect URIs
and the `resource` asked for, asks the user's consent, and delegates the sign-in itself to the upstream IdP as
one registered client (authorization code + PKCE). It then issues its own short-lived tokens, for this gateway
only, and refresh tokens rotated on every use. The upstream's tokens never leave the gateway.

State (clients, sign-ins under way, codes valid 60 s and redeemable once, refresh-token families) lives in a
FlowStore: Redis in cluster mode, so a sign-in may cross replicas. Everything an anonymous caller can make the
façade keep is bounded: per address and in total (Brake), registrations expire within the hour unless a code is
redeemed for them, sign-ins under way within FLOW_TTL_S, client documents are kept by this process only
(oauth/documents.py). A consent is bound to the browser that saw the page (a cookie set with it) and refused from
another site (Origin), so a cross-site POST of someone else's sign-in cannot send a user's code to its client.
"""

from __future__ import annotations

import ssl
import time
from typing import Any, Callable

import aiohttp
from aiohttp import web

from gateway.config import Settings
from gateway.oauth.documents import ClientDocuments, looks_like_document_url
from gateway.oauth.issuer import Issuer
from gateway.oauth.signing import SigningKey
from gateway.oauth.upstream import UpstreamIdp
from gateway.shared.flows import FlowStore
from gateway.shared.limits import Limiter
from gateway.shared.link import SharedState

CODE_TTL_S = 60
FLOW_TTL_S = 600
CLIENT_UNUSED_TTL_S = 3600  # a registration no code was ever redeemed for is gone within the hour
CLIENT_TTL_S = 90 * 86400
REFRESH_TTL_S = 30 * 86400
BROWSER_COOKIE = "baw_gateway_signin"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"  # RFC 7523, as enterprise-managed authorization uses it
ID_JAG_TYPE = "oauth-id-jag+jwt"
# Claims of an ID-JAG copied into the façade's token: what names the user in BAW (GATEWAY_BAW_USER_CLAIM).
USER_CLAIMS = ("preferred_username", "username", "email", "upn")
# What anonymous callers may make the façade do (rate per second, burst), per address and in total. A person signs
# in a few times a day; a host's servers register once per connector. The totals bound what the tables can hold:
# sign-ins under way ≤ 10/s × FLOW_TTL_S + 200, unused registrations ≤ 1/s × CLIENT_UNUSED_TTL_S + 100.
SIGN_IN_LIMITS = ((1.0, 30), (10.0, 200))
REGISTRATION_LIMITS = ((0.2, 20), (1.0, 100))
DOCUMENT_LIMITS = ((0.2, 10), (2.0, 50))
# The in-process tables (one replica, or Redis down): full tables refuse, they never evict.
LOCAL_BOUNDS = {"flow": 10_000, "upstream": 10_000, "code": 10_000, "client": 20_000, "refresh": 50_000}


class RateLimitedPage(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class Brake:
    """One limit per address and one over all addresses, for something anonymous callers can ask for."""

    def __init__(self, name: str, limits: tuple[tuple[float, int], tuple[float, int]]) -> None:
        (rate, burst), (total_rate, total_burst) = limits
        self.per_address = Limiter(f"{name}-per-address", rate, burst)
        self.total = Limiter(f"{name}-total", total_rate, total_burst)

    def attach(self, shared: SharedState) -> None:
        self.per_address.attach(shared)
        self.total.attach(shared)

    async def retry_after(self, address: str) -> int | None:
        wait = await self.per_address.retry_after(address)
        return wait if wait is not None else await self.total.retry_after("all")


class Facade:
    """What the handlers share: settings, our key, the upstream IdP (metadata and id-token check), the store."""

    def __init__(
        self,
        settings: Settings,
        signing: SigningKey,
        upstream: Issuer,
        store: FlowStore,
        session: aiohttp.ClientSession,
        trust: ssl.SSLContext | bool,
        documents: ClientDocuments,
        *,
        id_jag_issuers: dict[str, Issuer] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`clock`: Unix time, which the upstream tokens kept for users expire by."""
        self.settings, self.signing, self.upstream, self.store = settings, signing, upstream, store
        self.documents = documents
        self.idp = UpstreamIdp(
            settings, upstream, session, trust, store, signing, self.url("/oauth/callback"), clock=clock
        )
        assert settings.oauth_issuer is not None
        self.issuer = settings.oauth_issuer
        self.operator_clients = {client_id: list(uris) for client_id, uris in settings.oauth_proxy_clients}
        self.agents = {agent.client_id: agent for agent in settings.oauth_agents}
        self.id_jag_issuers = id_jag_issuers or {}  # enterprise IdPs, by issuer URL
        self.sign_ins = Brake("sign-ins", SIGN_IN_LIMITS)
        self.registrations = Brake("registrations", REGISTRATION_LIMITS)
        self.document_fetches = Brake("client-documents", DOCUMENT_LIMITS)
        public = settings.public_url
        self.origin = str(public.origin())
        self.cookie_path = public.path.rstrip("/") + "/oauth"

    def attach(self, shared: SharedState) -> None:
        self.store.attach(shared)
        for brake in (self.sign_ins, self.registrations, self.document_fetches):
            brake.attach(shared)

    def url(self, path: str) -> str:
        public = self.settings.public_url
        return str(public.with_path(public.path.rstrip("/") + path))

    def metadata(self) -> dict[str, Any]:
        grants = ["authorization_code", "refresh_token"] + (["client_credentials"] if self.agents else [])
        grants += [JWT_BEARER] if self.id_jag_issuers else []
        methods = ["none"] + (["client_secret_basic", "client_secret_post"] if self.agents else [])
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.url("/oauth/authorize"),
            "token_endpoint": self.url("/oauth/token"),
            "registration_endpoint": self.url("/oauth/register"),
            "jwks_uri": self.url("/oauth/jwks"),
            "scopes_supported": list(self.settings.supported_scopes),
            "response_types_supported": ["code"],
            "grant_types_supported": grants,
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": methods,
            "client_id_metadata_document_supported": True,
            "authorization_response_iss_parameter_supported": True,
        }

    async def client(self, client_id: str, address: str) -> dict[str, Any] | None:
        """A registered (DCR), operator-listed or self-described (CIMD) client; None when it is none of these.
        A document not kept yet is fetched only within the address's and the total limit (RateLimitedPage)."""
        if client_id in self.operator_clients:
            return {"client_id": client_id, "client_name": client_id, "redirect_uris": self.operator_clients[client_id]}
        if not looks_like_document_url(client_id):
            return await self.store.get("client", client_id) if client_id.startswith("mcp-") else None
        kept = self.documents.kept(client_id)
        if kept is not None:
            return kept
        wait = await self.document_fetches.retry_after(address)
        if wait is not None:
            raise RateLimitedPage(wait)
        return await self.documents.fetch(client_id)


FACADE: web.AppKey[Facade] = web.AppKey("oauth_facade")  # only with GATEWAY_OAUTH_PROXY_UPSTREAM_ISSUER
