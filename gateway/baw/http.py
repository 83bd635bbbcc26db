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
    """The body as JSON, refusing one whose *decoded* size exceeds `limit` bytes without reading it whole.

    Content-Length is the size on the wire: for a gzip or deflate body it says nothing about what decoding
    yields (a 51 KB body can decode to 50 MB), so the decoded bytes are counted as they stream."""
    declared = response.content_length
    headers = response.headers
    body: bytes | bytearray
    # (with Transfer-Encoding beside it a length is not the body's; aiohttp's parser refuses that, and so do we)
    if declared is not None and not headers.get("Content-Encoding") and "Transfer-Encoding" not in headers:
        if declared > limit:
            raise BawError(f"{target} answered with {declared} bytes, more than the {limit} the gateway accepts.")
        body = await response.read()  # (the parser stops at Content-Length: within the limit, read at once)
    else:
        body = bytearray()
        async for chunk in response.content.iter_chunked(64 * 1024):
            body += chunk
            if len(body) > limit:
                raise BawError(f"{target} answered with more than the {limit} bytes the gateway accepts.")
    try:
        return exact_json.loads(body)  # (strict: NaN, infinities and lone surrogates are not JSON, and are refused)
    except ValueError:
        raise BawError(f"{target} answered HTTP {response.status} with a body that is not JSON.") from None
