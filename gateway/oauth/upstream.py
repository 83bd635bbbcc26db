"""The upstream IdP as the façade uses it: the user's sign-in there redeemed for who they are and, in user mode, the
user's upstream tokens kept server-side for BAW.

Behind the façade the host holds only the façade's tokens. In user mode BAW must be called with a credential of the
user's, which is exchanged (Zen validateAuth, RFC 8693) from the user's token at the upstream IdP (IBM IM for
CP4BA): so the façade keeps that token, sealed (AES-GCM under a key derived from the signing key) in its store,
renews it with its refresh token when it is about to expire (one renewal per user at a time), and hands it only to
the user's BAW credential exchange. It never leaves the gateway.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from typing import Any, Callable

import aiohttp

from gateway.config import Settings
from gateway.oauth.issuer import InvalidToken, Issuer, MissingScope, Principal, post_form
from gateway.oauth.signing import SigningKey
from gateway.shared.flows import FlowStore, StoreFull

log = logging.getLogger(__name__)

KEPT_S = 30 * 86400  # as long as the façade's refresh tokens: a user who still holds one may need BAW


class UpstreamRefused(Exception):
    """The IdP's answer did not name a user; the message says why, for the log (no code, no token in it)."""


class UpstreamIdp:
    def __init__(
        self,
        settings: Settings,
        issuer: Issuer,
        session: aiohttp.ClientSession,
        trust: ssl.SSLContext | bool,
        store: FlowStore,
        signing: SigningKey,
        callback_url: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings, self.issuer, self._session, self._trust = settings, issuer, session, trust
        self._store, self._signing, self._callback_url, self._clock = store, signing, callback_url, clock
        self._keeps_tokens = settings.baw_identity == "user"
        self._renewing: dict[str, asyncio.Future[str | None]] = {}

    async def sign_in(self, code: str, verifier: str) -> Principal:
        """Who signed in: the IdP's code redeemed (PKCE) and its id token (else access token) verified."""
        tokens = await self._token_call(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self._callback_url,
                "code_verifier": verifier,
            }
        )
        token = tokens.get("id_token") or tokens.get("access_token")
        if not isinstance(token, str):
            raise UpstreamRefused("its token endpoint answered without a token")
        try:
            principal = await self.issuer.verify(token)  # the upstream's signature, issuer, audience and expiry
        except (InvalidToken, MissingScope) as exc:
            raise UpstreamRefused(f"its token is not valid here: {exc}") from None
        if self._keeps_tokens:
            await self._keep(principal.subject, tokens, None)
        return principal

    async def access_token(self, subject: str) -> str | None:
        """The user's upstream access token, renewed when about to expire; None when there is none to be had (the
        user must sign in again)."""
        kept = await self._kept(subject)
        if kept is None:
            return None
        if kept["expires_at"] - min(30.0, kept["lifetime"] / 10) > self._clock():
            return str(kept["access_token"])
        pending = self._renewing.get(subject)
        if pending is None:
            pending = self._renewing[subject] = asyncio.ensure_future(self._renew(subject, kept))
            pending.add_done_callback(lambda _: self._renewing.pop(subject, None))
        return await asyncio.shield(pending)

    async def _renew(self, subject: str, kept: dict[str, Any]) -> str | None:
        refresh = kept.get("refresh_token")
        if not isinstance(refresh, str):
            return None
        try:
            tokens = await self._token_call({"grant_type": "refresh_token", "refresh_token": refresh})
        except UpstreamRefused as exc:
            log.warning("a user's upstream token was not renewed: %s", exc)
            return None
        access = tokens.get("access_token")
        if not isinstance(access, str):
            return None
        await self._keep(subject, tokens, refresh)
        return access

    async def _kept(self, subject: str) -> dict[str, Any] | None:
        record = await self._store.get("upstream-token", subject)
        plain = self._signing.unseal(str(record.get("sealed", ""))) if record else None
        return json.loads(plain) if plain else None

    async def _keep(self, subject: str, tokens: dict[str, Any], refresh: str | None) -> None:
        access = tokens.get("access_token")
        if not isinstance(access, str):
            return
        lifetime = float(tokens.get("expires_in") or 300)
        kept = {
            "access_token": access,
            "refresh_token": tokens.get("refresh_token") or refresh,  # an IdP that does not rotate keeps the old
            "expires_at": self._clock() + lifetime,
            "lifetime": lifetime,
        }
        try:
            await self._store.put("upstream-token", subject, {"sealed": self._signing.seal(json.dumps(kept))}, KEPT_S)
        except StoreFull:
            log.warning("a user's upstream token could not be kept: the table is full")

    async def _token_call(self, form: dict[str, str]) -> dict[str, Any]:
        endpoint = self.issuer.metadata.get("token_endpoint")
        if not isinstance(endpoint, str):
            raise UpstreamRefused("the IdP's metadata names no token endpoint")
        form = {**form, "client_id": self.settings.oauth_proxy_client_id or ""}
        if self.settings.oauth_proxy_client_secret is not None:
            form["client_secret"] = self.settings.oauth_proxy_client_secret.read()
        return await post_form(
            self._session, endpoint, form, self._trust, lambda why: UpstreamRefused(f"its token endpoint {why}")
        )
