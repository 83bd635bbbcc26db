"""Keeps `make bench` working: the whole harness for a second or two per scenario. It asserts that every
scenario ran and reported, never anything about speed (these machines are shared and noisy)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).with_name("bench.py")


@pytest.mark.bench
def test_bench_smoke_run_reports_every_scenario_and_ratio(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / "bench-results.json").read_text())
    scenarios = report["scenarios"]
    assert set(scenarios) == {
        "uncached",
        "hot_id",
        "burst_1000_cold_id",
        "short_tokens",
        "memory",
        "memory_bounds",
        "cluster",
        "signed_in",
        "tracing",
        "tracing_exports",
        "mcp",
        "in_process",
    }
    assert set(scenarios["mcp"]) == {"hot_mcp", "hot_rest", "uncached_mcp", "uncached_rest", "uncached_mcp_peer"}
    for row in scenarios["mcp"].values():  # (each target's tools/call was checked to answer the lookup first)
        assert row["requests"] > 0 and row["errors"] == 0
    assert scenarios["tracing_exports"] > 0  # sampled spans reached the OTLP collector
    for row in scenarios["tracing"].values():
        assert row["requests"] > 0 and row["errors"] == 0
    for row in scenarios["signed_in"].values():
        assert row["requests"] > 0 and row["errors"] == 0  # every request authenticated
    assert {"hot_workers_2", "uncached_workers_2"} <= set(scenarios["cluster"])
    for row in scenarios["cluster"].values():
        assert row["requests"] > 0 and row["errors"] == 0
    for scenario, targets in (("uncached", {"gateway", "reference_proxy"}), ("hot_id", {"gateway", "reference_bare"})):
        assert set(scenarios[scenario]) == targets
        for row in scenarios[scenario].values():
            assert row["requests"] > 0 and row["errors"] == 0 and row["p99_ms"] > 0
    # (each in-process target's first answer was checked to be the lookup's, inprocess.py)
    assert set(scenarios["in_process"]) == {
        "bare",
        "gateway",
        "gateway-quiet",
        "gateway-mcp",
        "proxy",
        "gateway-uncached",
        "gateway-keyed",
        "gateway-bad-keys",
    }
    assert all(us > 0 for us in scenarios["in_process"].values())
    assert scenarios["burst_1000_cold_id"]["ok"] == 1000
    bounds = scenarios["memory_bounds"]
    assert bounds["not_found_answers"] == bounds["unknown_ids"] > 0
    assert bounds["handshakes_ok"] == bounds["handshakes"] > 0
    assert set(report["ratios"]) == {
        "mcp_vs_sdk_peer",
        "mcp_vs_rest_hot",
        "mcp_vs_rest_uncached",
        "tracing_on_10pct_hot",
        "tracing_on_10pct_uncached",
        "uncached_throughput",
        "uncached_p99",
        "hot_throughput",
        "burst_baw_calls",
        "token_calls_vs_time",
        "rss_after_lookups",
        "cluster_hot",
        "cluster_uncached",
        "all_features_hot",
        "all_features_uncached",
        "workers_2_hot",
        "workers_2_uncached",
        "jwt_vs_key",
        "rss_growth_unknown_ids",
        "rss_growth_handshakes",
    }
    table = (tmp_path / "bench-results.md").read_text()
    assert "| ratio | value | target | met |" in table and "In process, without sockets" in table
