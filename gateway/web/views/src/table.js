// The search and overview table: search_processes and process_status_overview, counts per status and a list.
import { badge, element, formatDate } from "./common.js";

function counts(byStatus) {
  const entries = Object.entries(byStatus).filter(([, count]) => count > 0);
  if (!entries.length) return element("p", { class: "muted" }, "No instances.");
  return element(
    "ul",
    { class: "counts", "aria-label": "Instances per status" },
    entries.map(([status, count]) => element("li", {}, badge(status), " ", element("strong", {}, count))),
  );
}

export const renderTable = (data, { locale }) => {
  if (data.counts) {
    return [
      element("h2", {}, data.app ? `Instances of ${data.app}` : "Instances in all process apps", `: ${data.total}`),
      counts(data.counts),
    ];
  }
  const processes = data.processes || [];
  const byStatus = {};
  for (const hit of processes) byStatus[hit.status] = (byStatus[hit.status] || 0) + 1;
  return [
    element("h2", {}, `${data.total} matching instance${data.total === 1 ? "" : "s"}`),
    counts(byStatus),
    processes.length
      ? element(
          "table",
          {},
          element("caption", { class: "visually-hidden" }, "Matching instances"),
          element(
            "thead",
            {},
            element(
              "tr",
              {},
              ["Instance", "Name", "App", "Status", "Last modified"].map((label) =>
                element("th", { scope: "col" }, label),
              ),
            ),
          ),
          element(
            "tbody",
            {},
            processes.map((hit) =>
              element(
                "tr",
                {},
                element("td", {}, hit.process_id),
                element("td", {}, hit.name || "—"),
                element("td", {}, hit.process_app || "—"),
                element("td", {}, badge(hit.status)),
                element("td", {}, formatDate(hit.last_updated, locale)),
              ),
            ),
          ),
        )
      : null,
    data.truncated ? element("p", { class: "muted" }, "More instances follow.") : null,
  ];
};
