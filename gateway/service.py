"""ProcessService: what the REST handlers (and later the MCP tools) call; the BAW client stays behind it."""

from __future__ import annotations

from gateway.baw.client import BawClient
from gateway.baw.models import ProcessInstance


class ProcessService:
    def __init__(self, client: BawClient) -> None:
        self._client = client

    async def lookup(self, process_id: str) -> ProcessInstance:
        """The status of one process instance, by its numeric BAW id."""
        return await self._client.process_details(process_id)
