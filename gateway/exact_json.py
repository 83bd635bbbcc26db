"""JSON read by orjson (a fraction of the standard parser's time), every integer exact; and the one reader of what
another server answers (BAW, its token endpoints, the OAuth issuers, client metadata documents): bounded by size.

orjson reads an integer beyond 64 bits as a float, silently: 40012345678901234567890 (a Decimal business field of
BAW's, say) came out as 4.001234567890123e+22. A document holding a run of 19 digits or more (the shortest integer
out of range is -9223372036854775809) is read again by the standard parser, which keeps every digit. Finding such
a run costs 0.4 µs on a usual 500-byte BAW body; a regular expression took 4, more than orjson's whole parse.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import orjson

_DIGIT_TO_ZERO = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))  # any other byte: a space
_LONG_RUN = b"0" * 19


def loads(document: bytes | bytearray) -> Any:
    """The document's value. Strict as orjson is (NaN, infinities and lone surrogates are not JSON: ValueError)."""
    value = orjson.loads(document)
    if _LONG_RUN in document.translate(_DIGIT_TO_ZERO):
        try:
            return json.loads(document)  # the same document (orjson accepted it), with its long integers exact
        except RecursionError:  # nested deeper than the standard parser goes (orjson allows 1024 levels)
            return value
    return value


class Refused(ValueError):
    """An answer the gateway does not read: more than it accepts, or not JSON. The text says which, after the
    server's name (`f"{target} {refused}"`)."""


async def read(response: aiohttp.ClientResponse, limit: int) -> Any:
    """The body's JSON, refusing one whose *decoded* size exceeds `limit` bytes without reading it whole.

    Content-Length is the size on the wire: for a gzip or deflate body it says nothing about what decoding yields
    (a 51 KB body can decode to 50 MB), so the decoded bytes are counted as they stream."""
    declared = response.content_length
    headers = response.headers
    body: bytes | bytearray
    # (with Transfer-Encoding beside it a length is not the body's; aiohttp's parser refuses that, and so do we)
    if declared is not None and not headers.get("Content-Encoding") and "Transfer-Encoding" not in headers:
        if declared > limit:
            raise Refused(f"answered with {declared} bytes, more than the {limit} the gateway accepts.")
        body = await response.read()  # (the parser stops at Content-Length: within the limit, read at once)
    else:
        body = bytearray()
        async for chunk in response.content.iter_chunked(64 * 1024):
            body += chunk
            if len(body) > limit:
                raise Refused(f"answered with more than the {limit} bytes the gateway accepts.")
    try:
        return loads(body)  # (strict: NaN, infinities and lone surrogates are not JSON, and are refused)
    except ValueError:
        raise Refused(f"answered HTTP {response.status} with a body that is not JSON.") from None
