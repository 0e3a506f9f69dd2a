// Is dist/ older than src/? A kernel or CLI that loads dist/ while src/ has changed runs code
// nobody is reading; this names the sources whose compiled file is missing or older.
// Plain CommonJS (no build step), used by the kernel's launcher and bin/retail-repr.cjs.
const fs = require("fs");
const path = require("path");

/** Sources under src/ whose dist/src/ .js is missing or older, relative to the repo. */
function staleSources(repo) {
  const src = path.join(repo, "src");
  const out = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const f = path.join(dir, e.name);
      if (e.isDirectory()) walk(f);
      else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) {
        const js = path.join(repo, "dist", path.relative(repo, f)).replace(/\.ts$/, ".js");
        if (!fs.existsSync(js) || fs.statSync(js).mtimeMs < fs.statSync(f).mtimeMs) out.push(path.relative(repo, f));
      }
    }
  };
  if (fs.existsSync(src)) walk(src);
  return out;
}

/** One line naming the stale sources (the first three), or "" when dist/ is current. */
function describeStale(stale) {
  if (stale.length === 0) return "";
  return `dist/ is older than src/ (${stale.slice(0, 3).join(", ")}${stale.length > 3 ? ` and ${stale.length - 3} more` : ""})`;
}

/** Compile src/ into dist/ with the repo's TypeScript; returns { ok, output }. */
function rebuild(repo) {
  const { spawnSync } = require("child_process");
  const tsc = path.join(repo, "node_modules", "typescript", "bin", "tsc");
  const r = spawnSync(process.execPath, [tsc, "-p", path.join(repo, "tsconfig.json")], { encoding: "utf8" });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`.trim() };
}

module.exports = { staleSources, describeStale, rebuild };
