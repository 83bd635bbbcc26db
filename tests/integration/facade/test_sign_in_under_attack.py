"""The sign-in front under attack (issue 29): each test is a row of the issue, tried as the attacker did, against
the façade on its defaults (the simulator as the upstream IdP, real sockets, real TLS for client documents)."""

from __future__ import annotations

import asyncio
import gzip
import logging
import re
import time
from pathlib import Path

import aiohttp
import httpx2
import pytest
from aiohttp import DummyCookieJar
from redis.asyncio import Redis

from gateway.app import create_app
from gateway.config import load_settings
from gateway.oauth.facade import BROWSER_COOKIE, DOCUMENT_LIMITS, FACADE, REGISTRATION_LIMITS
from tests.integration.facade.signin import (
    CHALLENGE,
    PORT,
    PUBLIC,
    REDIRECT,
    authorize_url,
    redeem,
    register,
    signed_in_code,
    trust,
)


def _path(url: str) -> str:
    return url.removeprefix(PUBLIC)


def _flow_id(page: str) -> str:
    return re.search(r'name="flow" value="([^"]+)"', page).group(1)


async def _consent_page(gateway, client_id: str) -> tuple[str, str]:
    """The attacker's own authorize: (flow id, the cookie its browser was given)."""
    answer = await gateway.get(_path(authorize_url(client_id, CHALLENGE)))
    assert answer.status == 200
    return _flow_id(await answer.text()), answer.cookies[BROWSER_COOKIE].value


# ------------------------------------------------------------------ row 1: consent bound to the browser


async def test_a_consent_posted_from_another_browser_sends_no_code_anywhere(gateway) -> None:
    """The attacker registers a client named "ChatGPT" returning to its own site, opens the consent page itself
    and makes alice's browser auto-POST the flow id. Alice's browser never saw that page: refused, no redirect."""
    answer = await gateway.post(
        "/oauth/register", json={"redirect_uris": ["https://attacker.example/cb"], "client_name": "ChatGPT"}
    )
    client_id = (await answer.json())["client_id"]
    page = await gateway.get(
        _path(authorize_url(client_id, CHALLENGE, redirect_uri="https://attacker.example/cb")),
    )
    assert "attacker.example" in await page.text()  # the host the code would go to is shown
    flow = _flow_id(await page.text())
    cookie = page.cookies[BROWSER_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/oauth"
    async with aiohttp.ClientSession(cookie_jar=DummyCookieJar()) as alice:  # her browser, without the cookie
        for headers in ({"Origin": "https://attacker.example"}, {}):  # cross-site, or Origin stripped
            async with alice.post(
                f"{PUBLIC}/oauth/consent",
                data={"flow": flow, "decision": "allow"},
                headers=headers,
                allow_redirects=False,
            ) as posted:
                assert posted.status in (400, 403) and "Location" not in posted.headers


async def test_a_cross_site_post_is_refused_even_with_the_cookie(gateway) -> None:
    client_id = await register(gateway)
    flow, browser = await _consent_page(gateway, client_id)
    for headers in ({"Origin": "https://attacker.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
        answer = await gateway.post(
            "/oauth/consent",
            data={"flow": flow, "decision": "allow"},
            headers={**headers, "Cookie": f"{BROWSER_COOKIE}={browser}"},
            allow_redirects=False,
        )
        assert answer.status == 403 and "Location" not in answer.headers


async def test_the_browser_that_saw_the_page_consents(gateway) -> None:
    client_id = await register(gateway)
    flow, browser = await _consent_page(gateway, client_id)
    answer = await gateway.post(
        "/oauth/consent",
        data={"flow": flow, "decision": "allow"},
        headers={"Origin": PUBLIC, "Cookie": f"{BROWSER_COOKIE}={browser}"},
        allow_redirects=False,
    )
    assert answer.status == 302 and "/oauth/authorize" in answer.headers["Location"]  # on to the IdP


# ------------------------------------------------------------------ rows 2 and 3: client documents


@pytest.fixture
def public_only_env(gateway_env):
    """The façade on its defaults: no host allowed at a private address."""
    return {key: value for key, value in gateway_env.items() if key != "GATEWAY_OAUTH_CIMD_PRIVATE_HOSTS"}


async def test_client_documents_are_never_fetched_from_private_addresses(
    aiohttp_client, public_only_env, simulator, idp
) -> None:
    """SSRF: a client id naming the BAW API, the simulator's control paths or a name resolving to loopback made
    the gateway send GETs there. Refused before any connection."""
    gateway = await aiohttp_client(create_app(load_settings(public_only_env)), server_kwargs={"port": PORT})
    idp.documents["inside"] = {"client_id": "x", "redirect_uris": [REDIRECT]}
    port = simulator.server.port
    for client_id in (
        f"https://127.0.0.1:{port}/_simulator/clients/inside",
        f"https://localhost:{port}/_simulator/clients/inside",
        f"https://[::1]:{port}/_simulator/clients/inside",
        f"https://10.0.0.1:{port}/bpm/rest",
        f"https://169.254.169.254:{port}/latest/meta-data",
    ):
        answer = await gateway.get(_path(authorize_url(client_id, CHALLENGE)))
        assert answer.status == 400 and "not known" in await answer.text()
    assert idp.calls.get("documents", 0) == 0


async def test_every_failed_document_fetch_answers_after_the_same_time(
    aiohttp_client, public_only_env, simulator
) -> None:
    """A port-scan oracle: an open port answered in 5 s, a closed one at once. Every failure now waits out the
    fetch deadline (0.5 s here), refused address, closed port or open port alike."""
    gateway = await aiohttp_client(create_app(load_settings(public_only_env)), server_kwargs={"port": PORT})
    for client_id in (
        f"https://127.0.0.1:{simulator.server.port}/_simulator/clients/x",  # open, refused by address
        "https://127.0.0.1:1/x",  # closed
    ):
        started = time.monotonic()
        answer = await gateway.get(_path(authorize_url(client_id, CHALLENGE)))
        assert answer.status == 400
        assert time.monotonic() - started >= 0.5


async def test_document_fetches_are_bounded_per_address_and_in_total(gateway, simulator, idp) -> None:
    """20,500 distinct client ids were each fetched and kept an hour (1.3 GB). Now: a burst per address, a burst
    over all addresses, and nothing kept for a document that failed."""
    root = simulator.root

    async def authorize(index: int, address: str) -> int:
        url = authorize_url(f"{root}/_simulator/clients/flood-{index}", CHALLENGE)
        answer = await gateway.get(_path(url), headers={"X-Forwarded-For": address})
        return answer.status

    per_address, total = DOCUMENT_LIMITS
    statuses = await asyncio.gather(*(authorize(i, "203.0.113.9") for i in range(per_address[1] + 15)))
    assert statuses.count(429) >= 15 and idp.calls["documents"] <= per_address[1] + 1
    statuses = await asyncio.gather(*(authorize(100 + i, f"198.51.100.{i}") for i in range(total[1] + 30)))
    assert statuses.count(429) >= 20 and idp.calls["documents"] <= per_address[1] + total[1] + 2


async def test_documents_must_be_small_and_name_acceptable_redirect_uris(gateway, simulator, idp) -> None:
    root = simulator.root
    cases = {
        "big": {"client_name": "x" * 6000, "redirect_uris": [REDIRECT]},
        "script": {"redirect_uris": ["javascript:alert(1)"]},
        "data": {"redirect_uris": ["data:text/html,hi"]},
        "plain-http": {"redirect_uris": ["http://attacker.example/cb"]},
        "backslash": {"redirect_uris": ["https://good.example\\@attacker.example/cb"]},
    }
    for name, document in cases.items():
        client_id = f"{root}/_simulator/clients/{name}"
        idp.documents[name] = {"client_id": client_id, **document}
        uri = document["redirect_uris"][0]
        answer = await gateway.get(_path(authorize_url(client_id, CHALLENGE, redirect_uri=uri)))
        assert answer.status == 400 and "Location" not in answer.headers, name
    documents = gateway.server.app[FACADE].documents
    assert all(documents.kept(f"{root}/_simulator/clients/{name}") is None for name in cases)  # none kept


# ------------------------------------------------------------------ row 4: registrations and sign-ins under way


async def test_registrations_are_bounded_per_address_and_in_total(gateway) -> None:
    async def register(address: str) -> int:
        answer = await gateway.post(
            "/oauth/register", json={"redirect_uris": [REDIRECT]}, headers={"X-Forwarded-For": address}
        )
        return answer.status

    (_, burst), (_, total) = REGISTRATION_LIMITS
    statuses = [await register("203.0.113.7") for _ in range(burst + 5)]
    assert statuses[:burst] == [201] * burst and statuses[burst:] == [429] * 5
    statuses = [await register(f"198.51.100.{i % 250}") for i in range(total + 10)]
    assert statuses.count(429) >= 10  # the total holds across addresses


async def test_a_registration_no_code_was_redeemed_for_expires_within_the_hour(gateway, simulator_tls, clock) -> None:
    unused = await register(gateway)
    used, code = await signed_in_code(gateway, simulator_tls)
    assert (await redeem(gateway, used, code))[0] == 200
    clock.now += 3601
    for client_id, known in ((unused, False), (used, True)):
        answer = await gateway.get(_path(authorize_url(client_id, CHALLENGE)))
        assert (answer.status == 200) is known, client_id


async def test_a_flood_of_sign_ins_never_pushes_out_one_under_way(gateway, simulator_tls) -> None:
    """20,500 authorize calls evicted a pending sign-in. The flood is now refused (429) long before the table
    fills, and a full table refuses new sign-ins rather than dropping old ones (tests/unit/test_flows.py)."""
    client_id = await register(gateway)
    flow, browser = await _consent_page(gateway, client_id)
    statuses = await asyncio.gather(
        *(
            gateway.get(
                _path(authorize_url(client_id, CHALLENGE)), headers={"X-Forwarded-For": f"10.9.{i // 250}.{i % 250}"}
            )
            for i in range(600)
        )
    )
    assert [answer.status for answer in statuses].count(429) >= 300
    answer = await gateway.post(
        "/oauth/consent",
        data={"flow": flow, "decision": "allow"},
        headers={"Cookie": f"{BROWSER_COOKIE}={browser}"},
        allow_redirects=False,
    )
    assert answer.status == 302


# ------------------------------------------------------------------ row 11: redirects, refresh reuse, logs


async def test_a_bad_authorize_request_is_answered_on_a_page_not_by_a_redirect(gateway) -> None:
    """A client anyone can register turned the gateway into a redirector to its own address on the error path."""
    client_id = await register(gateway)
    for overrides in (
        {"response_type": "token"},
        {"code_challenge_method": "plain"},
        {"resource": "https://elsewhere.example"},
        {"scope": "admin"},
    ):
        answer = await gateway.get(_path(authorize_url(client_id, CHALLENGE, **overrides)), allow_redirects=False)
        assert answer.status == 400 and "Location" not in answer.headers, overrides


async def test_a_spent_refresh_token_that_comes_back_revokes_the_newer_one(gateway, simulator_tls, caplog) -> None:
    client_id, code = await signed_in_code(gateway, simulator_tls)
    _, first = await redeem(gateway, client_id, code)

    async def refresh(token: str) -> tuple[int, dict]:
        form = {"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id}
        answer = await gateway.post("/oauth/token", data=form)
        return answer.status, await answer.json()

    status, second = await refresh(first["refresh_token"])
    assert status == 200
    with caplog.at_level(logging.WARNING, logger="gateway.web.signin"):
        assert (await refresh(first["refresh_token"]))[1]["error"] == "invalid_grant"  # a stolen copy replayed
    assert (await refresh(second["refresh_token"]))[1]["error"] == "invalid_grant"  # the family is revoked
    assert "revoked" in caplog.text and first["refresh_token"] not in caplog.text


async def test_a_failed_sign_in_at_the_idp_is_logged(gateway, simulator_tls, idp, caplog) -> None:
    """The IdP's token endpoint fails while its code comes back: the host is told, and the operator can see why."""
    client_id = await register(gateway)
    async with httpx2.AsyncClient(verify=trust(simulator_tls)) as browser:
        page = await browser.get(authorize_url(client_id, CHALLENGE))
        answer = await browser.post(f"{PUBLIC}/oauth/consent", data={"flow": _flow_id(page.text), "decision": "allow"})
        while not answer.headers["location"].startswith(f"{PUBLIC}/oauth/callback"):
            answer = await browser.get(answer.headers["location"])
        idp.down = True  # the code is back; its redemption at the IdP answers 503
        with caplog.at_level(logging.WARNING, logger="gateway.web.signin"):
            back = await browser.get(answer.headers["location"])
    assert back.status_code == 302 and "error=server_error" in back.headers["location"]
    assert "sign-in at the upstream IdP failed" in caplog.text and "HTTP 503" in caplog.text


async def test_backslashes_in_a_client_id_or_a_redirect_uri_are_refused_cleanly(gateway) -> None:
    answer = await gateway.post("/oauth/register", json={"redirect_uris": ["https://good.example\\@evil.example/"]})
    assert answer.status == 400 and (await answer.json())["error"] == "invalid_redirect_uri"
    answer = await gateway.get(_path(authorize_url("https://good.example\\@evil.example/x", CHALLENGE)))
    assert answer.status == 400


# ------------------------------------------------------------------ row 6 through the whole gateway


async def test_a_random_forwarded_header_does_not_dodge_the_key_guessing_brake(aiohttp_client, gateway_env) -> None:
    env = {**gateway_env, "GATEWAY_API_KEYS": "right-key-0123456789"}
    client = await aiohttp_client(create_app(load_settings(env)))
    statuses = []
    for guess in range(40):
        answer = await client.get(
            "/baw/process-status?process_id=23972",
            headers={
                "Authorization": f"Bearer wrong-{guess}",
                "X-Forwarded-For": "203.0.113.50",
                "Forwarded": f"for=192.0.2.{guess}",
            },
        )
        statuses.append(answer.status)
    assert statuses[:10] == [401] * 10 and 429 in statuses[10:]


# ------------------------------------------------------------------ rows 2 and 5 in Redis


@pytest.fixture
async def clustered(aiohttp_client, cluster_env, clock, redis_server):
    client = await aiohttp_client(create_app(load_settings(cluster_env), clock=clock), server_kwargs={"port": PORT})
    redis = Redis.from_url(redis_server.url, password=redis_server.password)
    yield client, redis
    await redis.aclose()


async def _contents(redis: Redis) -> bytes:
    """Every key and value in Redis, as one text to search."""
    parts = []
    async for key in redis.scan_iter(count=1000):
        parts.append(key)
        if await redis.type(key) == b"string":
            parts.append(await redis.get(key) or b"")
    return b"\n".join(parts)


async def test_redis_holds_only_hashes_of_codes_and_refresh_tokens(clustered, simulator_tls) -> None:
    """`oauth:refresh:<token>` was readable with --scan and redeemable as alice; verifiers sat in values."""
    gateway, redis = clustered
    client_id, code = await signed_in_code(gateway, simulator_tls)
    assert code.encode() not in await _contents(redis)
    status, tokens = await redeem(gateway, client_id, code)
    assert status == 200
    contents = await _contents(redis)
    assert tokens["refresh_token"].encode() not in contents and b"oauth:refresh" in contents
    assert b"verifier" not in contents  # the upstream PKCE verifier is derived again, never stored


async def test_anonymous_traffic_leaves_redis_small(clustered, simulator, idp) -> None:
    """4,000 client ids in 8 s filled the shipped Redis until it evicted every refresh token and client. Client
    documents are kept by the process only; what anonymous callers can add is bounded by the brakes."""
    gateway, redis = clustered
    idp.documents["one"] = {"client_id": f"{simulator.root}/_simulator/clients/one", "redirect_uris": [REDIRECT]}

    async def authorize(index: int) -> None:
        client_id = f"{simulator.root}/_simulator/clients/{'one' if index == 0 else index}"
        await gateway.get(_path(authorize_url(client_id, CHALLENGE)), headers={"X-Forwarded-For": f"10.8.0.{index}"})

    await authorize(0)
    await asyncio.gather(*(authorize(index) for index in range(1, 250)))
    keys = [key async for key in redis.scan_iter(match="baw-gateway:oauth:*", count=1000)]
    assert [key.split(b":")[2] for key in keys] == [b"flow"]  # the one sign-in under way; no document, no client
    async for key in redis.scan_iter(match="baw-gateway:limit:*", count=1000):  # and the brakes' keys, short-lived
        assert 0 < await redis.pttl(key) <= 60_000, key


# ------------------------------------------------------------------ row 10: a deadline on every body


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/register", "/oauth/consent"])
async def test_a_slow_body_on_the_sign_in_routes_meets_the_body_deadline(aiohttp_client, gateway_env, path) -> None:
    """Slow bodies on /oauth/token, /register and /consent stayed open past 72 s; 1,000 of them held the cap."""
    env = {**gateway_env, "GATEWAY_BODY_TIMEOUT_S": "0.5"}
    await aiohttp_client(create_app(load_settings(env)), server_kwargs={"port": PORT})
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    writer.write(head.encode() + b"Content-Length: 100\r\n\r\ngrant_type=")
    await writer.drain()
    answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert answer.startswith(b"HTTP/1.1 408 ") and b"Connection: close" in answer
    writer.close()
    await writer.wait_closed()


# ------------------------------------------------------------------ rows 2 and 4 as the process sees them


def _rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


async def test_floods_of_client_ids_and_registrations_leave_the_process_small(gateway_process, simulator) -> None:
    """20,500 client ids in 21 s took the process to 1,360 MB (pod limit 256 Mi); 20,500 registrations from 205
    addresses added 385 MB. The same floods, from a thousand addresses, now cost a few MB at most."""
    process, base, log = await gateway_process()
    before = _rss_kib(process.pid)
    connector = aiohttp.TCPConnector(limit=50)
    async with aiohttp.ClientSession(base, connector=connector) as http:

        async def one(index: int) -> int:
            address = {"X-Forwarded-For": f"10.{index // 62500}.{index // 250 % 250}.{index % 250}"}
            if index % 2:
                document = f"{simulator.root}/_simulator/clients/flood-{index}-{'x' * 1500}"
                url = _path(authorize_url(document, CHALLENGE))
                async with http.get(url, headers=address) as answer:
                    return answer.status
            body = {"redirect_uris": [REDIRECT], "client_name": "x" * 100}
            async with http.post("/oauth/register", json=body, headers=address) as answer:
                return answer.status

        statuses = await asyncio.gather(*(one(index) for index in range(6000)))
    assert statuses.count(429) > 5000  # braked in total, whatever the address
    grown_mib = (_rss_kib(process.pid) - before) / 1024
    assert grown_mib < 40, grown_mib
    assert "Traceback" not in log.read_text()


# ------------------------------------------------------------------ held: keep the tests that show it


async def test_the_consent_page_escapes_what_a_client_says_and_cannot_be_framed(gateway) -> None:
    answer = await gateway.post(
        "/oauth/register",
        json={"redirect_uris": [REDIRECT], "client_name": '<script>alert(1)</script>"><img src=x onerror=1>'},
    )
    client_id = (await answer.json())["client_id"]
    page = await gateway.get(_path(authorize_url(client_id, CHALLENGE, state='"><script>x</script>')))
    text = await page.text()
    assert "<script>" not in text and "<img" not in text and "&lt;script&gt;" in text
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert "script-src" not in page.headers["Content-Security-Policy"]  # default-src 'none': no script runs


async def test_a_compressed_body_that_expands_past_the_limit_is_413(gateway) -> None:
    bomb = gzip.compress(b"grant_type=" + b"a" * (8 * 1024 * 1024))
    answer = await gateway.post(
        "/oauth/token",
        data=bomb,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status == 413
