"""`search` and `fetch` in the shape ChatGPT's company knowledge and deep research take (issue 27), on both faces,
validated against a JSON Schema of that shape."""

from __future__ import annotations

import json

import jsonschema
import pytest
from mcp import Client

from gateway.app import create_app
from gateway.config import load_settings

_STRING = {"type": "string", "minLength": 1}
SEARCH = {
    "type": "object",
    "required": ["results"],
    "additionalProperties": False,
    "properties": {
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "title", "url"],
                "additionalProperties": False,
                "properties": {"id": _STRING, "title": _STRING, "url": {"type": "string", "format": "uri"}},
            },
        }
    },
}
FETCH = {
    "type": "object",
    "required": ["id", "title", "text", "url", "metadata"],
    "additionalProperties": False,
    "properties": {
        "id": _STRING,
        "title": _STRING,
        "text": _STRING,
        "url": {"type": "string"},
        "metadata": {"type": "object"},
    },
}
PORTAL = "https://baw.example.com/ProcessPortal/launchInstanceUI?instanceId={id}"


@pytest.fixture
def gateway_env(gateway_env):
    return {**gateway_env, "BAW_PORTAL_URL": PORTAL}


async def _search(gateway, words: str) -> list[dict]:
    answer = await gateway.get("/baw/search", params={"query": words})
    assert answer.status == 200
    body = await answer.json()
    jsonschema.validate(body, SEARCH)
    return body["results"]


async def test_search_by_id_app_status_and_name_words(gateway) -> None:
    [hit] = await _search(gateway, "23972")
    assert hit == {
        "id": "23972",
        "title": "Loan Application:23972 (active)",
        "url": PORTAL.replace("{id}", "23972"),
    }
    procurement = await _search(gateway, "PROC active")
    assert procurement and all("(active)" in hit["title"] for hit in procurement)
    assert "2001" in {hit["id"] for hit in procurement}
    loans = await _search(gateway, "loan application")
    assert loans and all("loan application" in hit["title"].casefold() for hit in loans)
    assert await _search(gateway, "no such words anywhere") == []
    assert await _search(gateway, "999999") == []  # an id BAW does not have


async def test_fetch_reads_one_instance(gateway) -> None:
    answer = await gateway.get("/baw/fetch?id=23972")
    document = await answer.json()
    jsonschema.validate(document, FETCH)
    assert document["id"] == "23972" and document["url"] == PORTAL.replace("{id}", "23972")
    assert document["text"].startswith("Loan Application:23972 is active")
    assert document["metadata"]["process_app"] == "LOAN" and document["metadata"]["status"] == "active"
    assert (await gateway.get("/baw/fetch?id=abc")).status == 400


async def test_a_search_asked_again_is_answered_from_the_cache(gateway, simulator) -> None:
    await _search(gateway, "PROC")
    calls = simulator.state.calls["process"]
    await _search(gateway, "PROC")
    assert simulator.state.calls["process"] == calls


async def test_search_and_fetch_over_mcp_carry_the_shape_in_their_text(gateway) -> None:
    """ChatGPT reads the text content of these two: the JSON object itself."""
    async with Client(f"http://127.0.0.1:{gateway.port}/mcp", mode="auto") as client:
        found = await client.call_tool("search", {"query": "PROC"})
        read = await client.call_tool("fetch", {"id": found.structured_content["results"][0]["id"]})
    jsonschema.validate(json.loads(found.content[0].text), SEARCH)
    jsonschema.validate(json.loads(read.content[0].text), FETCH)


async def test_without_a_portal_url_the_link_is_the_gateways_own_lookup(aiohttp_client, gateway_env) -> None:
    env = {key: value for key, value in gateway_env.items() if key != "BAW_PORTAL_URL"}
    client = await aiohttp_client(create_app(load_settings(env)))
    [hit] = await _search(client, "23972")
    assert hit["url"] == "https://gateway.example.com/baw/process-status?process_id=23972"
