"""Inbound access state: the bearer keys callers present."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import Callable

from aiohttp import web

from gateway.secret import Secret
from gateway.watched import WatchedFile

log = logging.getLogger(__name__)

PROTECTED_PREFIXES = ("/baw/", "/mcp")
_RELOAD_EVERY_S = 1.0


def is_protected(path: str) -> bool:
    """Lookups need a key; probes, metrics, the manifest, the OpenAPI document and docs stay open."""
    return path.startswith(PROTECTED_PREFIXES)


class ApiKeys:
    """GATEWAY_API_KEYS (comma or newline separated) or GATEWAY_API_KEYS_FILE, read again when the file changes."""

    def __init__(self, secret: Secret | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._secret = secret
        self._file = WatchedFile(
            secret.path if secret is not None else None,
            lambda: _keys(secret),
            "GATEWAY_API_KEYS_FILE",
            check_every_s=_RELOAD_EVERY_S,
            clock=clock,
        )

    @property
    def enabled(self) -> bool:
        return self._secret is not None

    def caller(self, presented: str) -> str | None:
        """The caller's identity (a key fingerprint) when `presented` is a valid key, else None.

        Every key is compared, in constant time, so timing tells nothing about which or how much matched."""
        candidate = presented.encode()
        matched: bytes | None = None
        for key in self._file.value:
            if hmac.compare_digest(key, candidate):
                matched = key
        if matched is None:
            return None
        return "key:" + hashlib.sha256(matched).hexdigest()[:12]


API_KEYS: web.AppKey[ApiKeys] = web.AppKey("api_keys")


def _keys(secret: Secret | None) -> tuple[bytes, ...]:
    if secret is None:
        return ()
    keys = tuple(key.encode() for key in secret.read().replace(",", "\n").split() if key)
    log.info("inbound API keys loaded: %d key(s)", len(keys))
    return keys
