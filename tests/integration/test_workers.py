"""GATEWAY_WORKERS=N: a supervisor and N worker processes sharing one port, as processes on real sockets."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import CLIENT_SECRET
from tests.ports import free_port

SERVED = 'gateway_http_requests_total{method="GET",route="/baw/process-status",status="200"}'


@pytest.fixture
def workers_env(redis_server, tmp_path: Path) -> dict[str, str]:
    password = tmp_path / "redis-password"
    password.write_text(redis_server.password)
    return {
        "GATEWAY_WORKERS": "2",
        "GATEWAY_REDIS_URL": redis_server.url,
        "GATEWAY_REDIS_PASSWORD_FILE": str(password),
        "GATEWAY_DRAIN_S": "0",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }


def children(pid: int) -> set[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return {int(child) for child in found.split()}


async def until(condition, what: str, seconds: float = 20) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def listening(log: Path) -> set[str]:
    """Which workers have said they listen."""
    return set(re.findall(r"worker (\d+) of 2", log.read_text()))


async def fresh_get(url: str) -> tuple[int, str]:
    """One request on a connection of its own: the kernel picks a worker per connection."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        async with http.get(url) as response:
            return response.status, await response.text()


async def test_workers_share_the_port_and_any_scrape_counts_every_worker(
    gateway_process, workers_env, tmp_path: Path
) -> None:
    Path(workers_env["PROMETHEUS_MULTIPROC_DIR"]).mkdir()  # (given by the operator here; made when missing)
    stale = Path(workers_env["PROMETHEUS_MULTIPROC_DIR"]) / "counter_1.db"
    stale.write_bytes(b"from a previous run")
    supervisor, base, log = await gateway_process(**workers_env, GATEWAY_LOG_FORMAT="json")
    assert not stale.exists()  # a previous run's values are not counted again
    await until(lambda: listening(log) == {"0", "1"}, "both workers to listen")
    workers = children(supervisor.pid)
    assert len(workers) == 2

    answers = await asyncio.gather(*(fresh_get(f"{base}/baw/process-status?process_id=23972") for _ in range(60)))
    assert {status for status, _ in answers} == {200}
    # The kernel spread the connections: both workers counted requests in the shared directory.
    writers = {int(m) for m in re.findall(r"counter_(\d+)\.db", " ".join(os.listdir(tmp_path / "metrics")))}
    assert writers == workers

    for _ in range(6):  # whichever worker a scrape reaches reports every worker's requests
        status, text = await fresh_get(f"{base}/metrics")
        assert status == 200
        served = [line for line in text.splitlines() if line.startswith(SERVED)]
        assert served == [f"{SERVED} 60.0"]
        expiry = [line for line in text.splitlines() if line.startswith("gateway_token_expiry_timestamp_seconds")]
        assert len(expiry) == 1 and float(expiry[0].split()[1]) > time.time()  # one figure: the earliest expiry
        assert "gateway_shared_state_up 1.0" in text.splitlines()

    supervisor.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(supervisor.wait(), 20) == 0
    assert not children(supervisor.pid)
    lines = log.read_text().splitlines()
    # Two workers wrote at once through the supervisor: still one JSON object per line.
    records = [json.loads(line) for line in lines]
    assert sum(1 for record in records if record.get("logger") == "gateway.access") >= 60
    assert records[-1]["message"] == "every worker has stopped"


async def test_a_dead_worker_is_replaced_and_a_killed_supervisor_takes_its_workers(
    gateway_process, workers_env
) -> None:
    """The secret is given inline here: the supervisor moved it out of its environment, and every worker, the
    replacement too, reads it from the descriptor it was passed (the lookups below need BAW's token)."""
    inline = {"BAW_CLIENT_SECRET": CLIENT_SECRET, "BAW_CLIENT_SECRET_FILE": ""}
    supervisor, base, log = await gateway_process(**workers_env, **inline)
    await until(lambda: len(listening(log)) == 2, "both workers to listen")
    first = children(supervisor.pid)
    for pid in (supervisor.pid, *first):
        assert CLIENT_SECRET.encode() not in Path(f"/proc/{pid}/environ").read_bytes()
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    await until(lambda: len(children(supervisor.pid) - first) == 1, "a replacement worker")
    assert "exited with status -9: starting another" in log.read_text()
    await until(lambda: log.read_text().count("worker 0 of 2") + log.read_text().count("worker 1 of 2") == 3, "it")
    for _ in range(10):
        assert (await fresh_get(f"{base}/baw/process-status?process_id=23972"))[0] == 200

    workers = children(supervisor.pid)
    supervisor.kill()  # no chance to forward anything: the workers must still end
    await supervisor.wait()

    def gone() -> bool:
        return not any(Path(f"/proc/{pid}").exists() and "Z" not in _state(pid) for pid in workers)

    await until(gone, "the orphaned workers to end")


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "Z"


async def test_a_taken_port_stops_every_worker_with_the_configuration_status(gateway_env, workers_env) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))  # without SO_REUSEPORT: the workers cannot join it
        taken.listen()
        env = {"PATH": os.environ["PATH"], **gateway_env, **workers_env, "GATEWAY_HOST": "127.0.0.1"}
        env |= {"GATEWAY_PORT": str(port), "GATEWAY_LOG_FORMAT": "text"}
        supervisor = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "serve", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        out, err = await asyncio.wait_for(supervisor.communicate(), 60)
    assert supervisor.returncode == 2
    # in one line per worker that got as far (the first to fail stops the others), with no traceback: the port is
    # bound first, so nothing had started that had to be torn down
    assert re.search(r"cannot listen: .*address already in use", err.decode(), re.IGNORECASE)
    assert "Traceback" not in (out + err).decode()
