"""The façade's HTTP face: discovery, keys, registration, the sign-in and its consent page, the callback from the
upstream IdP and the token endpoint. What they share, and why the façade exists: oauth/facade.py."""

from __future__ import annotations

import base64
import hashlib
import html
import logging
import secrets
import time
from typing import Any
from urllib.parse import unquote_plus

import jwt
from aiohttp import web
from yarl import URL

from gateway.config import SETTINGS
from gateway.keys import CLIENT_ADDRESS
from gateway.oauth.documents import acceptable_redirect
from gateway.oauth.facade import (
    BROWSER_COOKIE,
    CLIENT_TTL_S,
    CLIENT_UNUSED_TTL_S,
    CODE_TTL_S,
    FACADE,
    FLOW_TTL_S,
    ID_JAG_TYPE,
    JWT_BEARER,
    REFRESH_TTL_S,
    USER_CLAIMS,
    Facade,
    RateLimitedPage,
)
from gateway.oauth.issuer import InvalidToken
from gateway.oauth.upstream import UpstreamRefused
from gateway.shared.flows import StoreFull, hashed

log = logging.getLogger(__name__)

_PRIVATE = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https:; frame-ancestors 'none'"
    ),
}


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
    user = {claim: claims[claim] for claim in (*USER_CLAIMS, facade.settings.baw_user_claim) if claim in claims}
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
