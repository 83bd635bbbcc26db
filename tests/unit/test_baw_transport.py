"""The BAW client against a small real HTTP server: what only a real transport shows (compression, counting of
attempts, what a failing id costs)."""

from __future__ import annotations

import asyncio
import gzip
import json

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from gateway.baw.client import BAW_HEADERS, BawClient
from gateway.baw.resilience import BawHealth, BreakerPolicy, FailureMemory, FairSlots
from gateway.errors import BawError, GatewayError
from gateway.metrics import Metrics
from tests.clock import ManualClock


class StaticCredential:
    expires_at = None
    ready = True

    async def authorization(self) -> str:
        return "Bearer t"

    def reject(self, authorization: str) -> None:
        pass

    async def run(self) -> None:
        return None


def _instance(piid: str) -> dict:
    return {"status": "200", "data": {"piid": piid, "executionState": "Active", "name": f"Loan:{piid}"}}


def _client(session: aiohttp.ClientSession, port: int, health: BawHealth, clock: ManualClock) -> BawClient:
    """A client of the fake BAW on `port`: no retry jitter, a breaker that never opens, a 2 MiB answer limit."""
    return BawClient(
        session,
        URL(f"http://127.0.0.1:{port}"),
        StaticCredential(),
        timeout_s=5,
        metrics=Metrics(),
        health=health,
        slots=FairSlots(8, 8, 1),
        failures=FailureMemory(5, 100, clock=clock),
        max_response_bytes=2 * 1024 * 1024,
        jitter=lambda: 0,
    )


@pytest.fixture
def answers() -> dict:
    """process id -> (status, body bytes, headers); the fake serves these and counts calls."""
    return {}


@pytest.fixture
async def baw(aiohttp_server, answers):
    calls: dict[str, int] = {}

    async def process(request: web.Request) -> web.Response:
        piid = request.match_info["piid"]
        calls[piid] = calls.get(piid, 0) + 1
        status, body, headers = answers.get(piid, (200, json.dumps(_instance(piid)).encode(), {}))
        if isinstance(body, list):  # chunks, sent with chunked transfer encoding: no Content-Length
            streamed = web.StreamResponse(status=status, headers={"Content-Type": "application/json", **headers})
            streamed.enable_chunked_encoding()
            await streamed.prepare(request)
            for chunk in body:
                await streamed.write(chunk)
            await streamed.write_eof()
            return streamed
        return web.Response(status=status, body=body, headers={"Content-Type": "application/json", **headers})

    app = web.Application()
    app.router.add_get("/rest/bpm/wle/v1/process/{piid}", process)
    server = await aiohttp_server(app)
    clock = ManualClock()
    health = BawHealth(BreakerPolicy(min_calls=1000), clock=clock)
    async with aiohttp.ClientSession(headers=BAW_HEADERS) as session:
        client = _client(session, server.port, health, clock)
        client.calls, client.health, client.clock = calls, health, clock  # for the tests' eyes only
        yield client


async def test_a_small_gzip_body_that_decodes_past_the_limit_is_refused(baw, answers) -> None:
    bomb = gzip.compress(b'{"data": {"pad": "' + b"0" * (50 * 1024 * 1024) + b'"}}')
    assert len(bomb) < 100_000  # its Content-Length is far below the 2 MiB limit
    answers["5"] = (200, bomb, {"Content-Encoding": "gzip"})
    with pytest.raises(BawError, match="more than the 2097152 bytes"):
        await baw.process_details("5")


async def test_a_gzip_body_within_the_limit_is_read(baw, answers) -> None:
    answers["6"] = (200, gzip.compress(json.dumps(_instance("6")).encode()), {"Content-Encoding": "gzip"})
    assert (await baw.process_details("6")).name == "Loan:6"


async def test_a_body_of_unknown_length_is_counted_as_it_streams(baw, answers) -> None:
    """Without a Content-Length (chunked, as Liberty often answers) the limit is kept while the body streams; a
    body within it is read whole."""
    answers["8"] = (200, [b'{"data": {"pad": "', b"0" * 1024 * 1024, b"0" * 1024 * 1024, b'"}}'], {})
    with pytest.raises(BawError, match="more than the 2097152 bytes"):
        await baw.process_details("8")
    encoded = json.dumps(_instance("9")).encode()
    answers["9"] = (200, [encoded[:10], encoded[10:]], {})
    assert (await baw.process_details("9")).name == "Loan:9"


async def test_a_declared_length_past_the_limit_is_refused_unread(baw, answers) -> None:
    answers["10"] = (200, b'{"data": {"pad": "' + b"0" * (3 * 1024 * 1024) + b'"}}', {})
    with pytest.raises(BawError, match=r"answered with \d+ bytes, more than the 2097152"):
        await baw.process_details("10")


async def test_a_lookup_is_one_outcome_for_the_breaker_whatever_its_retries(baw, answers, monkeypatch) -> None:
    told: list[tuple[str, bool]] = []
    monkeypatch.setattr(
        baw.health, "record", lambda subject, *, failed, seconds, caller="-": told.append((subject, failed))
    )
    answers["7"] = (502, b"{}", {})
    with pytest.raises(BawError):
        await baw.process_details("7")
    assert baw.calls["7"] == 3  # retried ...
    assert told == [("process instance 7", True)]  # ... and the breaker told once


async def test_a_failing_id_is_answered_from_memory_for_its_ttl_then_asked_again(baw, answers) -> None:
    answers["8"] = (500, json.dumps({"Data": {"errorNumber": "CWTBG0019E", "errorMessage": "boom"}}).encode(), {})
    for _ in range(5):
        with pytest.raises(BawError, match="HTTP 500") as caught:
            await baw.process_details("8")
        assert caught.value.__context__ is None
    assert baw.calls["8"] == 1
    assert (await baw.process_details("9")).process_id == "9"  # other ids are not concerned
    baw.clock.now += 5
    del answers["8"]
    assert (await baw.process_details("8")).process_id == "8"
    assert baw.calls["8"] == 2


async def test_a_length_beside_chunked_encoding_is_not_trusted() -> None:
    """A (broken or hostile) answer declaring a small Content-Length while sending a chunked body far past the
    limit: never read whole on the strength of its declared length."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"0" * (1024 * 1024)
        for _ in range(3):
            writer.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession(headers=BAW_HEADERS) as session:
            clock = ManualClock()
            client = _client(session, port, BawHealth(BreakerPolicy(min_calls=1000), clock=clock), clock)
            with pytest.raises(GatewayError):  # refused by the parser, or counted past the limit: never an answer
                await client.process_details("11")
    finally:
        server.close()
        await server.wait_closed()
