"""Credentials towards BAW: one interface, four modes.

- `basic` and `zen_api_key` are static headers (rebuilt from the secret file when BAW rejects them).
- `oauth2` (client credentials) and `zen` (IAM password grant, then Zen validateAuth) are tokens that a
  background task renews before they expire. Lookups read the held token; they never fetch one themselves
  while a valid one is held, and while none is held they wait on the renewal in flight, bounded.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import time
from typing import Any, Awaitable, Callable, Protocol

import aiohttp
from aiohttp import web

from gateway import tracing
from gateway.baw.tokens import OAuth2ClientCredentials, Token, TokenSource, ZenPasswordToken
from gateway.config import Settings
from gateway.errors import BawUnavailable, GatewayError, NoCredential
from gateway.renewal import Renewal, renewal_delay, sleep_or_wake
from gateway.secret import Secret
from gateway.tls import RotatingTrust

log = logging.getLogger(__name__)


class CredentialProvider(Protocol):
    background: bool  # `run` is work for the application's lifetime (renewal), not a no-op

    async def authorization(self) -> str:
        """The Authorization header value to send to BAW now; BawUnavailable when none is usable."""

    def reject(self, authorization: str) -> None:
        """BAW answered 401 (no BAW error JSON) to this header: drop it and get a fresh one."""

    @property
    def expires_at(self) -> float | None:
        """Wall-clock expiry of the held credential; None for credentials that do not expire."""

    @property
    def ready(self) -> bool:
        """A usable credential is held now."""

    @property
    def established(self) -> bool:
        """A credential was obtained at least once since start (what /readyz waits for)."""

    async def run(self) -> None:
        """Background work for the application's lifetime (token renewal); returns at once if there is none."""


# ----------------------------------------------------------------------------------------------- static


class StaticCredential:
    """`basic` and `zen_api_key`: the same header on every call, rebuilt when BAW rejects it (rotated file)."""

    background = False
    expires_at = None
    ready = True
    established = True

    def __init__(self, scheme: str, username: str, secret: Secret) -> None:
        self._scheme, self._username, self._secret = scheme, username, secret
        self._header = self._build()

    def _build(self) -> str:
        pair = f"{self._username}:{self._secret.read()}".encode()
        return f"{self._scheme} {base64.b64encode(pair).decode('ascii')}"

    async def authorization(self) -> str:
        return self._header

    def reject(self, authorization: str) -> None:
        try:
            self._header = self._build()
        except OSError:
            log.warning("could not re-read %s_FILE after BAW rejected the credential", self._secret.name)

    async def run(self) -> None:
        return None


# ---------------------------------------------------------------------------------------------- renewal


class RenewingCredential:
    """A token held for every lookup and renewed by one background task (`run`), never two at once.

    `_renewal` is the one renewal asked for or under way (None when none is): lookups without a usable token
    wait on it, bounded; a BAW 401 drops the token and asks for one at once, so the lookup that met the 401
    waits for the new token instead of finding none."""

    background = True

    def __init__(
        self,
        source: TokenSource,
        *,
        wait_timeout_s: float,
        retry_cap_s: float = 30.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float, asyncio.Event], Awaitable[None]] = sleep_or_wake,
        jitter: Callable[[], float] = random.random,
        on_renewal: Callable[[str, float | None], None] = lambda outcome, expires_at: None,
    ) -> None:
        self._source = source
        self._wait_timeout_s = wait_timeout_s
        self._retry_cap_s = retry_cap_s
        self._clock, self._sleep, self._jitter = clock, sleep, jitter
        self._on_renewal = on_renewal
        self._token: Token | None = None
        self._failure: GatewayError | None = None
        self._renewal: asyncio.Future[None] | None = None
        self._loop = Renewal("token renewal", self._attempt, cap_s=retry_cap_s, jitter=jitter, sleep=sleep)
        self.established = False  # a token was obtained at least once since start

    @property
    def expires_at(self) -> float | None:
        return self._token.expires_at if self._token is not None else None

    @property
    def ready(self) -> bool:
        return self._usable(self._token)

    def _usable(self, token: Token | None) -> bool:
        # A small margin keeps us from sending a token that expires while the request is on the wire.
        margin = min(5.0, 0.05 * token.lifetime) if token else 0.0
        return token is not None and self._clock() < token.expires_at - margin

    async def authorization(self) -> str:
        if self._usable(self._token):
            return self._token.authorization  # type: ignore[union-attr]
        if self._renewal is None:
            if self._failure is not None:
                # Renewals are failing and the token is gone: answer at once, the task keeps retrying.
                raise NoCredential.because(self._failure)
            self._ask_for_renewal()
        assert self._renewal is not None
        try:
            await asyncio.wait_for(asyncio.shield(self._renewal), self._wait_timeout_s)
        except TimeoutError:
            # The token endpoint is slow; BAW was never asked, so this says nothing about BAW.
            raise NoCredential(
                "The gateway holds no credential for BAW yet; try again in a few seconds.",
                detail=f"{self._source.target} did not issue a token within {self._wait_timeout_s:g} s",
            ) from None
        if self._usable(self._token):
            return self._token.authorization  # type: ignore[union-attr]
        if self._failure is not None:
            raise NoCredential.because(self._failure)
        raise NoCredential("The gateway holds no valid credential for BAW right now; try again in a few seconds.")

    def reject(self, authorization: str) -> None:
        if self._token is not None and self._token.authorization == authorization:
            self._token = None
            self._ask_for_renewal()

    def _ask_for_renewal(self) -> None:
        if self._renewal is None:
            self._renewal = asyncio.get_running_loop().create_future()
        self._loop.wake()

    async def run(self) -> None:
        await self._loop.run()

    async def _attempt(self) -> float:
        """One renewal; lookups waiting for it see its outcome (token or failure) before they wake."""
        if self._renewal is None:
            self._renewal = asyncio.get_running_loop().create_future()
        try:
            with tracing.span("BAW credential renewal", attributes={"gateway.renewal.failures": self._loop.failures}):
                token = await self._source.fetch()
        except Exception as exc:
            if not isinstance(exc, GatewayError):
                log.error("token renewal failed unexpectedly", exc_info=exc)
                exc = BawUnavailable(
                    "The gateway could not renew its credential for BAW; try again later.",
                    detail=f"token renewal at {self._source.target} failed unexpectedly",
                )
            self._failure = exc
            self._on_renewal("failure", None)
            raise exc from None
        else:
            self._failure = None
            self._token = token
            self.established = True
            delay = renewal_delay(token.lifetime, jitter=self._jitter())
            log.info("token renewed: valid for %.0f s, next renewal in %.1f s", token.lifetime, delay)
            self._on_renewal("success", token.expires_at)
            return delay
        finally:
            renewal, self._renewal = self._renewal, None
            renewal.set_result(None)


def credential_provider(
    settings: Settings, session: aiohttp.ClientSession, trust: RotatingTrust | None = None, **renewal: Any
) -> CredentialProvider:
    """The provider for BAW_AUTH. `renewal` passes clock/metrics hooks through to RenewingCredential; its clock
    also dates the tokens, so expiry is judged on one clock."""
    timeout_s = settings.baw_timeout_s
    clock = renewal.get("clock", time.time)
    if settings.baw_auth == "basic":
        return StaticCredential("Basic", settings.baw_username, settings.baw_password)
    if settings.baw_auth == "zen_api_key":
        return StaticCredential("ZenApiKey", settings.baw_username, settings.baw_api_key)
    source: TokenSource
    if settings.baw_auth == "zen":
        source = ZenPasswordToken(
            session,
            settings.baw_iam_url,
            settings.baw_zen_url,
            settings.baw_username,
            settings.baw_password,
            timeout_s,
            clock=clock,
            trust=trust,
        )
    else:
        source = OAuth2ClientCredentials(
            session,
            settings.baw_token_url,
            settings.baw_client_id,
            settings.baw_client_secret,
            settings.baw_scope,
            timeout_s,
            clock=clock,
            trust=trust,
        )
    return RenewingCredential(source, wait_timeout_s=timeout_s, **renewal)


CREDENTIALS: web.AppKey[CredentialProvider] = web.AppKey("credentials")
