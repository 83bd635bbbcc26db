"""One audit line per tool call, whatever way the call ends."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.errors import NotFound
from gateway.web.tools.audit import audited


async def _outcome(caplog, body) -> tuple[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="gateway.audit"):
        try:
            async with audited("get_process_status", "rest", {"process_id": 23972, "other": "x"}) as record:
                await body(record)
        except BaseException:  # (what the body raises is its own; the line is what is tested here)
            pass
    (line,) = [r for r in caplog.records if r.name == "gateway.audit"]
    assert line.tool == "get_process_status" and line.surface == "rest"
    return line.outcome, line.ids


async def _ok(record) -> None:  # type: ignore[no-untyped-def]
    pass


async def _set_by_the_body(record) -> None:  # type: ignore[no-untyped-def]
    record["outcome"] = "invalid_request"  # MCP answers its failures as results, and says so here


async def _not_found(record) -> None:  # type: ignore[no-untyped-def]
    raise NotFound("No such instance.")


async def _fault(record) -> None:  # type: ignore[no-untyped-def]
    raise KeyError("a bug")


async def _cancelled(record) -> None:  # type: ignore[no-untyped-def]
    raise asyncio.CancelledError


@pytest.mark.parametrize(
    ("body", "outcome"),
    [
        (_ok, "ok"),
        (_set_by_the_body, "invalid_request"),
        (_not_found, "not_found"),
        (_fault, "internal_error"),
        (_cancelled, "internal_error"),
    ],
)
async def test_each_ending_is_one_line_with_its_outcome_and_only_the_ids(caplog, body, outcome) -> None:
    assert await _outcome(caplog, body) == (outcome, {"process_id": "23972"})


async def test_what_the_body_raises_goes_on_unchanged(caplog) -> None:
    with pytest.raises(NotFound, match="No such instance"):
        async with audited("get_process_status", "mcp", {}):
            raise NotFound("No such instance.")
