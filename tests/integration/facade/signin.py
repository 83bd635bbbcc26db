"""A host's and a browser's steps of the façade's sign-in, shared by its tests (fixtures: conftest.py)."""

from __future__ import annotations

import re
import ssl
from urllib.parse import parse_qs, urlparse

import httpx2

from tests.ports import free_port

PORT = free_port()
PUBLIC = f"http://127.0.0.1:{PORT}"
REDIRECT = "http://127.0.0.1:33418/callback"


def trust(simulator_tls) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(simulator_tls.ca_bundle))


async def sign_in(simulator_tls, url: str, *, decision: str = "allow") -> dict[str, str]:
    """A browser: the gateway's consent page, the IdP's sign-in, back through the gateway to the host."""
    async with httpx2.AsyncClient(verify=trust(simulator_tls)) as browser:
        page = await browser.get(url)
        assert page.status_code == 200 and "Allow" in page.text, page.text
        flow = re.search(r'name="flow" value="([^"]+)"', page.text).group(1)
        action = re.search(r'action="([^"]+)"', page.text).group(1)
        answer = await browser.post(action, data={"flow": flow, "decision": decision})
        while answer.status_code == 302 and not answer.headers["location"].startswith(REDIRECT):
            answer = await browser.get(answer.headers["location"])
    assert answer.status_code == 302, answer.text
    return {k: v[0] for k, v in parse_qs(urlparse(answer.headers["location"]).query).items()}


async def register(gateway) -> str:
    answer = await gateway.post("/oauth/register", json={"redirect_uris": [REDIRECT], "client_name": "t"})
    assert answer.status == 201
    return (await answer.json())["client_id"]


def authorize_url(client_id: str, challenge: str, **overrides: str) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "st-1",
        "resource": f"{PUBLIC}/mcp",
        **overrides,
    }
    return str(httpx2.URL(f"{PUBLIC}/oauth/authorize", params=params))


VERIFIER = "v" * 50
CHALLENGE = "CrlVwe1WSHWuTQYh3iczmx3aS-faRx6C92k9_hNxl4A"  # S256 of VERIFIER


async def signed_in_code(gateway, simulator_tls) -> tuple[str, str]:
    client_id = await register(gateway)
    back = await sign_in(simulator_tls, authorize_url(client_id, CHALLENGE))
    assert back["state"] == "st-1" and back["iss"] == PUBLIC
    return client_id, back["code"]


async def redeem(gateway, client_id: str, code: str, verifier: str = VERIFIER):
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    answer = await gateway.post("/oauth/token", data=form)
    return answer.status, await answer.json()
