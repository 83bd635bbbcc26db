"""Alerts as code and the dashboard, checked: the PrometheusRule's rules pass `promtool test rules`, and every
query of the Grafana dashboard and of the rules names metrics the gateway really exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from gateway.app import create_app
from gateway.config import load_settings
from tests.debian import debian_binary

ROOT = Path(__file__).resolve().parents[2]
RULE = ROOT / "deploy" / "k8s" / "components" / "monitoring" / "prometheusrule.yaml"
DASHBOARD = ROOT / "deploy" / "monitoring" / "dashboard.json"
BIN = Path(sys.executable).parent
_FUNCTIONS = {"rate", "sum", "by", "le", "histogram_quantile", "max", "min", "time", "increase", "changes", "and"}


def _promtool() -> str:
    return debian_binary(("promtool",), "prometheus", "the alerting rules' tests")


def test_the_alerting_rules_pass_their_unit_tests() -> None:
    """As `make rules-test` runs them: the shipped rules file beside its tests (it was not shipped, issue 30)."""
    promtool = _promtool()
    monitoring = ROOT / "deploy" / "monitoring"
    checked = subprocess.run([promtool, "check", "rules", "rules.yaml"], cwd=monitoring, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [promtool, "test", "rules", str(monitoring / "rules-test.yaml")], capture_output=True, text=True
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    # the PrometheusRule the kustomize component ships holds the same groups
    assert yaml.safe_load(RULE.read_text())["spec"] == yaml.safe_load((monitoring / "rules.yaml").read_text())
    alerts = {rule["alert"] for group in yaml.safe_load(RULE.read_text())["spec"]["groups"] for rule in group["rules"]}
    tested_alerts = set(
        re.findall(r"alertname: (\w+)", (ROOT / "deploy" / "monitoring" / "rules-test.yaml").read_text())
    )
    assert alerts == tested_alerts  # every alert has a test


def test_every_alert_has_a_runbook_section_in_the_operations_guide() -> None:
    readme = (ROOT / "docs" / "operations.md").read_text()
    for group in yaml.safe_load(RULE.read_text())["spec"]["groups"]:
        for rule in group["rules"]:
            anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
            assert f'<a id="{anchor}"></a>' in readme, anchor


def _metric_names(expression: str) -> set[str]:
    expression = re.sub(r"\{[^}]*\}", "", expression)  # label matchers
    expression = re.sub(r"\[[^\]]*\]", "", expression)  # ranges
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expression))
    return {name for name in names if name not in _FUNCTIONS and not name.isdigit() and name.startswith("gateway_")}


async def test_every_query_names_a_metric_the_gateway_exports(aiohttp_client, gateway_env) -> None:
    env = {**gateway_env, "GATEWAY_REDIS_URL": "redis://127.0.0.1:1/0"}  # cluster-mode metrics registered too
    client = await aiohttp_client(create_app(load_settings(env)))
    await client.get("/baw/process-status?process_id=23972")
    await client.get("/readyz")
    exported = set()
    for line in (await (await client.get("/metrics")).text()).splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            exported.add(name)
            exported.update({f"{name}_total"} if kind == "counter" else set())
            exported.update({f"{name}_bucket", f"{name}_count", f"{name}_sum"} if kind == "histogram" else set())
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    queries += [rule["expr"] for group in yaml.safe_load(RULE.read_text())["spec"]["groups"] for rule in group["rules"]]
    used = set().union(*(_metric_names(query) for query in queries))
    assert used and used <= exported, used - exported
    titles = " ".join(panel["title"] for panel in dashboard["panels"])
    for topic in ("route", "Latency", "Cache", "BAW calls", "BAW latency", "token", "Breaker", "REST vs MCP"):
        assert topic in titles, topic


def test_the_monitoring_component_renders_and_validates(tmp_path: Path) -> None:
    tree = tmp_path / "k8s"
    shutil.copytree(ROOT / "deploy" / "k8s", tree)  # kustomize wants relative paths, and the repository untouched
    overlay = tree / "overlays" / "with-monitoring"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": ["../../base"],
                "components": ["../../components/monitoring"],
            }
        )
    )
    rendered = subprocess.run(
        [str(BIN / "kubectl"), "kustomize", str(overlay)], capture_output=True, text=True, check=True
    ).stdout
    kinds = {doc["kind"] for doc in yaml.safe_load_all(rendered)}
    assert {"ServiceMonitor", "PrometheusRule", "Deployment"} <= kinds
    monitor = next(doc for doc in yaml.safe_load_all(rendered) if doc["kind"] == "ServiceMonitor")
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "15s"}]
    assert monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "baw-gateway"


def test_the_operations_guide_shows_the_dashboard_drawn_from_a_real_run() -> None:
    picture = DASHBOARD.with_suffix(".png")
    header = picture.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    assert width >= 1000 and height >= 800
    assert "](../deploy/monitoring/dashboard.png)" in (ROOT / "docs" / "operations.md").read_text()


def test_the_picture_gives_every_series_of_a_panel_its_own_look() -> None:
    """Issue 30: the picture repeated legend colours (nine colours, some alike, for a dozen series)."""
    import importlib.util  # noqa: PLC0415

    spec = importlib.util.spec_from_file_location("render_dashboard", DASHBOARD.parent / "render_dashboard.py")
    renderer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(renderer)
    styles = renderer.line_styles()
    panels = json.loads(DASHBOARD.read_text())["panels"]
    most = max(len(panel.get("targets", [])) for panel in panels)
    assert len(styles) == len(set(styles)) >= 3 * most
    assert len(set(renderer.PALETTE)) == len(renderer.PALETTE)
