"""The other read-only tools over REST, end to end against the simulator."""

from __future__ import annotations


async def _get(gateway, path: str) -> tuple[int, dict]:
    response = await gateway.get(path)
    return response.status, await response.json()


async def test_list_process_tasks_pages_with_a_cursor(gateway) -> None:
    status, body = await _get(gateway, "/baw/process-tasks?process_id=23972&state=all&limit=1")
    assert status == 200
    assert body["total"] == 2 and len(body["tasks"]) == 1
    assert body["truncated"] is True and body["next_cursor"] == "1"
    status, second = await _get(gateway, "/baw/process-tasks?process_id=23972&state=all&limit=1&cursor=1")
    assert second["truncated"] is False and second["next_cursor"] is None
    assert {body["tasks"][0]["task_id"], second["tasks"][0]["task_id"]} == {"189489", "189401"}
    _, closed = await _get(gateway, "/baw/process-tasks?process_id=23972&state=closed")
    assert [task["task_id"] for task in closed["tasks"]] == ["189401"] and not closed["tasks"][0]["is_open"]
    _, open_ = await _get(gateway, "/baw/process-tasks?process_id=23972")
    assert [task["task_id"] for task in open_["tasks"]] == ["189489"]


async def test_list_process_tasks_refuses_a_page_too_large(gateway) -> None:
    status, body = await _get(gateway, "/baw/process-tasks?process_id=23972&limit=500")
    assert status == 400 and "limit" in body["error"]["message"]


async def test_get_task_leaves_variables_out_unless_asked(gateway) -> None:
    status, body = await _get(gateway, "/baw/task?task_id=2078.189489")
    assert status == 200
    assert body["task_id"] == "189489" and body["assigned_to"] == "jsmith" and body["process_id"] == "23972"
    assert body["variables"] is None and "applicantSsn" not in str(body)
    assert body["summary"].startswith("Review credit report is open (Received), assigned to jsmith")
    _, with_data = await _get(gateway, "/baw/task?task_id=189489&include_variables=true")
    assert with_data["variables"]["applicantSsn"] == "000-00-0000"
    # orjson reads an integer beyond 64 bits as a float: 4.001234567890124e+22 came out, silently.
    assert with_data["variables"]["collateralReference"] == 40012345678901234567890
    status, missing = await _get(gateway, "/baw/task?task_id=424242")
    assert status == 404 and missing["error"]["code"] == "not_found"


async def test_explain_process_failure_gives_messages_never_traces(gateway) -> None:
    status, body = await _get(gateway, "/baw/process-failure?process_id=881")
    assert status == 200 and body["failed"] is True
    assert body["errors"][0]["message"].startswith("Posting to ERP failed")
    assert body["errors"][0]["step"] == "Post invoice to ERP" and body["errors"][0]["task_id"] == "18822"
    assert "ErpAdapter.java" not in str(body) and "jsTrace" not in str(body)
    assert "has failed at step Post invoice to ERP" in body["summary"]
    _, healthy = await _get(gateway, "/baw/process-failure?process_id=23972")
    assert healthy["failed"] is False and healthy["errors"] == [] and "has not failed" in healthy["summary"]


async def test_search_processes_filters_and_pages(gateway) -> None:
    _, by_app = await _get(gateway, "/baw/processes?app=PROC")
    assert {hit["process_id"] for hit in by_app["processes"]} == {"2001", "1700"}
    _, failed = await _get(gateway, "/baw/processes?status=failed")
    assert [hit["process_id"] for hit in failed["processes"]] == ["881"]
    _, named = await _get(gateway, "/baw/processes?name_contains=loan")
    assert [hit["process_id"] for hit in named["processes"]] == ["23972"]
    _, paged = await _get(gateway, "/baw/processes?limit=3")
    assert paged["total"] == 7 and len(paged["processes"]) == 3 and paged["next_cursor"] == "3"
    assert "4242" not in str(paged)  # the service account may not read it, so BAW does not list it
    status, bad = await _get(gateway, "/baw/processes?modified_after=yesterday")
    assert status == 400 and "modified_after" in bad["error"]["message"]


async def test_process_status_overview_counts_per_normalised_status(gateway) -> None:
    status, body = await _get(gateway, "/baw/process-overview")
    assert status == 200
    assert body["counts"] == {
        "active": 2,
        "completed": 1,
        "failed": 1,
        "terminated": 1,
        "suspended": 1,
        "did_not_start": 1,
    }
    assert body["total"] == 7
    _, hr = await _get(gateway, "/baw/process-overview?app=HR")
    assert hr["total"] == 1 and hr["counts"]["did_not_start"] == 1
