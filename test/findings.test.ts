// The verdict rule on hand-made outcomes: holds when every paired difference is significantly
// above zero after Holm's correction, fails ("reversed") when one is significantly below,
// inconclusive otherwise, not-tested when a row failed its precondition; and the six paper
// findings on hand-made metrics. Every test image is its own product here except where a test
// says otherwise, so the counts worked out by hand are McNemar's.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { compareRows, finding, Scored } from "../src/pipeline/findings";
import { finetunePrecondition, paperFindings, RunRows, TestProducts } from "../src/pipeline/paper-findings";
import type { Interval } from "../src/probe/bootstrap";
import { FLAT_SLOPE_T, MIN_TRAIN_ACCURACY } from "../src/pipeline/finetune-runs";

const N = 400;
/** Every image its own product. */
const EACH = Int32Array.from({ length: N }, (_, i) => i);
const BOTH: TestProducts = { "capg-like": EACH, "grozi-like": EACH };
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
  assert.equal(compareRows("s", row("a", [window(240)]), row("b", [window(160, 100)]), [EACH]).verdict, "holds");
  assert.equal(compareRows("s", row("b", [window(160, 100)]), row("a", [window(240)]), [EACH]).verdict, "fails");
  // 200 vs 196, A-only 24, B-only 20: p about 0.65.
  assert.equal(compareRows("s", row("a", [window(200)]), row("b", [window(196, 24)]), [EACH]).verdict, "inconclusive");
});

test("finding: every comparison must hold; one below zero fails it, reversed; a failed precondition makes it not-tested", () => {
  const strong = row("strong", [window(300)]),
    weak = row("weak", [window(100, 50)]),
    mid = row("mid", [window(200, 10)]),
    mid2 = row("mid2", [window(198, 40)]);
  const holds = finding("x", "c", "p", [{ set: "s", winners: [strong], losers: [weak, mid], products: [EACH] }]);
  assert.equal(holds.verdict, "holds");
  assert.equal(holds.comparisons.length, 2);
  // The decisive comparison is the one nearest to failing: strong vs mid, not strong vs weak.
  assert.equal(holds.comparisons.find((c) => c.loser === "mid")!.differenceCI[0], holds.differenceCI[0]);
  const inconclusive = finding("x", "c", "p", [{ set: "s", winners: [strong, mid], losers: [mid2], products: [EACH] }]);
  assert.equal(inconclusive.verdict, "inconclusive");
  const fails = finding("x", "c", "p", [
    { set: "s", winners: [strong], losers: [weak], products: [EACH] },
    { set: "t", winners: [weak], losers: [mid], products: [EACH] },
  ]);
  assert.equal(fails.verdict, "fails");
  assert.match(fails.reason!, /reversed: weak is below mid on t/);
  assert.ok(fails.differenceCI[1] < 0);
  const untested = finding("x", "c", "p", [
    { set: "s", winners: [strong], losers: [row("ft", [window(10)], "training accuracy 40.0 % < 95.0 %")], products: [EACH] },
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
  steps: 3,
  schedule: 3,
  lossSlopeT: 0,
});
/** A variant's choices on dev-like: its kept checkpoint's dev accuracy and its loss slope at the schedule's end. */
const chose = (devAccuracy: number, lossSlopeT = 0) => ({
  tried: [{ setting: { recipe }, devAccuracy, trainAccuracy: 1 }],
  chosen: { recipe },
  rule: "r",
  steps: 1,
  widened: null,
  length: {
    setting: { recipe },
    schedule: 3,
    scores: [{ step: 3, score: devAccuracy }],
    keptStep: 3,
    devAccuracy,
    trainAccuracy: 1,
    lossSlopeT,
  },
  devRuns: 2,
});

/** `devFt`: every variant's dev-like accuracy; `trainAccuracy`: capg-like LCA's on its packshots. */
function metrics(devFt = 0.5, trainAccuracy = 1): RunRows {
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
      finetune: { gap: chose(devFt), lca: chose(devFt), "lca-maxent": chose(devFt) },
    },
  };
}

test("paperFindings: the six ids, each verdict worked out from the windows by hand", () => {
  const byId = Object.fromEntries(paperFindings([metrics()], [BOTH]).map((f) => [f.id, f]));
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
  const low = Object.fromEntries(paperFindings([metrics(0.2)], [BOTH]).map((f) => [f.id, f]));
  for (const id of ["lca-beats-gap", "maxent-beats-lca", "representations-beat-finetune-grozi", "finetune-beats-representations-capg"]) {
    assert.equal(low[id].verdict, "not-tested", id);
    assert.match(low[id].reason!, /below the frozen pretrained backbone \+ LR \(30.0 %\)/);
  }
  assert.equal(low["student-beats-teacher"].verdict, "fails");
  assert.match(finetunePrecondition([metrics(0.5, 0.9)], "capg-like", "lca")!, /training accuracy 90.0 % < 95.0 %/);
  assert.equal(finetunePrecondition([metrics(0.5, 0.9)], "capg-like", "gap"), undefined);
  // Over two seeds, one seed's failure is enough, and named.
  assert.match(finetunePrecondition([metrics(), metrics(0.5, 0.9)], "capg-like", "lca")!, /\(seed 1\)/);
  const two = paperFindings([metrics(), metrics()], [BOTH, BOTH]);
  assert.ok(two.every((f) => f.seeds === 2));
});

test("finetunePrecondition: each variant answers for its own dev check", () => {
  const m = metrics();
  m.selection.finetune.lca = chose(0.2);
  const byId = Object.fromEntries(paperFindings([m], [BOTH]).map((f) => [f.id, f]));
  for (const id of ["lca-beats-gap", "maxent-beats-lca", "representations-beat-finetune-grozi"]) {
    assert.equal(byId[id].verdict, "not-tested", id);
    assert.match(byId[id].reason!, /the fine-tuned \+ LCA \(20.0 %\) is below/);
  }
  // LCA + MaxEnt against the representations does not read the LCA row.
  assert.notEqual(byId["finetune-beats-representations-capg"].verdict, "not-tested");
  assert.equal(finetunePrecondition([m], "capg-like", "gap"), undefined);
});

/** Outcomes of two rows on N images: `aOnly` right only for A, `bOnly` only for B, 150 for both. */
function discordant(aOnly: number, bOnly: number): [string, string] {
  let a = "",
    b = "";
  for (let i = 0; i < N; i++) {
    const both = i < 150,
      onlyA = i >= 150 && i < 150 + aOnly,
      onlyB = i >= 150 + aOnly && i < 150 + aOnly + bOnly;
    a += both || onlyA ? "1" : "0";
    b += both || onlyB ? "1" : "0";
  }
  return [a, b];
}

test("finding: two comparisons that each hold alone at 5 % are inconclusive together after Holm", () => {
  // 85 vs 59 discordant images: z = 26 / 12 = 2.17, two-sided p about 0.03 alone, about 0.06 after Holm (x 2).
  const [a, b] = discordant(85, 59);
  const A = row("A", [a]),
    B = row("B", [b]);
  const alone = finding("x", "c", "p", [{ set: "s", winners: [A], losers: [B], products: [EACH] }]);
  assert.equal(alone.verdict, "holds");
  const p = alone.comparisons[0].p!;
  assert.ok(p > 0.025 && p < 0.05, `bootstrap p ${p} should be near McNemar's`);
  assert.equal(alone.comparisons[0].adjustedP, p, "one comparison: Holm changes nothing");
  const twice = finding("x", "c", "p", [
    { set: "s", winners: [A], losers: [B], products: [EACH] },
    { set: "t", winners: [A], losers: [B], products: [EACH] },
  ]);
  assert.equal(twice.adjustment, "holm");
  assert.equal(twice.verdict, "inconclusive");
  for (const c of twice.comparisons) {
    assert.equal(c.adjustedP, Math.min(1, 2 * p));
    assert.equal(c.verdict, "inconclusive");
    // Each comparison keeps its own (unadjusted) interval: above zero.
    assert.ok(c.differenceCI[0] > 0);
  }
  // A strong reversal still fails after the correction.
  const [weakA, strongB] = discordant(10, 60);
  const mixed = finding("x", "c", "p", [
    { set: "s", winners: [A], losers: [B], products: [EACH] },
    { set: "t", winners: [row("A", [weakA])], losers: [row("B", [strongB])], products: [EACH] },
  ]);
  assert.equal(mixed.verdict, "fails");
  assert.equal(mixed.comparisons[1].verdict, "fails");
});

test("compareRows: the interval is over products; photos that are copies of one another do not narrow it", () => {
  // 80 products, 5 photos each, every photo of a product with the same outcome: 80 independent
  // units, not 400.
  const byProduct = Int32Array.from({ length: N }, (_, i) => Math.floor(i / 5));
  const a = row("a", [window(220)]),
    b = row("b", [window(180, 40)]);
  const photos = compareRows("s", a, b, [EACH]);
  const products = compareRows("s", a, b, [byProduct]);
  assert.equal(products.products, 80);
  assert.equal(photos.difference, products.difference);
  const width = (c: { differenceCI: Interval }) => c.differenceCI[1] - c.differenceCI[0];
  // The standard error grows by about sqrt(5) = 2.24.
  assert.ok(width(products) / width(photos) > 1.8 && width(products) / width(photos) < 2.7, `${width(products)} vs ${width(photos)}`);
  assert.ok(products.mdd! > 1.8 * photos.mdd!);
});

test("paperFindings: each comparison carries the paper's gap and its detectable difference; an inconclusive finding says whether the paper's gap was detectable", () => {
  const byId = Object.fromEntries(paperFindings([metrics()], [BOTH]).map((f) => [f.id, f]));
  const lca = byId["lca-beats-gap"].comparisons.find((c) => c.set === "capg-like")!;
  assert.ok(Math.abs(lca.paperDifference! - (0.904 - 0.841)) < 1e-12);
  // Two comparisons: the MDD is at the Bonferroni level 0.025, (z(0.9875) + z(0.8)) se.
  assert.ok(lca.mdd! > 0);
  const random = byId["representations-beat-random"].comparisons[0];
  assert.equal(random.paperDifference, undefined, "the paper has no random-init row");
  const maxent = byId["maxent-beats-lca"];
  assert.equal(maxent.verdict, "inconclusive");
  // capg: paper +1.8 against an MDD of several points on 400 images.
  assert.match(maxent.power!, /paper gap|paper gaps/);
  assert.match(maxent.power!, /capg-like \+ LCA \+ MaxEnt − \+ LCA: paper \+1\.8, MDD \d+\.\d/);
});

test("finetunePrecondition: a variant whose loss was still falling at its schedule's end on dev is not tested, whatever its accuracies", () => {
  const m = metrics();
  m.selection.finetune.lca = chose(0.5, -3.4);
  assert.match(
    finetunePrecondition([m], "grozi-like", "lca")!,
    /training loss still falling at the end of its 3-step schedule on dev-like \(slope t = -3.40 < -2\)/,
  );
  const byId = Object.fromEntries(paperFindings([m], [BOTH]).map((f) => [f.id, f]));
  assert.equal(byId["lca-beats-gap"].verdict, "not-tested");
  assert.equal(byId["student-beats-teacher"].verdict, "fails");
  // A test-set run's own slope does not decide: it stops where dev-like chose, inside the schedule.
  m.selection.finetune.lca = chose(0.5, -1.2);
  m.finetune["grozi-like"].lca = { ...m.finetune["grozi-like"].lca, lossSlopeT: -5 };
  assert.equal(finetunePrecondition([m], "grozi-like", "lca"), undefined);
  // Both bars are inclusive: 95 % on the packshots and t = -2 pass; a hair below either does not.
  m.selection.finetune.lca = chose(0.5, FLAT_SLOPE_T);
  m.finetune["grozi-like"].lca = { ...m.finetune["grozi-like"].lca, trainAccuracy: MIN_TRAIN_ACCURACY };
  assert.equal(finetunePrecondition([m], "grozi-like", "lca"), undefined);
  m.selection.finetune.lca = chose(0.5, FLAT_SLOPE_T - 0.01);
  assert.match(finetunePrecondition([m], "grozi-like", "lca")!, /still falling/);
  m.selection.finetune.lca = chose(0.5, 3);
  m.finetune["grozi-like"].lca = { ...m.finetune["grozi-like"].lca, trainAccuracy: MIN_TRAIN_ACCURACY - 0.01 };
  assert.match(finetunePrecondition([m], "grozi-like", "lca")!, /^training accuracy 94.0 % < 95.0 %$/, "a rising loss is not falling");
});
