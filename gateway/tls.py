"""The one SSLContext for BAW and its token endpoints. Verification is always on: there is no switch."""

from __future__ import annotations

import logging
import ssl
import time
from pathlib import Path
from typing import Callable

from aiohttp import web

log = logging.getLogger(__name__)


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
    """The SSLContext for BAW, rebuilt when the CA bundle file changes (a rotated Kubernetes secret), so a new CA
    takes effect for new connections without a restart. Calls pass `ssl=trust.context()`; aiohttp keys pooled
    connections by their context, so connections made under the old CA are not reused for the new one.

    The file is looked at no more than every `check_every_s`; a bundle that cannot be used keeps the one before.
    """

    def __init__(
        self, ca_bundle: Path | None, check_every_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._path, self._check_every_s, self._clock = ca_bundle, check_every_s, clock
        self._context = client_ssl_context(ca_bundle)
        self._stamp = self._stat()
        self._checked = clock()

    def _stat(self) -> tuple[int, int, int] | None:
        if self._path is None:
            return None
        try:
            info = self._path.stat()
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size, info.st_ino)

    def context(self) -> ssl.SSLContext:
        if self._path is None or self._clock() - self._checked < self._check_every_s:
            return self._context
        self._checked = self._clock()
        stamp = self._stat()
        if stamp is not None and stamp != self._stamp:
            try:
                self._context = client_ssl_context(self._path)
            except (OSError, ssl.SSLError) as exc:
                log.warning("BAW_CA_BUNDLE changed but cannot be used (%s): keeping the CA loaded before", exc)
            else:
                log.info("BAW_CA_BUNDLE changed: new connections to BAW trust the new bundle")
            self._stamp = stamp
        return self._context


BAW_TRUST: web.AppKey[RotatingTrust] = web.AppKey("baw_trust")  # the CA bundle, re-read when it changes
