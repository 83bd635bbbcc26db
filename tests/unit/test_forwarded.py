from __future__ import annotations

import ipaddress

from aiohttp.test_utils import make_mocked_request

from gateway.web.forwarded import client_address

PROXIES = (ipaddress.ip_network("10.0.0.0/8"),)


def _address(peer: str, proxies=PROXIES, **headers: str) -> str:
    return client_address(make_mocked_request("GET", "/", headers=headers).clone(remote=peer), proxies)


def test_forwarded_headers_count_only_from_trusted_proxies() -> None:
    assert _address("203.0.113.5", **{"X-Forwarded-For": "198.51.100.1"}) == "203.0.113.5"
    assert _address("10.1.2.3", proxies=(), **{"X-Forwarded-For": "198.51.100.1"}) == "10.1.2.3"


def test_the_first_untrusted_hop_from_the_right_is_the_client() -> None:
    # The client wrote a fake first hop; the ingress (10.0.0.7) appended the real one.
    headers = {"X-Forwarded-For": "192.0.2.66, 198.51.100.1, 10.0.0.7"}
    assert _address("10.0.0.9", **headers) == "198.51.100.1"


def test_rfc_7239_forwarded_is_read_too() -> None:
    headers = {"Forwarded": 'for="[2001:db8::1]:4711";proto=https, for=10.0.0.7'}
    assert _address("10.0.0.9", **headers) == "2001:db8::1"


def test_an_unreadable_hop_stops_the_walk_at_the_last_trusted_proxy() -> None:
    assert _address("10.0.0.9", **{"X-Forwarded-For": "garbage, 10.0.0.7"}) == "10.0.0.7"
