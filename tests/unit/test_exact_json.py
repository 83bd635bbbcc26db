"""JSON read fast and exact: orjson's speed, the standard parser's integers."""

from __future__ import annotations

import json

import pytest

from gateway import exact_json


@pytest.mark.parametrize(
    "number",
    [40012345678901234567890, 2**64, -9223372036854775809, -(2**70), 2**64 - 1, 2**63, -(2**63), 0, 123456789],
)
def test_every_integer_comes_back_exact(number: int) -> None:
    value = exact_json.loads(json.dumps({"variables": {"n": number, "s": "x"}}).encode())
    assert value["variables"]["n"] == number and type(value["variables"]["n"]) is int


def test_digits_inside_strings_and_fractions_read_the_same_either_way() -> None:
    document = b'{"id": "1234567890123456789012", "x": 0.12345678901234567890123, "t": [1.5, -2]}'
    assert exact_json.loads(document) == json.loads(document)
    assert exact_json.loads(bytearray(document)) == json.loads(document)


@pytest.mark.parametrize(
    "document", [b'{"n": NaN}', b'{"n": Infinity, "m": 12345678901234567890123}', b'"\\ud800"', b"{", b""]
)
def test_what_orjson_refuses_stays_refused(document: bytes) -> None:
    """The standard parser takes NaN, infinities and lone surrogates; the reread never lets them in."""
    with pytest.raises(ValueError):
        exact_json.loads(document)


def test_a_document_nested_deeper_than_the_standard_parser_goes_keeps_orjsons_reading() -> None:
    document = b"[" * 1000 + b"12345678901234567890123" + b"]" * 1000
    value = exact_json.loads(document)
    for _ in range(1000):
        value = value[0]
    assert value == pytest.approx(12345678901234567890123)
