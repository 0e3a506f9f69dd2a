// Choose on dev, report on test: no live monitor or check before the final evaluation reads a
// test set. Reads the notebooks that run before it (01-04) and the library's monitor helper.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { paths } from "../src/util/paths";

const TEST_SETS = /(grozi|capg)-like/;

function codeCells(nb: string): string[] {
  const d = JSON.parse(fs.readFileSync(path.join(paths.root, "notebooks", nb), "utf8"));
  return d.cells
    .filter((c: { cell_type: string }) => c.cell_type === "code")
    .map((c: { source: string[] | string }) => (Array.isArray(c.source) ? c.source.join("") : c.source));
}

test("notebooks before the final evaluation: monitors and checks read dev-like, never a test set", () => {
  const before = fs
    .readdirSync(path.join(paths.root, "notebooks"))
    .filter((f) => /^0[1-4]-.*\.ipynb$/.test(f))
    .sort();
  assert.ok(before.length >= 4, `found ${before}`);
  let monitors = 0;
  for (const nb of before) {
    for (const code of codeCells(nb)) {
      // Every call that scores embeddings on a set: 1-NN monitors, embedding a one-shot set.
      for (const m of code.matchAll(/(oneNNAccuracy|embedOneShot)\(([^)]*)\)/g)) {
        monitors++;
        assert.ok(!TEST_SETS.test(m[2]), `${nb}: ${m[0]} reads a test set before the final evaluation`);
        assert.match(m[2], /dev-like/, `${nb}: ${m[0]} should name dev-like`);
      }
      for (const m of code.matchAll(/name:\s*"([^"]*)"/g))
        assert.ok(!TEST_SETS.test(m[1]), `${nb}: live monitor '${m[1]}' names a test set`);
    }
  }
  assert.ok(monitors >= 3, `expected the teacher's and student's monitors and the teacher check, found ${monitors}`);
});

test("the library's 1-NN monitor defaults to dev-like", () => {
  const src = fs.readFileSync(path.join(paths.root, "src/pipeline/evaluate.ts"), "utf8");
  assert.match(src, /export async function oneNNAccuracy\([^)]*set: EvalSet = DEV_SET\)/);
});
