from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import aioresponses.core
import pytest
from aiohttp import ClientResponse


class _AioresponsesResponse(ClientResponse):
    """aioresponses 0.7.x builds responses without the `stream_writer` that aiohttp 3.14 (a security release)
    requires (pnuckowski/aioresponses#289, unreleased fix #288). Supplying a finished writer is all it lacks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(*args, **kwargs)


@pytest.fixture(autouse=True)
def _aioresponses_on_aiohttp_314(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioresponses.core, "ClientResponse", _AioresponsesResponse)
