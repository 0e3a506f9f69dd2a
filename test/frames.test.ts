// The results as danfojs DataFrames (report/frames.ts): one row per number, values equal to the
// metrics they come from, and queries and groups that a notebook would write.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { findingsFrame, findingsRows, metricsFrame, metricsRows } from "../src/report/frames";
import type { Metrics } from "../src/pipeline/metrics";

const scores = (lr: number) => ({
  logreg: lr,
  logregCI: [lr - 0.1, lr + 0.1] as [number, number],
  logregOutcomes: "01",
  C: 10,
  knn: lr / 2,
  knnCI: [0, 1] as [number, number],
  ncm: lr / 3,
  ncmCI: [0, 1] as [number, number],
  fitMs: 1,
  iterations: 5,
});
const ft = (acc: number) => ({
  accuracy: acc,
  accuracyCI: [acc - 0.05, acc + 0.05] as [number, number],
  outcomes: "10",
  trainAccuracy: 0.97,
  imagesSeen: 100,
  recipe: { name: "uniform", lr: 0.1, backboneScale: 1 },
});
const comparison = (set: string, d: number) => ({
  set,
  winner: "teacher + LR",
  loser: "random init + LR",
  difference: d,
  differenceCI: [d - 0.1, d + 0.1] as [number, number],
  mcnemarP: 0.01,
  verdict: "holds" as const,
});
const metrics = {
  probes: { "grozi-like": { teacher: scores(0.6), student: scores(0.5) }, "capg-like": { teacher: scores(0.4), student: scores(0.7) } },
  finetune: { "grozi-like": { gap: ft(0.3), lca: ft(0.35) }, "capg-like": { gap: ft(0.45), lca: ft(0.2) } },
  findings: [
    {
      id: "representations-beat-random",
      claim: "",
      paper: "",
      ours: "",
      verdict: "holds",
      difference: 0.3,
      differenceCI: [0.2, 0.4],
      seeds: 1,
      comparisons: [comparison("grozi-like", 0.3), comparison("capg-like", 0.2)],
    },
    {
      id: "lca-beats-gap",
      claim: "",
      paper: "",
      ours: "",
      verdict: "not-tested",
      difference: 0,
      differenceCI: [0, 0],
      seeds: 1,
      comparisons: [],
      reason: "x",
    },
  ],
} as unknown as Metrics;

test("metricsRows: three probes per representation and set, one row per fine-tune, the metrics' own values", () => {
  const rows = metricsRows(metrics);
  assert.equal(rows.length, 2 * 2 * 3 + 2 * 2);
  assert.deepEqual(
    rows.find((r) => r.set === "capg-like" && r.model === "student" && r.metric === "logreg"),
    {
      set: "capg-like",
      model: "student",
      kind: "probe",
      metric: "logreg",
      accuracy: 0.7,
      low: 0.6,
      high: 0.7999999999999999,
      trainAccuracy: null,
      C: 10,
    },
  );
  assert.equal(rows.find((r) => r.model === "finetune lca" && r.set === "grozi-like")!.accuracy, 0.35);
  const f = findingsRows(metrics);
  assert.equal(f.length, 3, "a finding without comparisons keeps one row");
  assert.equal(f[2].verdict, "not-tested");
  assert.equal(f[0].mcnemarPSeed0, 0.01, "McNemar's p is named for the one seed it reads");
});

test("metricsFrame and findingsFrame answer a notebook's questions: query, group, sort", () => {
  const f = metricsFrame(metrics);
  const lr = f.query(f["metric"].eq("logreg"));
  assert.deepEqual(lr.shape, [4, 9]);
  const best = f.query(f["kind"].eq("probe")).groupby(["set"]).col(["accuracy"]).max();
  const bestBySet = Object.fromEntries((best.values as [string, number][]).map(([s, v]) => [s, v]));
  assert.deepEqual(bestBySet, { "grozi-like": 0.6, "capg-like": 0.7 }, "the best probe per set is the LR of the better representation");
  const top = f.query(f["kind"].eq("finetune")).sortValues("accuracy", { ascending: false });
  assert.deepEqual(top["model"].values.slice(0, 1), ["finetune gap"]);
  // danfojs's statistics run on mathjs (15.2.0 by package.json's override): the sample sd of the four LR probes.
  const lrs = [0.6, 0.5, 0.4, 0.7];
  const mean = lrs.reduce((a, b) => a + b) / 4;
  assert.ok(Math.abs(lr["accuracy"].std() - Math.sqrt(lrs.reduce((a, v) => a + (v - mean) ** 2, 0) / 3)) < 1e-12);
  const holds = findingsFrame(metrics);
  assert.equal(holds.query(holds["comparison"].eq("holds")).shape[0], 2);
});
