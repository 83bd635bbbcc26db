// The instance card: get_process_status and explain_process_failure.
import { badge, element, formatDate, isOverdue } from "./common.js";

function tasks(open, locale) {
  if (!open || open.length === 0) return element("p", { class: "muted" }, "No open tasks.");
  return element(
    "ul",
    { class: "tasks", "aria-label": "Open tasks" },
    open.map((task) =>
      element(
        "li",
        {},
        element("strong", {}, task.name || `Task ${task.task_id}`),
        " — ",
        task.assigned_to ? `assigned to ${task.assigned_to}` : "unassigned",
        task.due_at
          ? element(
              "span",
              { class: isOverdue(task.due_at) ? "overdue" : "due" },
              ` · due ${formatDate(task.due_at, locale)}`,
              isOverdue(task.due_at) ? " (overdue)" : "",
            )
          : null,
        task.at_risk ? element("span", { class: "risk" }, " · at risk") : null,
      ),
    ),
  );
}

function failure(data, locale) {
  const errors = data.errors || [];
  const message = data.error_message;
  if (!errors.length && !message) return null;
  return element(
    "section",
    { class: "failure", "aria-label": "Failure" },
    element("h3", {}, "Why it failed"),
    message ? element("p", {}, message) : null,
    errors.map((error) =>
      element(
        "p",
        {},
        error.message || "Failed",
        error.step ? element("span", { class: "muted" }, ` — at step ${error.step}`) : null,
        error.at ? element("span", { class: "muted" }, ` (${formatDate(error.at, locale)})`) : null,
      ),
    ),
  );
}

export const renderCard = (data, { locale }) => [
  element(
    "header",
    {},
    element("h2", {}, data.name || `Process instance ${data.process_id}`),
    badge(data.status),
  ),
  element(
    "dl",
    { class: "facts" },
    element("dt", {}, "Instance"),
    element("dd", {}, data.process_id),
    data.process_app ? [element("dt", {}, "App"), element("dd", {}, data.process_app)] : null,
    data.created_at !== undefined ? [element("dt", {}, "Started"), element("dd", {}, formatDate(data.created_at, locale))] : null,
    data.last_updated !== undefined
      ? [element("dt", {}, "Last modified"), element("dd", {}, formatDate(data.last_updated, locale))]
      : null,
  ),
  data.open_tasks ? tasks(data.open_tasks, locale) : null,
  failure(data, locale),
  data.summary ? element("p", { class: "summary" }, data.summary) : null,
];
