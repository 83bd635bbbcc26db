"""BAW as the signed-in user sees it (GATEWAY_BAW_IDENTITY=user): one BAW credential per active user.

The user's own credential comes from an exchange of the token they signed in with, never from passing that token
on (MCP forbids token passthrough):
- RFC 8693 token exchange at the IdP (GATEWAY_BAW_TOKEN_EXCHANGE_URL): a token whose audience is BAW;
- CP4BA with IBM IM: Zen's validateAuth converts the user's IM token into a Zen token, as BAW_AUTH=zen does for
  the service account.

A bounded table (LRU, GATEWAY_USER_CREDENTIALS_MAX) holds the active users. A background task renews each
credential before it expires while its user is active (with the latest token the user signed in with), drops users
idle for GATEWAY_USER_IDLE_S, spreads renewals with jitter and runs at most a few at once, so a thousand active
users never stampede the IdP; one renewal is in flight per user. A user whose renewal is refused is told to sign
in again (401), never served with another identity's credential.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import ssl
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Protocol

import aiohttp
from aiohttp import web
from yarl import URL

from gateway.baw.http import display_url, read_json, upstream_errors
from gateway.baw.tokens import Token, jwt_expiry
from gateway.errors import BawUnavailable, GatewayError, NoCredential, Unauthorized
from gateway.renewal import Renewal, renewal_delay, sleep_or_wake
from gateway.secret import Secret

log = logging.getLogger(__name__)

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
RENEWALS_AT_ONCE = 8
SWEEP_EVERY_S = 5.0
# A user whose exchange failed is not tried again before 1 s, doubling to a minute (jittered): an IdP outage for
# one user costs the IdP a few calls a minute, not one per request.
USER_BACKOFF_BASE_S = 1.0
USER_BACKOFF_CAP_S = 60.0
_BODY_LIMIT = 64 * 1024


class SignInAgain(Unauthorized):
    """The user's credential towards BAW cannot be had any more: the host must sign the user in again."""

    def __init__(self, message: str) -> None:
        super().__init__(message, challenge='Bearer error="invalid_token"')


@dataclass(frozen=True, slots=True)
class Subject:
    """What the user signed in with: their access token, and the user name BAW knows them by."""

    token: str = field(repr=False)
    username: str


class UserTokenSource(Protocol):
    target: str

    async def fetch(self, subject: Subject) -> Token: ...


class TokenExchange:
    """RFC 8693 at the IdP: the user's token for one whose audience is BAW, the gateway authenticating as a client."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: URL,
        client_id: str,
        client_secret: Secret,
        audience: str | None,
        timeout_s: float,
        trust: Callable[[], ssl.SSLContext | bool],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._session, self._url, self._client_id, self._secret = session, url, client_id, client_secret
        self._audience, self._timeout_s, self._trust, self._clock = audience, timeout_s, trust, clock
        self.target = f"the token exchange endpoint {display_url(url)}"

    async def fetch(self, subject: Subject) -> Token:
        form = {"grant_type": TOKEN_EXCHANGE, "subject_token": subject.token, "subject_token_type": ACCESS_TOKEN}
        if self._audience:
            form["audience"] = self._audience
        basic = base64.b64encode(f"{self._client_id}:{self._secret.read()}".encode()).decode("ascii")
        with upstream_errors(self.target, self._timeout_s, "BAW's sign-in service"):
            async with self._session.post(
                self._url,
                data=form,
                headers={"Authorization": f"Basic {basic}"},
                ssl=self._trust(),
                allow_redirects=False,
            ) as response:
                body = await read_json(response, _BODY_LIMIT, self.target)
                status = response.status
        if status in (400, 401) and isinstance(body, dict) and body.get("error") in ("invalid_grant", "invalid_token"):
            raise SignInAgain("Your sign-in is no longer accepted for BAW: sign in again.")
        token = body.get("access_token") if isinstance(body, dict) and status == 200 else None
        if not isinstance(token, str) or not token:
            raise BawUnavailable(
                "BAW's sign-in service did not give a credential for you; try again later.",
                detail=f"{self.target} answered HTTP {status}",
            )
        lifetime = float(body.get("expires_in") or 3600)
        return Token(f"Bearer {token}", self._clock() + lifetime, lifetime)


class ZenUserExchange:
    """CP4BA: Zen's validateAuth turns the user's IM access token into the Zen token BAW accepts for that user."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        zen_url: URL,
        timeout_s: float,
        trust: Callable[[], ssl.SSLContext | bool],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._session, self._url = session, zen_url / "v1" / "preauth" / "validateAuth"
        self._timeout_s, self._trust, self._clock = timeout_s, trust, clock
        self.target = f"the Zen endpoint {display_url(self._url)}"

    async def fetch(self, subject: Subject) -> Token:
        headers = {"username": subject.username, "iam-token": subject.token}
        with upstream_errors(self.target, self._timeout_s, "BAW's sign-in service"):
            async with self._session.get(
                self._url, headers=headers, ssl=self._trust(), allow_redirects=False
            ) as response:
                status = response.status
                body = await read_json(response, _BODY_LIMIT, self.target) if status == 200 else None
        if status in (401, 403):
            raise SignInAgain("Your sign-in is no longer accepted for BAW: sign in again.")
        token = body.get("accessToken") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise BawUnavailable(
                "BAW's sign-in service did not give a credential for you; try again later.",
                detail=f"{self.target} answered HTTP {status}",
            )
        now = self._clock()
        expires = jwt_expiry(token) or now + 3600
        return Token(f"Bearer {token}", expires, max(1.0, expires - now))


class UserCredential:
    """One user's BAW credential; the CredentialProvider the BAW client uses while it serves that user."""

    background = False
    established = True

    def __init__(self, table: UserCredentials, identity: str, subject: Subject) -> None:
        self._table, self.identity, self.subject = table, identity, subject
        self.token: Token | None = None
        self.failure: GatewayError | None = None
        self.failures = 0  # in a row: the backoff doubles with each
        self.failed_with = ""  # the sign-in the last failure was for (a new one is tried at once)
        self.retry_at = 0.0
        self.renewal: asyncio.Task[None] | None = None
        self.last_used = table.clock()

    @property
    def expires_at(self) -> float | None:
        return self.token.expires_at if self.token else None

    @property
    def ready(self) -> bool:
        return self._table.usable(self.token)

    async def authorization(self) -> str:
        """The user's BAW credential. A failure to get one is the sign-in service's, not BAW's: it is raised as
        NoCredential (which the breaker ignores), and the exchange is not tried again for this user before its
        backoff has passed, unless the user brings a new sign-in."""
        self.last_used = self._table.clock()
        if not self._table.usable(self.token) and not self._backing_off():
            await self._table.renew(self)
        if self.token is None or not self._table.usable(self.token):
            if self.failure is None:
                raise NoCredential("No BAW credential for you yet.")
            failure = self.failure.detached()
            if isinstance(failure, (NoCredential, SignInAgain)):
                raise failure
            raise NoCredential(failure.message, retry_after=failure.retry_after, detail=failure.detail)
        return self.token.authorization

    def _backing_off(self) -> bool:
        return (
            self.failure is not None and self.failed_with == self.subject.token and self._table.clock() < self.retry_at
        )

    def reject(self, authorization: str) -> None:
        if self.token is not None and self.token.authorization == authorization:
            self.token = None

    async def run(self) -> None:
        return None


class UserCredentials:
    """The table of active users' credentials, bounded, and the task that keeps them fresh."""

    def __init__(
        self,
        source: UserTokenSource,
        *,
        max_users: int,
        idle_s: float,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float, asyncio.Event], Awaitable[None]] = sleep_or_wake,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        """`sleep` and `jitter` are the sweep's (tests pass their own: no real waiting)."""
        self._source, self._max, self._idle_s, self.clock = source, max_users, idle_s, clock
        self._sleep, self._jitter = sleep, jitter
        self._users: OrderedDict[str, UserCredential] = OrderedDict()
        self._renewals = asyncio.Semaphore(RENEWALS_AT_ONCE)

    def __len__(self) -> int:
        return len(self._users)

    def usable(self, token: Token | None) -> bool:
        margin = min(5.0, 0.05 * token.lifetime) if token else 0.0
        return token is not None and self.clock() < token.expires_at - margin

    def for_user(self, identity: str, subject: Subject) -> UserCredential:
        """The user's entry (made on first sight), with the token they signed in with this time."""
        credential = self._users.get(identity)
        if credential is None:
            credential = self._users[identity] = UserCredential(self, identity, subject)
            while len(self._users) > self._max:  # the least recently active user goes first
                self._users.popitem(last=False)
        else:
            self._users.move_to_end(identity)
            credential.subject = subject
        return credential

    async def renew(self, credential: UserCredential) -> None:
        """One renewal per user at a time: whoever asks meanwhile waits for the one under way."""
        if credential.renewal is None or credential.renewal.done():
            credential.renewal = asyncio.create_task(self._fetch(credential), name="baw-user-credential")
        await asyncio.shield(credential.renewal)

    async def _fetch(self, credential: UserCredential) -> None:
        async with self._renewals:
            subject = credential.subject
            try:
                credential.token = await self._source.fetch(subject)
                credential.failure, credential.failures = None, 0
            except GatewayError as exc:
                credential.failure = exc.detached()
                credential.failures += 1
                credential.failed_with = subject.token
                backoff = min(USER_BACKOFF_CAP_S, USER_BACKOFF_BASE_S * 2 ** (credential.failures - 1))
                credential.retry_at = self.clock() + backoff * (0.5 + 0.5 * self._jitter())
                log.warning("BAW credential for a user not renewed: %s", exc.for_log)

    async def run(self) -> None:
        """Renew ahead of expiry while users are active, drop the idle ones; jittered, a few at a time."""
        await Renewal("the users' credentials' sweep", self.sweep, jitter=self._jitter, sleep=self._sleep).run()

    async def sweep(self) -> float:
        """One pass (the loop's, or a test's): renewals started for the active users due one, the idle dropped."""
        now = self.clock()
        for identity, credential in list(self._users.items()):
            if now - credential.last_used > self._idle_s:
                del self._users[identity]
                continue
            token = credential.token
            if token is None or credential.failure is not None:
                continue
            due = token.expires_at - token.lifetime + renewal_delay(token.lifetime, jitter=self._jitter())
            if now >= due and (credential.renewal is None or credential.renewal.done()):
                credential.renewal = asyncio.create_task(self._fetch(credential), name="baw-user-credential")
        return SWEEP_EVERY_S * (0.8 + 0.4 * self._jitter())


USER_CREDENTIALS: web.AppKey[UserCredentials] = web.AppKey("user_credentials")  # GATEWAY_BAW_IDENTITY=user
