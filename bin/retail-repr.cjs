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
require(entry).main(process.argv.slice(2)).then(
  (code) => process.exit(code ?? 0),
  (err) => {
    console.error(`retail-repr: ${err && err.message ? err.message : err}`);
    if (process.env.RETAIL_REPR_DEBUG) console.error(err);
    process.exit(err && err.name === "InterruptedError" ? 130 : 1); // 130: stopped by Ctrl-C, as shells report it
  },
);
