"""Domain errors: raised where the problem is known, turned into HTTP in one middleware (web/errors.py).

Every error carries the stable `code` hosts and operators script against (DESIGN.md "Contracts") and a
message written for the model and the operator. Messages never hold a token, a secret or BAW's
programmersDetails: they are composed here from facts we checked, never copied from upstream bodies.
"""

from __future__ import annotations


class GatewayError(Exception):
    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, retry_after: int | None = None, transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        # A failure another attempt may not meet (connection refused or reset, BAW 502/503/504).
        self.transient = transient

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


class BawForbidden(GatewayError):
    status, code = 403, "baw_forbidden"


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

    def __init__(self, message: str, *, retry_after: int | None = 5, transient: bool = False) -> None:
        super().__init__(message, retry_after=retry_after, transient=transient)


class BawTimeout(GatewayError):
    status, code = 504, "baw_timeout"


class Overloaded(BawUnavailable):
    """The gateway's own capacity towards BAW is in use: nothing was asked of BAW (the breaker ignores it)."""

    def __init__(self, message: str, *, retry_after: int | None = 1, transient: bool = False) -> None:
        super().__init__(message, retry_after=retry_after, transient=transient)


class NoCredential(BawUnavailable):
    """No usable credential towards BAW: the token endpoint's trouble, not BAW's (the breaker ignores it)."""


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
