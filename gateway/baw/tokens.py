"""Token sources: how a token is fetched (OAuth2 client credentials; IAM password grant exchanged at Zen).

credentials.py decides when; these only know how, and turn every failure into a message an operator can act on,
without the secret.
"""

from __future__ import annotations

import base64
import binascii
import json
import ssl
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import aiohttp
from yarl import URL

from gateway.baw.http import display_url, read_json, upstream_errors
from gateway.errors import BawUnavailable, GatewayError
from gateway.secret import Secret
from gateway.tls import RotatingTrust

_TOKEN_BODY_LIMIT = 64 * 1024
_DEFAULT_LIFETIME_S = 3600.0  # a token whose lifetime cannot be read is renewed hourly


@dataclass(frozen=True, slots=True)
class Token:
    authorization: str = field(repr=False)
    expires_at: float
    lifetime: float


class TokenSource(Protocol):
    target: str

    async def fetch(self) -> Token: ...


class OAuth2ClientCredentials:
    """OAuth2 client credentials grant (RFC 6749 §4.4) with the secret in the form body."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        token_url: URL,
        client_id: str,
        client_secret: Secret,
        scope: str | None,
        timeout_s: float,
        clock: Callable[[], float] = time.time,
        trust: RotatingTrust | None = None,
    ) -> None:
        self._session, self._url = session, token_url
        self._client_id, self._client_secret, self._scope = client_id, client_secret, scope
        self._timeout_s, self._clock = timeout_s, clock
        self._trust = trust
        self.target = f"the OAuth2 token endpoint {display_url(token_url)}"

    async def fetch(self) -> Token:
        form = {"grant_type": "client_credentials", "client_id": self._client_id}
        form["client_secret"] = _read_secret(self._client_secret)
        if self._scope:
            form["scope"] = self._scope
        body = await _call_json(
            self._session,
            "POST",
            self._url,
            self.target,
            self._timeout_s,
            data=form,
            hint="check BAW_CLIENT_ID, BAW_CLIENT_SECRET and BAW_SCOPE",
            ssl=_ssl(self._trust),
        )
        access_token = body.get("access_token")
        token_type = body.get("token_type", "Bearer")
        if not isinstance(access_token, str) or not access_token or str(token_type).lower() != "bearer":
            raise _signin_failed(f"{self.target} answered without a bearer access_token")
        lifetime = _positive_number(body.get("expires_in")) or _DEFAULT_LIFETIME_S
        return Token(f"Bearer {access_token}", self._clock() + lifetime, lifetime)


class ZenPasswordToken:
    """CP4BA behind Zen: an IAM identity token (password grant), exchanged at Zen for a JWT."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        iam_url: URL,
        zen_url: URL,
        username: str,
        password: Secret,
        timeout_s: float,
        clock: Callable[[], float] = time.time,
        trust: RotatingTrust | None = None,
    ) -> None:
        self._session, self._iam_url = session, iam_url
        self._trust = trust
        self._validate_url = zen_url / "v1" / "preauth" / "validateAuth"
        self._username, self._password = username, password
        self._timeout_s, self._clock = timeout_s, clock
        self.target = f"the IAM/Zen token endpoints {display_url(iam_url)}"

    async def fetch(self) -> Token:
        iam_target = f"the IAM endpoint {display_url(self._iam_url)}"
        form = {
            "grant_type": "password",
            "scope": "openid",
            "username": self._username,
            "password": _read_secret(self._password),
        }
        iam = await _call_json(
            self._session,
            "POST",
            self._iam_url,
            iam_target,
            self._timeout_s,
            data=form,
            hint="check BAW_USERNAME and BAW_PASSWORD",
            ssl=_ssl(self._trust),
        )
        iam_token = iam.get("access_token")
        if not isinstance(iam_token, str) or not iam_token:
            raise _signin_failed(f"{iam_target} answered without an access_token")
        zen_target = f"the Zen endpoint {display_url(self._validate_url)}"
        zen = await _call_json(
            self._session,
            "GET",
            self._validate_url,
            zen_target,
            self._timeout_s,
            headers={"username": self._username, "iam-token": iam_token},
            hint="check BAW_USERNAME and BAW_ZEN_URL",
            ssl=_ssl(self._trust),
        )
        jwt = zen.get("accessToken")
        if not isinstance(jwt, str) or not jwt:
            raise _signin_failed(f"{zen_target} answered without an accessToken")
        now = self._clock()
        expires_at = jwt_expiry(jwt)
        lifetime = expires_at - now if expires_at is not None and expires_at > now else _DEFAULT_LIFETIME_S
        return Token(f"Bearer {jwt}", now + lifetime, lifetime)


def _ssl(trust: RotatingTrust | None) -> ssl.SSLContext | bool:
    """The current trust for a call (True: the session connector's own)."""
    return trust.context() if trust is not None else True


def jwt_expiry(jwt: str) -> float | None:
    """The `exp` claim of a JWT, read without verifying it: BAW verifies, we only schedule renewal."""
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return None
    return _positive_number(claims.get("exp")) if isinstance(claims, dict) else None


def _positive_number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if number > 0 else None
    return None


SIGN_IN = "BAW's sign-in service"


def _signin_failed(detail: str) -> BawUnavailable:
    """The gateway's own credentials or configuration: nothing the caller can change; the operator reads `detail`."""
    return BawUnavailable(
        f"{SIGN_IN} did not accept the gateway's credentials. The operator must check them; quote the request id.",
        detail=detail,
    )


def _read_secret(secret: Secret) -> str:
    try:
        return secret.read()
    except OSError as exc:
        raise _signin_failed(f"cannot read {secret.name}_FILE ({exc.strerror})") from None


async def _call_json(
    session: aiohttp.ClientSession, method: str, url: URL, target: str, timeout_s: float, *, hint: str, **kwargs: Any
) -> dict[str, Any]:
    with upstream_errors(target, timeout_s, SIGN_IN):
        async with session.request(method, url, allow_redirects=False, **kwargs) as response:
            if response.status != 200:
                detail = await _oauth_error(response)
                advice = f": {hint}" if 400 <= response.status < 500 else ""
                if 400 <= response.status < 500:
                    raise _signin_failed(f"{target} answered HTTP {response.status}{detail}{advice}")
                raise BawUnavailable(
                    f"{SIGN_IN} is unavailable (HTTP {response.status}); try again later.",
                    detail=f"{target} answered HTTP {response.status}{detail}",
                )
            body = await read_json(response, _TOKEN_BODY_LIMIT, target)
    if not isinstance(body, dict):
        raise _signin_failed(f"{target} answered with JSON that is not an object")
    return body


async def _oauth_error(response: aiohttp.ClientResponse) -> str:
    """The RFC 6749 `error` code, when the body has one; it names the problem without echoing secrets."""
    try:
        body = await read_json(response, _TOKEN_BODY_LIMIT, "token endpoint")
    except GatewayError:
        return ""
    code = body.get("error") if isinstance(body, dict) else None
    if isinstance(code, str) and code.replace("_", "").isalnum() and len(code) <= 40:
        return f" ({code})"
    return ""
