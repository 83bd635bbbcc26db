"""`search` and `fetch` in the shape ChatGPT's company knowledge and deep research take from an app: `search(query)`
answers `{results: [{id, title, url}]}`, `fetch(id)` answers `{id, title, text, url, metadata}`.

The query is words a person types ("failed loan applications", "23972", "PROC active"): an instance id is looked
up as such; words naming a process app (acronym or name) or a status become BAW's own filters; the other words must
all appear in an instance's name. `url` is the instance in BAW's own UI (BAW_PORTAL_URL). Both answer as the caller
(the user, in user mode), from the same cache as every lookup, and are bounded (MAX_RESULTS, a short query).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from gateway.errors import NotFound
from gateway.model import ProcessInstance, ProcessStatus
from gateway.service import ProcessService
from gateway.summary import describe_process
from gateway.web.tools.schemas import Query, process_id_field

MAX_RESULTS = 20
_STATUS_BY_WORD = {
    "active": "Active",
    "running": "Active",
    "open": "Active",
    "completed": "Completed",
    "finished": "Completed",
    "done": "Completed",
    "failed": "Failed",
    "failing": "Failed",
    "error": "Failed",
    "errors": "Failed",
    "terminated": "Terminated",
    "suspended": "Suspended",
}


class KnowledgeSearchQuery(Query):
    query = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Words to find instances by: an id, a process app, a status, words of the name."},
    )


class KnowledgeHitSchema(Schema):
    id = fields.String(required=True, metadata={"description": "The instance id: give it to fetch."})
    title = fields.String(required=True)
    url = fields.String(required=True, metadata={"description": "The instance in BAW's own UI."})


class KnowledgeSearchSchema(Schema):
    results = fields.List(fields.Nested(KnowledgeHitSchema), required=True)


class KnowledgeFetchQuery(Query):
    id = process_id_field(purpose="The instance to read, as search returned it")


class KnowledgeDocumentSchema(Schema):
    id = fields.String(required=True)
    title = fields.String(required=True)
    text = fields.String(required=True, metadata={"description": "The instance in a few sentences."})
    url = fields.String(required=True)
    metadata = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True), required=True)


def _title(process_id: str, name: str | None, status: ProcessStatus) -> str:
    return f"{name or 'Process instance ' + process_id} ({status})"


async def search(service: ProcessService, query: dict[str, Any]) -> dict[str, Any]:
    words = query["query"].split()
    if len(words) == 1 and words[0].isdigit():  # an id: that instance, if the caller may see it
        try:
            instance = (await service.lookup(words[0])).instance
        except NotFound:
            return {"results": []}
        hit = {"id": instance.process_id, "title": _title(instance.process_id, instance.name, instance.status)}
        return {"results": [{**hit, "url": service.instance_url(instance.process_id)}]}
    filters: dict[str, str] = {}
    apps = {}
    for app in await service.process_apps():
        apps[app.name.casefold()] = app.acronym or app.name
        if app.acronym:
            apps[app.acronym.casefold()] = app.acronym
    rest = []
    for word in words:
        folded = word.casefold()
        if folded in apps and "projectFilter" not in filters:
            filters["projectFilter"] = apps[folded]
        elif folded in _STATUS_BY_WORD and "statusFilter" not in filters:
            filters["statusFilter"] = _STATUS_BY_WORD[folded]
        else:
            rest.append(folded)
    hits = await service.search(filters, None)
    found = [hit for hit in hits if all(word in (hit.name or "").casefold() for word in rest)]
    return {
        "results": [
            {
                "id": hit.process_id,
                "title": _title(hit.process_id, hit.name, hit.status),
                "url": service.instance_url(hit.process_id),
            }
            for hit in found[:MAX_RESULTS]
        ]
    }


async def fetch(service: ProcessService, query: dict[str, Any]) -> dict[str, Any]:
    instance = (await service.lookup(query["id"])).instance
    return {
        "id": instance.process_id,
        "title": _title(instance.process_id, instance.name, instance.status),
        "text": _text(instance),
        "url": service.instance_url(instance.process_id),
        "metadata": {
            "process_app": instance.process_app,
            "process_name": instance.process_name,
            "status": str(instance.status),
            "created_at": instance.created_at.isoformat() if instance.created_at else None,
            "last_updated": instance.last_updated.isoformat() if instance.last_updated else None,
            "open_tasks": len(instance.open_tasks),
        },
    }


def _text(instance: ProcessInstance) -> str:
    """The summary sentence, then what a reader of the instance would look for: its app and its dates."""
    lines = [describe_process(instance)]
    if instance.process_app or instance.process_name:
        lines.append(f"Process: {instance.process_name or '?'} in the app {instance.process_app or '?'}.")
    if instance.created_at:
        lines.append(f"Started {instance.created_at.isoformat()}.")
    if instance.last_updated:
        lines.append(f"Last modified {instance.last_updated.isoformat()}.")
    return "\n".join(lines)
