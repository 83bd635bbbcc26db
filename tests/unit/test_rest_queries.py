"""Validated queries are kept per query string: a hot id is validated once; invalid queries and query strings
too long to keep are validated every time."""

from __future__ import annotations

from unittest import mock

import pytest

from gateway.web import rest


@pytest.fixture
def validations():
    """The queries marshmallow was asked to validate, in order."""
    calls: list[dict[str, str]] = []
    real = rest.load_query

    def counted(schema, data):  # type: ignore[no-untyped-def]
        calls.append(dict(data))
        return real(schema, data)

    with mock.patch.object(rest, "load_query", counted):
        yield calls


async def test_a_query_string_is_validated_once_and_an_invalid_one_every_time(gateway, validations) -> None:
    for _ in range(3):
        assert (await gateway.get("/baw/process-status?process_id=23972")).status == 200
    assert len(validations) == 1
    for _ in range(2):
        assert (await gateway.get("/baw/process-status?process_id=abc")).status == 400
    assert len(validations) == 3


async def test_a_query_string_too_long_to_keep_is_validated_every_time(gateway, validations) -> None:
    # "process_id=2001" is 15 characters: with a bound of 10 it is valid, answered, and never kept.
    with mock.patch.object(rest, "_MEMO_QUERY_CHARS", 10):
        for _ in range(2):
            assert (await gateway.get("/baw/process-status?process_id=2001")).status == 200
    assert len(validations) == 2
