"""What the cluster tests run besides gateways: a real redis-server, and a round-robin front like a Service."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.ports import free_port

_SESSION = web.AppKey("session", aiohttp.ClientSession)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"}


def redis_server_binary() -> str:
    """redis-server from Debian's packages; installed when missing and root, like the bench's wrk and nginx."""
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "redis-server"], env=env, capture_output=True)
        found = shutil.which("redis-server") or (
            "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
        )
    if found is None:
        pytest.skip("redis-server is not installed and cannot be (not root, or no apt-get): cluster tests skipped")
    return found


class RedisServer:
    def __init__(self, directory: Path) -> None:
        self.binary, self.directory, self.port = redis_server_binary(), directory, free_port()
        self.password = "S3CRET-redis-pw-1c2d"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--requirepass",
                self.password,
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def round_robin_app(backends: list[str]) -> web.Application:
    """A front that sends each request to the next backend, as a Kubernetes Service spreads connections (here
    per request, the harder case: nothing sticks)."""
    turn = itertools.cycle(backends)

    async def forward(request: web.Request) -> web.Response:
        session = request.app[_SESSION]
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with session.request(
            request.method, next(turn) + request.path_qs, headers=headers, data=await request.read()
        ) as answer:
            body = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
            return web.Response(status=answer.status, headers=kept, body=body)

    async def session(app: web.Application):  # type: ignore[no-untyped-def]
        async with aiohttp.ClientSession(auto_decompress=False) as client:
            app[_SESSION] = client
            yield

    app = web.Application()
    app.cleanup_ctx.append(session)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app
