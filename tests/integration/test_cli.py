"""The commands a newcomer and an operator run, as processes."""

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
import urllib.error
import urllib.request
from asyncio.subprocess import PIPE
from contextlib import contextmanager
from typing import Iterator

from gateway import __version__
from tests.cluster import redis_server
from tests.ports import free_port

GATEWAY = [sys.executable, "-m", "gateway"]


@contextmanager
def running_demo(*args: str, **environment: str) -> Iterator[tuple[int, str]]:
    """`baw-gateway demo` on a free port: yields (port, what it printed until it was ready); stopped with Ctrl-C
    afterwards, which must end it cleanly."""
    port = free_port()
    env = {**os.environ, "GATEWAY_PORT": str(port), **environment}
    with subprocess.Popen(
        [*GATEWAY, "demo", *args, "--simulator-port", str(free_port())],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as demo:
        try:
            lines: list[str] = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and demo.poll() is None:
                lines.append(demo.stdout.readline())
                if "Stop with Ctrl-C" in lines[-1]:
                    break
            yield port, "".join(lines)
        finally:
            demo.send_signal(signal.SIGINT)
            demo.wait(timeout=20)
    assert demo.returncode == 0


def test_bad_configuration_exits_2_naming_every_problem_without_a_traceback() -> None:
    env = {"PATH": os.environ["PATH"], "BAW_AUTH": "oauth2", "BAW_CLIENT_SECRET": "shh-4c1d", "BAW_TIMEOUT_S": "-1"}
    result = subprocess.run([*GATEWAY, "serve"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "BAW_BASE_URL is required" in result.stderr
    assert "BAW_CLIENT_ID" in result.stderr and "BAW_TIMEOUT_S" in result.stderr
    assert "Traceback" not in result.stderr and "shh-4c1d" not in result.stderr + result.stdout


def test_demo_starts_the_gateway_against_the_simulator_and_its_curl_lines_answer() -> None:
    with running_demo() as (_, output):
        urls = re.findall(r"curl -s '([^']+process_id=\d+)'\s+# an active loan", output)
        assert urls, output
        with urllib.request.urlopen(urls[0], timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "active" and body["process_id"] == "23972"


def test_demo_with_your_keys_prints_lines_that_work_as_printed() -> None:
    """Issue 30: with GATEWAY_API_KEYS set the banner's curl lines had no key (401 as printed)."""
    with running_demo(GATEWAY_API_KEYS="my-own-key-0123456789") as (_, output):
        (key, url), *_ = re.findall(
            r"curl -s -H 'Authorization: Bearer ([^']+)' '([^']+process_id=\d+)'\s+# an active", output
        )
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        assert "inspector --cli" in output and "--header 'Authorization: Bearer my-own-key" in output
        assert "Node 22.19" in output


def test_demo_with_replicas_runs_gateways_sharing_a_redis_behind_one_front(tmp_path) -> None:
    redis_server(tmp_path)  # skips, with the reason, where redis-server cannot be had
    redis_before = _redis_processes()
    with running_demo("--replicas", "3") as (port, output):
        assert "3 gateways behind a round-robin front" in output, output
        for _ in range(6):  # every replica in turn
            url = f"http://localhost:{port}/baw/process-status?process_id=23972"
            with urllib.request.urlopen(url, timeout=10) as response:
                assert json.load(response)["process_id"] == "23972"
    assert _redis_processes() == redis_before  # the demo's redis-server went with it


def _redis_processes() -> set[str]:
    found = subprocess.run(["pgrep", "-x", "redis-server"], capture_output=True, text=True).stdout
    return set(found.split())


def test_a_busy_port_and_a_bad_simulator_port_are_one_clear_line_each() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "GATEWAY_PORT": str(port), "GATEWAY_HOST": "127.0.0.1"}
        busy = subprocess.run(
            [*GATEWAY, "demo", "--simulator-port", str(free_port())],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert busy.returncode == 2 and "Traceback" not in busy.stderr
    assert "cannot listen" in busy.stderr and "address already in use" in busy.stderr and "GATEWAY_PORT" in busy.stderr
    bad = subprocess.run(
        [*GATEWAY, "demo"], env={**os.environ, "SIMULATOR_PORT": "abc"}, capture_output=True, text=True, timeout=30
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "expected a TCP port (1-65535) here or in SIMULATOR_PORT, not 'abc'" in bad.stderr


def test_demo_with_oauth_answers_the_same_question_differently_for_two_users() -> None:
    with running_demo("--oauth") as (_, output):
        assert "npx @modelcontextprotocol/inspector" in output and "alice / alice-password" in output
        answers = {}
        for token, url, user in re.findall(r"Bearer ([^']+)' '([^']+)'\s+# (alice|bob):", output):
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    answers[user] = response.status
            except urllib.error.HTTPError as error:
                answers[user] = error.code
        assert answers == {"alice": 200, "bob": 403}, output
        # `doctor` passes on it, as the banner prints it (issue 27)
        command = re.search(r"baw-gateway (doctor \S+ --ca-bundle \S+ --token \S+)", output).group(1).split()
        doctor = subprocess.run([*GATEWAY, *command], capture_output=True, text=True, timeout=60)
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert "ok   ping (2026-07-28)" in doctor.stdout and "ok   client registration" in doctor.stdout


def test_version_and_help_speak_to_a_user() -> None:
    version = subprocess.run([*GATEWAY, "--version"], capture_output=True, text=True, timeout=30)
    assert version.returncode == 0 and version.stdout.strip() == f"baw-gateway {__version__}"
    helped = subprocess.run([*GATEWAY, "--help"], capture_output=True, text=True, timeout=30)
    assert "doctor" in helped.stdout and "imported by the commands" not in helped.stdout  # no internal note


def test_a_misspelt_variable_fails_check_config() -> None:
    env = {"PATH": os.environ["PATH"], "BAW_BASE_URL": "https://baw.example.com", "BAW_CLIENT_ID": "x"}
    env |= {"BAW_CLIENT_SECRET": "y", "GATEWAY_API_KEY": "oops"}
    checked = subprocess.run([*GATEWAY, "check-config"], env=env, capture_output=True, text=True, timeout=30)
    assert checked.returncode == 2 and "did you mean GATEWAY_API_KEYS?" in checked.stderr


async def _check_config_probe(env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *GATEWAY, "check-config", "--probe", env={"PATH": os.environ["PATH"], **env}, stdout=PIPE, stderr=PIPE
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, err.decode()


async def test_check_config_probe_tests_the_connection_to_baw(gateway_env, tmp_path) -> None:
    """Issue 30: there was no way to test the connection to a real BAW before serving."""
    status, err = await _check_config_probe(gateway_env)
    assert status == 0 and "BAW answered" in err, err
    wrong = tmp_path / "wrong-secret"
    wrong.write_text("not-the-secret\n")
    status, err = await _check_config_probe({**gateway_env, "BAW_CLIENT_SECRET_FILE": str(wrong)})
    assert status == 1 and "probe failed" in err and "did not accept the gateway's credentials" in err, err
    assert "quote the request id" not in err  # there is none to quote
