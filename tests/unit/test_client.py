from __future__ import annotations

import re

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

from gateway.baw.client import BAW_HEADERS, BawClient
from gateway.baw.resilience import BawHealth, BreakerPolicy, FailureMemory, FairSlots
from gateway.errors import BawError, BawForbidden, BawTimeout, BawUnavailable, InvalidRequest, NotFound
from gateway.metrics import Metrics
from gateway.model import ProcessStatus

BASE = URL("https://cpd-ns.apps.example.com/bas")
PROCESS = re.compile(r"^https://cpd-ns\.apps\.example\.com/bas/rest/bpm/wle/v1/process/\d+\?parts=header$")
STACK = "java.lang.NullPointerException\n\tat com.ibm.bpm.Secret.method(Secret.java:1)"


def baw_error(number: str, message: str, exception_type: str = "com.ibm.bpm.wle.api.SomeException") -> dict:
    return {
        "status": "error",
        "Data": {
            "status": "error",
            "exceptionType": exception_type,
            "errorNumber": number,
            "errorMessage": f"{number}: {message}",
            "errorMessageParameters": [],
            "programmersDetails": STACK,
        },
    }


class RecordingCredentials:
    def __init__(self) -> None:
        self.issued = 0
        self.rejected: list[str] = []
        self.expires_at = None

    async def authorization(self) -> str:
        self.issued += 1
        return f"Bearer token-{self.issued}"

    def reject(self, authorization: str) -> None:
        self.rejected.append(authorization)

    async def run(self) -> None:
        return None


@pytest.fixture
async def client():
    async with aiohttp.ClientSession(headers=BAW_HEADERS) as session:
        credentials = RecordingCredentials()
        metrics = Metrics()
        baw = BawClient(
            session,
            BASE,
            credentials,
            timeout_s=5,
            metrics=metrics,
            health=BawHealth(BreakerPolicy(min_calls=1000)),
            slots=FairSlots(8, 8, 1),
            failures=FailureMemory(0, 10),
            max_response_bytes=10_000,
            jitter=lambda: 0,
        )
        baw.metrics = metrics  # for the tests' eyes only
        yield baw, credentials


async def test_lookup_asks_for_the_header_part_in_english_with_the_held_credential(client) -> None:
    baw, _ = client
    with aioresponses() as mocked:
        mocked.get(PROCESS, payload={"status": "200", "data": {"piid": "23972", "executionState": "Active"}})
        instance = await baw.process_details("23972")
        ((key, calls),) = mocked.requests.items()
    assert key == ("GET", URL(f"{BASE}/rest/bpm/wle/v1/process/23972?parts=header"))
    assert dict(calls[0].kwargs["headers"]) == {
        "Accept": "application/json",
        "Accept-Language": "en",
        "Authorization": "Bearer token-1",
    }
    assert instance.status is ProcessStatus.ACTIVE


@pytest.mark.parametrize("piid", ["../admin", "1/2", "12a", "", "1234567890123"])
async def test_ids_that_could_change_the_upstream_path_never_leave(client, piid: str) -> None:
    baw, _ = client
    with aioresponses() as mocked:
        with pytest.raises(InvalidRequest):
            await baw.process_details(piid)
        assert mocked.requests == {}


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (
            404,
            baw_error(
                "CWTBG0059E",
                "The instance with the ID '5' could not be found.",
                "com.ibm.bpm.wle.api.InstanceDoesNotExistException",
            ),
            NotFound,
            "no process instance 5",
        ),
        (500, baw_error("CWTBG0019E", "Unexpected exception. 'BPDInstance.5 not found'"), NotFound, "Check the id"),
        (500, baw_error("CWTBG0019E", "Unexpected exception during execution."), BawError, "HTTP 500 (CWTBG0019E)"),
        (401, baw_error("CWTBG0549E", "The user 'svc' is not authorized."), BawForbidden, "(CWTBG0549E)"),
        (403, baw_error("CWTBG0651E", "CSRF token missing."), BawForbidden, "read access"),
        (400, baw_error("CWTBG0553E", "The value is not a number."), InvalidRequest, "not a number"),
        (409, baw_error("CWTBG0014E", "Wrong state."), BawError, "HTTP 409 (CWTBG0014E)"),
        (503, None, BawUnavailable, "unavailable (HTTP 503)"),
        (502, None, BawError, "HTTP 502"),
    ],
)
async def test_baw_errors_map_to_domain_errors_without_baw_internals(client, status, body, error, text) -> None:
    baw, _ = client
    with aioresponses() as mocked:
        if body is None:
            mocked.get(PROCESS, status=status, body="<html>Unavailable</html>", content_type="text/html", repeat=True)
        else:
            mocked.get(PROCESS, status=status, payload=body, repeat=True)
        with pytest.raises(error) as caught:
            await baw.process_details("5")
    assert text in caught.value.message
    assert "NullPointer" not in caught.value.message and "Secret.java" not in caught.value.message


async def test_a_401_without_baw_json_renews_the_credential_and_retries_once(client) -> None:
    baw, credentials = client
    with aioresponses() as mocked:
        mocked.get(PROCESS, status=401, body="", headers={"WWW-Authenticate": 'Basic realm="BPMRESTAPI"'})
        mocked.get(PROCESS, payload={"status": "200", "data": {"piid": "5"}})
        assert (await baw.process_details("5")).process_id == "5"
    assert credentials.rejected == ["Bearer token-1"]
    for outcome in ("unauthenticated", "success"):
        labels = {"operation": "process_details", "outcome": outcome, "surface": "rest"}
        assert baw.metrics.registry.get_sample_value("gateway_baw_requests_total", labels) == 1


async def test_a_login_redirect_counts_as_unauthenticated_and_twice_is_unavailable(client) -> None:
    baw, credentials = client
    with aioresponses() as mocked:
        mocked.get(PROCESS, status=302, headers={"Location": "https://cpd/auth/login"})
        mocked.get(PROCESS, status=401, body="")
        with pytest.raises(BawUnavailable, match="rejected the gateway's credential"):
            await baw.process_details("5")
    assert credentials.rejected == ["Bearer token-1"]


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"body": "<html>login</html>", "content_type": "text/html"}, "content type 'text/html'"),
        ({"body": "{not json", "content_type": "application/json"}, "not JSON"),
        ({"body": '{"data": {"piid": "5", "priority": NaN}}', "content_type": "application/json"}, "not JSON"),
        ({"body": '{"data": {"piid": "5", "name": "\\ud800"}}', "content_type": "application/json"}, "not JSON"),
        ({"payload": {"status": "200", "data": []}}, "unexpected shape"),
        ({"payload": {"data": {"piid": "5", "pad": "x" * 20_000}}}, "more than the 10000 bytes"),
    ],
)
async def test_unusable_answers_are_baw_errors(client, kwargs, text) -> None:
    baw, _ = client
    with aioresponses() as mocked:
        mocked.get(PROCESS, **kwargs)
        with pytest.raises(BawError, match=text):
            await baw.process_details("5")


@pytest.mark.parametrize(
    ("exception", "error", "text"),
    [
        (TimeoutError(), BawTimeout, "did not answer within 5 s"),
        (aiohttp.ClientConnectionError("refused"), BawUnavailable, "cannot be reached right now"),
        (aiohttp.ServerDisconnectedError(), BawUnavailable, "cannot be reached right now"),
    ],
)
async def test_transport_failures_map_to_timeout_or_unavailable(client, exception, error, text) -> None:
    baw, _ = client
    with aioresponses() as mocked:
        mocked.get(PROCESS, exception=exception, repeat=True)
        with pytest.raises(error, match=text):
            await baw.process_details("5")
