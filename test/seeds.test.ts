// `--seeds N`: each table cell's mean and sample standard deviation over the repeats, by hand.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { summariseSeeds } from "../src/pipeline/seeds";

const run = (a: number, b: number) =>
  ({
    probes: { "capg-like": { teacher: { logreg: a } }, "grozi-like": { teacher: { logreg: b } } },
    finetune: { "capg-like": { gap: { accuracy: b } }, "grozi-like": { gap: { accuracy: a } } },
  }) as any;

test("summariseSeeds: mean and sd (n - 1) per set and row", () => {
  const s = summariseSeeds([run(0.5, 0.2), run(0.7, 0.2), run(0.6, 0.5)]);
  const get = (set: string, row: string) => s.find((x) => x.set === set && x.row === row)!;
  const t = get("capg-like", "teacher + LR");
  assert.deepEqual(t.values, [0.5, 0.7, 0.6]);
  assert.ok(Math.abs(t.mean - 0.6) < 1e-12);
  assert.ok(Math.abs(t.sd - 0.1) < 1e-12); // deviations -0.1, 0.1, 0: sqrt(0.02 / 2)
  const g = get("capg-like", "finetune gap");
  assert.ok(Math.abs(g.mean - 0.3) < 1e-12 && Math.abs(g.sd - Math.sqrt(0.06 / 2)) < 1e-12);
  assert.equal(s.length, 4);
  assert.equal(summariseSeeds([run(0.5, 0.2)])[0].sd, 0, "one run: no spread");
});
