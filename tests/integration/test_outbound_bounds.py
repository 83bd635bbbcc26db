"""One bounded reader for what other servers answer (issue 30: the issuer's metadata and keys, and every OAuth form
post, the façade's upstream included, were read whole). A server that answers too much, or a small gzip body that
decodes to too much, is refused without being read whole, with the error of whoever asked."""

from __future__ import annotations

import gzip

import aiohttp
import pytest
from aiohttp import web

from gateway import exact_json
from gateway.errors import SignInUnavailable
from gateway.oauth.issuer import Issuer, post_form

HUGE = b'{"padding": "' + b"x" * (1024 * 1024) + b'"}'


def _app() -> web.Application:
    async def huge(request: web.Request) -> web.Response:
        return web.Response(body=HUGE, content_type="application/json")

    async def bomb(request: web.Request) -> web.Response:
        compressed = gzip.compress(HUGE)
        return web.Response(body=compressed, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})

    async def small(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/.well-known/oauth-authorization-server", bomb)
    app.router.add_get("/.well-known/openid-configuration", bomb)
    app.router.add_post("/token", huge)
    app.router.add_get("/small", small)
    return app


async def test_an_oauth_form_post_answered_with_a_megabyte_is_refused(aiohttp_server) -> None:
    server = await aiohttp_server(_app())
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ValueError, match=r"could not be used \(Refused\)"):
            await post_form(session, str(server.make_url("/token")), {"grant_type": "x"}, True, ValueError)


async def test_issuer_metadata_that_decodes_past_the_limit_is_refused(aiohttp_server) -> None:
    server = await aiohttp_server(_app())
    async with aiohttp.ClientSession() as session:
        issuer = Issuer(str(server.make_url("")).rstrip("/"), ("aud",), ("baw.read",), session)
        with pytest.raises(SignInUnavailable) as refused:
            await issuer.refresh()
    assert "more than the 262144 bytes the gateway accepts" in refused.value.detail


async def test_the_reader_reads_a_small_answer_exactly(aiohttp_server) -> None:
    server = await aiohttp_server(_app())
    async with aiohttp.ClientSession() as session, session.get(server.make_url("/small")) as response:
        assert await exact_json.read(response, 64) == {"ok": True}
        with pytest.raises(exact_json.Refused, match="more than the 4 the gateway accepts"):
            await exact_json.read(response, 4)
