"""Logging: one JSON object per line (containers) or readable text, with the request id on every line."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any, Mapping

import orjson
from aiohttp.http_exceptions import HttpProcessingError

from gateway import tracing
from gateway.context import request_id_var

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def _context_fields(given: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The request id and (while tracing) the trace id, where the line does not name its own: request ids and
    trace ids, cross-referenced."""
    fields = []
    if "request_id" not in given:
        fields.append(("request_id", request_id_var.get()))
    if tracing.active() and "trace_id" not in given:
        fields.append(("trace_id", tracing.current_trace_id()))
    return fields


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context_fields(record.__dict__):
            setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line. Built for a line or two per request: the timestamp's seconds are formatted once
    per second, and orjson encodes (a third of the standard encoder's time; anything it does not know is
    written as its str())."""

    def __init__(self) -> None:
        super().__init__()
        self._second, self._second_text = -1, ""

    def _timestamp(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._second = second
            self._second_text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._second_text}.{int((created - second) * 1000):03d}Z"

    def entry(self, created: float, levelname: str, name: str, message: str) -> dict[str, Any]:
        return {"ts": self._timestamp(created), "level": levelname.lower(), "logger": name, "message": message}

    def format(self, record: logging.LogRecord) -> str:
        entry = self.entry(record.created, record.levelname, record.name, record.getMessage())
        for key, value in record.__dict__.items():
            if value is not None and key not in _RESERVED:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return encode_line(entry)


def encode_line(entry: Mapping[str, Any]) -> str:
    return orjson.dumps(entry, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {k: v for k, v in record.__dict__.items() if k not in _RESERVED and v is not None}
        return line + "".join(f" {k}={v}" for k, v in extras.items())


class _RedactBadRequests(logging.Filter):
    """aiohttp's parser logs a malformed request at ERROR with the raw header line, whatever it holds (a bearer
    key followed by a control character lands in the log). Keep the fact, drop the bytes: one INFO line naming
    the kind of problem."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg, record.args = (
                "refused a malformed request with HTTP %s (%s)",
                (error.code, type(error).__name__),
            )
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


# Loggers of libraries that write whole requests and answers (task variables included) at DEBUG.
_BODY_LOGGERS = ("aiohttp_tiny_mcp",)


def _skip_unused_record_fields() -> None:
    """The logging HOWTO's "Optimization": neither format reads the caller's file and line, thread or process,
    and collecting them is most of the cost of a log call (an access line per request makes that count)."""
    logging._srcfile = None  # type: ignore[attr-defined]  # no sys._getframe walk per record
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


class TurnBufferedHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes the lines of one event-loop turn together, at the end of that turn: one write for all of them instead
    of a write and a flush per line (an access line and an audit line per request made that a fifth of the cost of
    a cached answer). Lines are never held longer than the turn: WARNING and above, lines from other threads and
    lines logged while no loop runs are written at once (with what is pending, in order), and `flush` - called by
    `logging.shutdown` at exit - writes whatever is left, so nothing is lost on shutdown."""

    def __init__(self, stream) -> None:  # type: ignore[no-untyped-def]
        super().__init__(stream)
        self._pending: list[str] = []
        self._scheduled_on: asyncio.AbstractEventLoop | None = None  # the loop that will write the pending lines
        self._scheduled_thread = 0  # the thread it was running on then

    def emit(self, record: logging.LogRecord) -> None:  # called under the handler's lock
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - logging's contract: a bad record is reported, never raised
            self.handleError(record)
            return
        self._add(line, record.levelno)

    def emit_fields(self, levelno: int, name: str, message: str, fields: Mapping[str, Any]) -> None:
        """What `emit` writes for a record with these extras, built without the record (see `log_fields`)."""
        formatter = self.formatter
        assert isinstance(formatter, JsonFormatter)  # (log_fields comes here only then)
        entry = formatter.entry(time.time(), logging.getLevelName(levelno), name, message)
        for key, value in fields.items():
            if value is not None:
                entry[key] = value
        for key, value in _context_fields(fields):
            if value is not None:
                entry[key] = value
        try:
            line = encode_line(entry)
        except Exception:  # noqa: BLE001 - logging's contract: a bad line is reported, never raised
            logging.getLogger(name).log(levelno, message, extra=fields)  # (reported there as any bad record is)
            return
        with self.lock:  # type: ignore[union-attr]
            self._add(line, levelno)

    def _add(self, line: str, levelno: int) -> None:
        self._pending.append(line + self.terminator)
        if levelno >= logging.WARNING:
            self._write()
            return
        scheduled = self._scheduled_on
        if scheduled is not None and self._scheduled_thread == threading.get_ident() and scheduled.is_running():
            return  # this turn's write is already due (measured: cheaper than asking for the running loop)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # another thread, or no loop: at once
            self._write()
            return
        if scheduled is not loop:  # (a loop closed before its turn ended does not hold lines)
            self._scheduled_on, self._scheduled_thread = loop, threading.get_ident()
            loop.call_soon(self.flush)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._scheduled_on = None
            self._write()

    def _write(self) -> None:
        if self._pending and self.stream is not None:
            lines, self._pending = "".join(self._pending), []
            try:
                self.stream.write(lines)
                self.stream.flush()
            except (OSError, ValueError):  # a closed or broken stream: nothing to keep the lines for
                pass


def log_fields(logger: logging.Logger, level: int, fields: Mapping[str, Any], msg: str, *args: object) -> None:
    """`logger.log(level, msg, *args, extra=fields)`, the same JSON line, but without a LogRecord and the logging
    machinery's per-record work when nothing but the gateway's own JSON handler would see the record. The access
    and audit lines, one each per request, cost a third of a cached answer through that machinery. Anything else
    (text format, a handler or filter someone added, pytest's log capture) takes the logging path."""
    if not logger.isEnabledFor(level):
        return
    handler = _sole_json_handler(logger, level)
    if handler is None:
        logger.log(level, msg, *args, extra=fields)
    else:
        handler.emit_fields(level, logger.name, msg % args if args else msg, fields)


def _sole_json_handler(logger: logging.Logger, level: int) -> TurnBufferedHandler | None:
    """The handler `configure_logging` put on the root logger, if a record from `logger` would reach it alone."""
    if logger.disabled or logger.filters:
        return None
    node: logging.Logger | None = logger
    while node is not None and node is not logging.root:
        if node.handlers or not node.propagate:
            return None
        node = node.parent
    handlers = logging.root.handlers
    if len(handlers) != 1:
        return None
    handler = handlers[0]
    if (
        type(handler) is not TurnBufferedHandler
        or type(handler.formatter) is not JsonFormatter
        or level < handler.level
        or len(handler.filters) != 1
        or type(handler.filters[0]) is not _RequestIdFilter
    ):
        return None
    return handler


def configure_logging(level: str, fmt: str, stream=None) -> None:  # type: ignore[no-untyped-def]
    _skip_unused_record_fields()
    handler = TurnBufferedHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _RedactBadRequests) for f in server.filters):
        server.addFilter(_RedactBadRequests())
    for name in _BODY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLevelName(level)))
