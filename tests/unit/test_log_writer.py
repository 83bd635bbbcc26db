"""The log handler writes a loop turn's lines together, at the end of the turn, and never loses or reorders one."""

from __future__ import annotations

import asyncio
import io
import logging
import threading

from gateway.logs import TurnBufferedHandler


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def _logger(stream: CountingStream) -> logging.Logger:
    logger = logging.getLogger(f"test.turns.{id(stream)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = TurnBufferedHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.handlers[:] = [handler]
    return logger


async def test_the_lines_of_one_turn_are_one_write_at_its_end() -> None:
    stream = CountingStream()
    logger = _logger(stream)
    for n in range(3):
        logger.info("line %d", n)
    assert stream.getvalue() == ""  # still this turn
    await asyncio.sleep(0)
    assert stream.getvalue() == "line 0\nline 1\nline 2\n" and stream.writes == 1


async def test_a_warning_is_written_at_once_after_what_is_pending() -> None:
    stream = CountingStream()
    logger = _logger(stream)
    logger.info("first")
    logger.warning("then this")
    assert stream.getvalue() == "first\nthen this\n"
    await asyncio.sleep(0)
    assert stream.getvalue() == "first\nthen this\n"  # nothing twice


async def test_lines_from_another_thread_or_without_a_loop_are_written_at_once() -> None:
    stream = CountingStream()
    logger = _logger(stream)
    worker = threading.Thread(target=logger.info, args=("from a thread",))
    worker.start()
    worker.join()
    assert stream.getvalue() == "from a thread\n"


def test_flush_at_shutdown_writes_what_a_closed_loop_left_pending() -> None:
    stream = CountingStream()
    logger = _logger(stream)
    loop = asyncio.new_event_loop()

    def log_then_stop() -> None:
        logger.info("pending when the loop closed")
        loop.stop()  # the loop ends with this turn: the write it scheduled never runs

    loop.call_soon(log_then_stop)
    loop.run_forever()
    loop.close()
    assert stream.getvalue() == ""  # held, not lost
    logger.handlers[0].flush()  # what logging.shutdown does at exit
    assert stream.getvalue() == "pending when the loop closed\n"
    logger.info("after the loop")  # no loop runs: written at once
    assert stream.getvalue() == "pending when the loop closed\nafter the loop\n"
