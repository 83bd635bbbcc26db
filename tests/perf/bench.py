"""`make bench`: the gateway measured against references, side by side, in one run on this machine.

Only ratios within one run mean anything on shared, noisy machines. Targets (docs/performance.md):
uncached throughput >= 0.7 x the minimal proxy and p99 <= 1.5 x its p99; hot-id throughput >= 0.6 x the bare
handler; MCP tools/call >= 3 x the official-SDK peer and >= 0.8 x the REST face; traces on (10 %) >= 0.9 x off;
a burst of 1000 lookups of one cold id costs BAW one call; token calls follow time, not load; RSS after 200,000
distinct lookups <= 150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

import aiohttp
import jwt
import trustme
from cryptography.hazmat.primitives.asymmetric import rsa

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: the repository root
from gateway.simulator.cluster import RedisServer, redis_server_binary  # noqa: E402
from tests.ports import free_port  # noqa: E402

T = TypeVar("T")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CONNECTIONS = 32
ALL_FEATURES_KEY = "bench-all-features-key-0123456789"
SHORT_TOKEN_S = 2

NGINX_CONF = """
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  default_type application/json;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {work}/server.pem;
    ssl_certificate_key {work}/server.key;
    keepalive_requests 1000000;
    location = /oauth2/token {{
      access_log {work}/token.log;
      return 200 '{{"access_token":"bench-token","token_type":"Bearer","expires_in":3600}}';
    }}
    # An OAuth issuer for the JWT row: its metadata and key set, written by the bench.
    location = /.well-known/oauth-authorization-server {{
      return 200 '{issuer_metadata}';
    }}
    location = /oauth/jwks {{
      return 200 '{jwks}';
    }}
    # An OTLP/HTTP collector for the tracing rows: takes the spans, keeps nothing.
    location = /v1/traces {{
      access_log {work}/traces.log;
      return 200 '';
    }}
    location = /oauth2/token-short {{
      access_log {work}/token-short.log;
      return 200 '{{"access_token":"bench-token","token_type":"Bearer","expires_in":{short}}}';
    }}
    location ~ "^/rest/bpm/wle/v1/process/(?<piid>9[0-9]{{9}})$" {{
      access_log {work}/process.log;
      return 404 '{not_found_body}';
    }}
    location ~ ^/rest/bpm/wle/v1/process/(?<piid>[0-9]+)$ {{
      access_log {work}/process.log;
      if ($http_authorization !~ "^Bearer ") {{
        add_header WWW-Authenticate 'Basic realm="BPMRESTAPI"' always;
        return 401;
      }}
      return 200 '{process_body}';
    }}
  }}
}}
"""

# BAW's answer for an instance that does not exist (reference/baw-rest.md): ten-digit ids starting with 9.
NOT_FOUND_BODY = json.dumps(
    {
        "status": "error",
        "Data": {
            "status": "error",
            "exceptionType": "com.ibm.bpm.wle.api.InstanceDoesNotExistException",
            "errorNumber": "CWTBG0059E",
            "errorMessage": "CWTBG0059E: The instance with the ID $piid could not be found.",
            "errorMessageParameters": ["$piid"],
            "programmersDetails": "com.ibm.bpm.wle.api.InstanceDoesNotExistException at BPDInstanceDAO.java:412",
        },
    },
    separators=(",", ":"),
)

# What BAW's classic API answers for parts=header (reference/baw-rest.md), the id echoed by nginx.
PROCESS_BODY = json.dumps(
    {
        "status": "200",
        "data": {
            "piid": "$piid",
            "name": "Loan Application:$piid",
            "executionState": "Active",
            "state": "STATE_RUNNING",
            "creationTime": "2026-11-21T16:34:01Z",
            "lastModificationTime": "2026-11-21T21:34:01Z",
            "dueDate": None,
            "processTemplateName": "Loan Application",
            "processAppName": "Retail Lending",
            "processAppAcronym": "LOAN",
            "snapshotName": None,
            "tasks": [
                {
                    "tkiid": "189489",
                    "name": "Review credit report",
                    "displayName": "Review credit report",
                    "status": "Received",
                    "state": "STATE_CLAIMED",
                    "assignedTo": "jsmith",
                    "assignedToDisplayName": "jsmith",
                    "assignedToType": "user",
                    "dueTime": "2026-11-25T12:34:01Z",
                    "isAtRisk": True,
                }
            ],
        },
    },
    separators=(",", ":"),
)

# Each wrk thread counts from its own random base, so ids stay distinct across threads and runs.
LUA_ID_COUNTER = """
local counter = 0
local base = 0
function setup(thread)
  thread:set("base", math.random(1, 999) * 10000000)
end
function init(args)
  base = tonumber(wrk.thread:get("base")) or 0
end
"""

UNIQUE_IDS_LUA = (
    LUA_ID_COUNTER
    + """
function request()
  counter = counter + 1
  return wrk.format("GET", "/baw/process-status?process_id=" .. (base + counter))
end
"""
)


# An MCP tools/call per request (2026-07-28, stateless: no handshake), the id fixed (hot) or new each time.
MCP_LUA = (
    LUA_ID_COUNTER
    + """
local unique = {unique}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
wrk.headers["Mcp-Method"] = "tools/call"
wrk.headers["Mcp-Name"] = "get_process_status"
function request()
  counter = counter + 1
  local id = "23972"
  if unique then id = tostring(base + counter) end
  return wrk.format(nil, "/mcp", nil, string.format('{body}', counter, id))
end
"""
)
MCP_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "wrk", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
BENCH_KEY = "bench-key-0123456789"  # the one bearer key of the keyed targets
MCP_CALL = (
    '{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"get_process_status",'
    '"arguments":{"process_id":"%s"},"_meta":' + json.dumps(MCP_META, separators=(",", ":")) + "}}"
)


def ensure_tools() -> None:
    """wrk, nginx and redis-server from Debian's packages, installed when missing (the bench runs as root)."""
    packages = {"wrk": "wrk", "nginx": "nginx", "redis-server": "redis-server"}
    missing = [
        package
        for tool, package in packages.items()
        if shutil.which(tool) is None and not any(Path(f"/usr/{d}/{tool}").exists() for d in ("sbin", "bin"))
    ]
    if not missing:
        return
    print(f"installing {' '.join(missing)} with apt-get", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env, stdout=subprocess.DEVNULL)


def nginx_binary() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


@dataclass
class Target:
    name: str
    port: int
    process: subprocess.Popen
    cpu_marks: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        """The target's process and its children (GATEWAY_WORKERS: the supervisor and its workers)."""
        found = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout
        return [self.process.pid, *map(int, found.split())]

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.pids():
            fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields_[11]) + int(fields_[12])
        return total / os.sysconf("SC_CLK_TCK")

    def rss_mb(self, key: str = "VmHWM") -> float:
        total = 0
        for pid in self.pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    total += int(line.split()[1])
        return total / 1024


class Bench:
    def __init__(self, work: Path, duration: float, smoke: bool) -> None:
        self.work, self.duration, self.smoke = work, duration, smoke
        self.processes: list[subprocess.Popen] = []
        self.baw_port = free_port()
        self.results: dict[str, object] = {"duration_s": duration, "connections": CONNECTIONS, "scenarios": {}}
        # The OAuth issuer nginx plays for the JWT row: a key, its JWKS and its metadata.
        self.issuer = f"https://127.0.0.1:{self.baw_port}"
        self.issuer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.issuer_key.public_key(), as_dict=True)
        self.jwks = {"keys": [{**public, "kid": "bench", "use": "sig"}]}
        self.issuer_metadata = {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/oauth/jwks",
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
        }

    # ------------------------------------------------------------------ processes

    def start_nginx(self) -> None:
        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(self.work / "ca.pem"))
        cert = ca.issue_cert("127.0.0.1", "localhost")
        cert.private_key_pem.write_to_path(str(self.work / "server.key"))
        cert.cert_chain_pems[0].write_to_path(str(self.work / "server.pem"))
        for log in ("token.log", "token-short.log", "process.log", "traces.log"):
            (self.work / log).touch()
        conf = self.work / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                work=self.work,
                port=self.baw_port,
                short=SHORT_TOKEN_S,
                process_body=PROCESS_BODY,
                not_found_body=NOT_FOUND_BODY,
                issuer_metadata=json.dumps(self.issuer_metadata),
                jwks=json.dumps(self.jwks),
            )
        )
        self.processes.append(
            subprocess.Popen([nginx_binary(), "-c", str(conf), "-p", str(self.work), "-g", "daemon off;"])
        )
        self.wait_port(self.baw_port)

    def gateway_env(self, **extra: str) -> dict[str, str]:
        """A gateway's environment: production's settings (oauth2, the CA bundle, JSON logs) towards the stand-in."""
        return {
            "PATH": os.environ.get("PATH", ""),
            "BAW_BASE_URL": f"https://127.0.0.1:{self.baw_port}",
            "BAW_CA_BUNDLE": str(self.work / "ca.pem"),
            "BAW_AUTH": "oauth2",
            "BAW_CLIENT_ID": "bench",
            "BAW_CLIENT_SECRET": "bench-secret",
            "GATEWAY_LOG_FORMAT": "json",
            "GATEWAY_DRAIN_S": "0",
            # One wrk client would otherwise be one rate-limited caller: the bench measures lookups, not 429s.
            "GATEWAY_RATE_LIMIT_RPS": "1000000",
            "GATEWAY_RATE_LIMIT_BURST": "1000000",
            **extra,
        }

    def start_gateway(self, name: str, cwd: Path | None = None, **extra: str) -> Target:
        port = free_port()
        env = self.gateway_env(GATEWAY_HOST="127.0.0.1", GATEWAY_PORT=str(port), **extra)
        log = open(self.work / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen([sys.executable, "-m", "gateway", "serve"], env=env, stdout=log, stderr=log, cwd=cwd)
        workers = int(extra.get("GATEWAY_WORKERS", "1"))
        deadline = time.monotonic() + 30
        while workers > 1 and (self.work / f"{name}.log").read_text().count(f" of {workers})") < workers:
            if time.monotonic() > deadline or process.poll() is not None:
                process.terminate()  # (not registered yet: stop() would not know it, and its workers would stay)
                process.wait(timeout=15)
                tail = (self.work / f"{name}.log").read_text()[-2000:]
                raise RuntimeError(f"{name}: not every worker listens:\n{tail}")
            time.sleep(0.1)
        return self.register(name, port, process)

    def start_reference(self, kind: str) -> Target:
        port = free_port()
        args = [
            sys.executable,
            str(HERE / "references.py"),
            kind,
            "--port",
            str(port),
            "--baw",
            f"https://127.0.0.1:{self.baw_port}",
            "--ca",
            str(self.work / "ca.pem"),
        ]
        process = subprocess.Popen(args, env={**os.environ, "PYTHONPATH": str(ROOT)})
        return self.register(f"reference-{kind}", port, process)

    def register(self, name: str, port: int, process: subprocess.Popen) -> Target:
        self.processes.append(process)
        self.wait_port(port)
        target = Target(name, port, process)
        asyncio.run(self.get(f"{target.url}/baw/process-status?process_id=1"))  # warm: token, TLS session
        return target

    def wait_port(self, port: int) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"nothing listens on {port}")

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM if process.args[0] != nginx_binary() else signal.SIGQUIT)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()

    # ------------------------------------------------------------------ measuring

    @staticmethod
    async def get(url: str) -> int:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            await response.read()
            return response.status

    def baw_calls(self, tokens: str = "token.log") -> tuple[int, int]:
        """(process lookups, token calls) nginx has logged so far; the short-token gateway has its own log."""
        count = lambda name: len((self.work / name).read_bytes().splitlines())  # noqa: E731
        return count("process.log"), count(tokens)

    def wrk(
        self,
        target: Target,
        *,
        unique: bool,
        duration: float | None = None,
        header: str | None = None,
        mcp: bool = False,
    ) -> dict[str, float]:
        script = self.work / ("mcp.lua" if mcp else "unique.lua")
        if mcp:
            body = MCP_CALL.replace("'", "\\'")
            script.write_text(MCP_LUA.replace("{unique}", "true" if unique else "false").replace("{body}", body))
        else:
            script.write_text(UNIQUE_IDS_LUA)
        path = "/mcp" if mcp else "/baw/process-status?process_id=23972"
        args = [
            "wrk",
            "-t2",
            f"-c{CONNECTIONS}",
            f"-d{max(1, round(duration or self.duration))}s",
            "--latency",
            "--timeout",
            "10s",
        ]
        if unique or mcp:
            args += ["-s", str(script)]
        if header:
            args += ["-H", header]
        baw_before, token_before = self.baw_calls()
        cpu_before = target.cpu_seconds()
        output = subprocess.run([*args, target.url + path], capture_output=True, text=True, check=True).stdout
        cpu = target.cpu_seconds() - cpu_before
        baw_after, token_after = self.baw_calls()
        requests = int(re.search(r"(\d+) requests in", output).group(1))
        non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
        return {
            "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
            "p50_ms": _latency(output, "50%"),
            "p99_ms": _latency(output, "99%"),
            "requests": requests,
            "errors": int(non_2xx.group(1)) if non_2xx else 0,
            "cpu_s_per_1000": round(1000 * cpu / max(requests, 1), 4),
            "peak_rss_mb": round(target.rss_mb(), 1),
            "baw_calls": baw_after - baw_before,
            "token_calls": token_after - token_before,
        }

    @staticmethod
    def turns(runs: dict[str, Callable[[], T]], rounds: int = 2) -> dict[str, list[T]]:
        """Each target measured `rounds` times, the targets of a scenario taking turns. Two identical gateways
        measured one after the other differ by up to 10 % on this shared machine, and its speed drifts within a
        run: one measurement per target made a ratio as much the machine's as the code's. Taking turns spreads the
        drift over every target of the scenario, and the best of each (kept by the caller) leaves out the moments
        something else had the cores."""
        measured: dict[str, list[T]] = {name: [] for name in runs}
        for _ in range(rounds):
            for name, run in runs.items():
                measured[name].append(run())
        return measured

    @classmethod
    def side_by_side(cls, runs: dict[str, Callable[[], dict[str, float]]]) -> dict[str, dict[str, float]]:
        """wrk's targets taking turns (`turns`), each keeping the row of its fastest run, with the lowest latency
        percentiles of its runs (a tail spike and a slow run need not be the same run) and the errors of all."""
        best = {}
        for name, rows in cls.turns(runs).items():
            fastest = max(rows, key=lambda row: row["requests_per_s"])
            best[name] = {
                **fastest,
                "p50_ms": min(row["p50_ms"] for row in rows),
                "p99_ms": min(row["p99_ms"] for row in rows),
                "errors": sum(row["errors"] for row in rows),  # (an error in any run is never hidden)
            }
        return best

    async def burst(self, target: Target, size: int = 1000) -> dict[str, float]:
        """`size` simultaneous lookups of one id nobody asked for before."""
        baw_before, _ = self.baw_calls()
        piid = str(int(time.time() * 1000) % 10**11)
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one() -> int:
                async with session.get(f"{target.url}/baw/process-status?process_id={piid}") as response:
                    await response.read()
                    return response.status

            started = time.monotonic()
            statuses = await asyncio.gather(*(one() for _ in range(size)))
            elapsed = time.monotonic() - started
        return {
            "lookups": size,
            "ok": statuses.count(200),
            "seconds": round(elapsed, 3),
            "baw_calls": self.baw_calls()[0] - baw_before,
        }

    # ------------------------------------------------------------------ the run

    def run(self, soak_s: float = 0) -> dict[str, object]:
        self.start_nginx()
        gateway = self.start_gateway("gateway")
        nocache = self.start_gateway("gateway-nocache", GATEWAY_CACHE_TTL_S="0")
        short = self.start_gateway(
            "gateway-short-tokens", BAW_TOKEN_URL=f"https://127.0.0.1:{self.baw_port}/oauth2/token-short"
        )
        proxy = self.start_reference("proxy")
        bare = self.start_reference("bare")
        scenarios = self.results["scenarios"]  # type: ignore[assignment]
        if soak_s:
            scenarios["soak"] = self.soak(gateway, soak_s)
            return self.results
        scenarios["uncached"] = self.side_by_side(
            {
                "gateway": partial(self.wrk, nocache, unique=True),
                "reference_proxy": partial(self.wrk, proxy, unique=True),
            }
        )
        scenarios["hot_id"] = self.side_by_side(
            {
                "gateway": partial(self.wrk, gateway, unique=False),
                "reference_bare": partial(self.wrk, bare, unique=False),
            }
        )
        scenarios["burst_1000_cold_id"] = asyncio.run(self.burst(gateway))
        token_run = max(self.duration, 3 * SHORT_TOKEN_S + 2)
        _, token_before = self.baw_calls("token-short.log")
        started = time.monotonic()
        loaded = self.wrk(short, unique=True, duration=token_run)
        elapsed = time.monotonic() - started
        scenarios["short_tokens"] = {
            "gateway": loaded,
            "token_lifetime_s": SHORT_TOKEN_S,
            "seconds": round(elapsed, 1),
            "token_calls": self.baw_calls("token-short.log")[1] - token_before,
            "token_calls_due_by_time": round(elapsed / (0.76 * SHORT_TOKEN_S), 1),
        }
        scenarios["memory"] = self.memory(gateway, 2_000 if self.smoke else 200_000)
        scenarios["cluster"] = self.cluster()
        scenarios["signed_in"] = self.signed_in()
        scenarios["mcp"] = self.mcp()
        scenarios["tracing"] = self.tracing()
        scenarios["in_process"] = self.in_process()
        time.sleep(1)  # the last batch of spans
        scenarios["tracing_exports"] = len((self.work / "traces.log").read_bytes().splitlines())
        bounded = self.start_gateway("gateway-bounds", GATEWAY_CACHE_NOT_FOUND_TTL_S="600")
        scenarios["memory_bounds"] = asyncio.run(self.memory_bounds(bounded, scale=0.05 if self.smoke else 1.0))
        self.results["ratios"] = ratios(scenarios)
        return self.results

    def in_process(self) -> dict[str, float]:
        """Microseconds of CPU per request without sockets (inprocess.py): the gateway's own cost next to aiohttp's,
        free of the kernel's and wrk's shares. One process per measurement, the targets taking turns; the lowest
        of each kept."""
        hot, uncached = (200, 50) if self.smoke else (20_000, 2_000)
        measure = partial(self.in_process_once, requests=hot)
        measured = self.turns(
            {
                "bare": partial(measure, "bare", "hot"),
                "gateway": partial(measure, "gateway", "hot"),
                "gateway-quiet": partial(measure, "gateway", "hot", GATEWAY_LOG_LEVEL="warning"),
                "gateway-mcp": partial(measure, "gateway", "mcp"),
                "proxy": partial(measure, "proxy", "new-ids", requests=uncached),
                "gateway-uncached": partial(measure, "gateway", "new-ids", requests=uncached, GATEWAY_CACHE_TTL_S="0"),
                "gateway-keyed": partial(measure, "gateway", "keyed", GATEWAY_API_KEYS=BENCH_KEY),
                "gateway-bad-keys": partial(measure, "gateway", "bad-key", GATEWAY_API_KEYS=BENCH_KEY),
            }
        )
        return {name: min(runs) for name, runs in measured.items()}

    def in_process_once(self, app: str, request: str, *, requests: int, **extra: str) -> float:
        """One inprocess.py measurement, its gateway configured as `start_gateway`'s are."""
        command = [sys.executable, str(HERE / "inprocess.py"), app, request, "--requests", str(requests)]
        command += ["--log", str(self.work / "in-process.log")]
        env = self.gateway_env(**extra)
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"in process, {app} {request}: {done.stderr[-2000:]}")
        return float(json.loads(done.stdout)["us_per_request"])

    def memory(self, target: Target, lookups: int) -> dict[str, float]:
        """Distinct ids until `lookups` were answered: the cache fills to its bound and stays there."""
        done, chunk = 0, 0
        while done < lookups:
            chunk = self.wrk(target, unique=True, duration=max(2.0, self.duration))
            done += chunk["requests"]
        return {"lookups": done, "rss_mb": round(target.rss_mb("VmRSS"), 1), "peak_rss_mb": round(target.rss_mb(), 1)}

    def signed_in(self) -> dict[str, dict[str, float]]:
        """Hot lookups authenticated by a JWT (verified against the issuer's key set) against the same gateway
        with a bearer key: what verifying a signature per request costs."""
        key, issuer = self.issuer_key, self.issuer
        keyed = self.start_gateway("gateway-keys", GATEWAY_API_KEYS=BENCH_KEY)
        signed = self.start_gateway(
            "gateway-oauth",
            GATEWAY_OAUTH_ISSUER=issuer,
            GATEWAY_OAUTH_CA_BUNDLE=str(self.work / "ca.pem"),
            GATEWAY_PUBLIC_URL="http://bench.invalid",  # the audience the token names
        )
        token = jwt.encode(
            {
                "iss": issuer,
                "sub": "bench-user",
                "aud": "http://bench.invalid/mcp",
                "exp": int(time.time()) + 3600,
                "scope": "baw.read",
            },
            key,
            algorithm="RS256",
            headers={"kid": "bench"},
        )
        return self.side_by_side(
            {
                "hot_key": partial(self.wrk, keyed, unique=False, header=f"Authorization: Bearer {BENCH_KEY}"),
                "hot_jwt": partial(self.wrk, signed, unique=False, header=f"Authorization: Bearer {token}"),
            }
        )

    def mcp(self) -> dict[str, dict[str, float]]:
        """tools/call of the same lookup, hot and uncached: the gateway's MCP face against its REST face and
        against the least MCP server the official SDK makes (references.py mcp-peer)."""
        hot = self.start_gateway("gateway-mcp")
        uncached = self.start_gateway("gateway-mcp-nocache", GATEWAY_CACHE_TTL_S="0")
        peer = self.start_reference("mcp-peer")
        for target in (hot, uncached, peer):
            asyncio.run(self.mcp_answers(target))
        return self.side_by_side(
            {
                "hot_mcp": partial(self.wrk, hot, unique=False, mcp=True),
                "hot_rest": partial(self.wrk, hot, unique=False),
                "uncached_mcp": partial(self.wrk, uncached, unique=True, mcp=True),
                "uncached_rest": partial(self.wrk, uncached, unique=True),
                "uncached_mcp_peer": partial(self.wrk, peer, unique=True, mcp=True),
            }
        )

    @staticmethod
    async def mcp_answers(target: Target) -> None:
        """wrk counts HTTP statuses only: make sure the call wrk repeats is a tool result, not a JSON-RPC error."""
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2026-07-28",
            "Mcp-Method": "tools/call",
            "Mcp-Name": "get_process_status",
        }
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{target.url}/mcp", data=MCP_CALL % (1, "23972"), headers=headers) as response,
        ):
            text = await response.text()
        answer = json.loads(text) if response.status == 200 else {}
        result = answer.get("result", {})
        if result.get("isError", True) or "Loan Application" not in json.dumps(result):
            raise RuntimeError(f"{target.name}: tools/call did not answer the lookup: {response.status} {text[:500]}")

    def tracing(self) -> dict[str, dict[str, float]]:
        """Traces off against on with 10 % sampling (exporting by OTLP/HTTP to nginx), hot and uncached."""
        traced = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"https://127.0.0.1:{self.baw_port}",
            "OTEL_EXPORTER_OTLP_CERTIFICATE": str(self.work / "ca.pem"),
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.1",
            "OTEL_BSP_SCHEDULE_DELAY": "500",
        }
        off = self.start_gateway("gateway-traces-off")
        on = self.start_gateway("gateway-traces-10", **traced)
        off_nocache = self.start_gateway("gateway-traces-off-nocache", GATEWAY_CACHE_TTL_S="0")
        on_nocache = self.start_gateway("gateway-traces-10-nocache", GATEWAY_CACHE_TTL_S="0", **traced)
        return self.side_by_side(
            {
                "hot_off": partial(self.wrk, off, unique=False),
                "hot_on_10pct": partial(self.wrk, on, unique=False),
                "uncached_off": partial(self.wrk, off_nocache, unique=True),
                "uncached_on_10pct": partial(self.wrk, on_nocache, unique=True),
            }
        )

    def cluster(self) -> dict[str, dict[str, float]]:
        """One gateway with Redis-backed limits, cache and single-flight against the same gateway without, hot and
        uncached: what cluster mode costs per replica."""
        redis = RedisServer(redis_server_binary() or "redis-server", self.work)
        redis.start()
        self.processes.append(redis.process)  # type: ignore[arg-type]
        password = self.work / "redis-password"
        password.write_text(redis.password)
        local = self.start_gateway("gateway-local")
        local_nocache = self.start_gateway("gateway-local-nocache", GATEWAY_CACHE_TTL_S="0")
        shared = {"GATEWAY_REDIS_URL": redis.url, "GATEWAY_REDIS_PASSWORD_FILE": str(password)}
        clustered = self.start_gateway("gateway-redis", **shared)
        clustered_nocache = self.start_gateway("gateway-redis-nocache", GATEWAY_CACHE_TTL_S="0", **shared)
        # Every feature on at once (the speed issue's last goal): bearer keys, Redis-backed limits, cache,
        # single-flight and sessions, metrics and the access and audit lines (those two are always on).
        everything = {**shared, "GATEWAY_API_KEYS": ALL_FEATURES_KEY}
        full = self.start_gateway("gateway-all-features", **everything)
        full_nocache = self.start_gateway("gateway-all-features-nocache", GATEWAY_CACHE_TTL_S="0", **everything)
        # GATEWAY_WORKERS=2 (which needs Redis) against one process on the same Redis: what a second core buys on
        # a machine whose two cores wrk and nginx share. CPU and RSS are summed over the supervisor and workers.
        workers = self.start_gateway("gateway-workers", GATEWAY_WORKERS="2", **shared)
        workers_nocache = self.start_gateway(
            "gateway-workers-nocache", GATEWAY_WORKERS="2", GATEWAY_CACHE_TTL_S="0", **shared
        )
        key = f"Authorization: Bearer {ALL_FEATURES_KEY}"
        return self.side_by_side(
            {
                "hot_local": partial(self.wrk, local, unique=False),
                "hot_redis": partial(self.wrk, clustered, unique=False),
                "hot_all_features": partial(self.wrk, full, unique=False, header=key),
                "hot_workers_2": partial(self.wrk, workers, unique=False),
                "uncached_local": partial(self.wrk, local_nocache, unique=True),
                "uncached_redis": partial(self.wrk, clustered_nocache, unique=True),
                "uncached_all_features": partial(self.wrk, full_nocache, unique=True, header=key),
                "uncached_workers_2": partial(self.wrk, workers_nocache, unique=True),
            }
        )

    async def memory_bounds(self, target: Target, scale: float) -> dict[str, float]:
        """What an attacker's tables cost (issue: failures stay local): 12,000 distinct unknown ids cached for
        10 minutes, then 3,000 MCP handshakes with 60 KB of client capabilities each. RSS after each, in MB."""
        unknown, handshakes = int(12_000 * scale), int(3_000 * scale)
        capabilities = {"experimental": {f"x{n}": "y" * 1000 for n in range(60)}}
        initialize = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": capabilities, "clientInfo": {"name": "b"}},
        }
        headers = {"Accept": "application/json, text/event-stream"}
        before = target.rss_mb("VmRSS")
        limit = asyncio.Semaphore(CONNECTIONS)
        async with aiohttp.ClientSession() as session:

            async def one(method: str, url: str, **kwargs: object) -> int:
                async with limit, session.request(method, url, **kwargs) as response:
                    await response.read()
                    return response.status

            statuses = await asyncio.gather(
                *(one("GET", f"{target.url}/baw/process-status?process_id={9_000_000_000 + n}") for n in range(unknown))
            )
            after_unknown = target.rss_mb("VmRSS")
            sessions = await asyncio.gather(
                *(one("POST", f"{target.url}/mcp", json=initialize, headers=headers) for _ in range(handshakes))
            )
        return {
            "unknown_ids": unknown,
            "not_found_answers": statuses.count(404),
            "handshakes": handshakes,
            "handshakes_ok": sessions.count(200),
            "rss_before_mb": round(before, 1),
            "rss_after_unknown_ids_mb": round(after_unknown, 1),
            "rss_after_handshakes_mb": round(target.rss_mb("VmRSS"), 1),
        }

    def soak(self, target: Target, seconds: float) -> dict[str, object]:
        samples = []
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            self.wrk(target, unique=True, duration=30)
            samples.append({"t_s": round(time.monotonic() - started), "rss_mb": round(target.rss_mb("VmRSS"), 1)})
            print(samples[-1], flush=True)
        return {"samples": samples, "growth_mb": round(samples[-1]["rss_mb"] - samples[0]["rss_mb"], 1)}


def _latency(output: str, percentile: str) -> float:
    match = re.search(rf"^\s+{re.escape(percentile)}\s+([\d.]+)(us|ms|s)\s*$", output, flags=re.MULTILINE)
    value, unit = float(match.group(1)), match.group(2)
    return round(value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 3)


def ratios(scenarios: dict[str, dict]) -> dict[str, object]:
    uncached, hot = scenarios["uncached"], scenarios["hot_id"]
    burst, tokens, memory = scenarios["burst_1000_cold_id"], scenarios["short_tokens"], scenarios["memory"]
    bounds, cluster = scenarios["memory_bounds"], scenarios["cluster"]
    cluster_hot = cluster["hot_redis"]["requests_per_s"] / cluster["hot_local"]["requests_per_s"]
    signed = scenarios["signed_in"]
    jwt_ratio = signed["hot_jwt"]["requests_per_s"] / signed["hot_key"]["requests_per_s"]
    cluster_uncached = cluster["uncached_redis"]["requests_per_s"] / cluster["uncached_local"]["requests_per_s"]
    all_hot = cluster["hot_all_features"]["requests_per_s"] / cluster["hot_local"]["requests_per_s"]
    all_uncached = cluster["uncached_all_features"]["requests_per_s"] / cluster["uncached_local"]["requests_per_s"]
    workers = {
        f"workers_2_{kind}": {
            "value": round(
                cluster[f"{kind}_workers_2"]["requests_per_s"] / cluster[f"{kind}_redis"]["requests_per_s"], 3
            ),
            "target": "> 1 (vs one process; 2 cores shared with wrk and nginx)",
            "met": cluster[f"{kind}_workers_2"]["requests_per_s"] > cluster[f"{kind}_redis"]["requests_per_s"],
        }
        for kind in ("hot", "uncached")
    }
    throughput = uncached["gateway"]["requests_per_s"] / uncached["reference_proxy"]["requests_per_s"]
    p99 = uncached["gateway"]["p99_ms"] / uncached["reference_proxy"]["p99_ms"]
    hot_ratio = hot["gateway"]["requests_per_s"] / hot["reference_bare"]["requests_per_s"]
    traced = scenarios["tracing"]
    tracing_ratios = {}
    for kind in ("hot", "uncached"):
        on = traced[f"{kind}_on_10pct"]["requests_per_s"] / traced[f"{kind}_off"]["requests_per_s"]
        tracing_ratios[f"tracing_on_10pct_{kind}"] = {"value": round(on, 3), "target": ">= 0.9", "met": on >= 0.9}

    mcp = scenarios["mcp"]
    rps = {name: row["requests_per_s"] for name, row in mcp.items()}
    mcp_ratios = {
        "mcp_vs_sdk_peer": {
            "value": round(rps["uncached_mcp"] / rps["uncached_mcp_peer"], 3),
            "target": ">= 3",
            "met": rps["uncached_mcp"] >= 3 * rps["uncached_mcp_peer"],
        },
        "mcp_vs_rest_hot": {
            "value": round(rps["hot_mcp"] / rps["hot_rest"], 3),
            "target": ">= 0.8",
            "met": rps["hot_mcp"] >= 0.8 * rps["hot_rest"],
        },
        "mcp_vs_rest_uncached": {
            "value": round(rps["uncached_mcp"] / rps["uncached_rest"], 3),
            "target": ">= 0.8",
            "met": rps["uncached_mcp"] >= 0.8 * rps["uncached_rest"],
        },
    }
    return {
        **mcp_ratios,
        **tracing_ratios,
        "uncached_throughput": {"value": round(throughput, 3), "target": ">= 0.7", "met": throughput >= 0.7},
        "uncached_p99": {"value": round(p99, 3), "target": "<= 1.5", "met": p99 <= 1.5},
        "hot_throughput": {"value": round(hot_ratio, 3), "target": ">= 0.6", "met": hot_ratio >= 0.6},
        "burst_baw_calls": {"value": burst["baw_calls"], "target": "== 1", "met": burst["baw_calls"] == 1},
        "token_calls_vs_time": {
            "value": f"{tokens['token_calls']} calls, {tokens['token_calls_due_by_time']} due by time",
            "target": "about one per lifetime",
            "met": abs(tokens["token_calls"] - tokens["token_calls_due_by_time"]) <= 2,
        },
        "rss_after_lookups": {"value": memory["rss_mb"], "target": "<= 150 MB", "met": memory["rss_mb"] <= 150},
        "cluster_hot": {"value": round(cluster_hot, 3), "target": ">= 0.8", "met": cluster_hot >= 0.8},
        "cluster_uncached": {"value": round(cluster_uncached, 3), "target": ">= 0.8", "met": cluster_uncached >= 0.8},
        "all_features_hot": {"value": round(all_hot, 3), "target": ">= 0.9", "met": all_hot >= 0.9},
        "all_features_uncached": {"value": round(all_uncached, 3), "target": ">= 0.9", "met": all_uncached >= 0.9},
        **workers,
        "jwt_vs_key": {"value": round(jwt_ratio, 3), "target": ">= 0.9", "met": jwt_ratio >= 0.9},
        "rss_growth_unknown_ids": {
            "value": round(bounds["rss_after_unknown_ids_mb"] - bounds["rss_before_mb"], 1),
            "target": "<= 40 MB (was 156)",
            "met": bounds["rss_after_unknown_ids_mb"] - bounds["rss_before_mb"] <= 40,
        },
        "rss_growth_handshakes": {
            "value": round(bounds["rss_after_handshakes_mb"] - bounds["rss_after_unknown_ids_mb"], 1),
            "target": "<= 40 MB (was 177)",
            "met": bounds["rss_after_handshakes_mb"] - bounds["rss_after_unknown_ids_mb"] <= 40,
        },
    }


def markdown(results: dict[str, object]) -> str:
    scenarios = results["scenarios"]  # type: ignore[index]
    lines = [
        f"wrk: 2 threads, {results['connections']} connections, {results['duration_s']} s per run.",
        "",
        "| scenario | target | req/s | p50 ms | p99 ms | CPU s / 1000 req | peak RSS MB | BAW calls | token calls |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in ("uncached", "hot_id", "mcp", "cluster", "signed_in", "tracing"):
        for name, row in scenarios[scenario].items():
            lines.append(
                f"| {scenario} | {name} | {row['requests_per_s']:.0f} | {row['p50_ms']} | {row['p99_ms']} | "
                f"{row['cpu_s_per_1000']} | {row['peak_rss_mb']} | {row['baw_calls']} | {row['token_calls']} |"
            )
    tokens = scenarios["short_tokens"]
    row = tokens["gateway"]
    lines.append(
        f"| short tokens ({tokens['token_lifetime_s']} s) | gateway | {row['requests_per_s']:.0f} | "
        f"{row['p50_ms']} | {row['p99_ms']} | {row['cpu_s_per_1000']} | {row['peak_rss_mb']} | "
        f"{row['baw_calls']} | {tokens['token_calls']} |"
    )
    burst, memory = scenarios["burst_1000_cold_id"], scenarios["memory"]
    lines += [
        "",
        f"Burst: {burst['lookups']} simultaneous lookups of one cold id: {burst['ok']} answered 200 in "
        f"{burst['seconds']} s, {burst['baw_calls']} BAW call(s).",
        f"Memory: RSS {memory['rss_mb']} MB (peak {memory['peak_rss_mb']} MB) after {memory['lookups']} "
        "distinct lookups.",
        f"Bounds: RSS {scenarios['memory_bounds']['rss_before_mb']} MB, "
        f"{scenarios['memory_bounds']['rss_after_unknown_ids_mb']} MB after "
        f"{scenarios['memory_bounds']['unknown_ids']} unknown ids (not_found kept 600 s), "
        f"{scenarios['memory_bounds']['rss_after_handshakes_mb']} MB after "
        f"{scenarios['memory_bounds']['handshakes']} MCP handshakes with 60 KB of capabilities.",
        "",
        in_process_line(scenarios["in_process"]),
        "",
        "| ratio | value | target | met |",
        "|---|---|---|---|",
    ]
    for name, ratio in results["ratios"].items():  # type: ignore[union-attr]
        lines.append(f"| {name} | {ratio['value']} | {ratio['target']} | {'yes' if ratio['met'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def in_process_line(us: dict[str, float]) -> str:
    return (
        "In process, without sockets (µs of CPU per request): cached, bare aiohttp {bare}, gateway {gateway} "
        "({hot:.3f} x), without access and audit lines {gateway-quiet}, as MCP tools/call {gateway-mcp} "
        "({mcp:.3f} x REST); uncached, minimal proxy {proxy}, gateway {gateway-uncached} ({cold:.3f} x); "
        "a flood of wrong keys {gateway-bad-keys} per request, {flood:.3f} x a keyed lookup ({gateway-keyed})."
    ).format_map(
        {
            **us,
            "hot": us["bare"] / us["gateway"],
            "mcp": us["gateway"] / us["gateway-mcp"],
            "cold": us["proxy"] / us["gateway-uncached"],
            "flood": us["gateway-bad-keys"] / us["gateway-keyed"],
        }
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--smoke", action="store_true", help="a second or two per scenario: keeps the script working")
    parser.add_argument(
        "--soak", type=float, default=0, help="seconds of soak (RSS over time) instead of the scenarios"
    )
    parser.add_argument("--out", type=Path, default=ROOT)
    args = parser.parse_args()
    ensure_tools()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    duration = 1.0 if args.smoke else args.duration
    with tempfile.TemporaryDirectory(prefix="baw-bench-") as work:
        bench = Bench(Path(work), duration, args.smoke)
        try:
            results = bench.run(soak_s=args.soak)
        finally:
            bench.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench-results.json").write_text(json.dumps(results, indent=2) + "\n")
    if not args.soak:
        table = markdown(results)
        (args.out / "bench-results.md").write_text(table)
        print(table)
    else:
        print(json.dumps(results["scenarios"]["soak"], indent=2))  # type: ignore[index]
    return 0


if __name__ == "__main__":
    sys.exit(main())
