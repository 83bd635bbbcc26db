"""One plain sentence about an instance, for the model to quote or reason from."""

from __future__ import annotations

from gateway.baw.models import ProcessInstance, ProcessStatus, Task

_MAX_TASKS_NAMED = 3
_VERBS = {
    ProcessStatus.ACTIVE: "is active",
    ProcessStatus.COMPLETED: "has completed",
    ProcessStatus.FAILED: "has failed",
    ProcessStatus.TERMINATED: "was terminated",
    ProcessStatus.SUSPENDED: "is suspended",
    ProcessStatus.DID_NOT_START: "did not start",
    ProcessStatus.UNKNOWN: "is in an unknown state",
}


def describe_process(instance: ProcessInstance) -> str:
    """E.g. "Vendor Onboarding 2001 is active; 1 open task: Approve vendor, assigned to ProcurementManagers,
    due 2026-11-25, at risk." """
    subject = instance.name or f"Process instance {instance.process_id}"
    sentence = f"{subject} {_VERBS[instance.status]}"
    if instance.status is ProcessStatus.FAILED and instance.error_message:
        sentence += f" ({instance.error_message.rstrip('.')})"
    tasks = instance.open_tasks
    if not tasks:
        return f"{sentence}; no open tasks."
    described = "; ".join(_describe_task(task) for task in tasks[:_MAX_TASKS_NAMED])
    more = f"; and {len(tasks) - _MAX_TASKS_NAMED} more" if len(tasks) > _MAX_TASKS_NAMED else ""
    noun = "task" if len(tasks) == 1 else "tasks"
    return f"{sentence}; {len(tasks)} open {noun}: {described}{more}."


def _describe_task(task: Task) -> str:
    parts = [task.name or f"task {task.task_id}"]
    parts.append(f"assigned to {task.assigned_to}" if task.assigned_to else "unassigned")
    if task.due_at is not None:
        parts.append(f"due {task.due_at.date().isoformat()}")
    if task.at_risk:
        parts.append("at risk")
    return ", ".join(parts)
