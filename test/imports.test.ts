// The house's rule (src/README.md): imports point down only, and nothing imports itself in a
// circle. Every relative import in src/ is read, `import type`, `export ... from`, `import()` and
// `require()` included, against the rank table in src/README.md.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

const SRC = path.join(__dirname, "..", "..", "src");

/** The rank of each room, read from src/README.md's table rows `| rank | room | ... |`. */
function ranks(): Map<string, number> {
  const rows = fs.readFileSync(path.join(SRC, "README.md"), "utf8").matchAll(/^\|\s*(\d+)\s*\|\s*([a-z-]+)\s*\|/gm);
  return new Map([...rows].map((m) => [m[2], Number(m[1])]));
}

function sources(dir = SRC): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const f = path.join(dir, e.name);
    return e.isDirectory() ? sources(f) : f.endsWith(".ts") ? [f] : [];
  });
}

/** The room of a file: its folder under src/, or "app" for the files directly in src/. */
const roomOf = (file: string) => {
  const rel = path.relative(SRC, file).split(path.sep);
  return rel.length === 1 ? "app" : rel[0];
};

interface Edge {
  from: string;
  line: number;
  to: string;
}

/** Relative imports of a file, resolved to files, with their line numbers; comments skipped. */
export function importsOf(file: string, text = fs.readFileSync(file, "utf8")): Edge[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " ")).replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
  const edges: Edge[] = [];
  const spec = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']*)["']/gm;
  for (const m of code.matchAll(spec)) {
    const line = code.slice(0, m.index).split("\n").length;
    const base = path.resolve(path.dirname(file), m[1]);
    const to = [`${base}.ts`, path.join(base, "index.ts"), base].find((f) => fs.existsSync(f) && fs.statSync(f).isFile());
    if (!to) throw new Error(`${path.relative(SRC, file)}:${line}: '${m[1]}' resolves to no file`);
    edges.push({ from: file, line, to });
  }
  return edges;
}

test("src/README.md ranks every room of src/", () => {
  const r = ranks();
  const rooms = new Set(sources().map(roomOf));
  assert.deepEqual(
    [...rooms].filter((room) => !r.has(room)),
    [],
    "rooms missing from src/README.md's table",
  );
});

test("imports point down only: no file imports from a room of higher rank", () => {
  const r = ranks();
  const upward = sources()
    .flatMap((f) => importsOf(f))
    .filter((e) => r.get(roomOf(e.to))! > r.get(roomOf(e.from))!)
    .map(
      (e) =>
        `${path.relative(SRC, e.from)}:${e.line} (${roomOf(e.from)}, rank ${r.get(roomOf(e.from))}) imports ${path.relative(SRC, e.to)} (${roomOf(e.to)}, rank ${r.get(roomOf(e.to))})`,
    );
  assert.deepEqual(upward, []);
});

/** A cycle in a graph given as adjacency lists, as its nodes in order, or undefined. */
function findCycle(graph: Map<string, Set<string>>): string[] | undefined {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    state.set(n, "open");
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      if (state.get(m) === "open") return [...stack.slice(stack.indexOf(m)), m];
      if (!state.has(m)) {
        const c = visit(m);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, "done");
    return undefined;
  };
  for (const n of [...graph.keys()].sort())
    if (!state.has(n)) {
      const c = visit(n);
      if (c) return c;
    }
  return undefined;
}

test("no circles: neither files nor rooms import each other round in a loop (type-only imports count)", () => {
  const edges = sources().flatMap((f) => importsOf(f));
  const files = new Map<string, Set<string>>();
  const rooms = new Map<string, Set<string>>();
  for (const e of edges) {
    if (!files.has(e.from)) files.set(e.from, new Set());
    files.get(e.from)!.add(e.to);
    const [a, b] = [roomOf(e.from), roomOf(e.to)];
    if (a === b) continue;
    if (!rooms.has(a)) rooms.set(a, new Set());
    rooms.get(a)!.add(b);
  }
  const fileCycle = findCycle(files);
  assert.equal(fileCycle?.map((f) => path.relative(SRC, f)).join(" -> "), undefined, "a circle of files");
  const lineOf = (a: string, b: string) =>
    edges.filter((e) => roomOf(e.from) === a && roomOf(e.to) === b).map((e) => `${path.relative(SRC, e.from)}:${e.line}`)[0];
  const roomCycle = findCycle(rooms);
  assert.equal(
    roomCycle?.map((r, i) => (i + 1 < roomCycle.length ? `${r} (${lineOf(r, roomCycle[i + 1])})` : r)).join(" -> "),
    undefined,
    "a circle of rooms",
  );
});

test("the import reader sees type-only imports, re-exports, require and import(), and skips comments", () => {
  const file = path.join(SRC, "train", "loop.ts");
  const text = [
    'import type { A } from "../models/model";',
    'export { B } from "./optimizer";',
    '// import { C } from "../report/plot";',
    'const x = require("../util/paths");',
    'const y = await import("../engine/tf");',
    "/* import { D } from '../pipeline/steps'; */",
  ].join("\n");
  const got = importsOf(file, text).map((e) => `${e.line} ${path.relative(SRC, e.to)}`);
  assert.deepEqual(got, ["1 models/model.ts", "2 train/optimizer.ts", "4 util/paths.ts", "5 engine/tf.ts"]);
});
