"""The cluster tests' redis-server: installed when missing and root (as the bench installs wrk and nginx),
otherwise the tests that need it are skipped with the reason."""

from __future__ import annotations

from pathlib import Path

from gateway.simulator.cluster import RedisServer, redis_server_binary, round_robin_app
from tests.debian import debian_binary

__all__ = ["RedisServer", "redis_server", "round_robin_app"]


def redis_server(directory: Path) -> RedisServer:
    binary = redis_server_binary() or debian_binary(("redis-server",), "redis-server", "the cluster tests")
    return RedisServer(binary, directory)
