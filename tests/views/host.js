// The test host: plays an MCP Apps host with the official SDK's host side (AppBridge). It embeds a view in a
// sandboxed iframe (scripts only, an opaque origin), hands it the host context (theme, locale), the tool's input
// and result from window.CASE, and answers the view's tools/call requests from window.CASE.calls.
import { AppBridge, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";

const params = new URLSearchParams(location.search);
const theme = params.get("theme") || "light";
const locale = params.get("locale") || "en-US";
const testCase = window.CASE;
window.calls = [];
document.documentElement.dataset.theme = theme;

const html = await (await fetch(`/view/${params.get("view")}.html`)).text();
const iframe = document.createElement("iframe");
iframe.setAttribute("sandbox", "allow-scripts");
iframe.title = "BAW view";
document.body.append(iframe);

const bridge = new AppBridge(null, { name: "test-host", version: "1.0.0" }, { serverTools: {} }, {
  hostContext: { theme, locale, displayMode: "inline" },
});
bridge.oncalltool = async (call) => {
  window.calls.push(call);
  return testCase.calls[call.name];
};
bridge.oninitialized = async () => {
  await bridge.sendToolInput({ arguments: testCase.arguments });
  await bridge.sendToolResult(testCase.result);
  window.delivered = true;
};
bridge.onsizechange = ({ height }) => {
  if (height) iframe.style.height = `${height}px`;
};
await bridge.connect(new PostMessageTransport(iframe.contentWindow, iframe.contentWindow));
iframe.srcdoc = html;
