// The MCP TypeScript SDK client against the gateway: the scenarios the Python SDK tests run, as the MCP
// Inspector and hosts built on this SDK would. Prints one JSON object; the pytest side asserts on it.
// Usage: node client.mjs <mcp url> [bearer key]
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, key] = process.argv.slice(2);
const headers = key ? { Authorization: `Bearer ${key}` } : {};
const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
const client = new Client({ name: "ts-sdk-conformance", version: "1.0.0" });

const calls = {
  get_process_status: { process_id: "23972" },
  get_process_status_numeric: { process_id: 23972 },
  list_process_tasks: { process_id: 23972, state: "all" },
  get_task: { task_id: 189489 },
  explain_process_failure: { process_id: "881" },
  search_processes: { app: "PROC", limit: 5 },
  process_status_overview: {},
  list_process_apps: {},
  not_found: { process_id: "999999" },
  invalid_request: { process_id: "../etc" },
  unknown_argument: { process_id: "1", sort: "desc" },
  baw_forbidden: { process_id: "4242" },
};
const toolOf = (name) =>
  ({ get_process_status_numeric: "get_process_status", not_found: "get_process_status",
     invalid_request: "get_process_status", unknown_argument: "list_process_tasks",
     baw_forbidden: "get_process_status" })[name] ?? name;

const report = { tools: [], calls: {} };
try {
  await client.connect(transport);
  report.server = client.getServerVersion();
  report.capabilities = client.getServerCapabilities();
  const listed = (await client.listTools()).tools;
  report.tools = listed.map((tool) => tool.name).sort();
  // MCP Apps: each tool's view, and the ui:// resources read as a host reads them
  report.views = Object.fromEntries(listed.map((tool) => [tool.name, tool._meta?.ui?.resourceUri ?? null]));
  report.resources = {};
  for (const resource of (await client.listResources()).resources) {
    const read = (await client.readResource({ uri: resource.uri })).contents[0];
    report.resources[resource.uri] = {
      mimeType: read.mimeType,
      html: read.text?.startsWith("<!doctype html>") ?? false,
      csp: read._meta?.ui?.csp ?? null,
    };
  }
  for (const [name, args] of Object.entries(calls)) {
    try {
      const result = await client.callTool({ name: toolOf(name), arguments: args });
      report.calls[name] = {
        isError: Boolean(result.isError),
        structured: result.structuredContent ?? null,
        text: result.content?.[0]?.text ?? null,
      };
    } catch (error) {
      report.calls[name] = { exception: String(error?.message ?? error) };
    }
  }
} catch (error) {
  report.exception = String(error?.message ?? error);
} finally {
  await client.close().catch(() => {});
}
process.stdout.write(JSON.stringify(report));
