// `make views`: the views bundled with the MCP Apps SDK into one self-contained HTML file (no CDN, no other origin),
// written beside this script; the server serves it as each view's ui:// resource, naming the view. The sources'
// hash goes into the file: a test fails when it is stale.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";


export function sourcesHash() {
  const files = [
    ...readdirSync("src").map((name) => `src/${name}`),
    "style.css",
    "build.mjs",
    "package-lock.json",
    "../../../tests/views/host.js",
  ];
  const hash = createHash("sha256");
  for (const file of files.sort()) hash.update(`${file}\0`).update(readFileSync(file)).update("\0");
  return hash.digest("hex");
}

const hash = sourcesHash();
const css = readFileSync("style.css", "utf8");
const bundled = await build({
  entryPoints: ["src/main.js"],
  bundle: true,
  format: "iife",
  minify: true,
  target: "es2020",
  legalComments: "none",
  write: false,
});
const script = bundled.outputFiles[0].text.replace(/<\/script/gi, "<\\/script");
const html =
  `<!doctype html>\n<!-- built by \`make views\` from gateway/web/views (sources sha256 ${hash}); do not edit -->\n` +
  `<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">` +
  `<title>BAW</title><style>${css}</style></head><body>` +
  `<main id="view" aria-live="polite"><p class="muted">Waiting for the answer…</p></main>` +
  `<script>${script}</script></body></html>\n`;
writeFileSync("views.html", html);
console.log(`views.html: ${html.length} bytes`);

// The tests' host (tests/views/host.js): the SDK's host side, bundled for the browser test beside its source.
await build({
  entryPoints: ["../../../tests/views/host.js"],
  bundle: true,
  format: "esm",
  minify: true,
  target: "es2022",
  legalComments: "none",
  outfile: "../../../tests/views/host.bundle.js",
  nodePaths: ["node_modules"],
});
console.log("tests/views/host.bundle.js");
