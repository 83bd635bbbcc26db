"""The one SSLContext for BAW and its token endpoints. Verification is always on: there is no switch."""

from __future__ import annotations

import ssl
import time
from pathlib import Path
from typing import Callable

from aiohttp import web

from gateway.watched import Unusable, WatchedFile


def client_ssl_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """Trust the company's CA bundle when given, else the system trust store.

    Raises ssl.SSLError / OSError when the bundle is unreadable or holds no certificate; config.py turns
    that into a configuration problem at start-up rather than a failure on the first lookup.
    """
    context = ssl.create_default_context(purpose=ssl.Purpose.SERVER_AUTH)
    if ca_bundle is not None:
        # create_default_context(cafile=...) would also load the system store; a company bundle should be
        # the only trust anchor for BAW, so nothing else can vouch for it.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_verify_locations(cafile=str(ca_bundle))
        if not context.get_ca_certs():
            raise ssl.SSLError(f"no CA certificate found in {ca_bundle}")
    return context


class RotatingTrust:
    """The SSLContext for BAW, made again when the CA bundle file changes (a rotated Kubernetes secret), so a new CA
    takes effect for new connections without a restart. Calls pass `ssl=trust.context()`; aiohttp keys pooled
    connections by their context, so connections made under the old CA are not reused for the new one. A bundle that
    cannot be used keeps the one before (watched.py)."""

    def __init__(
        self, ca_bundle: Path | None, check_every_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._file = WatchedFile(
            ca_bundle, lambda: _trusting(ca_bundle), "BAW_CA_BUNDLE", check_every_s=check_every_s, clock=clock
        )

    def context(self) -> ssl.SSLContext:
        return self._file.value


def _trusting(ca_bundle: Path | None) -> ssl.SSLContext:
    try:
        return client_ssl_context(ca_bundle)
    except ssl.SSLError as exc:
        raise Unusable(str(exc)) from None


BAW_TRUST: web.AppKey[RotatingTrust] = web.AppKey("baw_trust")  # the CA bundle, re-read when it changes
