"""An OAuth 2.1 authorization server a test can drive, for the hosts' sign-in (the issuer the gateway trusts).

Users with passwords; authorization code with PKCE (S256 only) and exact redirect URIs; dynamic client
registration (RFC 7591); access tokens as RS256 JWTs for the `resource` asked for (RFC 8707); refresh tokens
rotated on use; a JWKS with a rotation switch; RFC 8414 metadata. For tests, `auto_login` signs a user in
without the form. Nothing here is for production: it keeps everything in memory and trusts its test switches.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

CODE_TTL_S = 60
USERS = {"alice": "alice-password", "bob": "bob-password", "admin": "admin-password"}


def _new_key() -> tuple[str, rsa.RSAPrivateKey]:
    return secrets.token_hex(8), rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class IdentityProvider:
    token_lifetime_s: float = 300.0
    scopes: tuple[str, ...] = ("baw.read",)
    auto_login: str | None = None  # sign this user in at /oauth/authorize without the form (tests)
    dynamic_registration: bool = True
    keys: list[tuple[str, rsa.RSAPrivateKey]] = field(default_factory=lambda: [_new_key()])
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=lambda: {"jwks": 0, "token": 0, "authorize": 0})
    down: bool = False  # every endpoint answers 503
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)  # CIMD documents a test publishes
    user_claim: str = "sub"  # the claim BAW's side (Zen) reads the user name from
    user_claims: dict[str, dict[str, Any]] = field(default_factory=dict)  # more claims of a user's tokens (upn …)
    opaque: dict[str, dict[str, Any]] = field(default_factory=dict)  # opaque access tokens -> their claims
    introspection_client: tuple[str, str] = ("gateway-introspection", "introspection-secret")

    def rotate(self) -> None:
        """A new signing key; the old one is dropped from the JWKS at once."""
        self.keys = [_new_key()]

    def sign(self, claims: dict[str, Any], *, kid: str | None = None, algorithm: str = "RS256", key: Any = None) -> str:
        own_kid, own_key = self.keys[0]
        return jwt.encode(claims, key or own_key, algorithm=algorithm, headers={"kid": kid or own_kid})

    def access_token(self, issuer: str, user: str, audience: str, scope: str, client_id: str, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": issuer,
            "sub": user,
            "aud": audience,
            "iat": now,
            "exp": now + int(self.token_lifetime_s),
            "scope": scope,
            "client_id": client_id,
            "jti": secrets.token_hex(8),
        }
        claims.update(self.user_claims.get(user, {}))
        claims.update(overrides)
        return self.sign(claims)


IDP = web.AppKey("identity_provider", IdentityProvider)


def signed_in_user(request: web.Request, token: str) -> str | None:
    """The user a token of this IdP names, when its signature and expiry hold (what BAW's side trusts)."""
    idp = request.app[IDP]
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        key = next(key for key_id, key in idp.keys if key_id == kid)
        claims = jwt.decode(token, key.public_key(), algorithms=["RS256"], options={"verify_aud": False})
    except (jwt.PyJWTError, StopIteration):
        return None
    user = claims.get(idp.user_claim)
    return str(user) if user else None


def _issuer(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _error(error: str, description: str, status: int = 400) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


def _guard(request: web.Request, endpoint: str) -> web.Response | None:
    idp = request.app[IDP]
    idp.calls[endpoint] = idp.calls.get(endpoint, 0) + 1
    return _error("temporarily_unavailable", "switched down", 503) if idp.down else None


async def metadata(request: web.Request) -> web.Response:
    if (down := _guard(request, "metadata")) is not None:
        return down
    issuer, idp = _issuer(request), request.app[IDP]
    document = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/oauth/jwks",
        "scopes_supported": list(idp.scopes),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
    }
    if idp.dynamic_registration:
        document["registration_endpoint"] = f"{issuer}/oauth/register"
    return web.json_response(document)


async def jwks(request: web.Request) -> web.Response:
    if (down := _guard(request, "jwks")) is not None:
        return down
    keys = []
    for kid, key in request.app[IDP].keys:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        keys.append({**public, "kid": kid, "use": "sig", "alg": "RS256"})
    return web.json_response({"keys": keys})


async def register(request: web.Request) -> web.Response:
    idp = request.app[IDP]
    if not idp.dynamic_registration:
        return _error("invalid_request", "dynamic client registration is not offered", 404)
    body = await request.json()
    uris = body.get("redirect_uris") if isinstance(body, dict) else None
    if not isinstance(uris, list) or not uris or not all(isinstance(uri, str) for uri in uris):
        return _error("invalid_redirect_uri", "redirect_uris is required")
    client_id = "client-" + secrets.token_hex(8)
    client = {"client_id": client_id, "redirect_uris": uris, "client_name": body.get("client_name", "client")}
    idp.clients[client_id] = client
    return web.json_response(
        {**client, "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"]},
        status=201,
    )


def _check_authorization(idp: IdentityProvider, query: Any) -> str | None:
    client = idp.clients.get(query.get("client_id", ""))
    if client is None:
        return "unknown client"
    if query.get("redirect_uri") not in client["redirect_uris"]:
        return "redirect_uri is not one the client registered"
    if query.get("response_type") != "code":
        return "response_type must be code"
    if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
        return "PKCE with S256 is required"
    return None


def _grant(request: web.Request, query: Any, user: str) -> web.Response:
    idp = request.app[IDP]
    code = secrets.token_urlsafe(24)
    idp.codes[code] = {
        "user": user,
        "client_id": query["client_id"],
        "redirect_uri": query["redirect_uri"],
        "challenge": query["code_challenge"],
        "scope": query.get("scope") or " ".join(idp.scopes),
        "resource": query.get("resource"),
        "expires": time.monotonic() + CODE_TTL_S,
    }
    target = URL(query["redirect_uri"]).update_query(code=code, iss=_issuer(request))
    if query.get("state"):
        target = target.update_query(state=query["state"])
    raise web.HTTPFound(str(target))


async def authorize(request: web.Request) -> web.Response:
    if (down := _guard(request, "authorize")) is not None:
        return down
    idp = request.app[IDP]
    query = request.query if request.method == "GET" else await request.post()
    problem = _check_authorization(idp, query)
    if problem is not None:
        return web.Response(status=400, text=f"authorization refused: {problem}")
    if request.method == "POST":
        user = str(query.get("username", ""))
        if USERS.get(user) != query.get("password"):
            return web.Response(status=401, text="wrong user name or password")
        return _grant(request, query, user)
    if idp.auto_login is not None:
        return _grant(request, query, idp.auto_login)
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in query.items()
    )
    form = (
        "<!doctype html><title>Simulator sign-in</title><form method=post>"
        f"{hidden}<input name=username><input name=password type=password><button>Sign in</button></form>"
    )
    return web.Response(text=form, content_type="text/html")


def _pkce_ok(verifier: str, challenge: str) -> bool:
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return secrets.compare_digest(base64.urlsafe_b64encode(digest).rstrip(b"=").decode(), challenge)


async def token(request: web.Request) -> web.Response:
    if (down := _guard(request, "token")) is not None:
        return down
    idp, form, issuer = request.app[IDP], await request.post(), _issuer(request)
    grant = form.get("grant_type")
    if grant == "authorization_code":
        flow = idp.codes.pop(str(form.get("code", "")), None)  # single use: gone whatever happens next
        if flow is None or flow["expires"] < time.monotonic():
            return _error("invalid_grant", "the code is unknown, used or expired")
        if form.get("client_id") != flow["client_id"] or form.get("redirect_uri") != flow["redirect_uri"]:
            return _error("invalid_grant", "the code was issued to another client or redirect_uri")
        if not _pkce_ok(str(form.get("code_verifier", "")), flow["challenge"]):
            return _error("invalid_grant", "the PKCE verifier does not match")
    elif grant == "refresh_token":
        flow = idp.refresh_tokens.pop(str(form.get("refresh_token", "")), None)  # rotated: the old one is spent
        if flow is None or form.get("client_id") != flow["client_id"]:
            return _error("invalid_grant", "the refresh token is unknown or spent")
    else:
        return _error("unsupported_grant_type", "authorization_code or refresh_token")
    audience = flow["resource"] or issuer
    refresh = secrets.token_urlsafe(32)
    idp.refresh_tokens[refresh] = flow
    access = idp.access_token(issuer, flow["user"], audience, flow["scope"], flow["client_id"])
    answer = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": int(idp.token_lifetime_s),
        "refresh_token": refresh,
        "scope": flow["scope"],
    }
    if "openid" in flow["scope"].split():  # OIDC: who signed in, for the client that asked
        now = int(time.time())
        answer["id_token"] = idp.sign(
            {
                "iss": issuer,
                "sub": flow["user"],
                "aud": flow["client_id"],
                "iat": now,
                "exp": now + 300,
                **idp.user_claims.get(flow["user"], {}),
            }
        )
    return web.json_response(answer, headers={"Cache-Control": "no-store"})


async def client_document(request: web.Request) -> web.Response:
    """Client ID metadata documents (CIMD) hosted here for tests: `documents[name]` served at its https URL."""
    idp = request.app[IDP]
    idp.calls["documents"] = idp.calls.get("documents", 0) + 1
    document = idp.documents.get(request.match_info["name"])
    return web.json_response(document) if document is not None else web.Response(status=404)


async def introspect(request: web.Request) -> web.Response:
    """RFC 7662 for the opaque tokens a test minted (`opaque`), for the client `introspection_client` only."""
    if (down := _guard(request, "introspect")) is not None:
        return down
    idp = request.app[IDP]
    expected = "Basic " + base64.b64encode(":".join(idp.introspection_client).encode()).decode()
    if request.headers.get("Authorization") != expected:
        return _error("invalid_client", "introspection needs the registered client", 401)
    claims = idp.opaque.get(str((await request.post()).get("token", "")))
    if claims is None or claims.get("exp", 0) < time.time():
        return web.json_response({"active": False})
    return web.json_response({"active": True, **claims})


def add_routes(app: web.Application, idp: IdentityProvider) -> None:
    app[IDP] = idp
    app.router.add_get("/.well-known/oauth-authorization-server", metadata)
    app.router.add_get("/oauth/jwks", jwks)
    app.router.add_post("/oauth/register", register)
    app.router.add_route("GET", "/oauth/authorize", authorize)
    app.router.add_route("POST", "/oauth/authorize", authorize)
    app.router.add_post("/oauth/token", token)
    app.router.add_get("/_simulator/clients/{name}", client_document)
    app.router.add_post("/oauth/introspect", introspect)
