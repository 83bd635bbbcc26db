// What every view shares: the bridge to the host (the official MCP Apps SDK), the host's theme and locale, dates
// and status badges, and a plain message for an error result. No network: everything arrives through the host.
import { App } from "@modelcontextprotocol/ext-apps/app-with-deps";

export const STATUS_LABELS = {
  active: "Active",
  completed: "Completed",
  failed: "Failed",
  terminated: "Terminated",
  suspended: "Suspended",
  did_not_start: "Did not start",
  unknown: "Unknown",
};

export function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function badge(status) {
  const word = STATUS_LABELS[status] ? status : "unknown";
  return element("span", { class: `badge status-${word}` }, STATUS_LABELS[word]);
}

export function formatDate(value, locale) {
  if (!value) return "—";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" }).format(date);
}

export function isOverdue(value) {
  return Boolean(value) && new Date(value).getTime() < Date.now();
}

function resultData(result) {
  if (result.structuredContent && typeof result.structuredContent === "object") return result.structuredContent;
  const text = (result.content || []).find((item) => item.type === "text");
  try {
    return text ? JSON.parse(text.text) : null;
  } catch {
    return null;
  }
}

function errorText(result) {
  const text = (result.content || []).find((item) => item.type === "text");
  return text ? text.text : "The lookup failed.";
}

// Start a view: `render(root, data, context)` draws a successful result; an error result is a plain message.
export function startView(name, render) {
  const root = document.getElementById("view");
  const context = { locale: undefined, app: undefined, tool: undefined };
  const app = new App({ name, version: "1.0.0" }, {}, { autoResize: true });
  context.app = app;
  const applyHostContext = (host) => {
    if (!host) return;
    if (host.theme) document.documentElement.dataset.theme = host.theme;
    if (host.locale) {
      context.locale = host.locale;
      document.documentElement.lang = host.locale;
    }
    if (host.toolInfo?.tool?.name) context.tool = host.toolInfo.tool.name;
  };
  app.onhostcontextchanged = applyHostContext;
  app.ontoolinput = (params) => {
    root.setAttribute("aria-busy", "true");
    root.replaceChildren(element("p", { class: "muted" }, "Looking it up in BAW…"));
    context.arguments = params.arguments;
  };
  app.ontoolresult = (result) => {
    root.removeAttribute("aria-busy");
    if (result.isError) {
      root.replaceChildren(element("p", { class: "error", role: "alert" }, errorText(result)));
      return;
    }
    const data = resultData(result);
    if (!data) {
      root.replaceChildren(element("p", { class: "error", role: "alert" }, "The answer could not be read."));
      return;
    }
    root.replaceChildren(...[render(data, context)].flat(Infinity).filter((node) => node !== null && node !== undefined));
  };
  app.connect().then(() => applyHostContext(app.getHostContext()));
}
