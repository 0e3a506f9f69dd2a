// The notebooks teach: each method notebook writes its idea out and checks it against the library
// (checkAgainstLibrary, which stops the notebook when the two disagree), the markdown explains,
// and the code cells are formatted like the library's.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { checkAgainstLibrary } from "../src/report/check";

const ROOT = path.join(__dirname, "..", "..");
const NOTEBOOKS = path.join(ROOT, "notebooks");
const { formatNotebook } = require(path.join(ROOT, "scripts", "format-notebooks.cjs")) as {
  formatNotebook: (file: string) => Promise<{ changed: number[]; wide: string[] }>;
};

interface Cell {
  cell_type: string;
  source: string[] | string;
}
const cells = (name: string): Cell[] => JSON.parse(fs.readFileSync(path.join(NOTEBOOKS, name), "utf8")).cells;
const text = (c: Cell) => (Array.isArray(c.source) ? c.source.join("") : c.source);

test("checkAgainstLibrary: passes within the tolerance, stops past it, on a length mismatch and on a non-finite value", () => {
  assert.equal(checkAgainstLibrary("same", [1, 2, 3], Float32Array.from([1, 2, 3]), 0).difference, 0);
  // Relative to the library's scale above 1, absolute below it.
  assert.ok(Math.abs(checkAgainstLibrary("scaled", 101, 100, 0.02).difference - 0.01) < 1e-12);
  assert.ok(Math.abs(checkAgainstLibrary("absolute", 0.003, 0.001, 0.01).difference - 0.002) < 1e-12);
  assert.throws(() => checkAgainstLibrary("loss", 1.1, 1.0, 1e-5), /loss: .*largest difference 1\.00e-1 .*disagree/);
  assert.throws(() => checkAgainstLibrary("terms", [1, 2], [1, 2, 3], 1), /2 values, the library's 3/);
  assert.throws(() => checkAgainstLibrary("terms", [NaN], [1], 1), /not finite/);
  assert.throws(() => checkAgainstLibrary("nothing", [], [], 1), /nothing to compare/);
});

test("each method notebook checks its hand-written version against the library's", () => {
  const expected: Record<string, number> = {
    "02-teacher.ipynb": 3,
    "03-pseudolabels-student.ipynb": 4,
    "04-finetune-baselines.ipynb": 3,
    "05-probes-tables.ipynb": 5,
    "07-new-product.ipynb": 2,
  };
  for (const [name, count] of Object.entries(expected)) {
    const code = cells(name)
      .filter((c) => c.cell_type === "code")
      .map(text)
      .join("\n");
    const calls = code.match(/rr\.checkAgainstLibrary\(/g)?.length ?? 0;
    assert.ok(calls >= count, `${name}: ${calls} checks against the library, expected at least ${count}`);
  }
});

test("the notebooks hold at least 4,000 words of markdown together, the paper's equations in LaTeX", () => {
  const files = fs.readdirSync(NOTEBOOKS).filter((f) => f.endsWith(".ipynb"));
  assert.equal(files.length, 8);
  const markdown = files.flatMap((f) =>
    cells(f)
      .filter((c) => c.cell_type === "markdown")
      .map(text),
  );
  const words = markdown.join("\n").split(/\s+/).filter(Boolean).length;
  assert.ok(words >= 4000, `${words} words of markdown`);
  for (const name of ["02-teacher.ipynb", "03-pseudolabels-student.ipynb", "04-finetune-baselines.ipynb", "05-probes-tables.ipynb"])
    assert.ok(
      cells(name).some((c) => c.cell_type === "markdown" && text(c).includes("$$")),
      `${name} has no displayed equation`,
    );
});

test("format-notebooks finds an unformatted cell and a line too wide to break", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rr-nbfmt-"));
  try {
    const file = path.join(dir, "x.ipynb");
    const long = `const s = "${"x".repeat(130)}";`;
    const nb = {
      cells: [
        { cell_type: "markdown", metadata: {}, source: ["# title"] },
        { cell_type: "code", metadata: {}, outputs: [], execution_count: null, source: ["const a = {b:1}\n", "a"] },
        { cell_type: "code", metadata: {}, outputs: [], execution_count: null, source: [long] },
      ],
      metadata: {},
      nbformat: 4,
      nbformat_minor: 5,
    };
    fs.writeFileSync(file, JSON.stringify(nb));
    const r = await formatNotebook(file);
    // Cell 1 is reformatted; cell 2's string is put on a line of its own, still too wide.
    assert.deepEqual(r.changed, [1, 2]);
    assert.equal(r.wide.length, 1);
    assert.match(r.wide[0], /cell 2 line 2 has 135 characters/);
    // The project's own notebooks are formatted (npm run format:check says the same in CI).
    for (const f of fs.readdirSync(NOTEBOOKS).filter((n) => n.endsWith(".ipynb"))) {
      const own = await formatNotebook(path.join(NOTEBOOKS, f));
      assert.deepEqual(own.changed, [], `${f}: unformatted cells`);
      assert.deepEqual(own.wide, [], `${f}: lines over 120`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
