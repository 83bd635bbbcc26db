// The task list: list_process_tasks, sortable; each task opens its details through the host (get_task).
import { element, formatDate, isOverdue } from "./common.js";

const COLUMNS = [
  ["name", "Task"],
  ["assigned_to", "Assignee"],
  ["status", "Status"],
  ["due_at", "Due"],
];

export const renderTasks = (data, context) => {
  let sortKey = "due_at";
  let ascending = true;
  const details = element("section", { class: "details", "aria-live": "polite" });
  const table = element("table", {});
  const caption = element("caption", {}, `Tasks of instance ${data.process_id} (${data.state}): ${data.total}`);

  async function open(task) {
    details.replaceChildren(element("p", { class: "muted" }, `Opening ${task.name || task.task_id}…`));
    try {
      const result = await context.app.callServerTool({ name: "get_task", arguments: { task_id: task.task_id } });
      if (result.isError) {
        const text = (result.content || []).find((item) => item.type === "text");
        details.replaceChildren(element("p", { class: "error", role: "alert" }, text ? text.text : "Not found."));
        return;
      }
      const info = result.structuredContent || {};
      details.replaceChildren(
        element("h3", {}, info.name || task.task_id),
        element(
          "dl",
          { class: "facts" },
          element("dt", {}, "Assignee"),
          element("dd", {}, info.assigned_to || "unassigned"),
          element("dt", {}, "Status"),
          element("dd", {}, info.status || "—"),
          element("dt", {}, "Due"),
          element("dd", {}, formatDate(info.due_at, context.locale)),
          element("dt", {}, "Priority"),
          element("dd", {}, info.priority || "—"),
        ),
        info.summary ? element("p", { class: "summary" }, info.summary) : null,
      );
    } catch (error) {
      details.replaceChildren(element("p", { class: "error", role: "alert" }, `The host could not open it: ${error}`));
    }
  }

  function draw() {
    const rows = [...(data.tasks || [])].sort((a, b) => {
      const left = a[sortKey] ?? "";
      const right = b[sortKey] ?? "";
      return (left < right ? -1 : left > right ? 1 : 0) * (ascending ? 1 : -1);
    });
    const head = element(
      "tr",
      {},
      COLUMNS.map(([key, label]) =>
        element(
          "th",
          { scope: "col", "aria-sort": key === sortKey ? (ascending ? "ascending" : "descending") : "none" },
          element(
            "button",
            {
              type: "button",
              class: "sort",
              onclick: () => {
                ascending = key === sortKey ? !ascending : true;
                sortKey = key;
                draw();
              },
            },
            label,
          ),
        ),
      ),
      element("th", { scope: "col" }, element("span", { class: "visually-hidden" }, "Details")),
    );
    const body = rows.map((task) =>
      element(
        "tr",
        {},
        element("td", {}, task.name || task.task_id),
        element("td", {}, task.assigned_to || "unassigned"),
        element("td", {}, task.status || "—"),
        element(
          "td",
          { class: task.is_open && isOverdue(task.due_at) ? "overdue" : "" },
          formatDate(task.due_at, context.locale),
          task.is_open && isOverdue(task.due_at) ? " (overdue)" : "",
        ),
        element("td", {}, element("button", { type: "button", onclick: () => open(task) }, "Details")),
      ),
    );
    table.replaceChildren(caption, element("thead", {}, head), element("tbody", {}, body));
  }

  draw();
  if (!data.tasks || data.tasks.length === 0) return [element("p", { class: "muted" }, "No tasks.")];
  return [table, data.truncated ? element("p", { class: "muted" }, "More tasks follow.") : null, details];
};
