"""`make dashboard-png`: the Grafana dashboard drawn from a real run, for docs/operations.md.

Starts the BAW simulator, a redis-server, one gateway in cluster mode (as prod runs) and a real Prometheus scraping
it every 2 s; drives a few minutes of load
(hot and cold ids, unknown ids, MCP tool calls, a burst of BAW 503s, a slow BAW, a caller over its rate limit);
then asks Prometheus every query of deploy/monitoring/dashboard.json and draws the panels where the dashboard puts
them. The queries are the dashboard's own, with their 5 m rate windows shortened to 30 s so a short run shows its
shape. Grafana is not needed (nor reachable here); matplotlib draws.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
from gateway.simulator.cluster import RedisServer, redis_server_binary  # noqa: E402
from gateway.simulator.server import SimulatorConfig  # noqa: E402
from tests.ports import free_port  # noqa: E402

SCRAPE_S = 2
CONNECTION_CAP = 200  # low enough for the spike phase to run past it
PROMETHEUS_CONF = """
global:
  scrape_interval: {scrape}s
scrape_configs:
  - job_name: baw-gateway
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""
MCP_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2026-07-28",
    "Mcp-Method": "tools/call",
    "Mcp-Name": "get_process_status",
}
MCP_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "dashboard-load", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


def wait_for(url: str, seconds: float = 30, ca: str | None = None) -> None:
    async def poll() -> None:
        deadline = time.monotonic() + seconds
        trust = ssl.create_default_context(cafile=ca) if ca else None
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                try:
                    async with http.get(url, ssl=trust) as response:
                        if response.status < 500:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{url} did not answer")

    asyncio.run(poll())


class Run:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.processes: list[subprocess.Popen] = []
        self.sim_port, self.gateway_port, self.prom_port = free_port(), free_port(), free_port()
        self.sim = SimulatorConfig()

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def prometheus(self) -> str:
        return f"http://127.0.0.1:{self.prom_port}"

    def spawn(self, args: list[str], env: dict[str, str] | None = None, name: str = "") -> None:
        log = open(self.work / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        self.processes.append(subprocess.Popen(args, env=env, stdout=log, stderr=log))

    def start(self) -> None:
        python = [sys.executable, "-m", "gateway"]
        self.spawn([*python, "simulate", "--port", str(self.sim_port), "--ca-dir", str(self.work)], name="simulator")
        ca = self.work / "simulator-ca.pem"
        deadline = time.monotonic() + 30
        while not ca.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.ca = str(ca)
        wait_for(f"https://localhost:{self.sim_port}/_simulator/stats", ca=self.ca)
        secret = self.work / "client-secret"
        secret.write_text(self.sim.client_secret)
        binary = redis_server_binary()
        if binary is None:
            raise SystemExit("make dashboard-png needs redis-server (Debian: apt-get install redis-server)")
        self.redis = RedisServer(binary, self.work)
        self.redis.start()
        redis_password = self.work / "redis-password"
        redis_password.write_text(self.redis.password)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "BAW_BASE_URL": f"https://localhost:{self.sim_port}{self.sim.prefix}",
            "BAW_AUTH": "oauth2",
            "BAW_CLIENT_ID": self.sim.client_id,
            "BAW_CLIENT_SECRET_FILE": str(secret),
            "BAW_CA_BUNDLE": self.ca,
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(self.gateway_port),
            "GATEWAY_DRAIN_S": "0",
            "GATEWAY_CACHE_TTL_S": "2",  # short, so BAW sees a steady share of the load
            "GATEWAY_RATE_LIMIT_RPS": "60",  # the load's one address runs past it now and then: 429s to show
            "GATEWAY_RATE_LIMIT_BURST": "120",
            "GATEWAY_MAX_CONNECTIONS": str(CONNECTION_CAP),  # the spike's idle connections run past it
            "GATEWAY_REDIS_URL": self.redis.url,
            "GATEWAY_REDIS_PASSWORD_FILE": str(redis_password),
        }
        self.spawn([*python, "serve"], env=env, name="gateway")
        wait_for(f"{self.gateway}/readyz")
        tsdb = self.work / "tsdb"
        conf = self.work / "prometheus.yml"
        conf.write_text(PROMETHEUS_CONF.format(scrape=SCRAPE_S, port=self.gateway_port))
        binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        self.spawn(
            [
                binary,
                f"--config.file={conf}",
                f"--storage.tsdb.path={tsdb}",
                f"--web.listen-address=127.0.0.1:{self.prom_port}",
            ],
            name="prometheus",
        )
        wait_for(f"{self.prometheus}/-/ready")

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if getattr(self, "redis", None) is not None:
            self.redis.kill()

    async def load(self, seconds: float) -> None:
        """About 40 requests a second of mixed questions, with phases an operator would want to see."""
        trust = ssl.create_default_context(cafile=self.ca)
        started = time.monotonic()
        hot = ["23972", "2001", "881", "1500"]
        async with aiohttp.ClientSession() as http:

            async def faults(**values: object) -> None:
                url = f"https://localhost:{self.sim_port}/_simulator/faults"
                async with http.post(url, json=values, ssl=trust) as response:
                    response.raise_for_status()

            async def one(n: int) -> None:
                roll = random.random()
                try:
                    if roll < 0.30:
                        call = {
                            "jsonrpc": "2.0",
                            "id": n,
                            "method": "tools/call",
                            "params": {
                                "name": "get_process_status",
                                "arguments": {"process_id": random.choice(hot)},
                                "_meta": MCP_META,
                            },
                        }
                        async with http.post(f"{self.gateway}/mcp", json=call, headers=MCP_HEADERS) as response:
                            await response.read()
                        return
                    if roll < 0.75:
                        piid = random.choice(hot)
                    elif roll < 0.92:
                        piid = random.choice(["1600", "1700", "1800", "4242"])  # asked less often; 4242: 403
                    else:
                        piid = str(random.randint(10**9, 10**10))  # unknown: 404
                    async with http.get(f"{self.gateway}/baw/process-status?process_id={piid}") as response:
                        await response.read()
                except aiohttp.ClientError:
                    pass

            async def hold_idle_connections(count: int, seconds: float) -> None:
                """Connections that never send a request (an ingress holding idle ones, a slow client): past the
                cap, new ones get the canned 503, which only gateway_connections_refused_total counts."""
                held = []
                for _ in range(count):
                    try:
                        held.append((await asyncio.open_connection("127.0.0.1", self.gateway_port))[1])
                    except OSError:
                        break
                await asyncio.sleep(seconds)
                for writer in held:
                    writer.close()

            phase, n, tasks = "", 0, set()
            while (elapsed := time.monotonic() - started) < seconds:
                share = elapsed / seconds
                wanted = (
                    "steady"
                    if share < 0.35
                    else "baw-errors"
                    if share < 0.5
                    else "steady-2"
                    if share < 0.65
                    else "slow-baw"
                    if share < 0.8
                    else "spike"
                )
                if wanted != phase:
                    phase = wanted
                    print(f"{elapsed:5.0f} s: {phase}", flush=True)
                    if phase == "baw-errors":
                        await faults(error_burst=4000, error_status=503)
                    elif phase == "slow-baw":
                        await faults(error_burst=0, delay_s=0.4)
                    else:
                        await faults(error_burst=0, delay_s=0.0)
                    if phase == "spike":
                        holding = asyncio.create_task(hold_idle_connections(CONNECTION_CAP + 40, 12))
                        tasks.add(holding)
                        holding.add_done_callback(tasks.discard)
                rate = 90 if phase == "spike" else 40
                n += 1
                task = asyncio.create_task(one(n))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                await asyncio.sleep(1 / rate)
            await asyncio.gather(*tasks)

    async def series(self, expr: str, start: float, end: float) -> list[dict]:
        params = {"query": expr.replace("[5m]", "[30s]"), "start": start, "end": end, "step": SCRAPE_S}
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.prometheus}/api/v1/query_range", params=params) as response,
        ):
            body = await response.json()
        if body.get("status") != "success":
            raise RuntimeError(f"{expr}: {body}")
        return body["data"]["result"]


def label_of(metric: dict[str, str], legend: str) -> str:
    if legend:
        return legend
    shown = {k: v for k, v in metric.items() if k != "__name__"}
    return ", ".join(f"{k}={v}" for k, v in sorted(shown.items())) or "value"


def formatted(value: float, unit: str) -> str:
    if unit == "percentunit":
        return f"{value * 100:.1f} %"
    if unit == "s":
        return f"{value / 60:.0f} min" if value >= 120 else f"{value:.0f} s"
    return f"{value:g}"


# Grafana's classic palette, each colour once: no two series of a panel look alike.
PALETTE = (
    "#73bf69",
    "#f2cc0c",
    "#5794f2",
    "#ff780a",
    "#f2495c",
    "#b877d9",
    "#70dbed",
    "#e0752d",
    "#fce2de",
    "#ffffff",
    "#806eb7",
    "#bf1b00",
)


def line_styles() -> list[tuple[str, str]]:
    """(colour, line style) for a panel's series in order, all different: the palette solid, then dashed."""
    return [(colour, dashes) for dashes in ("-", "--", ":") for colour in PALETTE]


def draw(dashboard: dict, results: dict[str, list[tuple[str, list[dict]]]], out: Path) -> None:
    import matplotlib  # noqa: PLC0415 - only this script needs it

    matplotlib.use("Agg")
    import matplotlib.dates as mdates  # noqa: PLC0415
    import matplotlib.pyplot as plt  # noqa: PLC0415

    panels = dashboard["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    figure = plt.figure(figsize=(16, rows * 0.5), facecolor="#111217")
    # (room between stacked panels for the upper one's time labels and the lower one's title)
    grid = figure.add_gridspec(rows, 24, hspace=4.0, wspace=1.4, left=0.04, right=0.99, top=0.95, bottom=0.03)
    figure.suptitle(dashboard["title"], color="#d8d9da", fontsize=15, x=0.04, y=0.985, ha="left")
    for panel in panels:
        pos = panel["gridPos"]
        axes = figure.add_subplot(grid[pos["y"] : pos["y"] + pos["h"], pos["x"] : pos["x"] + pos["w"]])
        axes.set_facecolor("#181b1f")
        axes.set_title(panel["title"], color="#d8d9da", fontsize=10, loc="left")
        for spine in axes.spines.values():
            spine.set_color("#2c3235")
        axes.tick_params(colors="#8e8e8e", labelsize=7)
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        found = results[panel["title"]]
        if panel["type"] == "stat":
            axes.set_xticks([])
            axes.set_yticks([])
            values = [float(s["values"][-1][1]) for _, matrix in found for s in matrix if s["values"]]
            text = formatted(values[0], unit) if values else "No data"
            colour = "#f2495c" if panel["title"] == "Breaker open" and values and values[0] >= 1 else "#73bf69"
            axes.text(0.5, 0.45, text, color=colour, fontsize=24, ha="center", va="center", transform=axes.transAxes)
            continue
        styles = iter(line_styles())
        for legend, matrix in found:
            for serie in matrix:
                points = [(datetime.fromtimestamp(t), float(v)) for t, v in serie["values"] if v not in ("NaN",)]
                if points:
                    times, values = zip(*points, strict=True)
                    colour, dashes = next(styles)
                    label = label_of(serie["metric"], legend)
                    axes.plot(times, values, linewidth=1.2, color=colour, linestyle=dashes, label=label)
        axes.xaxis.set_major_locator(mdates.MinuteLocator())  # one label a minute: none repeated
        axes.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
        axes.grid(color="#2c3235", linewidth=0.5)
        if unit == "s":
            axes.set_ylabel("seconds", color="#8e8e8e", fontsize=7)
        elif unit == "reqps":
            axes.set_ylabel("req/s", color="#8e8e8e", fontsize=7)
        if axes.get_legend_handles_labels()[0]:
            legend_box = axes.legend(fontsize=6, loc="upper left", facecolor="#181b1f", edgecolor="#2c3235", ncol=2)
            for text in legend_box.get_texts():
                text.set_color("#d8d9da")
    figure.savefig(out, dpi=90, facecolor=figure.get_facecolor())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=240, help="how long the load runs")
    parser.add_argument("--out", type=Path, default=HERE / "dashboard.png")
    args = parser.parse_args()
    dashboard = json.loads((HERE / "dashboard.json").read_text())
    with tempfile.TemporaryDirectory(prefix="baw-dashboard-") as work:
        run = Run(Path(work))
        try:
            run.start()
            start = time.time()
            asyncio.run(run.load(args.seconds))
            time.sleep(2 * SCRAPE_S)  # the last scrape
            end = time.time()

            async def everything() -> dict[str, list[tuple[str, list[dict]]]]:
                return {
                    panel["title"]: [
                        (target.get("legendFormat", ""), await run.series(target["expr"], start, end))
                        for target in panel["targets"]
                    ]
                    for panel in dashboard["panels"]
                }

            results = asyncio.run(everything())
        finally:
            run.stop()
    draw(dashboard, results, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
