"""The cluster tests' redis-server: installed when missing and root (as the bench installs wrk and nginx),
otherwise the tests that need it are skipped with the reason."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.simulator.cluster import RedisServer, redis_server_binary, round_robin_app

__all__ = ["RedisServer", "redis_server", "round_robin_app"]


def redis_server(directory: Path) -> RedisServer:
    binary = redis_server_binary()
    if binary is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "redis-server"], env=env, capture_output=True, timeout=600)
        binary = redis_server_binary()
    if binary is None:
        pytest.skip("redis-server is not installed and cannot be (not root, or no apt-get): cluster tests skipped")
    return RedisServer(binary, directory)
