"""An authorization-server façade, for identity providers that do not let hosts register themselves.

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

import base64
import hashlib
import html
import logging
import secrets
import ssl
import time
from typing import Any
from urllib.parse import unquote_plus

import aiohttp
import jwt
from aiohttp import web
from yarl import URL

from gateway.config import Settings
from gateway.keys import CLIENT_ADDRESS, FACADE, SETTINGS
from gateway.oauth.documents import ClientDocuments, acceptable_redirect, looks_like_document_url
from gateway.oauth.issuer import InvalidToken, Issuer
from gateway.oauth.signing import SigningKey
from gateway.shared.flows import FlowStore, StoreFull, hashed
from gateway.shared.limits import Limiter
from gateway.shared.link import SharedState
from gateway.web.upstream import UpstreamIdp, UpstreamRefused

log = logging.getLogger(__name__)

CODE_TTL_S = 60
FLOW_TTL_S = 600
CLIENT_UNUSED_TTL_S = 3600  # a registration no code was ever redeemed for is gone within the hour
CLIENT_TTL_S = 90 * 86400
REFRESH_TTL_S = 30 * 86400
BROWSER_COOKIE = "baw_gateway_signin"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"  # RFC 7523, as enterprise-managed authorization uses it
ID_JAG_TYPE = "oauth-id-jag+jwt"
# Claims of an ID-JAG copied into the façade's token: what names the user in BAW (GATEWAY_BAW_USER_CLAIM).
_USER_CLAIMS = ("preferred_username", "username", "email", "upn")
# What anonymous callers may make the façade do (rate per second, burst), per address and in total. A person signs
# in a few times a day; a host's servers register once per connector. The totals bound what the tables can hold:
# sign-ins under way ≤ 10/s × FLOW_TTL_S + 200, unused registrations ≤ 1/s × CLIENT_UNUSED_TTL_S + 100.
SIGN_IN_LIMITS = ((1.0, 30), (10.0, 200))
REGISTRATION_LIMITS = ((0.2, 20), (1.0, 100))
DOCUMENT_LIMITS = ((0.2, 10), (2.0, 50))
# The in-process tables (one replica, or Redis down): full tables refuse, they never evict.
LOCAL_BOUNDS = {"flow": 10_000, "upstream": 10_000, "code": 10_000, "client": 20_000, "refresh": 50_000}
_PRIVATE = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https:; frame-ancestors 'none'"
    ),
}


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
    ) -> None:
        self.settings, self.signing, self.upstream, self.store = settings, signing, upstream, store
        self.documents = documents
        self.idp = UpstreamIdp(settings, upstream, session, trust, store, signing, self.url("/oauth/callback"))
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


class RateLimitedPage(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def _json_error(error: str, description: str, status: int = 400, **headers: str) -> web.Response:
    body = {"error": error, "error_description": description}
    return web.json_response(body, status=status, headers={**_PRIVATE, **headers})


def _page(title: str, body: str, status: int = 200, **headers: str) -> web.Response:
    head = (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(title)}</title>"
        "<meta name=viewport content='width=device-width'>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:34em;margin:3em auto;padding:0 1em}"
        "button{font:inherit;padding:.4em 1.2em;margin-right:.6em}</style>"
    )
    text = f"{head}<body>{body}</body></html>"
    return web.Response(text=text, status=status, content_type="text/html", headers={**_PRIVATE, **headers})


def _refused(reason: str, status: int = 400) -> web.Response:
    return _page("Sign-in refused", f"<h1>Sign-in refused</h1><p>{html.escape(reason)}</p>", status)


def _too_many(wait: int) -> web.Response:
    return _page(
        "Too many sign-ins",
        f"<h1>Too many sign-ins</h1><p>Too many sign-ins were started from here: try again in {wait} s.</p>",
        429,
        **{"Retry-After": str(wait)},
    )


def _back(redirect_uri: str, issuer: str, state: str | None, **params: str) -> web.Response:
    target = URL(redirect_uri).update_query(iss=issuer, **params)
    if state:
        target = target.update_query(state=state)
    return web.Response(status=302, headers={"Location": str(target), **_PRIVATE})


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _address(request: web.Request) -> str:
    return request.get(CLIENT_ADDRESS) or request.remote or "unknown"  # set by the caller middleware


# ------------------------------------------------------------------ discovery, keys, registration


async def metadata(request: web.Request) -> web.Response:
    return web.json_response(request.app[FACADE].metadata(), headers={"Cache-Control": "public, max-age=3600"})


async def jwks(request: web.Request) -> web.Response:
    return web.json_response(
        {"keys": [request.app[FACADE].signing.jwk]}, headers={"Cache-Control": "public, max-age=300"}
    )


async def register(request: web.Request) -> web.Response:
    """RFC 7591 for public clients: exact https (or loopback http) redirect URIs, no secret. Within the address's
    and the total limit; a registration lasts an hour unless a code is redeemed for it (then CLIENT_TTL_S)."""
    facade = request.app[FACADE]
    wait = await facade.registrations.retry_after(_address(request))
    if wait is not None:
        return _json_error("slow_down", f"too many registrations: retry in {wait} s", 429, **{"Retry-After": str(wait)})
    try:
        body = await request.json()
    except ValueError:
        return _json_error("invalid_client_metadata", "the body must be a JSON object")
    uris = body.get("redirect_uris") if isinstance(body, dict) else None
    if not isinstance(uris, list) or not uris or len(uris) > 10 or not all(acceptable_redirect(uri) for uri in uris):
        return _json_error("invalid_redirect_uri", "redirect_uris: 1 to 10 https URIs (http only for loopback)")
    client_id = "mcp-" + secrets.token_urlsafe(16)
    name = body.get("client_name")
    name = name[:100] if isinstance(name, str) and name.strip() else "MCP client"
    client = {"client_id": client_id, "client_name": name, "redirect_uris": uris}
    try:
        await facade.store.put("client", client_id, client, CLIENT_UNUSED_TTL_S)
    except StoreFull:
        return _json_error("temporarily_unavailable", "too many registrations are held: try again later", 503)
    answer = {
        **client,
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
    }
    return web.json_response(answer, status=201, headers=_PRIVATE)


# ------------------------------------------------------------------ the sign-in


def _browser(request: web.Request) -> str:
    """This browser's sign-in cookie (made when it has none): a consent and the IdP's answer count only from the
    browser that was shown the page."""
    presented = request.cookies.get(BROWSER_COOKIE, "")
    if 32 <= len(presented) <= 64 and presented.isascii() and presented.replace("-", "").replace("_", "").isalnum():
        return presented
    return secrets.token_urlsafe(32)


def _same_browser(request: web.Request, flow: dict[str, Any]) -> bool:
    presented = request.cookies.get(BROWSER_COOKIE, "")
    return secrets.compare_digest(hashed(presented), str(flow.get("browser", "")))


def _from_elsewhere(request: web.Request, facade: Facade) -> bool:
    """A POST a browser says came from another site: its Origin is not ours, or Sec-Fetch-Site says cross-site."""
    origin = request.headers.get("Origin")
    if origin is not None and origin != facade.origin:
        return True
    return request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none")


async def authorize(request: web.Request) -> web.Response:
    facade = request.app[FACADE]
    query, address = request.query, _address(request)
    wait = await facade.sign_ins.retry_after(address)
    if wait is not None:
        return _too_many(wait)
    try:
        client = await facade.client(query.get("client_id", ""), address)
    except RateLimitedPage as exc:
        return _too_many(exc.retry_after)
    if client is None:
        return _refused("This application is not known to the gateway.")
    redirect_uri = query.get("redirect_uri", "")
    if redirect_uri not in client["redirect_uris"]:  # exact match; nothing is sent to an unverified address
        return _refused("The return address is not one this application registered.")
    # The request is refused here, on a page, not by a redirect: a client anyone can register must not turn the
    # gateway into a redirector to its own address (RFC 9700 §4.11.2).
    if query.get("response_type") != "code":
        return _refused("The application asked for something other than an authorization code.")
    if query.get("code_challenge_method") != "S256" or not 43 <= len(query.get("code_challenge", "")) <= 128:
        return _refused("The application did not use PKCE (S256), which this gateway requires.")
    resource = query.get("resource") or facade.settings.oauth_audiences[0]
    if resource not in facade.settings.oauth_audiences:
        return _refused("The application asked for access to a service other than this gateway.")
    required = facade.settings.oauth_scopes  # every token carries them; a tool family's scope comes on top
    asked = list(dict.fromkeys([*required, *(query.get("scope") or "").split()]))
    if not set(asked) <= set(facade.settings.supported_scopes):
        return _refused("The application asked for a permission this gateway does not grant.")
    flow_id, browser = secrets.token_urlsafe(24), _browser(request)
    flow = {
        "client_id": client["client_id"],
        "client_name": client["client_name"],
        "redirect_uri": redirect_uri,
        "challenge": query["code_challenge"],
        "state": query.get("state"),
        "scope": " ".join(asked),
        "resource": resource,
        "browser": hashed(browser),
    }
    try:
        await facade.store.put("flow", flow_id, flow, FLOW_TTL_S)
    except StoreFull:
        return _refused("Too many sign-ins are under way: try again in a few minutes.", 503)
    response = _consent_page(facade, flow, flow_id)
    response.set_cookie(
        BROWSER_COOKIE,
        browser,
        max_age=FLOW_TTL_S,
        path=facade.cookie_path,
        secure=facade.settings.public_url.scheme == "https",
        httponly=True,
        samesite="Lax",  # sent with the IdP's redirect back (a top-level GET), never with a cross-site POST
    )
    return response


def _consent_page(facade: Facade, flow: dict[str, Any], flow_id: str) -> web.Response:
    host = html.escape(URL(flow["redirect_uri"]).host or "")
    name = html.escape(flow["client_name"])
    if facade.settings.baw_identity == "user":
        what = "read BAW as you: the process instances and tasks you can see"
    else:
        what = "read BAW through this gateway's service account (you sign in so that it knows who asks)"
    return _page(
        "Allow access to BAW",
        f"<h1>Allow {name} to read BAW?</h1>"
        f"<p>The application <b>{name}</b> asks to {what}, read-only ({html.escape(flow['scope'])}).</p>"
        f"<p>If you allow it, you will be sent back to <b>{host}</b>. Allow only if you started this from an "
        f"application you use at <b>{host}</b>.</p>"
        f'<form method="post" action="{html.escape(facade.url("/oauth/consent"))}">'
        f'<input type="hidden" name="flow" value="{flow_id}">'
        '<button name="decision" value="allow" autofocus>Allow</button>'
        '<button name="decision" value="deny">Deny</button>'
        "</form>",
    )


async def consent(request: web.Request) -> web.Response:
    facade = request.app[FACADE]
    if _from_elsewhere(request, facade):
        log.warning("sign-in consent refused: posted from another site (Origin %r)", request.headers.get("Origin"))
        return _refused("This consent was sent from another site.", 403)
    form = await request.post()
    flow = await facade.store.take("flow", str(form.get("flow", "")))
    if flow is None:
        return _page("Sign-in expired", "<p>This sign-in has expired; start again from the application.</p>", 400)
    if not _same_browser(request, flow):
        log.warning("sign-in consent refused: not the browser that was shown the page (client %s)", flow["client_id"])
        return _refused("This sign-in was started in another browser: start again from the application.", 403)
    if form.get("decision") != "allow":
        return _back(flow["redirect_uri"], facade.issuer, flow["state"], error="access_denied")
    endpoint = facade.upstream.metadata.get("authorization_endpoint")
    if not isinstance(endpoint, str):
        return _back(flow["redirect_uri"], facade.issuer, flow["state"], error="temporarily_unavailable")
    upstream_state = secrets.token_urlsafe(24)
    try:
        await facade.store.put("upstream", upstream_state, flow, FLOW_TTL_S)
    except StoreFull:
        return _back(flow["redirect_uri"], facade.issuer, flow["state"], error="temporarily_unavailable")
    target = URL(endpoint).update_query(
        response_type="code",
        client_id=facade.settings.oauth_proxy_client_id,
        redirect_uri=facade.url("/oauth/callback"),
        scope=" ".join(facade.settings.oauth_proxy_scopes),
        state=upstream_state,
        code_challenge=_s256(_upstream_verifier(facade, upstream_state)),
        code_challenge_method="S256",
    )
    return web.Response(status=302, headers={"Location": str(target), **_PRIVATE})


def _upstream_verifier(facade: Facade, upstream_state: str) -> str:
    """The PKCE verifier of the sign-in at the IdP, worked out from its state: stored nowhere."""
    return facade.signing.derive("upstream-pkce", upstream_state)


async def callback(request: web.Request) -> web.Response:
    """The upstream IdP's answer: redeem its code, learn who signed in, give the host a code of ours."""
    facade = request.app[FACADE]
    upstream_state = request.query.get("state", "")
    flow = await facade.store.take("upstream", upstream_state)
    if flow is None:
        return _page("Sign-in expired", "<p>This sign-in has expired; start again from the application.</p>", 400)
    if not _same_browser(request, flow):
        log.warning("sign-in refused at the callback: not the browser that consented (client %s)", flow["client_id"])
        return _refused("This sign-in was started in another browser: start again from the application.", 403)
    if "code" not in request.query:
        error = request.query.get("error", "no code")[:60]
        log.warning("sign-in at the upstream IdP failed for client %s: %r", flow["client_id"], error)
        return _back(flow["redirect_uri"], facade.issuer, flow["state"], error="access_denied")
    try:
        principal = await facade.idp.sign_in(request.query["code"], _upstream_verifier(facade, upstream_state))
    except UpstreamRefused as exc:
        log.warning("sign-in at the upstream IdP failed for client %s: %s", flow["client_id"], exc)
        return _back(flow["redirect_uri"], facade.issuer, flow["state"], error="server_error")
    code = secrets.token_urlsafe(32)
    grant = {key: flow[key] for key in ("client_id", "redirect_uri", "challenge", "scope", "resource")}
    grant.update(subject=principal.subject, username=principal.username)
    try:
        await facade.store.put("code", code, grant, CODE_TTL_S)
    except StoreFull:
        return _back(flow["redirect_uri"], facade.issuer, flow["state"], error="temporarily_unavailable")
    return _back(flow["redirect_uri"], facade.issuer, flow["state"], code=code)


# ------------------------------------------------------------------ tokens


async def token(request: web.Request) -> web.Response:
    facade = request.app[FACADE]
    form = await request.post()
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        grant = await facade.store.take("code", str(form.get("code", "")))  # redeemable once, whatever follows
        if grant is None:
            return _json_error("invalid_grant", "the code is unknown, used or expired")
        if form.get("client_id") != grant["client_id"] or form.get("redirect_uri") != grant["redirect_uri"]:
            return _json_error("invalid_grant", "the code was issued to another client or redirect_uri")
        if not secrets.compare_digest(_s256(str(form.get("code_verifier", ""))), grant["challenge"]):
            return _json_error("invalid_grant", "the PKCE code_verifier does not match")
        resource = form.get("resource")
        if resource and resource != grant["resource"]:
            return _json_error("invalid_target", "the resource differs from the one authorized")
        await _keep_registration(facade, grant["client_id"])
        family = secrets.token_urlsafe(16)
        refresh = f"{family}.{secrets.token_urlsafe(32)}"
        grant = {key: grant[key] for key in ("client_id", "scope", "resource", "subject", "username")}
        try:
            await facade.store.put("refresh", family, {**grant, "current": hashed(refresh)}, REFRESH_TTL_S)
        except StoreFull:
            return _json_error("temporarily_unavailable", "too many sign-ins are held: try again later", 503)
    elif grant_type == "client_credentials":
        return await _agent_token(request, facade, form)
    elif grant_type == JWT_BEARER and facade.id_jag_issuers:
        return await _id_jag_token(request, facade, form)
    elif grant_type == "refresh_token":
        presented = str(form.get("refresh_token", ""))
        family, _, _ = presented.partition(".")
        refresh = f"{family}.{secrets.token_urlsafe(32)}"
        # Rotated on every use; a spent token that comes back revokes its family, the newer token included.
        found = await facade.store.rotate("refresh", family, hashed(presented), hashed(refresh), REFRESH_TTL_S)
        if found is None:
            if family:
                log.warning("a refresh token was refused (unknown, expired, or spent: its family is revoked)")
            return _json_error("invalid_grant", "the refresh token is unknown, spent or another client's")
        if form.get("client_id") != found["client_id"]:
            await facade.store.take("refresh", family)
            log.warning("a refresh token was presented by another client: its family is revoked")
            return _json_error("invalid_grant", "the refresh token is unknown, spent or another client's")
        grant = found
    else:
        return _json_error("unsupported_grant_type", f"one of {', '.join(facade.metadata()['grant_types_supported'])}")
    lifetime = facade.settings.oauth_token_lifetime_s
    access = facade.signing.issue(
        issuer=facade.issuer,
        subject=grant["subject"],
        audience=grant["resource"],
        scope=grant["scope"],
        client_id=grant["client_id"],
        lifetime_s=lifetime,
        **{facade.settings.baw_user_claim or "preferred_username": grant.get("username") or grant["subject"]},
    )
    body = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": int(lifetime),
        "refresh_token": refresh,
        "scope": grant["scope"],
    }
    return web.json_response(body, headers=_PRIVATE)


async def _agent_token(request: web.Request, facade: Facade, form: Any) -> web.Response:
    """client_credentials (RFC 6749 §4.4) for the operator's agents: the client authenticates with its secret (HTTP
    Basic or the form), asks for scopes it is allowed, and gets an access token naming itself, without a refresh
    token. Its caller is `client:<id>`, with its own rate limit and audit line."""
    client_id, secret = _client_credentials(request, form)
    agent = facade.agents.get(client_id)
    try:
        expected = agent.secret.read() if agent is not None else ""
    except OSError:
        log.warning("the secret file of agent %s cannot be read", client_id)
        expected = ""
    # Compared in constant time whoever asks, so an unknown id and a wrong secret take alike.
    valid = secrets.compare_digest(secret.encode(), expected.encode()) and bool(expected)
    if agent is None or not valid:
        log.info("client_credentials refused for client %r", client_id[:64])
        return _json_error(
            "invalid_client", "unknown client or wrong secret", 401, **{"WWW-Authenticate": 'Basic realm="oauth"'}
        )
    asked = str(form.get("scope") or " ".join(agent.scopes)).split()
    if not asked or not set(asked) <= set(agent.scopes):
        return _json_error("invalid_scope", f"this client may ask for {' '.join(agent.scopes)}")
    resource = str(form.get("resource") or facade.settings.oauth_audiences[0])
    if resource not in facade.settings.oauth_audiences:
        return _json_error("invalid_target", "the resource is not this gateway")
    lifetime = facade.settings.oauth_token_lifetime_s
    access = facade.signing.issue(
        issuer=facade.issuer,
        subject=agent.client_id,
        audience=resource,
        scope=" ".join(asked),
        client_id=agent.client_id,
        lifetime_s=lifetime,
        gty="client_credentials",
    )
    body = {"access_token": access, "token_type": "Bearer", "expires_in": int(lifetime), "scope": " ".join(asked)}
    return web.json_response(body, headers=_PRIVATE)


async def _id_jag_token(request: web.Request, facade: Facade, form: Any) -> web.Response:
    """Enterprise-managed authorization (the MCP extension for cross-app access; Okta's Cross App Access): the user
    signed in once at the company IdP, the host exchanged that sign-in there for an ID-JAG (RFC 8693) and redeems
    it here (RFC 7523 jwt-bearer), with no consent screen. The ID-JAG must come from an IdP the operator trusts
    (GATEWAY_OAUTH_ID_JAG_ISSUERS), signed by its keys, for this authorization server (`aud`), for this gateway
    (`resource`), for the client redeeming it (`client_id`), within its lifetime, and once (`jti`). The answer is
    the façade's own access token for that user."""
    assertion = str(form.get("assertion", ""))
    client_id, _ = _client_credentials(request, form)
    try:
        named = jwt.decode(assertion, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        named = None
    idp = facade.id_jag_issuers.get(named) if isinstance(named, str) else None
    if idp is None:
        return _json_error("invalid_grant", "the assertion is not an ID-JAG of an identity provider trusted here")
    try:
        claims = await idp.verified_claims(assertion, typ=ID_JAG_TYPE, require=("jti", "client_id", "iat"))
    except InvalidToken as exc:
        log.info("an ID-JAG from %s was refused: %s", named, exc)
        return _json_error("invalid_grant", f"the ID-JAG is not valid here: {exc}")
    if not client_id or claims["client_id"] != client_id:
        return _json_error("invalid_grant", "the ID-JAG was issued to another client")
    if claims.get("resource") not in facade.settings.oauth_audiences:
        return _json_error("invalid_grant", "the ID-JAG is for another resource than this gateway")
    try:
        first = await facade.store.first_time(
            "jti", f"{named}#{claims['jti']}", float(claims["exp"]) - time.time() + 60
        )
    except StoreFull:
        return _json_error("temporarily_unavailable", "too many assertions are held: try again later", 503)
    if not first:
        log.warning("an ID-JAG from %s was presented again (jti replayed) by client %s", named, client_id[:64])
        return _json_error("invalid_grant", "the ID-JAG was already used")
    asked = list(dict.fromkeys([*facade.settings.oauth_scopes, *str(claims.get("scope") or "").split()]))
    scope = " ".join(s for s in asked if s in facade.settings.supported_scopes)
    lifetime = facade.settings.oauth_token_lifetime_s
    user = {claim: claims[claim] for claim in (*_USER_CLAIMS, facade.settings.baw_user_claim) if claim in claims}
    access = facade.signing.issue(
        issuer=facade.issuer,
        subject=str(claims["sub"]),
        audience=str(claims["resource"]),
        scope=scope,
        client_id=client_id,
        lifetime_s=lifetime,
        **user,
    )
    log.info("an ID-JAG from %s was redeemed for client %s", named, client_id[:64])
    body = {"access_token": access, "token_type": "Bearer", "expires_in": int(lifetime), "scope": scope}
    return web.json_response(body, headers=_PRIVATE)


def _client_credentials(request: web.Request, form: Any) -> tuple[str, str]:
    """(client id, secret) from HTTP Basic (client_secret_basic, form-urlencoded parts) or the form."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return "", ""
        client_id, _, secret = decoded.partition(":")
        return unquote_plus(client_id), unquote_plus(secret)
    return str(form.get("client_id", "")), str(form.get("client_secret", ""))


async def _keep_registration(facade: Facade, client_id: str) -> None:
    """A registration a code was redeemed for is in use: it now lasts CLIENT_TTL_S."""
    if not client_id.startswith("mcp-"):
        return
    client = await facade.store.get("client", client_id)
    if client is not None:  # a put over a present entry never refuses
        await facade.store.put("client", client_id, client, CLIENT_TTL_S)


def add_routes(app: web.Application) -> None:
    settings = app[SETTINGS]
    if settings.oauth_proxy_upstream_issuer is None:
        return
    public_path = settings.public_url.path.rstrip("/")
    app.router.add_get("/.well-known/oauth-authorization-server", metadata, allow_head=False)
    if public_path:  # RFC 8414: the issuer's path goes after the well-known prefix
        app.router.add_get(f"/.well-known/oauth-authorization-server{public_path}", metadata, allow_head=False)
    app.router.add_get("/oauth/jwks", jwks, allow_head=False)
    app.router.add_post("/oauth/register", register)
    app.router.add_get("/oauth/authorize", authorize, allow_head=False)
    app.router.add_post("/oauth/consent", consent)
    app.router.add_get("/oauth/callback", callback, allow_head=False)
    app.router.add_post("/oauth/token", token)
