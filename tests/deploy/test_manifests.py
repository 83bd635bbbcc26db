"""deploy/k8s renders for every overlay, validates against the Kubernetes schemas, and keeps its promises."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gateway.baw.resilience import RETRY_DEADLINE_S
from gateway.server import CANCEL_GRACE_S

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = sorted(p.name for p in (ROOT / "deploy" / "k8s" / "overlays").iterdir())
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    return str(BIN / name) if (BIN / name).exists() else shutil.which(name) or name


def _kustomize(overlay: str) -> str:
    """The overlay rendered by `kubectl kustomize`, as YAML text."""
    return subprocess.run(
        [_tool("kubectl"), "kustomize", str(ROOT / "deploy" / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _documents(overlay: str) -> dict[tuple[str, str], dict]:
    """The rendered overlay's objects by (kind, name)."""
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in yaml.safe_load_all(_kustomize(overlay))}


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request, tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    output = _kustomize(request.param)
    path = tmp_path_factory.mktemp(request.param) / "all.yaml"
    path.write_text(output)
    # The gateway's own objects by kind (components add others, such as Redis, under other names).
    return path, {doc["kind"]: doc for doc in yaml.safe_load_all(output) if doc["metadata"]["name"] == "baw-gateway"}


# The oldest Kubernetes the manifests are for (docs/operations.md): preStop `sleep` is on by default from 1.30.
MINIMUM_KUBERNETES = "1.30.0"


@pytest.mark.parametrize("version", [MINIMUM_KUBERNETES, None])
def test_overlays_render_and_validate_strictly(rendered, version) -> None:
    path, documents = rendered
    against = ["--kubernetes-version", version] if version else []  # None: the newest schema it knows
    result = subprocess.run(
        [_tool("kubernetes-validate"), "--strict", "--quiet", *against, str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # An OpenShift Route and the Prometheus Operator's kinds have no Kubernetes schema to check against; anything
    # else unknown is a mistake.
    custom = ("kind Route", "kind ServiceMonitor", "kind PrometheusRule")
    unknown = [
        line
        for line in result.stdout.splitlines()
        if "Couldn't find schema" in line and not any(kind in line for kind in custom)
    ]
    assert not unknown, unknown
    assert set(documents) >= {
        "Deployment",
        "Service",
        "ConfigMap",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
    }


def test_deployment_probes_security_and_shutdown_budget(rendered) -> None:
    _, documents = rendered
    pod = documents["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["startupProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] and security["runAsNonRoot"]
    assert security["allowPrivilegeEscalation"] is False and security["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    config = documents["ConfigMap"]["data"]
    drain, shutdown = float(config["GATEWAY_DRAIN_S"]), float(config["GATEWAY_SHUTDOWN_TIMEOUT_S"])
    request_timeout = float(config["GATEWAY_REQUEST_TIMEOUT_S"])
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pre_stop < drain
    # Every request in flight ends within the shutdown timeout (its own deadline, retries included) ...
    assert request_timeout <= shutdown and RETRY_DEADLINE_S < request_timeout
    # ... and what is left is cancelled within twice the grace (aiohttp waits, then cancels and waits again).
    assert pod["terminationGracePeriodSeconds"] > pre_stop + drain + shutdown + 2 * CANCEL_GRACE_S
    # One failed probe is not enough to take a replica out of rotation.
    assert container["readinessProbe"]["failureThreshold"] >= 2


def test_secrets_arrive_as_files_through_the_file_variables(rendered) -> None:
    _, documents = rendered
    container = documents["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert not {"BAW_CLIENT_SECRET", "BAW_PASSWORD", "BAW_API_KEY", "GATEWAY_API_KEYS"} & set(env)
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    assert env["BAW_CLIENT_SECRET_FILE"].startswith(mounts["credentials"])
    assert env["BAW_CA_BUNDLE"].startswith(mounts["ca"])
    assert env["GATEWAY_API_KEYS_FILE"].startswith(mounts["api-keys"])
    assert "BAW_CLIENT_SECRET" not in documents["ConfigMap"]["data"]


def test_prometheus_scrapes_and_the_network_is_closed_by_default(rendered) -> None:
    _, documents = rendered
    annotations = documents["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] == "/metrics"
    policy = documents["NetworkPolicy"]["spec"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    assert [port["port"] for rule in policy["ingress"] for port in rule["ports"]] == [8080]
    # DNS, BAW, and Redis where cluster mode is included
    assert len(policy["egress"]) == (3 if "GATEWAY_REDIS_URL" in str(documents["Deployment"]) else 2)


def test_production_serves_no_api_explorer() -> None:
    output = _kustomize("prod")
    config = next(doc for doc in yaml.safe_load_all(output) if doc["kind"] == "ConfigMap")
    assert config["data"]["GATEWAY_DOCS"] == "off"


def test_applying_an_overlay_never_overwrites_a_secret(rendered) -> None:
    """The example Secrets used to be part of the base: `apply -k` replaced the real ones with placeholders."""
    path, _ = rendered
    assert not [doc for doc in yaml.safe_load_all(path.read_text()) if doc["kind"] == "Secret"]


def test_production_runs_cluster_mode_with_a_hardened_redis_only_gateways_reach() -> None:
    documents = _documents("prod")
    gateway = documents[("Deployment", "baw-gateway")]["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item["value"] for item in gateway["env"]}
    assert env["GATEWAY_REDIS_URL"].startswith("redis://baw-gateway-redis:")
    assert env["GATEWAY_REDIS_PASSWORD_FILE"].startswith("/var/run/secrets/")
    redis = documents[("Deployment", "baw-gateway-redis")]["spec"]["template"]["spec"]
    container = redis["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] and container["securityContext"]["runAsNonRoot"]
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert "requirepass" not in " ".join(container["args"]) and "env" not in container  # password from a file only
    # issue 29 row 2: short-lived keys are evicted first, refresh-token families and used clients last
    assert container["args"][container["args"].index("--maxmemory-policy") + 1] == "volatile-ttl"
    policy = documents[("NetworkPolicy", "baw-gateway-redis")]["spec"]
    assert policy["ingress"][0]["from"][0]["podSelector"]["matchLabels"] == {"app.kubernetes.io/component": "gateway"}
    assert policy["egress"] == []
    egress = documents[("NetworkPolicy", "baw-gateway")]["spec"]["egress"]
    assert any(port["port"] == 6379 for rule in egress for port in rule["ports"])


def test_examples_validate_and_are_outside_what_apply_applies() -> None:
    for example in sorted((ROOT / "deploy" / "k8s" / "examples").glob("*.yaml")):
        result = subprocess.run(
            [_tool("kubernetes-validate"), "--strict", "--quiet", str(example)], capture_output=True, text=True
        )
        assert result.returncode == 0, (example.name, result.stdout + result.stderr)
    for kustomization in (ROOT / "deploy" / "k8s").rglob("kustomization.yaml"):
        listed = yaml.safe_load(kustomization.read_text())
        applied = [*listed.get("resources", []), *listed.get("components", [])]
        assert not [entry for entry in applied if "examples" in entry], kustomization


def test_pods_run_under_restricted_security_without_a_fixed_uid_and_spread_over_nodes_and_zones(rendered) -> None:
    """OpenShift's restricted-v2 SCC assigns its own UID range: a fixed runAsUser made the pods unschedulable."""
    path, documents = rendered
    for document in yaml.safe_load_all(path.read_text()):
        if document["kind"] != "Deployment":
            continue
        pod = document["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert "runAsUser" not in pod["securityContext"] and "fsGroup" not in pod["securityContext"]
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False and security["capabilities"]["drop"] == ["ALL"]
            if "openshift" in path.parent.name:
                assert "runAsUser" not in security
    spread = documents["Deployment"]["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert {rule["topologyKey"] for rule in spread} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}


def test_the_openshift_overlay_has_a_route_and_openshift_dns() -> None:
    documents = _documents("openshift")
    route = documents[("Route", "baw-gateway")]["spec"]
    assert route["to"]["name"] == "baw-gateway" and route["tls"]["termination"] == "edge"
    dns = documents[("NetworkPolicy", "baw-gateway")]["spec"]["egress"][0]
    assert dns["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "openshift-dns"}
    assert {port["port"] for port in dns["ports"]} == {5353}


def test_production_replicas_and_autoscaler_minimum_agree() -> None:
    documents = _documents("prod")
    replicas = documents[("Deployment", "baw-gateway")]["spec"]["replicas"]
    assert documents[("HorizontalPodAutoscaler", "baw-gateway")]["spec"]["minReplicas"] == replicas == 3


COMPONENTS = sorted(p.name for p in (ROOT / "deploy" / "k8s" / "components").iterdir())


def _over_the_base(component: str, directory: Path) -> str:
    """The base with one component, rendered as an overlay of one's own would."""
    overlay = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        # (kustomize takes no absolute root)
        "resources": [os.path.relpath(ROOT / "deploy" / "k8s" / "base", directory)],
        "components": [os.path.relpath(ROOT / "deploy" / "k8s" / "components" / component, directory)],
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(overlay))
    return subprocess.run(
        [_tool("kubectl"), "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(directory)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _unknown_settings(rendered: str) -> list[str]:
    """The variables a rendered gateway is given (its ConfigMap and its container's env) in its prefixes that are not
    declared settings (gateway/config.py, the source of docs/configuration.md)."""
    from gateway.config import known_variables  # noqa: PLC0415

    documents = {(doc["kind"], doc["metadata"]["name"]): doc for doc in yaml.safe_load_all(rendered)}
    env = dict(documents[("ConfigMap", "baw-gateway")]["data"])
    container = documents[("Deployment", "baw-gateway")]["spec"]["template"]["spec"]["containers"][0]
    env |= {item["name"]: item.get("value", "x") for item in container.get("env", [])}
    return sorted(
        name for name in env if name.startswith(("GATEWAY_", "BAW_", "PLUGIN_")) and name not in known_variables()
    )


@pytest.mark.parametrize("component", COMPONENTS)
def test_each_component_renders_over_the_base_validates_and_sets_only_known_settings(component, tmp_path) -> None:
    """The OAuth issuer, the façade with its signing-key Secret, Zen, Redis and monitoring (issue 30)."""
    rendered = _over_the_base(component, tmp_path)
    (tmp_path / "all.yaml").write_text(rendered)
    result = subprocess.run(
        [_tool("kubernetes-validate"), "--strict", "--quiet", str(tmp_path / "all.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert _unknown_settings(rendered) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_sets_only_settings_the_gateway_knows(overlay) -> None:
    assert _unknown_settings(_kustomize(overlay)) == []


def test_the_facade_component_mounts_its_signing_key_and_zen_swaps_the_secret(tmp_path) -> None:
    facade = yaml.safe_load_all(_over_the_base("oauth-facade", tmp_path))
    container = next(doc for doc in facade if doc["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    names = {item["name"] for item in container["env"]}
    assert {"GATEWAY_OAUTH_PROXY_SIGNING_KEY_FILE", "GATEWAY_OAUTH_PROXY_UPSTREAM_CLIENT_SECRET_FILE"} <= names
    zen = list(yaml.safe_load_all(_over_the_base("zen", tmp_path)))
    container = next(doc for doc in zen if doc["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    names = {item["name"] for item in container["env"]}
    assert "BAW_PASSWORD_FILE" in names and "BAW_CLIENT_SECRET_FILE" not in names
