"""The Redis link itself: its wire format is redis-py's, and a Redis that stops answering (not gone: stopped, its
socket open) costs a call no more than the link's deadline, because that deadline is all that bounds a batch."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import Connection

from gateway.metrics import Metrics
from gateway.shared.link import RETRY_S, Script, SharedState, resp_commands
from tests.clock import ManualClock

ECHO = Script("echo", "return ARGV[1]")


@pytest.mark.parametrize(
    "command",
    [
        ("EVALSHA", "a" * 40, 2, "prefix:cache:23972", "prefix:lock:23972", b'{"process_id":"23972"}', 30000, "tok"),
        ("EVALSHA", "b" * 40, 1, "préfixe:ünïcode", "", b"", -5, 0, 1.5, 1e-7, b"\r\n$3\r\n" * 3000),
    ],
)
def test_commands_are_written_as_redis_py_writes_them(command: tuple) -> None:
    assert resp_commands([command, command[:3]]) == b"".join(Connection().pack_commands([command, command[:3]]))


@pytest.mark.parametrize("argument", [True, None, ["a"]])
def test_an_argument_redis_cannot_take_is_refused(argument: object) -> None:
    with pytest.raises(TypeError):
        resp_commands([("EVALSHA", "a" * 40, 0, argument)])


async def test_a_stopped_redis_costs_a_call_its_deadline_and_sharing_resumes(redis_server) -> None:
    clock = ManualClock(0.0)
    client = Redis.from_url(redis_server.url, password=redis_server.password)
    shared = SharedState(client, "test", Metrics(), timeout_s=0.3, clock=clock)
    try:
        assert await shared.script(ECHO, [], ["hello"]) == b"hello"
        os.kill(redis_server.process.pid, signal.SIGSTOP)
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            assert await shared.script(ECHO, [], ["anyone?"]) is None
            assert 0.25 < loop.time() - started < 1.5
            assert not shared.up
            assert await shared.script(ECHO, [], ["still?"]) is None  # down: at once, nothing sent
            assert loop.time() - started < 1.5
        finally:
            os.kill(redis_server.process.pid, signal.SIGCONT)
        clock.now += RETRY_S
        assert await shared.script(ECHO, [], ["back"]) == b"back"
        assert shared.up
    finally:
        await shared.close()
        await client.aclose()
