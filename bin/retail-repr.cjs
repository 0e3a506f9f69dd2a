#!/usr/bin/env node
// The CLI lives in the compiled library; build first with `npm run build` (or `npm run setup`).
const path = require("path");
const entry = path.join(__dirname, "..", "dist", "src", "cli.js");
try {
  require.resolve(entry);
} catch {
  console.error(`retail-repr: ${entry} is missing. Run \`npm run build\` in ${path.dirname(__dirname)} first.`);
  process.exit(1);
}
// Say plainly when the compiled CLI is older than its source (it still runs: the old build).
const freshness = require(path.join(__dirname, "..", "kernel-setup", "freshness.cjs"));
const stale = freshness.staleSources(path.join(__dirname, ".."));
if (stale.length)
  console.error(`retail-repr: warning: ${freshness.describeStale(stale)}; this runs the old build (npm run build updates it)`);
require(entry)
  .runCli(process.argv.slice(2))
  .then((code) => process.exit(code));
