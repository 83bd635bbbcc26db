"""JSON read by orjson (a fraction of the standard parser's time), every integer exact.

orjson reads an integer beyond 64 bits as a float, silently: 40012345678901234567890 (a Decimal business field of
BAW's, say) came out as 4.001234567890123e+22. A document holding a run of 19 digits or more (the shortest integer
out of range is -9223372036854775809) is read again by the standard parser, which keeps every digit. Finding such
a run costs 0.4 µs on a usual 500-byte BAW body; a regular expression took 4, more than orjson's whole parse.
"""

from __future__ import annotations

import json
from typing import Any

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
