"""The front door: one middleware per file, in the order a request meets them (app.py lists them), and what they
read. Each wraps a Handler."""

from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
