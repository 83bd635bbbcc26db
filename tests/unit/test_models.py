from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.baw.models import (
    normalise_status,
    parse_process_details,
    parse_process_search,
    parse_runtime_failures,
    parse_status_overview,
    parse_task_details,
    parse_task_page,
)
from gateway.errors import BawError
from gateway.model import ProcessStatus
from gateway.summary import describe_process

# The reference sample (reference/baw-rest.md), as a real server sends it.
SAMPLE = {
    "status": "200",
    "data": {
        "piid": "23972",
        "name": "My Process:23972",
        "description": "",
        "executionState": "Active",
        "state": "STATE_RUNNING",
        "creationTime": "2019-03-29T16:03:25Z",
        "lastModificationTime": "2019-03-30T19:54:51Z",
        "dueDate": "2019-04-23T07:00:00Z",
        "processTemplateID": "25.912f1c9b-",
        "processTemplateName": "My Process",
        "processAppName": "My Process Application",
        "processAppAcronym": "MYPA",
        "processAppID": "2066.5612",
        "snapshotName": None,
        "snapshotID": "2064.64c1",
        "branchName": "Main",
        "snapshotTip": True,
        "starterId": "2048.9",
        "comments": [],
        "documents": [],
        "businessData": [],
        "someFutureField": {"x": 1},
        "tasks": [
            {
                "tkiid": "189489",
                "name": "My Task",
                "displayName": "Task title",
                "status": "Received",
                "state": "STATE_READY",
                "kind": "KIND_PARTICIPATING",
                "owner": "deadmin",
                "assignedTo": "deadmin",
                "assignedToDisplayName": "deadmin",
                "assignedToType": "user",
                "teamName": None,
                "priority": 20,
                "priorityName": "High",
                "activationTime": "2019-11-06T15:31:52Z",
                "dueTime": "2019-11-07T07:31:52Z",
                "atRiskTime": "2019-11-07T06:55:36Z",
                "isAtRisk": True,
                "completionTime": None,
            },
            {"tkiid": "189490", "name": "Done", "status": "Closed", "state": "STATE_FINISHED"},
            {"tkiid": "189491", "name": "Ended", "status": "Received", "state": "STATE_TERMINATED"},
        ],
    },
}


def test_reference_sample_parses_into_our_names() -> None:
    instance = parse_process_details(SAMPLE)
    assert instance.process_id == "23972"
    assert instance.status is ProcessStatus.ACTIVE
    assert (instance.execution_state, instance.state) == ("Active", "STATE_RUNNING")
    assert (instance.process_name, instance.process_app) == ("My Process", "MYPA")
    assert instance.created_at == datetime(2019, 3, 29, 16, 3, 25, tzinfo=UTC)
    assert instance.error_message is None
    assert [task.task_id for task in instance.open_tasks] == ["189489"]
    task = instance.open_tasks[0]
    assert (task.name, task.assigned_to, task.at_risk) == ("Task title", "deadmin", True)
    assert task.due_at == datetime(2019, 11, 7, 7, 31, 52, tzinfo=UTC)


@pytest.mark.parametrize(
    ("execution_state", "state", "expected"),
    [
        ("Active", "STATE_RUNNING", ProcessStatus.ACTIVE),
        ("Completed", "STATE_FINISHED", ProcessStatus.COMPLETED),
        ("Failed", "STATE_FAILED", ProcessStatus.FAILED),
        ("Terminated", "STATE_TERMINATED", ProcessStatus.TERMINATED),
        ("Suspended", "STATE_SUSPENDED", ProcessStatus.SUSPENDED),
        ("Did_not_Start", None, ProcessStatus.DID_NOT_START),
        ("did not start", None, ProcessStatus.DID_NOT_START),
        ("DIDNOTSTART", None, ProcessStatus.DID_NOT_START),
        ("running", None, ProcessStatus.ACTIVE),  # v2 spelling
        ("finished", None, ProcessStatus.COMPLETED),
        (None, "STATE_SUSPENDED", ProcessStatus.SUSPENDED),  # executionState missing: fall back on state
        ("Estado raro", "STATE_TERMINATED", ProcessStatus.TERMINATED),
        ("Something new", "STATE_COMPENSATING", ProcessStatus.UNKNOWN),
        (None, None, ProcessStatus.UNKNOWN),
    ],
)
def test_status_normalisation(execution_state, state, expected) -> None:
    assert normalise_status(execution_state, state) is expected


def test_missing_and_null_fields_give_none() -> None:
    instance = parse_process_details(
        {"status": "200", "data": {"piid": 7, "tasks": None, "creationTime": "garbage", "dueDate": None, "name": 12.5}}
    )
    assert instance.process_id == "7"
    assert instance.name is None and instance.created_at is None and instance.due_at is None
    assert instance.status is ProcessStatus.UNKNOWN and instance.tasks == ()


def test_failed_instance_carries_its_error_message() -> None:
    body = {"data": {"piid": "881", "executionState": "Failed", "instanceError": "ERP posting failed."}}
    assert parse_process_details(body).error_message == "ERP posting failed."


@pytest.mark.parametrize("body", [None, [], "text", {"status": "200"}, {"data": []}, {"data": {"name": "x"}}])
def test_wrong_shape_is_a_baw_error(body) -> None:
    with pytest.raises(BawError):
        parse_process_details(body)


def test_summary_is_one_plain_sentence() -> None:
    body = {
        "data": {
            "piid": "2001",
            "name": "Vendor Onboarding 2001",
            "executionState": "Active",
            "tasks": [
                {
                    "tkiid": "1",
                    "displayName": "Approve vendor",
                    "status": "New",
                    "state": "STATE_READY",
                    "assignedTo": "ProcurementManagers",
                    "assignedToType": "group",
                    "dueTime": "2026-11-25T09:00:00Z",
                    "isAtRisk": True,
                }
            ],
        }
    }
    assert describe_process(parse_process_details(body)) == (
        "Vendor Onboarding 2001 is active; 1 open task: Approve vendor, assigned to ProcurementManagers, "
        "due 2026-11-25, at risk."
    )


def test_summary_of_a_failed_instance_says_why_and_caps_the_task_list() -> None:
    tasks = [{"tkiid": str(n), "name": f"T{n}", "status": "Received"} for n in range(5)]
    body = {"data": {"piid": "881", "executionState": "Failed", "instanceError": "Supplier blocked.", "tasks": tasks}}
    assert describe_process(parse_process_details(body)) == (
        "Process instance 881 has failed (Supplier blocked); 5 open tasks: T0, unassigned; T1, unassigned; "
        "T2, unassigned; and 2 more."
    )


def test_task_page_total_is_never_below_what_was_returned() -> None:

    page = parse_task_page({"data": {"total": "many", "tasks": [{"tkiid": "1"}, {"tkiid": "2"}, "junk"]}})
    assert page.total == 2 and [task.task_id for task in page.tasks] == ["1", "2"]


def test_task_details_keep_variables_only_when_asked() -> None:

    body = {"data": {"tkiid": "9", "piid": "23972", "bpdName": "Loan", "data": {"variables": {"ssn": "x"}}}}
    assert parse_task_details(body, with_variables=False).variables is None
    details = parse_task_details(body, with_variables=True)
    assert details.variables == {"ssn": "x"} and (details.process_id, details.process_name) == ("23972", "Loan")
    with pytest.raises(BawError):
        parse_task_details({"data": {"name": "no id"}}, with_variables=False)


def test_runtime_failures_drop_traces() -> None:

    (failure,) = parse_runtime_failures(
        {
            "data": {
                "runtimeErrors": [
                    {
                        "errorMessage": "ERP down",
                        "taskId": "5",
                        "stepName": "Post",
                        "timestamp": "2026-11-19T22:02:33Z",
                        "javaTrace": "at com.ibm.Secret(Secret.java:1)",
                        "jsTrace": "line 12",
                    }
                ]
            }
        }
    )
    assert (failure.message, failure.task_id, failure.step) == ("ERP down", "5", "Post")
    assert "Secret.java" not in repr(failure)


@pytest.mark.parametrize(
    "data",
    [
        {"Active": 3, "Did_not_Start": 1, "Failed": 2, "Weird": 4},
        {"statusCounts": {"Active": 3, "Did_not_Start": 1, "Failed": 2, "Weird": 4}},
    ],
)
def test_status_overview_is_normalised_whichever_shape(data) -> None:

    overview = parse_status_overview({"data": data})
    assert overview[ProcessStatus.ACTIVE] == 3 and overview[ProcessStatus.DID_NOT_START] == 1
    assert overview[ProcessStatus.FAILED] == 2 and overview[ProcessStatus.UNKNOWN] == 4


def test_search_hits_without_an_id_are_skipped() -> None:

    hits = parse_process_search(
        {"data": {"processes": [{"piid": "1", "executionState": "Completed", "bpdName": "Claim"}, {"name": "no id"}]}}
    )
    assert [(hit.process_id, hit.status, hit.process_name) for hit in hits] == [("1", ProcessStatus.COMPLETED, "Claim")]
