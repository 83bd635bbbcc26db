"""The MCP Registry entry (deploy/registry/server.json, issue 27), checked against what the registry's published
server.json schema requires of a remote server (the schema itself is not vendored: its rules are written out here)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from gateway import __version__

ENTRY = Path(__file__).resolve().parents[2] / "deploy" / "registry" / "server.json"
_INPUT = {"type": "object", "properties": {"description": {"type": "string"}, "isRequired": {"type": "boolean"}}}
REMOTE_SERVER = {
    "type": "object",
    "required": ["$schema", "name", "description", "version", "remotes"],
    "properties": {
        "$schema": {"const": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"},
        # reverse-DNS namespace, one slash, then the server's name
        "name": {"type": "string", "pattern": "^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$", "minLength": 3, "maxLength": 200},
        "description": {"type": "string", "minLength": 1, "maxLength": 100},
        # a version, never a range or "latest"
        "version": {"type": "string", "maxLength": 255, "not": {"pattern": "^(latest|[~^<>=].*|.*[x*].*)$"}},
        "title": {"type": "string", "maxLength": 100},
        "remotes": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["type", "url"],
                "properties": {
                    "type": {"enum": ["streamable-http", "sse"]},
                    "url": {"type": "string", "pattern": "^https://"},
                    "headers": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {"name": {"type": "string"}, "isSecret": {"type": "boolean"}},
                        },
                    },
                    "variables": {"type": "object", "additionalProperties": _INPUT},
                },
            },
        },
    },
}


def test_the_registry_entry_is_a_valid_remote_server_of_this_version() -> None:
    entry = json.loads(ENTRY.read_text())
    jsonschema.validate(entry, REMOTE_SERVER)
    assert entry["version"] == __version__
    [remote] = entry["remotes"]
    assert remote["type"] == "streamable-http" and remote["url"].endswith("/mcp")
    assert set(remote["variables"]) == {"gateway_host"}  # every {variable} in the URL is declared
