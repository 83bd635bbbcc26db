"""Domain errors: raised where the problem is known, turned into HTTP in one middleware (web/front/errors.py).

Every error carries the stable `code` hosts and operators script against (DESIGN.md "Contracts"), a `message`
for the caller (what happened and what to do: never an internal URL, a file path or a variable name) and,
where the operator needs more, a `detail` that goes only to the log line with the same request id. Neither ever
holds a token, a secret or BAW's programmersDetails: both are composed from facts we checked, never copied from
upstream bodies.
"""

from __future__ import annotations

from gateway.context import request_id_var


class GatewayError(Exception):
    status: int = 500
    code: str = "internal_error"

    def __init__(
        self, message: str, *, retry_after: int | None = None, transient: bool = False, detail: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail  # for the operator's log only
        self.retry_after = retry_after
        # A failure another attempt may not meet (connection refused or reset, BAW 502/503/504).
        self.transient = transient

    @property
    def for_log(self) -> str:
        message = self.message
        if request_id_var.get() is None:  # logged by background work: there is no request id to quote
            message = message.replace("; quote the request id.", ".").replace(" quote the request id.", "")
        return f"{message} [{self.detail}]" if self.detail else message

    def detached(self) -> GatewayError:
        """A fresh copy holding only what the caller is told: no traceback, frames, cause or context. What caches
        keep and what each waiter raises, so nothing an error once referenced (a response, headers) stays alive."""
        copy = type(self).__new__(type(self))
        Exception.__init__(copy, self.message)
        copy.__dict__.update(self.__dict__)
        return copy


class InvalidRequest(GatewayError):
    status, code = 400, "invalid_request"


class Unauthorized(GatewayError):
    status, code = 401, "unauthorized"

    def __init__(self, message: str, *, challenge: str = 'Bearer realm="baw-gateway"') -> None:
        super().__init__(message)
        self.challenge = challenge  # the WWW-Authenticate value: how to authenticate, where to sign in


class ExpiredAccessToken(Unauthorized):
    """An access token the trusted issuer signed, past its expiry: refused as any invalid token, but not counted
    as a failed authentication. Hosts (ChatGPT, Claude) call from a few egress addresses shared by all their
    users, and each user's token expiring before the host refreshes it would add up to a lockout of them all."""


class InsufficientScope(Unauthorized):
    """A valid token without the scope this needs (OAuth step-up: the host asks the user for more)."""

    status, code = 403, "insufficient_scope"


class BawForbidden(GatewayError):
    status, code = 403, "baw_forbidden"


class UserRequired(GatewayError):
    """This gateway answers as the signed-in user, and this caller is not one (a bearer key)."""

    status, code = 403, "user_required"


class NotFound(GatewayError):
    status, code = 404, "not_found"


class RequestTimeout(GatewayError):
    """The caller did not send its request in time."""

    status, code = 408, "request_timeout"


class RateLimited(GatewayError):
    status, code = 429, "rate_limited"


class BawError(GatewayError):
    """BAW answered, but not with something we can use (5xx, wrong shape, not JSON)."""

    status, code = 502, "baw_error"


class BawUnavailable(GatewayError):
    """BAW cannot be reached or no usable credential is held: worth retrying later."""

    status, code = 503, "baw_unavailable"

    def __init__(
        self, message: str, *, retry_after: int | None = 5, transient: bool = False, detail: str | None = None
    ) -> None:
        super().__init__(message, retry_after=retry_after, transient=transient, detail=detail)


class SignInUnavailable(GatewayError):
    """The OAuth issuer (its metadata, its keys, its introspection) cannot be used: the sign-in's trouble, not BAW's,
    and said so (it was `baw_unavailable`, so an IdP outage read as a BAW failure)."""

    status, code = 503, "sign_in_unavailable"

    def __init__(
        self, message: str, *, retry_after: int | None = 5, transient: bool = False, detail: str | None = None
    ) -> None:
        super().__init__(message, retry_after=retry_after, transient=transient, detail=detail)


class BawTimeout(GatewayError):
    status, code = 504, "baw_timeout"


class Overloaded(BawUnavailable):
    """The gateway's own capacity towards BAW is in use: nothing was asked of BAW (the breaker ignores it)."""

    def __init__(
        self, message: str, *, retry_after: int | None = 1, transient: bool = False, detail: str | None = None
    ) -> None:
        super().__init__(message, retry_after=retry_after, transient=transient, detail=detail)


class NoCredential(BawUnavailable):
    """No usable credential towards BAW: the token endpoint's trouble, not BAW's (the breaker ignores it)."""

    @classmethod
    def because(cls, cause: GatewayError) -> NoCredential:
        return cls(
            f"The gateway holds no valid credential for BAW right now: {cause.message}",
            detail=cause.detail or cause.message,
        )


_BY_CODE: dict[str, type[GatewayError]] = {
    cls.code: cls
    for cls in (InvalidRequest, Unauthorized, BawForbidden, NotFound, RequestTimeout, RateLimited, BawError)
}
_BY_CODE.update({BawUnavailable.code: BawUnavailable, BawTimeout.code: BawTimeout})


def error_from(code: str, message: str, retry_after: int | None = None) -> GatewayError:
    """The domain error another replica met (the shared cache carries its code and message only)."""
    error = _BY_CODE.get(code, BawError)(message)
    error.retry_after = retry_after
    return error
