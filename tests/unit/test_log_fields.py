"""The access and audit lines skip the logging machinery only where that changes nothing but the cost."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

from gateway import tracing
from gateway.context import request_id_var
from gateway.logs import configure_logging, log_fields

ACCESS = {"route": "/baw/process-status", "method": "GET", "status": 200, "duration_ms": 1.25, "cache": None}
AUDIT = {"audit": True, "caller": "key:3f2a", "tool": "get_process_status", "ids": {"process_id": "23972"}}


@pytest.fixture
def configured():
    """The gateway's JSON logging into a buffer, and a count of the LogRecords made meanwhile."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogRecordFactory())
    buffer = io.StringIO()
    configure_logging("INFO", "json", stream=buffer)
    made: list[logging.LogRecord] = []

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        made.append(saved[2](*args, **kwargs))
        return made[-1]

    logging.setLogRecordFactory(counting)
    yield buffer, made
    root.handlers[:], root.level = saved[0], saved[1]
    logging.setLogRecordFactory(saved[2])


def _written(buffer: io.StringIO) -> list[dict[str, object]]:
    root = logging.getLogger()
    for handler in root.handlers:
        handler.flush()
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    buffer.seek(0)
    buffer.truncate()
    return lines


async def _both_ways(buffer: io.StringIO, made: list, logger: logging.Logger, fields, msg, *args):  # type: ignore[no-untyped-def]
    """The line written without a record, then with one (a second root handler forces the logging path)."""
    root = logging.getLogger()
    root.handlers[:] = [root.handlers[0]]  # the gateway's own, alone (pytest's were added for this phase)
    log_fields(logger, logging.INFO, fields, msg, *args)
    await asyncio.sleep(0)
    (direct,) = _written(buffer)
    assert made == []  # no LogRecord was made for it
    capture = logging.Handler()
    capture.emit = lambda record: None  # type: ignore[method-assign]
    logging.getLogger().addHandler(capture)
    try:
        log_fields(logger, logging.INFO, fields, msg, *args)
    finally:
        logging.getLogger().removeHandler(capture)
    (through_logging,) = _written(buffer)
    assert len(made) == 1
    return direct, through_logging


@pytest.mark.parametrize(
    ("name", "fields", "msg", "args"),
    [
        ("gateway.access", ACCESS, "%s %s %d %.1f ms", ("GET", "/baw/process-status?process_id=2%C3%A9", 200, 1.25)),
        ("gateway.audit", AUDIT, "%s %s %s", ("get_process_status", "ok", "key:3f2a")),
        ("gateway.audit", {**AUDIT, "request_id": "its-own"}, "no arguments, a literal %d", ()),
    ],
)
async def test_a_line_is_the_same_with_or_without_a_log_record(configured, name, fields, msg, args) -> None:
    buffer, made = configured
    token = request_id_var.set("req-7f3e")
    try:
        direct, through_logging = await _both_ways(buffer, made, logging.getLogger(name), fields, msg, *args)
    finally:
        request_id_var.reset(token)
    assert direct.pop("ts") and through_logging.pop("ts")
    assert list(direct.items()) == list(through_logging.items())  # the same fields, in the same order
    assert direct["request_id"] == fields.get("request_id", "req-7f3e") and "cache" not in direct


async def test_the_trace_id_is_on_both(configured) -> None:
    buffer, made = configured
    tracing.use(TracerProvider(sampler=ParentBased(ALWAYS_OFF)))
    try:
        with tracing.span("GET /baw/process-status", kind="server"):
            trace_id = tracing.current_trace_id()
            direct, through_logging = await _both_ways(buffer, made, logging.getLogger("gateway.access"), ACCESS, "x")
    finally:
        tracing.use(None)
    assert trace_id and direct["trace_id"] == through_logging["trace_id"] == trace_id


def test_text_format_a_quiet_level_and_a_logger_of_its_own_take_the_logging_path() -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    buffer = io.StringIO()
    try:
        configure_logging("INFO", "text", stream=buffer)
        log_fields(logging.getLogger("gateway.access"), logging.INFO, ACCESS, "GET %s", "/x")
        log_fields(logging.getLogger("gateway.access"), logging.DEBUG, ACCESS, "probe %s", "/livez")
        own = logging.getLogger("gateway.test.own")
        kept: list[logging.LogRecord] = []
        keeper = logging.Handler()
        keeper.emit = kept.append  # type: ignore[method-assign]
        own.addHandler(keeper)
        configure_logging("INFO", "json", stream=buffer)
        log_fields(own, logging.INFO, {"tool": "t"}, "to both")
        own.removeHandler(keeper)
        root.handlers[0].flush()
    finally:
        root.handlers[:], root.level = saved
    text, json_line = buffer.getvalue().splitlines()
    assert "GET /x" in text and "route=/baw/process-status" in text and "/livez" not in buffer.getvalue()
    assert json.loads(json_line)["message"] == "to both"
    assert [record.getMessage() for record in kept] == ["to both"] and kept[0].tool == "t"


async def test_a_line_orjson_cannot_encode_is_reported_by_logging_never_raised(configured, capsys) -> None:
    buffer, _ = configured
    logging.getLogger().handlers[:] = [logging.getLogger().handlers[0]]
    log_fields(logging.getLogger("gateway.audit"), logging.INFO, {"ids": {1: "keys become text"}}, "fine")
    log_fields(logging.getLogger("gateway.audit"), logging.INFO, {"count": 2**70}, "too big for orjson")
    await asyncio.sleep(0)
    (line,) = _written(buffer)
    assert line["ids"] == {"1": "keys become text"}
    assert "Logging error" in capsys.readouterr().err  # logging's own report of the bad record
