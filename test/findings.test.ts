// The verdict logic on hand-made metrics: holds when the weakest winner's interval is wholly
// above the strongest loser's, fails when wholly below, inconclusive when they overlap; a
// claim over both sets fails when it fails on either.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { combineVerdicts, compareRows, Scored } from "../src/pipeline/findings";
import { paperFindings } from "../src/pipeline/paper-findings";
import type { Interval } from "../src/probe/bootstrap";

const s = (accuracy: number, ci: Interval, label = "x"): Scored => ({ label, accuracy, ci });

test("compareRows: holds, fails, inconclusive on overlap; the binding pair is weakest winner vs strongest loser", () => {
  assert.equal(compareRows([s(0.8, [0.75, 0.85])], [s(0.6, [0.55, 0.65])]), "holds");
  assert.equal(compareRows([s(0.6, [0.55, 0.65])], [s(0.8, [0.75, 0.85])]), "fails");
  assert.equal(compareRows([s(0.7, [0.64, 0.76])], [s(0.65, [0.6, 0.7])]), "inconclusive");
  // Touching intervals overlap.
  assert.equal(compareRows([s(0.7, [0.65, 0.75])], [s(0.6, [0.55, 0.65])]), "inconclusive");
  // One winner far above, the other overlapping the best loser: not all winners beat all losers.
  assert.equal(compareRows([s(0.9, [0.85, 0.95]), s(0.62, [0.57, 0.67])], [s(0.6, [0.55, 0.65]), s(0.3, [0.25, 0.35])]), "inconclusive");
  // The weakest winner below the strongest loser outright: fails.
  assert.equal(compareRows([s(0.9, [0.85, 0.95]), s(0.4, [0.35, 0.45])], [s(0.6, [0.55, 0.65])]), "fails");
});

test("combineVerdicts: all hold -> holds; any fails -> fails; else inconclusive", () => {
  assert.equal(combineVerdicts(["holds", "holds"]), "holds");
  assert.equal(combineVerdicts(["holds", "inconclusive"]), "inconclusive");
  assert.equal(combineVerdicts(["holds", "fails"]), "fails");
  assert.equal(combineVerdicts(["inconclusive", "inconclusive"]), "inconclusive");
});

/** A probe row / fine-tune row with a +-3-point interval. */
const probe = (a: number) => ({ logreg: a, logregCI: [a - 0.03, a + 0.03] as Interval, knn: a, knnCI: [a - 0.03, a + 0.03] as Interval, ncm: a, ncmCI: [a - 0.03, a + 0.03] as Interval, fitMs: 1, iterations: 1 });
const ft = (a: number) => ({ accuracy: a, accuracyCI: [a - 0.03, a + 0.03] as Interval, trainAccuracy: 1 });

test("paperFindings: the six ids, each verdict as worked out by hand", () => {
  const m = {
    probes: {
      "capg-like": { "random-init": probe(0.2), pretrained: probe(0.4), teacher: probe(0.8), student: probe(0.81) },
      "grozi-like": { "random-init": probe(0.3), pretrained: probe(0.5), teacher: probe(0.7), student: probe(0.6) },
    },
    finetune: {
      "capg-like": { gap: ft(0.5), lca: ft(0.6), "lca-maxent": ft(0.61) },
      "grozi-like": { gap: ft(0.4), lca: ft(0.5), "lca-maxent": ft(0.58) },
    },
  };
  const byId = Object.fromEntries(paperFindings(m).map((f) => [f.id, f]));
  assert.deepEqual(Object.keys(byId), ["lca-beats-gap", "maxent-beats-lca", "representations-beat-finetune-grozi", "finetune-beats-representations-capg", "student-beats-teacher", "representations-beat-random"]);
  // lca vs gap: 0.6 vs 0.5 (holds), 0.5 vs 0.4 (holds)
  assert.equal(byId["lca-beats-gap"].verdict, "holds");
  // maxent vs lca: 0.61 vs 0.6 (overlap), 0.58 vs 0.5 (holds) -> inconclusive
  assert.equal(byId["maxent-beats-lca"].verdict, "inconclusive");
  // grozi: weakest representation 0.6 vs strongest fine-tune 0.58: overlap
  assert.equal(byId["representations-beat-finetune-grozi"].verdict, "inconclusive");
  // capg: maxent 0.61 vs best representation 0.81: wholly below -> fails
  assert.equal(byId["finetune-beats-representations-capg"].verdict, "fails");
  // student vs teacher: 0.81 vs 0.8 overlap; 0.6 vs 0.7 below -> fails
  assert.equal(byId["student-beats-teacher"].verdict, "fails");
  // representations vs random: 0.8 vs 0.2, 0.6 vs 0.3 -> holds
  assert.equal(byId["representations-beat-random"].verdict, "holds");
  for (const f of Object.values(byId)) for (const k of ["claim", "paper", "ours"] as const) assert.ok(f[k].length > 0, `${f.id}.${k} empty`);
});
