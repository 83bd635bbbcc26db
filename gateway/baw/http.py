"""Transport facts shared by every call to BAW and its token endpoints: error translation, bounded reads."""

from __future__ import annotations

from typing import Any

import aiohttp
from yarl import URL

from gateway import exact_json
from gateway.errors import BawError, BawTimeout, BawUnavailable


def display_url(url: URL) -> str:
    """A URL fit for messages and logs: no user info, no query."""
    return str(url.with_user(None).with_query(None))


class upstream_errors:  # noqa: N801 - used as a function: `with upstream_errors(...)`
    """Turn aiohttp's transport exceptions into domain errors: advice for the caller, who is told about `who`
    ("BAW", "BAW's sign-in service"), and the specifics (`target`: which URL) for the operator's log.

    A plain class rather than a generator-based context manager: it wraps every call to BAW, and the generator's
    machinery cost a microsecond a call for nothing (no await is needed to translate an exception)."""

    __slots__ = ("_target", "_timeout_s", "_who")

    def __init__(self, target: str, timeout_s: float, who: str = "BAW") -> None:
        self._target, self._timeout_s, self._who = target, timeout_s, who

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: object) -> None:
        if not isinstance(exc, (aiohttp.ClientError, OSError)):
            return  # (TimeoutError is an OSError; CancelledError and the gateway's own errors pass unchanged)
        who, target, timeout_s = self._who, self._target, self._timeout_s
        if isinstance(exc, aiohttp.ClientSSLError):
            reason = getattr(exc, "certificate_error", None) or "handshake failed"
            raise BawUnavailable(
                f"The gateway cannot verify the TLS certificate of {who}. The operator must fix the gateway's "
                "trust settings; quote the request id.",
                detail=f"TLS verification of {target} failed ({reason}): check that BAW_CA_BUNDLE holds the CA "
                "that signed its certificate and that the host name matches",
            ) from None
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            # No connection within the connect timeout: unreachable, not slow to answer.
            raise BawUnavailable(
                f"{who} cannot be reached right now; try again in a little while.",
                transient=True,
                detail=f"cannot connect to {target} in time",
            ) from None
        if isinstance(exc, (TimeoutError, aiohttp.ServerTimeoutError)):
            raise BawTimeout(
                f"{who} did not answer within {timeout_s:g} s; try again later.",
                detail=f"{target} did not answer within {timeout_s:g} s (BAW_TIMEOUT_S)",
            ) from None
        raise BawUnavailable(
            f"{who} cannot be reached right now; try again in a little while.",
            transient=True,
            detail=f"cannot reach {target} ({type(exc).__name__})",
        ) from None


async def read_json(response: aiohttp.ClientResponse, limit: int, target: str) -> Any:
    """The body's JSON, bounded (exact_json.read); what it refuses is BAW's error."""
    try:
        return await exact_json.read(response, limit)
    except exact_json.Refused as exc:
        raise BawError(f"{target} {exc}") from None
