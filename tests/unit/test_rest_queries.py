"""Validated queries are kept per query string: a hot id is validated once, invalid queries never kept."""

from __future__ import annotations

from unittest import mock

from gateway.web import rest


async def test_a_query_string_is_validated_once_and_an_invalid_one_every_time(gateway) -> None:
    calls = []
    real = rest.load_query

    def counted(schema, data):  # type: ignore[no-untyped-def]
        calls.append(dict(data))
        return real(schema, data)

    with mock.patch.object(rest, "load_query", counted):
        for _ in range(3):
            assert (await gateway.get("/baw/process-status?process_id=23972")).status == 200
        for _ in range(2):
            assert (await gateway.get("/baw/process-status?process_id=abc")).status == 400
        long = "/baw/process-status?process_id=23972&" + "x" * 300
        for _ in range(2):
            assert (await gateway.get(long)).status == 400
    assert len(calls) == 1 + 2 + 2
