"""A lookup's cost in process, without sockets: what the gateway's own Python costs next to aiohttp's.

wrk's figures carry the kernel's share (accept, recv, send, the loopback) and wrk's own, which the gateway and its
floor pay alike, and they move with whatever else the shared machine runs. Here each request is handed to
aiohttp's protocol object (the `RequestHandler` a real connection gets) through a transport that only collects
what is written, and the process's CPU time per request is read: the cost of the web layer and the application,
nothing else, with a spread of about a microsecond. Run by bench.py, one process per measurement, in a gateway's
environment (`Bench.gateway_env`: the gateway reads its settings from it, the proxy its BAW and CA bundle):

    python tests/perf/inprocess.py APP REQUEST [--requests N] [--log PATH]

APP is `bare` (the bare aiohttp handler of references.py), `proxy` (its minimal proxy) or `gateway`. REQUEST is
`hot` (one id, again and again), `new-ids` (a new id each time: looked up from the bench's BAW over real TLS, so
the figure includes the client side's system calls, which the proxy and the gateway pay alike), `mcp` (the hot
lookup as a stateless MCP tools/call), `keyed` (the hot lookup with a bearer key) or `bad-key` (a flood of wrong
keys, a new one each time, at a keyed gateway: 401, then 429). It prints one JSON object: microseconds of CPU per
request, the best of five rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import sys
import time
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: the repository root
from gateway.tls import client_ssl_context  # noqa: E402
from tests.perf.bench import BENCH_KEY, MCP_CALL  # noqa: E402
from tests.perf.references import bare_app, proxy_app  # noqa: E402

ROUNDS = 5
GET = b"GET /baw/process-status?process_id=%d HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: wrk\r\n\r\n"
_MCP_BODY = (MCP_CALL % (1, "23972")).encode()
MCP = (
    b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\n"
    b"Mcp-Method: tools/call\r\nMcp-Name: get_process_status\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_MCP_BODY), _MCP_BODY)
)
# The hot lookup with a bearer key, and a flood of wrong keys (a new one each time: answered 401, then 429) against
# the same keyed gateway: what a flood of garbage credentials costs next to the lookups it must not crowd out.
KEYED = (GET % 23972).replace(b"\r\n\r\n", b"\r\nAuthorization: Bearer %s\r\n\r\n" % BENCH_KEY.encode())
BAD_KEY = (GET % 23972).replace(b"%", b"%%").replace(b"\r\n\r\n", b"\r\nAuthorization: Bearer wrong-%d\r\n\r\n")
HOT_ID, FIRST_NEW_ID = 23972, 100_000_000
_LENGTH = re.compile(rb"\r\nContent-Length: (\d+)\r\n", re.IGNORECASE)


class CollectingTransport(asyncio.Transport):
    """Takes what the server writes; `answer()` waits for the next whole response (headers and declared body)."""

    def __init__(self) -> None:
        super().__init__()
        self._written = bytearray()
        self._complete: asyncio.Future[bytes] | None = None
        self._closing = False

    def answer(self) -> asyncio.Future[bytes]:
        self._complete = asyncio.get_running_loop().create_future()
        return self._complete

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._written += data
        end = self._written.find(b"\r\n\r\n")
        length = _LENGTH.search(self._written, 0, end + 2) if end >= 0 else None
        if length is not None and len(self._written) >= end + 4 + int(length[1]):
            response, self._written = bytes(self._written), bytearray()
            if self._complete is not None and not self._complete.done():
                self._complete.set_result(response)

    def writelines(self, chunks) -> None:  # type: ignore[no-untyped-def]
        self.write(b"".join(chunks))

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True
        if self._complete is not None and not self._complete.done():
            self._complete.set_exception(ConnectionError("the server closed the connection"))

    def get_extra_info(self, name: str, default=None):  # type: ignore[no-untyped-def]
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _gateway_app(log: Path) -> web.Application:
    from gateway.app import create_app  # noqa: PLC0415 - only this app needs the gateway's modules
    from gateway.config import load_settings  # noqa: PLC0415
    from gateway.logs import configure_logging  # noqa: PLC0415

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format, stream=log.open("a", encoding="utf-8"))
    return create_app(settings)


async def measure(app: web.Application, request: bytes, requests: int, new_ids: bool, refused: bool = False) -> float:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        protocol = runner.server()
        transport = CollectingTransport()
        protocol.connection_made(transport)

        ids = iter(range(FIRST_NEW_ID, FIRST_NEW_ID + 1_000_000_000))

        async def one() -> bytes:
            answered = transport.answer()
            protocol.data_received(request % next(ids) if new_ids else request)
            return await answered

        # (an answer without a declared length would never complete: the first is awaited with a bound)
        first = await asyncio.wait_for(one(), 30)
        if refused:
            if not first.startswith(b"HTTP/1.1 401 "):
                raise RuntimeError(f"a wrong key was not refused: {first[:300]!r}")
        elif not first.startswith(b"HTTP/1.1 200 ") or (b"%d" % (FIRST_NEW_ID if new_ids else HOT_ID)) not in first:
            raise RuntimeError(f"not an answer to the lookup: {first[:300]!r}")
        for _ in range(max(100, requests // 10)):  # the cache, the token, the memo tables warm
            await one()
        gc.collect()
        gc.freeze()  # as `serve` does once started
        best = float("inf")
        for _ in range(ROUNDS):
            started = time.process_time()
            for _ in range(requests):
                await one()
            best = min(best, (time.process_time() - started) / requests)
        protocol.connection_lost(None)
        return best * 1e6
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("app", choices=["bare", "proxy", "gateway"])
    parser.add_argument("request", choices=["hot", "new-ids", "mcp", "keyed", "bad-key"])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--log", type=Path, default=Path(os.devnull))
    args = parser.parse_args()
    import uvloop  # noqa: PLC0415 - the gateway's loop (bench.py measures it there; the bare handler alike here)

    if args.app == "bare":
        app = bare_app()
    elif args.app == "proxy":
        app = proxy_app(os.environ["BAW_BASE_URL"], client_ssl_context(os.environ["BAW_CA_BUNDLE"]))
    else:
        app = _gateway_app(args.log)
    new_ids, refused = args.request in ("new-ids", "bad-key"), args.request == "bad-key"
    request = {"mcp": MCP, "new-ids": GET, "keyed": KEYED, "bad-key": BAD_KEY}.get(args.request, GET % HOT_ID)
    microseconds = uvloop.run(measure(app, request, args.requests, new_ids, refused))
    print(json.dumps({"us_per_request": round(microseconds, 2)}))


if __name__ == "__main__":
    main()
