"""Inbound access state: the bearer keys callers present."""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from typing import Callable

from aiohttp import web

from gateway.secret import Secret

log = logging.getLogger(__name__)

PROTECTED_PREFIXES = ("/baw/", "/mcp")
_RELOAD_EVERY_S = 1.0


def is_protected(path: str) -> bool:
    """Lookups need a key; probes, metrics, the manifest, the OpenAPI document and docs stay open."""
    return path.startswith(PROTECTED_PREFIXES)


class ApiKeys:
    """GATEWAY_API_KEYS (comma or newline separated) or GATEWAY_API_KEYS_FILE, re-read when the file changes."""

    def __init__(self, secret: Secret | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._secret, self._clock = secret, clock
        self._keys: tuple[bytes, ...] = ()
        self._stamp: tuple[int, int, int] | None = None
        self._checked = -math.inf
        if secret is not None:
            self._refresh()

    @property
    def enabled(self) -> bool:
        return self._secret is not None

    def _refresh(self) -> None:
        assert self._secret is not None
        self._checked = self._clock()
        try:
            if self._secret.path is not None:
                info = self._secret.path.stat()
                stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
                if stamp == self._stamp:
                    return
            else:
                stamp = None
            raw = self._secret.read()
        except OSError as exc:
            log.warning("cannot re-read GATEWAY_API_KEYS_FILE (%s): keeping the keys loaded before", exc.strerror)
            return
        # The stamp is kept only once the file was read: a failed read is tried again at the next check.
        self._stamp = stamp
        self._keys = tuple(key.encode() for key in raw.replace(",", "\n").split() if key)
        log.info("inbound API keys loaded: %d key(s)", len(self._keys))

    def caller(self, presented: str) -> str | None:
        """The caller's identity (a key fingerprint) when `presented` is a valid key, else None.

        Every key is compared, in constant time, so timing tells nothing about which or how much matched."""
        if self._secret is not None and self._secret.path is not None:
            if self._clock() - self._checked >= _RELOAD_EVERY_S:
                self._refresh()
        candidate = presented.encode()
        matched: bytes | None = None
        for key in self._keys:
            if hmac.compare_digest(key, candidate):
                matched = key
        if matched is None:
            return None
        return "key:" + hashlib.sha256(matched).hexdigest()[:12]


API_KEYS: web.AppKey[ApiKeys] = web.AppKey("api_keys")
