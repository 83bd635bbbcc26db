"""Seeded process instances in the exact JSON shapes of BAW's classic REST API (reference/baw-rest.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

# The ids `make run` prints, with what each shows.
SAMPLES = {
    "23972": "an active loan application with an open task at risk",
    "2001": "an active vendor onboarding assigned to a team",
    "881": "a failed invoice, with BAW's error message",
    "1500": "a completed expense claim",
    "1600": "a suspended contract review",
    "1700": "a terminated purchase order",
    "1800": "an instance that did not start",
    "4242": "an instance the service account may not read (BAW CWTBG0549E)",
}
FORBIDDEN = {"4242"}


def _iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _task(
    tkiid: str,
    name: str,
    status: str,
    state: str,
    owner: str | None,
    *,
    team: str | None = None,
    due: datetime | None,
    at_risk: bool = False,
    activated: datetime,
    completed: datetime | None = None,
) -> dict[str, Any]:
    assigned = team or owner
    return {
        "tkiid": tkiid,
        "name": name,
        "displayName": name,
        "status": status,
        "state": state,
        "kind": "KIND_PARTICIPATING",
        "owner": owner,
        "assignedTo": assigned,
        "assignedToDisplayName": assigned,
        "assignedToType": "group" if team else "user",
        "teamName": team,
        "priority": 30,
        "priorityName": "Normal",
        "activationTime": _iso(activated),
        "dueTime": _iso(due),
        "atRiskTime": _iso(due - timedelta(hours=1)) if due else None,
        "isAtRisk": at_risk,
        "completionTime": _iso(completed),
        "data": {
            "variables": {
                "applicantSsn": "000-00-0000",
                "comment": "task variables are only in parts=all",
                # A Decimal business field holding a whole number beyond 64 bits: it must come through digit for digit.
                "collateralReference": 40012345678901234567890,
            }
        },
    }


def _instance(
    piid: str,
    name: str,
    template: str,
    app: str,
    acronym: str,
    execution_state: str,
    state: str,
    created: datetime,
    tasks: list[dict[str, Any]],
    *,
    due: datetime | None = None,
    instance_error: str | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "piid": piid,
        "name": name,
        "description": "",
        "executionState": execution_state,
        "state": state,
        "creationTime": _iso(created),
        "lastModificationTime": _iso(created + timedelta(hours=5)),
        "dueDate": _iso(due),
        "processTemplateID": f"25.{piid}-template",
        "processTemplateName": template,
        "processAppName": app,
        "processAppAcronym": acronym,
        "processAppID": "2066.5612",
        "snapshotName": None,
        "snapshotID": "2064.64c1",
        "branchName": "Main",
        "snapshotTip": True,
        "starterId": "2048.9",
        "comments": [],
        "documents": [],
        "businessData": [],
        "tasks": tasks,
        # Fields real servers add across versions; the gateway must ignore them.
        "caseFolderID": None,
        "parentCaseId": None,
    }
    if instance_error is not None:
        data["instanceError"] = instance_error
    return data


def seed_instances(now: datetime | None = None) -> dict[str, dict[str, Any]]:
    """The instances by piid, as `parts=all` would show them (the server trims for other parts)."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    day = timedelta(days=1)
    instances = [
        _instance(
            "23972",
            "Loan Application:23972",
            "Loan Application",
            "Retail Lending",
            "LOAN",
            "Active",
            "STATE_RUNNING",
            now - 3 * day,
            due=now + 4 * day,
            tasks=[
                _task(
                    "189489",
                    "Review credit report",
                    "Received",
                    "STATE_CLAIMED",
                    "jsmith",
                    due=now + timedelta(hours=20),
                    at_risk=True,
                    activated=now - day,
                ),
                _task(
                    "189401",
                    "Collect documents",
                    "Closed",
                    "STATE_FINISHED",
                    "jsmith",
                    due=now - 2 * day,
                    activated=now - 3 * day,
                    completed=now - 2 * day,
                ),
            ],
        ),
        _instance(
            "2001",
            "Vendor Onboarding 2001",
            "Vendor Onboarding",
            "Procurement",
            "PROC",
            "Active",
            "STATE_RUNNING",
            now - 2 * day,
            tasks=[
                _task(
                    "30211",
                    "Approve vendor",
                    "New",
                    "STATE_READY",
                    None,
                    team="ProcurementManagers",
                    due=now + day,
                    at_risk=True,
                    activated=now - timedelta(hours=6),
                ),
            ],
        ),
        _instance(
            "881",
            "Invoice 881",
            "Invoice Processing",
            "Accounts Payable",
            "AP",
            "Failed",
            "STATE_FAILED",
            now - 5 * day,
            tasks=[
                _task(
                    "18822",
                    "Post invoice to ERP",
                    "Received",
                    "STATE_FINISHED",
                    "sysadmin",
                    due=None,
                    activated=now - 5 * day,
                    completed=now - 5 * day,
                ),
            ],
            instance_error=("Posting to ERP failed: supplier 4711 is blocked for payment in the ERP system."),
        ),
        _instance(
            "1500",
            "Expense Claim 1500",
            "Expense Claim",
            "Finance",
            "FIN",
            "Completed",
            "STATE_FINISHED",
            now - 10 * day,
            tasks=[
                _task(
                    "15001",
                    "Approve expense",
                    "Closed",
                    "STATE_FINISHED",
                    "mlee",
                    due=now - 8 * day,
                    activated=now - 10 * day,
                    completed=now - 9 * day,
                ),
            ],
        ),
        _instance(
            "1600",
            "Contract Review 1600",
            "Contract Review",
            "Legal",
            "LEGAL",
            "Suspended",
            "STATE_SUSPENDED",
            now - 7 * day,
            tasks=[
                _task(
                    "16001",
                    "Review clauses",
                    "Received",
                    "STATE_READY",
                    "akumar",
                    due=now + 2 * day,
                    activated=now - 6 * day,
                ),
            ],
        ),
        _instance(
            "1700",
            "Purchase Order 1700",
            "Purchase Order",
            "Procurement",
            "PROC",
            "Terminated",
            "STATE_TERMINATED",
            now - 4 * day,
            tasks=[],
        ),
        _instance(
            "1800",
            "Onboarding 1800",
            "Employee Onboarding",
            "HR",
            "HR",
            "Did_not_Start",
            "STATE_READY",
            now - day,
            tasks=[],
        ),
        _instance(
            "4242",
            "Payroll Adjustment 4242",
            "Payroll Adjustment",
            "HR",
            "HR",
            "Active",
            "STATE_RUNNING",
            now - day,
            tasks=[],
        ),
    ]
    return {instance["piid"]: instance for instance in instances}


def header_part(instance: dict[str, Any]) -> dict[str, Any]:
    """`parts=header`: the instance fields and its tasks without their data."""
    trimmed = {key: value for key, value in instance.items() if key not in ("diagram", "executionTree")}
    trimmed["tasks"] = [{k: v for k, v in task.items() if k != "data"} for task in instance["tasks"]]
    return trimmed


def all_parts(instance: dict[str, Any]) -> dict[str, Any]:
    """`parts=all` (BAW's default): everything, including a diagram and execution tree of real bulk."""
    full = dict(instance)
    full["diagram"] = {"step": [{"name": f"Step {n}", "type": "activity", "x": n * 10, "y": 40} for n in range(200)]}
    full["executionTree"] = {
        "root": {"children": [{"nodeId": str(n), "flowObjectId": f"bpdid:{n}"} for n in range(50)]}
    }
    return full
