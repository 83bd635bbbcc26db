"""An authorization-server façade, for identity providers that do not let hosts register themselves.

ChatGPT and Claude register with the authorization server dynamically (DCR, RFC 7591) or by a client ID metadata
document (CIMD: the client id is an https URL of its metadata). Entra ID, IBM IM with manual registration and many
Keycloak or Okta setups offer neither. With GATEWAY_OAUTH_PROXY_UPSTREAM_* the gateway is the authorization server
the hosts see: it registers them (DCR, CIMD, or the operator's list), checks PKCE (S256 only), exact redirect URIs
and the `resource` asked for, asks the user's consent, and delegates the sign-in itself to the upstream IdP as
one registered client (authorization code + PKCE). It then issues its own short-lived tokens, for this gateway
only, and refresh tokens rotated on every use. The upstream's tokens never leave the gateway.

State (clients, sign-ins under way, codes valid 60 s and redeemable once, refresh tokens) lives in a FlowStore:
Redis in cluster mode, so a sign-in may cross replicas.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import ssl
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from gateway.config import Settings
from gateway.keys import CLIENT_ADDRESS, FACADE, RATE_LIMITER, SETTINGS
from gateway.oauth.issuer import InvalidToken, Issuer, MissingScope
from gateway.oauth.signing import SigningKey
from gateway.shared.flows import FlowStore

CODE_TTL_S = 60
FLOW_TTL_S = 600
CLIENT_TTL_S = 90 * 86400
REFRESH_TTL_S = 30 * 86400
CIMD_TTL_S = 3600
_CIMD_LIMIT = 64 * 1024
_PRIVATE = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https:; frame-ancestors 'none'"
    ),
}


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
    ) -> None:
        self.settings, self.signing, self.upstream, self.store = settings, signing, upstream, store
        self.session, self.trust = session, trust
        assert settings.oauth_issuer is not None
        self.issuer = settings.oauth_issuer
        self.operator_clients = {client_id: list(uris) for client_id, uris in settings.oauth_proxy_clients}

    def url(self, path: str) -> str:
        public = self.settings.public_url
        return str(public.with_path(public.path.rstrip("/") + path))

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.url("/oauth/authorize"),
            "token_endpoint": self.url("/oauth/token"),
            "registration_endpoint": self.url("/oauth/register"),
            "jwks_uri": self.url("/oauth/jwks"),
            "scopes_supported": list(self.settings.oauth_scopes),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "client_id_metadata_document_supported": True,
            "authorization_response_iss_parameter_supported": True,
        }

    async def client(self, client_id: str) -> dict[str, Any] | None:
        """A registered (DCR), operator-listed or self-described (CIMD) client; None when it is none of these."""
        if client_id in self.operator_clients:
            return {"client_id": client_id, "client_name": client_id, "redirect_uris": self.operator_clients[client_id]}
        registered = await self.store.get("client", client_id)
        if registered is not None:
            return registered
        url = URL(client_id)
        if url.scheme == "https" and url.host and url.path not in ("", "/"):
            cached = await self.store.get("cimd", client_id)
            return cached if cached is not None else await self._fetch_cimd(client_id)
        return None

    async def _fetch_cimd(self, client_id: str) -> dict[str, Any] | None:
        try:
            async with self.session.get(client_id, ssl=self.trust, allow_redirects=False) as response:
                if response.status != 200:
                    return None
                body = await response.content.read(_CIMD_LIMIT + 1)
            document = json.loads(body) if len(body) <= _CIMD_LIMIT else None
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
            return None
        if not isinstance(document, dict) or document.get("client_id") != client_id:
            return None  # the document must name itself
        uris = document.get("redirect_uris")
        if not isinstance(uris, list) or not uris or not all(isinstance(uri, str) for uri in uris):
            return None
        client = {
            "client_id": client_id,
            "client_name": str(document.get("client_name", client_id))[:100],
            "redirect_uris": uris,
        }
        await self.store.put("cimd", client_id, client, CIMD_TTL_S)
        return client


def _json_error(error: str, description: str, status: int = 400) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status, headers=_PRIVATE)


def _page(title: str, body: str, status: int = 200) -> web.Response:
    head = f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(title)}</title>"
    text = f"{head}<body>{body}</body></html>"
    return web.Response(text=text, status=status, content_type="text/html", headers=_PRIVATE)


def _back(redirect_uri: str, issuer: str, state: str | None, **params: str) -> web.Response:
    target = URL(redirect_uri).update_query(iss=issuer, **params)
    if state:
        target = target.update_query(state=state)
    return web.Response(status=302, headers={"Location": str(target), **_PRIVATE})


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii", "replace")).digest()).rstrip(b"=").decode()


# ------------------------------------------------------------------ discovery, keys, registration


async def metadata(request: web.Request) -> web.Response:
    return web.json_response(request.app[FACADE].metadata(), headers={"Cache-Control": "public, max-age=3600"})


async def jwks(request: web.Request) -> web.Response:
    return web.json_response(
        {"keys": [request.app[FACADE].signing.jwk]}, headers={"Cache-Control": "public, max-age=300"}
    )


async def register(request: web.Request) -> web.Response:
    """RFC 7591 for public clients: exact https (or loopback http) redirect URIs, no secret. Registrations are
    limited per address like any request, so a loop cannot fill the store."""
    facade = request.app[FACADE]
    wait = await request.app[RATE_LIMITER].retry_after(f"ip:{request.get(CLIENT_ADDRESS, request.remote)}")
    if wait is not None:
        return _json_error("slow_down", f"too many registrations from this address: retry in {wait} s", 429)
    try:
        body = await request.json()
    except ValueError:
        return _json_error("invalid_client_metadata", "the body must be a JSON object")
    uris = body.get("redirect_uris") if isinstance(body, dict) else None
    if not isinstance(uris, list) or not uris or len(uris) > 10 or not all(_acceptable_redirect(uri) for uri in uris):
        return _json_error("invalid_redirect_uri", "redirect_uris: 1 to 10 https URIs (http only for loopback)")
    client_id = "mcp-" + secrets.token_urlsafe(16)
    name = str(body.get("client_name") or "MCP client")[:100]
    client = {"client_id": client_id, "client_name": name, "redirect_uris": uris}
    await facade.store.put("client", client_id, client, CLIENT_TTL_S)
    answer = {
        **client,
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
    }
    return web.json_response(answer, status=201, headers=_PRIVATE)


def _acceptable_redirect(uri: Any) -> bool:
    if not isinstance(uri, str) or len(uri) > 2000:
        return False
    url = URL(uri)
    if url.fragment or not url.host:
        return False
    return url.scheme == "https" or (url.scheme == "http" and url.host in ("localhost", "127.0.0.1", "::1"))


# ------------------------------------------------------------------ the sign-in


async def authorize(request: web.Request) -> web.Response:
    facade = request.app[FACADE]
    query = request.query
    client = await facade.client(query.get("client_id", ""))
    if client is None:
        return _page("Sign-in refused", "<p>This application is not known to the gateway.</p>", 400)
    redirect_uri = query.get("redirect_uri", "")
    if redirect_uri not in client["redirect_uris"]:  # exact match; nothing is sent to an unverified address
        return _page("Sign-in refused", "<p>The return address is not one this application registered.</p>", 400)
    state = query.get("state")
    if query.get("response_type") != "code":
        return _back(redirect_uri, facade.issuer, state, error="unsupported_response_type")
    if query.get("code_challenge_method") != "S256" or len(query.get("code_challenge", "")) < 43:
        return _back(
            redirect_uri, facade.issuer, state, error="invalid_request", error_description="PKCE S256 required"
        )
    resource = query.get("resource") or facade.settings.oauth_audiences[0]
    if resource not in facade.settings.oauth_audiences:
        return _back(redirect_uri, facade.issuer, state, error="invalid_target", error_description="unknown resource")
    asked = (query.get("scope") or " ".join(facade.settings.oauth_scopes)).split()
    if not set(asked) <= set(facade.settings.oauth_scopes):
        return _back(redirect_uri, facade.issuer, state, error="invalid_scope")
    flow_id = secrets.token_urlsafe(24)
    flow = {
        "client_id": client["client_id"],
        "client_name": client["client_name"],
        "redirect_uri": redirect_uri,
        "challenge": query["code_challenge"],
        "state": state,
        "scope": " ".join(asked),
        "resource": resource,
    }
    await facade.store.put("flow", flow_id, flow, FLOW_TTL_S)
    host = html.escape(URL(redirect_uri).host or "")
    return _page(
        "Allow access to BAW",
        f"<h1>Allow {html.escape(client['client_name'])} to read BAW as you?</h1>"
        f"<p>It will receive read-only access ({html.escape(flow['scope'])}) to the process instances and tasks you "
        f"can see, and return to <b>{host}</b>.</p>"
        f'<form method="post" action="{html.escape(facade.url("/oauth/consent"))}">'
        f'<input type="hidden" name="flow" value="{flow_id}">'
        '<button name="decision" value="allow">Allow</button> <button name="decision" value="deny">Deny</button>'
        "</form>",
    )


async def consent(request: web.Request) -> web.Response:
    facade = request.app[FACADE]
    form = await request.post()
    flow = await facade.store.take("flow", str(form.get("flow", "")))
    if flow is None:
        return _page("Sign-in expired", "<p>This sign-in has expired; start again from the application.</p>", 400)
    if form.get("decision") != "allow":
        return _back(flow["redirect_uri"], facade.issuer, flow["state"], error="access_denied")
    verifier, upstream_state = secrets.token_urlsafe(48), secrets.token_urlsafe(24)
    await facade.store.put("upstream", upstream_state, {**flow, "verifier": verifier}, FLOW_TTL_S)
    endpoint = facade.upstream.metadata.get("authorization_endpoint")
    if not isinstance(endpoint, str):
        return _back(flow["redirect_uri"], facade.issuer, flow["state"], error="temporarily_unavailable")
    target = URL(endpoint).update_query(
        response_type="code",
        client_id=facade.settings.oauth_proxy_client_id,
        redirect_uri=facade.url("/oauth/callback"),
        scope=" ".join(facade.settings.oauth_proxy_scopes),
        state=upstream_state,
        code_challenge=_s256(verifier),
        code_challenge_method="S256",
    )
    return web.Response(status=302, headers={"Location": str(target), **_PRIVATE})


async def callback(request: web.Request) -> web.Response:
    """The upstream IdP's answer: redeem its code, learn who signed in, give the host a code of ours."""
    facade = request.app[FACADE]
    flow = await facade.store.take("upstream", request.query.get("state", ""))
    if flow is None:
        return _page("Sign-in expired", "<p>This sign-in has expired; start again from the application.</p>", 400)
    if "code" not in request.query:
        return _back(flow["redirect_uri"], facade.issuer, flow["state"], error="access_denied")
    subject = await _upstream_subject(facade, request.query["code"], flow["verifier"])
    if subject is None:
        return _back(flow["redirect_uri"], facade.issuer, flow["state"], error="server_error")
    code = secrets.token_urlsafe(32)
    grant = {key: flow[key] for key in ("client_id", "redirect_uri", "challenge", "scope", "resource")}
    await facade.store.put("code", code, {**grant, "subject": subject}, CODE_TTL_S)
    return _back(flow["redirect_uri"], facade.issuer, flow["state"], code=code)


async def _upstream_subject(facade: Facade, code: str, verifier: str) -> str | None:
    endpoint = facade.upstream.metadata.get("token_endpoint")
    if not isinstance(endpoint, str):
        return None
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": facade.url("/oauth/callback"),
        "client_id": facade.settings.oauth_proxy_client_id or "",
        "code_verifier": verifier,
    }
    if facade.settings.oauth_proxy_client_secret is not None:
        form["client_secret"] = facade.settings.oauth_proxy_client_secret.read()
    try:
        async with facade.session.post(endpoint, data=form, ssl=facade.trust, allow_redirects=False) as response:
            tokens = await response.json(content_type=None) if response.status == 200 else None
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
        return None
    token = tokens.get("id_token") or tokens.get("access_token") if isinstance(tokens, dict) else None
    if not isinstance(token, str):
        return None
    try:
        principal = await facade.upstream.verify(token)  # the upstream's signature, issuer, audience and expiry
    except (InvalidToken, MissingScope):
        return None
    return principal.subject


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
    elif grant_type == "refresh_token":
        grant = await facade.store.take("refresh", str(form.get("refresh_token", "")))  # rotated: spent on use
        if grant is None or form.get("client_id") != grant["client_id"]:
            return _json_error("invalid_grant", "the refresh token is unknown, spent or another client's")
    else:
        return _json_error("unsupported_grant_type", "authorization_code or refresh_token")
    refresh = secrets.token_urlsafe(32)
    await facade.store.put("refresh", refresh, grant, REFRESH_TTL_S)
    lifetime = facade.settings.oauth_token_lifetime_s
    access = facade.signing.issue(
        issuer=facade.issuer,
        subject=grant["subject"],
        audience=grant["resource"],
        scope=grant["scope"],
        client_id=grant["client_id"],
        lifetime_s=lifetime,
    )
    body = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": int(lifetime),
        "refresh_token": refresh,
        "scope": grant["scope"],
    }
    return web.json_response(body, headers=_PRIVATE)


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
