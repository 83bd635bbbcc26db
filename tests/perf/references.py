"""The two references the gateway is measured against, run in their own processes by bench.py.

- `proxy`: the floor for an uncached lookup. A minimal aiohttp proxy: one shared ClientSession with the same
  TLS (the bench CA), a static token, no validation, no cache, no metrics, no logs.
- `bare`: the floor for a cached lookup. An aiohttp handler that returns a fixed JSON body.
- `mcp-peer`: the MCP peer. The least MCP server the official SDK makes: an `MCPServer` (mcp 2.x) with one tool
  proxying to BAW over a shared aiohttp session, stateless, JSON answers, served by uvicorn.
"""

from __future__ import annotations

import argparse
import json
import ssl

import aiohttp
from aiohttp import web

from gateway.tls import client_ssl_context

FIXED = json.dumps(
    {
        "process_id": "23972",
        "name": "Loan Application:23972",
        "status": "active",
        "baw_execution_state": "Active",
        "baw_state": "STATE_RUNNING",
        "process_name": "Loan Application",
        "process_app": "LOAN",
        "snapshot": None,
        "created_at": "2026-11-21T16:34:01Z",
        "last_updated": "2026-11-21T21:34:01Z",
        "due_at": None,
        "error_message": None,
        "open_tasks": [],
        "summary": "Loan Application:23972 is active; no open tasks.",
    }
).encode()


def proxy_app(baw: str, context: ssl.SSLContext) -> web.Application:
    app = web.Application()
    session_key = web.AppKey("session", aiohttp.ClientSession)

    async def session(app: web.Application):  # type: ignore[no-untyped-def]
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context, limit=64)) as s:
            app[session_key] = s
            yield

    async def lookup(request: web.Request) -> web.Response:
        url = f"{baw}/rest/bpm/wle/v1/process/{request.query['process_id']}"
        headers = {"Authorization": "Bearer bench", "Accept": "application/json", "Accept-Language": "en"}
        async with request.app[session_key].get(url, params={"parts": "header"}, headers=headers) as response:
            return web.Response(body=await response.read(), status=response.status, content_type="application/json")

    app.cleanup_ctx.append(session)
    app.router.add_get("/baw/process-status", lookup)
    return app


def bare_app() -> web.Application:
    async def fixed(request: web.Request) -> web.Response:
        return web.Response(body=FIXED, content_type="application/json")

    app = web.Application()
    app.router.add_get("/baw/process-status", fixed)
    return app


def mcp_peer_app(baw: str, context: ssl.SSLContext):  # type: ignore[no-untyped-def]
    from mcp.server.mcpserver import MCPServer  # noqa: PLC0415 - only this reference needs the SDK

    server = MCPServer("mcp-peer")
    sessions: list[aiohttp.ClientSession] = []

    @server.tool()
    async def get_process_status(process_id: str) -> str:
        """The status of one BAW process instance."""
        if not sessions:
            sessions.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context, limit=64)))
        url = f"{baw}/rest/bpm/wle/v1/process/{process_id}"
        headers = {"Authorization": "Bearer bench", "Accept": "application/json", "Accept-Language": "en"}
        async with sessions[0].get(url, params={"parts": "header"}, headers=headers) as response:
            return await response.text()

    return server.streamable_http_app(json_response=True, stateless_http=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["proxy", "bare", "mcp-peer"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--baw", default="")
    parser.add_argument("--ca", default="")
    args = parser.parse_args()
    if args.kind == "mcp-peer":
        import uvicorn  # noqa: PLC0415

        peer = mcp_peer_app(args.baw, client_ssl_context(args.ca))
        uvicorn.run(peer, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
        return
    app = proxy_app(args.baw, client_ssl_context(args.ca)) if args.kind == "proxy" else bare_app()
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
