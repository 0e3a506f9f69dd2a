// The notebook API (src/index.ts) is curated, not everything in src/: whatever the notebooks, the
// kernel tests and the prose tell a reader to call as `rr.X` must be there, as a value or a type.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as rr from "../src";

const ROOT = path.join(__dirname, "..", "..");
/** Where `rr` is the TypeScript library (docs' Python snippets call their own module `rr` too). */
const SOURCES = [
  ...fs
    .readdirSync(path.join(ROOT, "notebooks"))
    .filter((f) => f.endsWith(".ipynb"))
    .map((f) => path.join("notebooks", f)),
  "README.md",
  ...fs.readdirSync(path.join(ROOT, "docs")).map((f) => path.join("docs", f)),
  path.join("test", "kernel_protocol.py"),
];
const PYTHON_MODULE = new Set(["load", "read_safetensors", "backbone_state_dict"]);

test("every rr.X the notebooks, docs and README use is in the curated index", () => {
  const declarations = fs.readFileSync(path.join(ROOT, "dist", "src", "index.d.ts"), "utf8");
  const missing: string[] = [];
  for (const file of SOURCES) {
    const text = fs.readFileSync(path.join(ROOT, file), "utf8");
    // `rr.` at a line's start, after an escaped newline in a string, or after a non-word.
    for (const [, name] of text.matchAll(/(?:^|\\n|[^\w.$])rr\.([A-Za-z_]\w*)/gm)) {
      if (PYTHON_MODULE.has(name) || name in rr || new RegExp(`\\b${name}\\b`).test(declarations)) continue;
      missing.push(`${file}: rr.${name}`);
    }
  }
  assert.deepEqual([...new Set(missing)], []);
});
