"""The faces hosts discover the gateway by: manifest, OpenAPI document, Swagger UI, logo, legal page."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from gateway.app import create_app
from gateway.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = "https://gateway.example.com/tools"
# No BAW is contacted by these tests: basic auth has no token endpoint to call.
ENV = {
    "BAW_BASE_URL": "https://baw.invalid",
    "BAW_AUTH": "basic",
    "BAW_USERNAME": "u",
    "BAW_PASSWORD": "p",
    "GATEWAY_PUBLIC_URL": PUBLIC,
}


@pytest.fixture
async def client(aiohttp_client):
    return await aiohttp_client(create_app(load_settings(ENV)))


async def test_openapi_document_validates_and_points_at_the_public_url(client) -> None:
    response = await client.get("/openapi.json")
    assert response.status == 200
    document = await response.json()
    validate(document)
    assert document["openapi"] in ("3.0.3", "3.1.0")
    assert document["servers"][0]["url"] == PUBLIC


async def test_operations_fit_the_gpt_actions_limits(client) -> None:
    document = await (await client.get("/openapi.json")).json()
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert 0 < len(operations) <= 30
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    for op in operations:
        assert op["x-openai-isConsequential"] is False
        assert len(op["summary"]) <= 300 and len(op["description"]) <= 300
        for parameter in op.get("parameters", []):
            assert len(parameter["description"]) <= 700
        assert {"200", "400", "502", "503", "504"} <= set(op["responses"])
        for status, response in op["responses"].items():
            if status != "200":
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_committed_spec_is_what_the_code_generates() -> None:
    generated = subprocess.run(
        [sys.executable, "-m", "gateway", "openapi"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PATH": ""},
    ).stdout
    committed = (ROOT / "specs" / "openapi.json").read_text()
    assert generated == committed, "specs/openapi.json is stale: run `make spec` and commit it"


async def test_plugin_manifest_is_within_the_hosts_limits_and_on_the_serving_domain(client) -> None:
    response = await client.get("/.well-known/ai-plugin.json")
    assert response.status == 200
    manifest = await response.json()
    assert manifest["schema_version"] == "v1"
    assert len(manifest["name_for_human"]) <= 20
    assert len(manifest["name_for_model"]) <= 50 and manifest["name_for_model"].replace("_", "").isalnum()
    assert len(manifest["description_for_human"]) <= 100
    assert len(manifest["description_for_model"]) <= 8000
    assert manifest["auth"] == {"type": "none"}
    assert manifest["api"] == {"type": "openapi", "url": f"{PUBLIC}/openapi.json", "is_user_authenticated": False}
    assert manifest["logo_url"] == f"{PUBLIC}/logo.png"
    assert manifest["legal_info_url"] == f"{PUBLIC}/legal"
    assert "@" in manifest["contact_email"]


async def test_logo_is_a_real_png_and_legal_and_docs_pages_are_served(client) -> None:
    logo = await client.get("/logo.png")
    assert logo.status == 200 and logo.content_type == "image/png"
    assert (await logo.read()).startswith(b"\x89PNG\r\n\x1a\n")
    legal = await client.get("/legal")
    assert legal.status == 200 and "read-only" in await legal.text()
    docs = await client.get("/docs")
    page = await docs.text()
    # Relative asset and document URLs: the page works under a path prefix of GATEWAY_PUBLIC_URL.
    assert docs.status == 200 and 'src="docs/static/swagger-ui-bundle.js"' in page and "http" not in page
    assert "frame-ancestors 'none'" in docs.headers["Content-Security-Policy"]
    config = await (await client.get("/docs/static/docs.js")).text()
    assert 'url: "openapi.json"' in config and "queryConfigEnabled: false" in config
    bundle = await (await client.get("/docs/static/swagger-ui-bundle.js")).text()
    version = tuple(int(n) for n in re.search(r'"(5\.\d+\.\d+)"', bundle).group(1).split("."))
    assert version >= (5, 0, 0)  # the ?url= / configUrl spoofing flaw was fixed in 4.1.3


async def test_docs_can_be_turned_off(aiohttp_client) -> None:
    settings = load_settings({**ENV, "GATEWAY_DOCS": "off"})
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/docs")).status == 404
    assert (await client.get("/docs/static/swagger-ui-bundle.js")).status == 404


async def test_unknown_paths_and_methods_answer_in_the_error_envelope(client) -> None:
    missing = await client.get("/nowhere")
    assert missing.status == 404
    body = await missing.json()
    assert body["error"]["code"] == "not_found"
    assert body["error"]["request_id"] == missing.headers["X-Request-ID"]
    wrong_method = await client.post("/baw/process-status")
    assert wrong_method.status == 405
    assert (await wrong_method.json())["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("", "process_id: required."),
        ("?process_id=abc", "1 to 12 digits"),
        ("?process_id=1234567890123", "1 to 12 digits"),
        ("?process_id=%D9%A3", "1 to 12 digits"),  # an Arabic-Indic digit is not an ASCII digit
        ("?process_id=../../admin", "1 to 12 digits"),
        ("?process_id=1&process_id=2", "give this parameter once"),
        ("?process_id=1&verbose=1", "verbose: not a parameter of this tool. Known parameters: process_id."),
    ],
)
async def test_bad_ids_are_refused_before_anything_goes_upstream(client, query: str, text: str) -> None:
    response = await client.get(f"/baw/process-status{query}")
    assert response.status == 400
    body = await response.json()
    assert body["error"]["code"] == "invalid_request"
    assert text in body["error"]["message"]


async def test_a_sane_request_id_is_kept_and_an_insane_one_replaced(client) -> None:
    kept = await client.get("/livez", headers={"X-Request-ID": "host-abc.123"})
    assert kept.headers["X-Request-ID"] == "host-abc.123"
    replaced = await client.get("/livez", headers={"X-Request-ID": "bad id\twith <html>"})
    assert replaced.headers["X-Request-ID"] != "bad id\twith <html>"
    assert len(replaced.headers["X-Request-ID"]) == 32
    assert json.loads(await kept.text())["status"] == "ok"


async def test_a_rotated_verification_token_file_is_served_without_a_restart(aiohttp_client, tmp_path: Path) -> None:
    token = tmp_path / "verification"
    token.write_text("first-token\n")
    env = {**ENV, "GATEWAY_API_KEYS": "k-123", "PLUGIN_VERIFICATION_TOKEN_FILE": str(token)}
    client = await aiohttp_client(create_app(load_settings(env)))
    first = await (await client.get("/.well-known/ai-plugin.json")).json()
    token.write_text("second-token\n")
    second = await (await client.get("/.well-known/ai-plugin.json")).json()
    assert first["auth"]["verification_tokens"] == {"openai": "first-token"}
    assert second["auth"]["verification_tokens"] == {"openai": "second-token"}
