// The verdict rule on hand-made outcomes: holds when every paired difference's interval is above
// zero, fails ("reversed") when one is below, inconclusive otherwise, not-tested when a row failed
// its precondition; and the six paper findings on hand-made metrics.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { compareRows, finding, Scored } from "../src/pipeline/findings";
import { finetunePrecondition, paperFindings, RunRows } from "../src/pipeline/paper-findings";
import type { Interval } from "../src/probe/bootstrap";

const N = 400;
/** A row right on the images [start, start + k) (mod N): rows overlap as their windows do. */
function window(k: number, start = 0): string {
  let s = "";
  for (let i = 0; i < N; i++) s += (i - start + N) % N < k ? "1" : "0";
  return s;
}
const row = (label: string, outcomes: string[], notTested?: string): Scored => ({
  label,
  accuracy: outcomes.reduce((a, o) => a + [...o].filter((c) => c === "1").length / N, 0) / outcomes.length,
  outcomes,
  notTested,
});

test("compareRows: holds above zero, fails below, inconclusive across", () => {
  // 240 vs 160 right, overlapping on 140: A-only 100, B-only 20.
  assert.equal(compareRows("s", row("a", [window(240)]), row("b", [window(160, 100)])).verdict, "holds");
  assert.equal(compareRows("s", row("b", [window(160, 100)]), row("a", [window(240)])).verdict, "fails");
  // 200 vs 196, A-only 24, B-only 20: p about 0.65.
  assert.equal(compareRows("s", row("a", [window(200)]), row("b", [window(196, 24)])).verdict, "inconclusive");
});

test("finding: every comparison must hold; one below zero fails it, reversed; a failed precondition makes it not-tested", () => {
  const strong = row("strong", [window(300)]),
    weak = row("weak", [window(100, 50)]),
    mid = row("mid", [window(200, 10)]),
    mid2 = row("mid2", [window(198, 40)]);
  const holds = finding("x", "c", "p", [{ set: "s", winners: [strong], losers: [weak, mid] }]);
  assert.equal(holds.verdict, "holds");
  assert.equal(holds.comparisons.length, 2);
  // The decisive comparison is the one nearest to failing: strong vs mid, not strong vs weak.
  assert.equal(holds.comparisons.find((c) => c.loser === "mid")!.differenceCI[0], holds.differenceCI[0]);
  const inconclusive = finding("x", "c", "p", [{ set: "s", winners: [strong, mid], losers: [mid2] }]);
  assert.equal(inconclusive.verdict, "inconclusive");
  const fails = finding("x", "c", "p", [
    { set: "s", winners: [strong], losers: [weak] },
    { set: "t", winners: [weak], losers: [mid] },
  ]);
  assert.equal(fails.verdict, "fails");
  assert.match(fails.reason!, /reversed: weak is below mid on t/);
  assert.ok(fails.differenceCI[1] < 0);
  const untested = finding("x", "c", "p", [
    { set: "s", winners: [strong], losers: [row("ft", [window(10)], "training accuracy 40.0 % < 95.0 %")] },
  ]);
  assert.equal(untested.verdict, "not-tested");
  assert.match(untested.reason!, /ft: training accuracy 40.0 %/);
  // The intervals are still reported.
  assert.ok(untested.differenceCI[0] > 0);
});

/** A probe row / fine-tune row right on the first round(a * N) images shifted by `at`. */
const probe = (a: number, at = 0) => ({
  logreg: a,
  logregCI: [a - 0.03, a + 0.03] as Interval,
  logregOutcomes: window(Math.round(a * N), at),
  C: 1,
  knn: a,
  knnCI: [a - 0.03, a + 0.03] as Interval,
  ncm: a,
  ncmCI: [a - 0.03, a + 0.03] as Interval,
  fitMs: 1,
  iterations: 1,
});
const recipe = { name: "uniform", lr: 0.1, backboneScale: 1 };
const ft = (a: number, at = 0, trainAccuracy = 1) => ({
  accuracy: a,
  accuracyCI: [a - 0.03, a + 0.03] as Interval,
  outcomes: window(Math.round(a * N), at),
  trainAccuracy,
  imagesSeen: 100,
  recipe,
});

function metrics(devGap = 0.5, trainAccuracy = 1): RunRows {
  const dev = { "random-init": probe(0.1), pretrained: probe(0.3), teacher: probe(0.5), student: probe(0.5) };
  return {
    probes: {
      "dev-like": dev,
      "capg-like": { "random-init": probe(0.2), pretrained: probe(0.4), teacher: probe(0.8), student: probe(0.81, 7) },
      "grozi-like": { "random-init": probe(0.3, 200), pretrained: probe(0.5), teacher: probe(0.7), student: probe(0.6, 50) },
    },
    finetune: {
      "capg-like": { gap: ft(0.5), lca: ft(0.6, 20, trainAccuracy), "lca-maxent": ft(0.61, 30) },
      "grozi-like": { gap: ft(0.4), lca: ft(0.5), "lca-maxent": ft(0.58, 100) },
    },
    selection: {
      finetune: { tried: [{ recipe, devAccuracy: devGap, trainAccuracy: 1 }], chosen: recipe, rule: "r" },
    },
  };
}

test("paperFindings: the six ids, each verdict worked out from the windows by hand", () => {
  const byId = Object.fromEntries(paperFindings([metrics()]).map((f) => [f.id, f]));
  assert.deepEqual(Object.keys(byId), [
    "lca-beats-gap",
    "maxent-beats-lca",
    "representations-beat-finetune-grozi",
    "finetune-beats-representations-capg",
    "student-beats-teacher",
    "representations-beat-random",
  ]);
  // lca vs gap: 240 vs 200 right (A-only 60, B-only 20); 200 vs 160 nested (A-only 40): holds on both.
  assert.equal(byId["lca-beats-gap"].verdict, "holds");
  // maxent vs lca on capg: 244 from 30 vs 240 from 20 (A-only 14, B-only 10): inconclusive.
  assert.equal(byId["maxent-beats-lca"].verdict, "inconclusive");
  // grozi: student 240 from 50 vs maxent 232 from 100 (A-only 50, B-only 42): inconclusive.
  assert.equal(byId["representations-beat-finetune-grozi"].verdict, "inconclusive");
  // capg: maxent 244 vs teacher 320, nested: reversed.
  assert.equal(byId["finetune-beats-representations-capg"].verdict, "fails");
  // student vs teacher: grozi 240 from 50 vs 280 from 0 (A-only 10, B-only 50): reversed.
  assert.equal(byId["student-beats-teacher"].verdict, "fails");
  assert.equal(byId["representations-beat-random"].verdict, "holds");
  for (const f of Object.values(byId)) {
    assert.equal(f.seeds, 1);
    for (const k of ["claim", "paper", "ours"] as const) assert.ok(f[k].length > 0, `${f.id}.${k} empty`);
  }
});

test("paperFindings: fine-tune rows that did not converge, or sit below the frozen backbone on dev, leave their findings not-tested", () => {
  const low = Object.fromEntries(paperFindings([metrics(0.2)]).map((f) => [f.id, f]));
  for (const id of ["lca-beats-gap", "maxent-beats-lca", "representations-beat-finetune-grozi", "finetune-beats-representations-capg"]) {
    assert.equal(low[id].verdict, "not-tested", id);
    assert.match(low[id].reason!, /below the frozen pretrained backbone \+ LR \(30.0 %\)/);
  }
  assert.equal(low["student-beats-teacher"].verdict, "fails");
  assert.match(finetunePrecondition([metrics(0.5, 0.9)], "capg-like", "lca")!, /training accuracy 90.0 % < 95.0 %/);
  assert.equal(finetunePrecondition([metrics(0.5, 0.9)], "capg-like", "gap"), undefined);
  // Over two seeds, one seed's failure is enough, and named.
  assert.match(finetunePrecondition([metrics(), metrics(0.5, 0.9)], "capg-like", "lca")!, /\(seed 1\)/);
  const two = paperFindings([metrics(), metrics()]);
  assert.ok(two.every((f) => f.seeds === 2));
});
