from __future__ import annotations

import ipaddress

from aiohttp.test_utils import make_mocked_request

from gateway.web.front.forwarded import client_address

PROXIES = (ipaddress.ip_network("10.0.0.0/8"),)


def _address(peer: str, proxies=PROXIES, header: str = "x-forwarded-for", **headers: str) -> str:
    return client_address(make_mocked_request("GET", "/", headers=headers).clone(remote=peer), proxies, header)


def test_forwarded_headers_count_only_from_trusted_proxies() -> None:
    assert _address("203.0.113.5", **{"X-Forwarded-For": "198.51.100.1"}) == "203.0.113.5"
    assert _address("10.1.2.3", proxies=(), **{"X-Forwarded-For": "198.51.100.1"}) == "10.1.2.3"


def test_the_first_untrusted_hop_from_the_right_is_the_client() -> None:
    # The client wrote a fake first hop; the ingress (10.0.0.7) appended the real one.
    headers = {"X-Forwarded-For": "192.0.2.66, 198.51.100.1, 10.0.0.7"}
    assert _address("10.0.0.9", **headers) == "198.51.100.1"


def test_rfc_7239_forwarded_is_read_when_it_is_the_proxies_header() -> None:
    headers = {"Forwarded": 'for="[2001:db8::1]:4711";proto=https, for=10.0.0.7'}
    assert _address("10.0.0.9", header="forwarded", **headers) == "2001:db8::1"


def test_a_clients_own_forwarded_never_overrides_the_proxys_x_forwarded_for() -> None:
    """Issue 29 row 6: a random `Forwarded: for=` beside the ingress's X-Forwarded-For made every request a new
    address, so the key-guessing brake never met the same one twice."""
    headers = {"Forwarded": "for=192.0.2.77", "X-Forwarded-For": "198.51.100.1, 10.0.0.7"}
    assert _address("10.0.0.9", **headers) == "198.51.100.1"
    # and the other way round: a proxy that writes Forwarded is not overridden by a client's X-Forwarded-For
    headers = {"Forwarded": "for=198.51.100.1", "X-Forwarded-For": "192.0.2.77"}
    assert _address("10.0.0.9", header="forwarded", **headers) == "198.51.100.1"


def test_an_unreadable_hop_stops_the_walk_at_the_last_trusted_proxy() -> None:
    assert _address("10.0.0.9", **{"X-Forwarded-For": "garbage, 10.0.0.7"}) == "10.0.0.7"
