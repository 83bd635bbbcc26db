"""The issuer the gateway trusts (GATEWAY_OAUTH_ISSUER): its metadata, its signing keys, and token verification.

Metadata comes from RFC 8414 (`/.well-known/oauth-authorization-server`) or OIDC discovery. The key set (JWKS) is
fetched at start and renewed by a background task, like the BAW token: on schedule, with capped backoff and jitter
while the issuer fails, keeping the keys it has (tokens already verifiable keep working when the issuer is down).
A token signed with a key id the gateway does not know triggers one refresh, at most every UNKNOWN_KID_REFRESH_S
(key rotation at the issuer without waiting for the schedule, without letting forged kids hammer it).

Verification (PyJWT, no crypto of our own): RS256, ES256 or EdDSA only (`none` and HS* are refused), `iss`,
`aud` (one of ours), `exp`/`nbf` with a small leeway, then the required scopes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import random
import ssl
import time
from dataclasses import dataclass
from typing import Any, Callable

import aiohttp
import jwt
from aiohttp import web
from cachetools import TTLCache
from yarl import URL

from gateway import exact_json
from gateway.errors import GatewayError, SignInUnavailable
from gateway.renewal import Renewal
from gateway.tls import client_ssl_context

log = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "ES256", "EdDSA")
LEEWAY_S = 30
REFRESH_EVERY_S = 600.0
UNKNOWN_KID_REFRESH_S = 30.0
REFUSED_TTL_S = 30.0
VERIFIED_TTL_S = 60.0
_BODY_LIMIT = 256 * 1024


class InvalidToken(Exception):
    """The token is not one of ours (why, for the log: never for the caller, who learns only that it is invalid)."""


class ExpiredToken(InvalidToken):
    """Signed by the trusted issuer (its signature checked first) but past its expiry: a host that has not
    refreshed it yet, not someone guessing."""


class MissingScope(Exception):
    def __init__(self, needed: tuple[str, ...]) -> None:
        super().__init__(" ".join(needed))
        self.needed = needed


@dataclass(frozen=True, slots=True)
class Principal:
    """A signed-in user, as the issuer vouches for them."""

    issuer: str
    subject: str
    client_id: str | None
    scopes: frozenset[str]
    expires_at: float
    username: str = ""  # what BAW knows the user by (preferred_username, else the subject)
    agent: bool = False  # a client calling without a person (client_credentials): the subject is its client id

    @property
    def identity(self) -> str:
        return f"client:{self.subject}" if self.agent else f"user:{self.issuer}#{self.subject}"


@dataclass(frozen=True)
class Introspection:
    """RFC 7662, for issuers whose access tokens are opaque: the endpoint and the gateway's client credentials."""

    url: str
    client_id: str
    client_secret: Any  # a Secret, read at each call (rotation without restart)


class Issuer:
    def __init__(
        self,
        issuer: str,
        audiences: tuple[str, ...],
        required_scopes: tuple[str, ...],
        session: aiohttp.ClientSession,
        *,
        ca_bundle: Any = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        introspection: Introspection | None = None,
        user_claim: str | None = None,
    ) -> None:
        """`user_claim`: the claim that names the user in BAW (GATEWAY_BAW_USER_CLAIM); by default
        preferred_username, else username, else sub."""
        self._introspection, self._user_claim = introspection, user_claim
        # Introspected tokens, by their SHA-256: a few seconds to a minute, so a conversation's tool calls do
        # not each cost the issuer a call. Bounded like every table.
        self._introspected: TTLCache[str, tuple[float, Principal | None]] = TTLCache(
            maxsize=10_000, ttl=60, timer=monotonic
        )
        # Tokens verified moments ago, by their exact text: a host sends the same token with every call of a
        # conversation, and a signature check per request costs more than the rest of a cached lookup. At most a
        # minute, never past the token's expiry; bounded.
        self._verified: TTLCache[str, Principal] = TTLCache(maxsize=5_000, ttl=VERIFIED_TTL_S, timer=monotonic)
        # Tokens refused moments ago, refused again without a signature check: a script with an old token, or a
        # flood repeating one, costs a lookup (distinct garbage costs a header parse, or one signature check).
        self._refused: TTLCache[str, InvalidToken] = TTLCache(maxsize=10_000, ttl=REFUSED_TTL_S, timer=monotonic)
        self.issuer = issuer
        self._audiences, self._required = audiences, required_scopes
        self._session = session
        self._ssl = client_ssl_context(ca_bundle) if ca_bundle is not None else True
        self._clock, self._monotonic = clock, monotonic
        self.metadata: dict[str, Any] = {}
        self._keys: dict[str, jwt.PyJWK] = {}
        self._last_kid_refresh = -UNKNOWN_KID_REFRESH_S  # refreshes asked for by unknown key ids only

    @property
    def ready(self) -> bool:
        return bool(self._keys)

    def trust(self, metadata: dict[str, Any], jwks: list[dict[str, Any]]) -> None:
        """Keys known without fetching: the gateway's own, when it is the issuer (the façade)."""
        self.metadata = metadata
        self._keys = {str(raw["kid"]): jwt.PyJWK(raw) for raw in jwks}

    # ------------------------------------------------------------------ fetching

    async def _json(self, url: str) -> dict[str, Any]:
        try:
            async with self._session.get(url, ssl=self._ssl, allow_redirects=False) as response:
                if response.status != 200:
                    raise _unavailable(f"{url} answered HTTP {response.status}")
                document = await exact_json.read(response, _BODY_LIMIT)
        except exact_json.Refused as exc:
            raise _unavailable(f"{url} {exc}") from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise _unavailable(f"{url}: {type(exc).__name__}") from None
        if not isinstance(document, dict):
            raise _unavailable(f"{url} answered JSON that is not an object")
        return document

    async def _discover(self) -> dict[str, Any]:
        """RFC 8414 first (path inserted after the well-known prefix, as it prescribes), then OIDC discovery."""
        issuer = URL(self.issuer)
        path = issuer.path.rstrip("/")
        candidates = [
            str(issuer.with_path(f"/.well-known/oauth-authorization-server{path}", encoded=True)),
            str(issuer.with_path(f"{path}/.well-known/openid-configuration", encoded=True)),
        ]
        failure: GatewayError | None = None
        for url in candidates:
            try:
                metadata = await self._json(url)
            except GatewayError as exc:
                failure = exc
                continue
            if metadata.get("issuer") != self.issuer:  # RFC 8414 §3.3: the metadata must name this issuer
                failure = _unavailable(f"{url} names another issuer than {self.issuer}")
                continue
            return metadata
        assert failure is not None
        raise failure

    async def refresh(self) -> None:
        """Fetch metadata (once) and the key set; raise on failure, keeping the keys held before."""
        if not self.metadata:
            self.metadata = await self._discover()
        jwks_uri = self.metadata.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise _unavailable("the issuer's metadata has no jwks_uri")
        document = await self._json(jwks_uri)
        keys: dict[str, jwt.PyJWK] = {}
        for raw in document.get("keys", []) if isinstance(document.get("keys"), list) else []:
            if not isinstance(raw, dict) or raw.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(raw)
            except (jwt.PyJWKError, jwt.InvalidKeyError):
                continue
            if key.algorithm_name in ALGORITHMS or raw.get("alg") is None:
                keys[str(raw.get("kid", ""))] = key
        if not keys:
            raise _unavailable(f"{jwks_uri} holds no usable signing key")
        if keys.keys() != self._keys.keys():
            self._verified.clear()  # a key the issuer dropped vouches for no token from now on, cached or not
            self._refused.clear()  # and a token signed by a key that is new here may be good now
        self._keys = keys
        log.info("issuer keys renewed: %d signing key(s) from %s", len(keys), jwks_uri)

    async def run(self) -> None:
        """The renewal task: on schedule, backing off (1, 2, 4 … 30 s, jittered) while the issuer fails."""
        await Renewal("issuer key renewal", self._renew).run()

    async def _renew(self) -> float:
        await self.refresh()
        return REFRESH_EVERY_S * (0.9 + 0.1 * random.random())

    async def _refresh_for_unknown_kid(self) -> None:
        if self._monotonic() - self._last_kid_refresh < UNKNOWN_KID_REFRESH_S:
            return
        self._last_kid_refresh = self._monotonic()  # rate limit before the attempt: forged kids cannot hammer it
        try:
            await asyncio.wait_for(self.refresh(), 5)
        except (GatewayError, TimeoutError) as exc:
            log.warning("issuer key refresh for an unknown key id failed: %s", getattr(exc, "for_log", exc))

    # ------------------------------------------------------------------ verifying

    async def verify(self, token: str) -> Principal:
        """The principal a valid token names; InvalidToken or MissingScope otherwise."""
        known = self._verified.get(token)
        if known is not None and known.expires_at + LEEWAY_S > self._clock():
            return known
        refused = self._refused.get(token)
        if refused is not None:
            raise type(refused)(str(refused))
        try:
            principal = await self._verify(token)
        except InvalidToken as exc:
            self._refused[token] = exc
            raise
        self._verified[token] = principal
        return principal

    async def _verify(self, token: str) -> Principal:
        try:
            jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            if self._introspection is not None:
                return await self._introspect(token)
            raise InvalidToken(f"not a JWT ({exc})") from None
        claims = await self.verified_claims(token)
        scopes = _scopes(claims)
        missing = tuple(scope for scope in self._required if scope not in scopes)
        if missing:
            raise MissingScope(missing)
        return self._principal(claims, scopes)

    async def verified_claims(self, token: str, *, typ: str | None = None, require: tuple[str, ...] = ()) -> dict:
        """The claims of a JWT this issuer signed, for one of our audiences, within its lifetime (`typ`: the
        header's type it must have; `require`: claims it must carry besides exp, iss, aud and sub). The header is
        read first: a wrong algorithm or an unknown key id is refused before any signature check."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"not a JWT ({exc})") from None
        if typ is not None and str(header.get("typ", "")).lower() != typ:
            raise InvalidToken(f"the token's type is not {typ}")
        algorithm, kid = header.get("alg"), str(header.get("kid", ""))
        if algorithm not in ALGORITHMS:
            raise InvalidToken(f"algorithm {algorithm!r} is not accepted")
        key = self._keys.get(kid)
        if key is None:
            await self._refresh_for_unknown_kid()
            key = self._keys.get(kid)
            if key is None:
                raise InvalidToken(f"unknown key id {kid!r}")
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                audience=list(self._audiences),
                issuer=self.issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iss", "aud", "sub", *require]},
            )
        except jwt.ExpiredSignatureError as exc:  # (PyJWT checks the signature before the claims)
            raise ExpiredToken(str(exc)) from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
        return claims

    def _principal(self, claims: dict[str, Any], scopes: frozenset[str]) -> Principal:
        client = claims.get("client_id") or claims.get("azp")
        if self._user_claim is not None:
            username = claims.get(self._user_claim) if isinstance(claims.get(self._user_claim), str) else ""
        else:
            username = claims.get("preferred_username") or claims.get("username") or claims["sub"]
        # A token for a client without a person: the façade's own (gty, as Auth0 writes it), or Entra's app-only
        # tokens (idtyp). Such a caller is `client:<id>`, never a user.
        agent = claims.get("gty") == "client_credentials" or claims.get("idtyp") == "app"
        return Principal(
            issuer=self.issuer,
            subject=str(claims["sub"]),
            client_id=str(client) if client else None,
            scopes=scopes,
            expires_at=float(claims["exp"]),
            username="" if agent else str(username),
            agent=agent,
        )

    async def _post_introspection(self, token: str) -> dict[str, Any]:
        introspection = self._introspection
        assert introspection is not None
        credentials = f"{introspection.client_id}:{introspection.client_secret.read()}".encode()
        headers = {"Authorization": "Basic " + base64.b64encode(credentials).decode("ascii")}
        form = {"token": token, "token_type_hint": "access_token"}
        return await post_form(
            self._session,
            introspection.url,
            form,
            self._ssl,
            lambda why: _unavailable(f"{introspection.url} {why}"),
            headers,
        )

    async def _introspect(self, token: str) -> Principal:
        """An opaque token: RFC 7662 at the issuer, the answer kept briefly (never past the token's expiry)."""
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._introspected.get(key)
        if cached is not None and cached[0] > self._clock():
            if cached[1] is None:
                raise InvalidToken("the issuer says the token is not active")
            return cached[1]
        claims = await self._post_introspection(token)
        now = self._clock()
        if claims.get("active") is not True or not isinstance(claims.get("sub"), str):
            self._introspected[key] = (now + 10, None)
            raise InvalidToken("the issuer says the token is not active")
        expires = float(claims["exp"]) if isinstance(claims.get("exp"), (int, float)) else now + 60
        if expires <= now - LEEWAY_S:
            raise ExpiredToken("the token has expired")
        if claims.get("iss", self.issuer) != self.issuer:
            raise InvalidToken("the token names another issuer")
        if not _audiences(claims) & set(self._audiences):
            # RFC 9068 / RFC 9700 §2.3: an answer that names no audience of ours is a token minted for someone
            # else (or for anyone): refused, as a JWT without `aud` is.
            raise InvalidToken("the token names no audience of this gateway")
        scopes = _scopes(claims)
        missing = tuple(scope for scope in self._required if scope not in scopes)
        if missing:
            raise MissingScope(missing)
        principal = self._principal({**claims, "exp": expires}, scopes)
        self._introspected[key] = (min(expires, now + 60), principal)
        return principal


async def post_form(
    session: aiohttp.ClientSession,
    url: str,
    form: dict[str, str],
    trust: ssl.SSLContext | bool,
    refused: Callable[[str], Exception],
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST `form` to an OAuth endpoint (no redirects) and read its JSON object; anything else raises
    `refused(why)`, where `why` names the status or the exception, never a token."""
    try:
        async with session.post(url, data=form, headers=headers, ssl=trust, allow_redirects=False) as response:
            if response.status != 200:
                raise refused(f"answered HTTP {response.status}")
            answer = await exact_json.read(response, _BODY_LIMIT)  # (Refused is a ValueError)
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
        raise refused(f"could not be used ({type(exc).__name__})") from None
    if not isinstance(answer, dict):
        raise refused("answered JSON that is not an object")
    return answer


def _unavailable(detail: str) -> SignInUnavailable:
    return SignInUnavailable("The sign-in service cannot be used right now; try again later.", detail=detail)


def _audiences(claims: dict[str, Any]) -> set[str]:
    aud = claims.get("aud")
    return {aud} if isinstance(aud, str) else {str(a) for a in aud} if isinstance(aud, list) else set()


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    raw = claims.get("scope", claims.get("scp", ""))
    if isinstance(raw, str):
        return frozenset(raw.split())
    if isinstance(raw, list):
        return frozenset(str(scope) for scope in raw)
    return frozenset()


OAUTH_ISSUER: web.AppKey[Issuer] = web.AppKey("oauth_issuer")  # only with GATEWAY_OAUTH_ISSUER
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal")  # a signed-in user (OAuth)
