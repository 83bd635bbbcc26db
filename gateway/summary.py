"""One plain sentence about an instance, for the model to quote or reason from."""

from __future__ import annotations

from gateway.model import Failure, ProcessInstance, ProcessStatus, Task, TaskDetails

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
    return ", ".join([task.name or f"task {task.task_id}", *_task_facts(task)])


def _task_facts(task: Task) -> list[str]:
    facts = [f"assigned to {task.assigned_to}" if task.assigned_to else "unassigned"]
    if task.due_at is not None:
        facts.append(f"due {task.due_at.date().isoformat()}")
    if task.at_risk:
        facts.append("at risk")
    return facts


def describe_task(details: TaskDetails) -> str:
    """E.g. "Review credit report is open (Received), assigned to jsmith, due 2026-11-25, at risk; part of
    Loan Application:23972." """
    task = details.task
    head = f"{task.name or f'Task {task.task_id}'} is {'open' if task.is_open else 'closed'}"
    if task.status:
        head += f" ({task.status})"
    sentence = ", ".join([head, *_task_facts(task)])
    if details.process_name or details.process_id:
        sentence += f"; part of {details.process_name or f'process instance {details.process_id}'}"
    return sentence + "."


def describe_failure(failure: Failure) -> str:
    instance = failure.instance
    subject = instance.name or f"Process instance {instance.process_id}"
    if instance.status is not ProcessStatus.FAILED:
        return f"{subject} has not failed: it {_VERBS[instance.status]}."
    if not failure.runtime_failures:
        reason = instance.error_message or "BAW recorded no error message"
        return f"{subject} has failed: {reason.rstrip('.')}."
    first = failure.runtime_failures[0]
    where = f" at step {first.step}" if first.step else ""
    when = f" on {first.at.date().isoformat()}" if first.at else ""
    more = f" ({len(failure.runtime_failures)} errors)" if len(failure.runtime_failures) > 1 else ""
    return f"{subject} has failed{where}{when}: {(first.message or 'no message').rstrip('.')}{more}."
