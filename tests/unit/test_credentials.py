from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

from gateway.baw.credentials import RenewingCredential, StaticCredential, credential_provider
from gateway.baw.tokens import OAuth2ClientCredentials, Token, ZenPasswordToken
from gateway.config import load_settings
from gateway.errors import BawUnavailable, NoCredential
from gateway.renewal import renewal_delay, retry_delay
from gateway.secret import Secret

TOKEN_URL = "https://idp.example.com/oauth2/token"


class FakeTime:
    """A controllable clock: sleeping records the delay and moves time forward by it."""

    def __init__(self, stop_after: int) -> None:
        self.now = 1_000_000.0
        self.sleeps: list[float] = []
        self.stop_after = stop_after

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float, wake: asyncio.Event) -> None:
        self.sleeps.append(delay)
        if len(self.sleeps) >= self.stop_after:
            await wake.wait()  # time stands still; only a wake-up (rejected or missing token) goes on
            return
        self.now += delay
        await asyncio.sleep(0)


class FakeSource:
    target = "the fake token endpoint"

    def __init__(self, time: FakeTime, lifetime: float = 3600.0) -> None:
        self.time, self.lifetime = time, lifetime
        self.calls = 0
        self.failing_calls: set[int] = set()
        self.gate: asyncio.Event | None = None

    async def fetch(self) -> Token:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.calls in self.failing_calls:
            raise BawUnavailable("token endpoint answered HTTP 503.")
        return Token(f"Bearer t{self.calls}", self.time.now + self.lifetime, self.lifetime)


async def _running(credential: RenewingCredential):
    task = asyncio.create_task(credential.run())
    await asyncio.sleep(0)
    return task


async def _stop(task: asyncio.Task) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize(
    ("lifetime", "expected"),
    [(3600, 2880), (43200, 34560), (200, 140), (120, 60), (100, 80), (2, 1.6)],
)
def test_renewal_at_80_percent_or_60_s_before_the_end(lifetime: float, expected: float) -> None:
    assert renewal_delay(lifetime, jitter=0) == pytest.approx(expected)
    assert renewal_delay(lifetime, jitter=0.999) == pytest.approx(expected * 0.9, rel=1e-3)


def test_retry_backoff_doubles_up_to_the_cap() -> None:
    assert [retry_delay(n, jitter=1, cap=30) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert retry_delay(3, jitter=0, cap=30) == 2


async def test_background_task_renews_before_expiry_under_a_controlled_clock() -> None:
    time = FakeTime(stop_after=3)
    source = FakeSource(time, lifetime=3600)
    credential = RenewingCredential(source, wait_timeout_s=1, clock=time.clock, sleep=time.sleep, jitter=lambda: 0)
    task = await _running(credential)
    for _ in range(10):
        await asyncio.sleep(0)
    assert source.calls == 3
    assert time.sleeps == [2880, 2880, 2880]
    assert await credential.authorization() == "Bearer t3"
    assert credential.expires_at == time.now + 3600
    await _stop(task)


async def test_failed_renewals_back_off_and_keep_the_current_token_until_it_expires() -> None:
    time = FakeTime(stop_after=4)
    source = FakeSource(time, lifetime=100)
    source.failing_calls = {2, 3, 4}
    credential = RenewingCredential(source, wait_timeout_s=1, clock=time.clock, sleep=time.sleep, jitter=lambda: 1)
    task = await _running(credential)
    for _ in range(10):
        await asyncio.sleep(0)
    # success (renew in 72 s), then three failures backing off 1, 2, 4 s; the fourth sleep parks the loop
    assert time.sleeps == [72, 1, 2, 4]
    assert source.calls == 4
    # Renewals are failing but the first token is still valid (75 s of 100 spent): it is served.
    assert await credential.authorization() == "Bearer t1"
    time.now += 30  # past its expiry: answer at once, no waiting on a timeout
    with pytest.raises(BawUnavailable, match="no valid credential for BAW right now: token endpoint answered HTTP 503"):
        await asyncio.wait_for(credential.authorization(), 0.5)
    await _stop(task)


async def test_concurrent_lookups_wait_on_the_one_renewal_in_flight() -> None:
    time = FakeTime(stop_after=1)
    source = FakeSource(time)
    source.gate = asyncio.Event()
    credential = RenewingCredential(source, wait_timeout_s=5, clock=time.clock, sleep=time.sleep)
    task = await _running(credential)
    waiters = [asyncio.create_task(credential.authorization()) for _ in range(50)]
    await asyncio.sleep(0.01)
    assert not any(w.done() for w in waiters)
    source.gate.set()
    assert set(await asyncio.gather(*waiters)) == {"Bearer t1"}
    assert source.calls == 1
    await _stop(task)


async def test_a_rejected_token_is_renewed_once_however_many_lookups_saw_the_401() -> None:
    time = FakeTime(stop_after=1)
    source = FakeSource(time)
    credential = RenewingCredential(source, wait_timeout_s=5, clock=time.clock, sleep=time.sleep)
    task = await _running(credential)
    first = await credential.authorization()
    for _ in range(10):
        credential.reject(first)
    assert await credential.authorization() == "Bearer t2"
    credential.reject(first)  # a late 401 for the old token changes nothing
    assert await credential.authorization() == "Bearer t2"
    assert source.calls == 2
    await _stop(task)


async def test_waiting_for_a_first_token_is_bounded() -> None:
    time = FakeTime(stop_after=1)
    source = FakeSource(time)
    source.gate = asyncio.Event()  # the token endpoint never answers
    credential = RenewingCredential(source, wait_timeout_s=0.05, clock=time.clock, sleep=time.sleep)
    task = await _running(credential)
    # NoCredential: BAW was never asked, so the breaker must not count this against BAW (it used to).
    with pytest.raises(NoCredential, match="no credential for BAW yet") as caught:
        await credential.authorization()
    assert "did not issue a token within 0.05 s" in caught.value.detail
    await _stop(task)


async def test_after_failed_renewals_a_401_waits_for_the_renewal_it_asked_for() -> None:
    """A renewal failed, the held token is still valid, then BAW rejects it: the lookup's one retry used to find
    no token and no renewal under way yet, and failed with NoCredential although the next renewal succeeds."""
    time = FakeTime(stop_after=2)
    source = FakeSource(time, lifetime=100)
    source.failing_calls = {2}
    credential = RenewingCredential(source, wait_timeout_s=5, clock=time.clock, sleep=time.sleep, jitter=lambda: 1)
    task = await _running(credential)
    for _ in range(10):
        await asyncio.sleep(0)
    assert source.calls == 2 and credential.ready  # the second renewal failed; t1 is still valid
    credential.reject("Bearer t1")  # BAW answered 401 to it
    assert await asyncio.wait_for(credential.authorization(), 1) == "Bearer t3"
    await _stop(task)


async def test_established_stays_true_once_a_token_was_held() -> None:
    time = FakeTime(stop_after=2)
    source = FakeSource(time, lifetime=100)
    source.failing_calls = {2}
    credential = RenewingCredential(source, wait_timeout_s=5, clock=time.clock, sleep=time.sleep, jitter=lambda: 1)
    assert not credential.established
    task = await _running(credential)
    for _ in range(10):
        await asyncio.sleep(0)
    time.now += 200  # t1 expired, the renewal failed
    assert not credential.ready and credential.established
    await _stop(task)


async def test_oauth2_posts_client_credentials_and_honours_expires_in(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("cs-1\n")
    async with aiohttp.ClientSession() as session:
        source = OAuth2ClientCredentials(
            session,
            URL(TOKEN_URL),
            "gw",
            Secret("BAW_CLIENT_SECRET", path=secret_file),
            "baw.read",
            timeout_s=5,
            clock=lambda: 500.0,
        )
        with aioresponses() as mocked:
            mocked.post(TOKEN_URL, payload={"access_token": "abc", "token_type": "bearer", "expires_in": 1200})
            mocked.post(TOKEN_URL, payload={"access_token": "def", "token_type": "Bearer", "expires_in": "60"})
            token = await source.fetch()
            secret_file.write_text("cs-2")  # rotated: the next renewal uses the new value
            second = await source.fetch()
            forms = [call.kwargs["data"] for call in mocked.requests[("POST", URL(TOKEN_URL))]]
    assert (token.authorization, token.expires_at, token.lifetime) == ("Bearer abc", 1700.0, 1200.0)
    assert second.lifetime == 60
    assert forms == [
        {"grant_type": "client_credentials", "client_id": "gw", "client_secret": "cs-1", "scope": "baw.read"},
        {"grant_type": "client_credentials", "client_id": "gw", "client_secret": "cs-2", "scope": "baw.read"},
    ]


async def test_oauth2_rejection_names_the_problem_without_the_secret() -> None:
    async with aiohttp.ClientSession() as session:
        source = OAuth2ClientCredentials(
            session, URL(TOKEN_URL), "gw", Secret("BAW_CLIENT_SECRET", value="cs-xyz"), None, timeout_s=5
        )
        with aioresponses() as mocked:
            mocked.post(TOKEN_URL, status=401, payload={"error": "invalid_client", "error_description": "cs-xyz bad"})
            with pytest.raises(BawUnavailable) as caught:
                await source.fetch()
    message, detail = caught.value.message, caught.value.detail
    assert "did not accept the gateway's credentials" in message and "idp.example.com" not in message
    assert "HTTP 401 (invalid_client)" in detail and "BAW_CLIENT_SECRET" in detail  # for the operator's log
    assert "cs-xyz" not in message + detail


async def test_zen_exchanges_the_iam_token_and_reads_the_lifetime_from_the_jwt() -> None:
    claims = base64.urlsafe_b64encode(json.dumps({"exp": 1000 + 43200}).encode()).rstrip(b"=").decode()
    jwt = f"eyJhbGciOiJSUzI1NiJ9.{claims}.sig"
    iam, zen = "https://cp-console.example.com/idprovider/v1/auth/identitytoken", "https://cpd.example.com"
    async with aiohttp.ClientSession() as session:
        source = ZenPasswordToken(
            session, URL(iam), URL(zen), "svc", Secret("BAW_PASSWORD", value="pw"), timeout_s=5, clock=lambda: 1000.0
        )
        with aioresponses() as mocked:
            mocked.post(iam, payload={"access_token": "iam-1", "expires_in": 3600})
            mocked.get(f"{zen}/v1/preauth/validateAuth", payload={"accessToken": jwt})
            token = await source.fetch()
            iam_form = mocked.requests[("POST", URL(iam))][0].kwargs["data"]
            zen_headers = mocked.requests[("GET", URL(f"{zen}/v1/preauth/validateAuth"))][0].kwargs["headers"]
    assert token.authorization == f"Bearer {jwt}" and token.lifetime == 43200
    assert iam_form == {"grant_type": "password", "scope": "openid", "username": "svc", "password": "pw"}
    assert zen_headers == {"username": "svc", "iam-token": "iam-1"}


async def test_static_modes_build_their_headers_and_rebuild_them_from_a_rotated_file(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("k1")
    api_key = StaticCredential("ZenApiKey", "svc", Secret("BAW_API_KEY", path=key_file))
    assert await api_key.authorization() == "ZenApiKey " + base64.b64encode(b"svc:k1").decode()
    key_file.write_text("k2")
    api_key.reject(await api_key.authorization())
    assert await api_key.authorization() == "ZenApiKey " + base64.b64encode(b"svc:k2").decode()
    assert api_key.expires_at is None
    basic = StaticCredential("Basic", "svc", Secret("BAW_PASSWORD", value="pw"))
    assert await basic.authorization() == "Basic " + base64.b64encode(b"svc:pw").decode()


@pytest.mark.parametrize(
    ("mode", "extra", "kind"),
    [
        ("oauth2", {"BAW_CLIENT_ID": "c", "BAW_CLIENT_SECRET": "s"}, RenewingCredential),
        (
            "zen",
            {
                "BAW_IAM_URL": "https://iam.x/t",
                "BAW_ZEN_URL": "https://zen.x",
                "BAW_USERNAME": "u",
                "BAW_PASSWORD": "p",
            },
            RenewingCredential,
        ),
        ("zen_api_key", {"BAW_USERNAME": "u", "BAW_API_KEY": "k"}, StaticCredential),
        ("basic", {"BAW_USERNAME": "u", "BAW_PASSWORD": "p"}, StaticCredential),
    ],
)
async def test_baw_auth_selects_the_provider(mode: str, extra: dict[str, str], kind: type) -> None:
    settings = load_settings({"BAW_BASE_URL": "https://baw.x", "BAW_AUTH": mode, **extra})
    async with aiohttp.ClientSession() as session:
        assert isinstance(credential_provider(settings, session), kind)
