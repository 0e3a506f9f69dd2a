// Holm's step-down correction against its definition, on hand-worked p-values and on random ones
// checked by brute force; the minimum detectable difference against hand-computed normal quantiles.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { holmAdjust } from "../src/probe/holm";
import { minimumDetectableDifference, normalQuantile } from "../src/probe/power";
import { mixSeed, rngFrom } from "../src/data/rng";

test("holmAdjust: a hand-worked example", () => {
  // Sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> max(0.06, 0.04).
  const adj = holmAdjust([0.01, 0.04, 0.03, 0.005]);
  const want = [0.03, 0.06, 0.06, 0.02];
  adj.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-12, `${i}: ${v} vs ${want[i]}`));
  assert.deepEqual(holmAdjust([0.2]), [0.2]);
  assert.deepEqual(holmAdjust([]), []);
  assert.deepEqual(holmAdjust([0.6, 0.7]), [1, 1]);
  assert.throws(() => holmAdjust([0.1, Number.NaN]), /p-value 1 is NaN/);
});

test("holmAdjust: rejects at alpha exactly what the step-down procedure rejects (random p-values)", () => {
  const r = rngFrom(mixSeed(4, "holm-test"));
  for (let trial = 0; trial < 300; trial++) {
    const m = 1 + Math.floor(r() * 7);
    const p = Array.from({ length: m }, () => (r() < 0.5 ? r() * 0.05 : r()));
    const alpha = [0.01, 0.05, 0.1][trial % 3];
    // The procedure as Holm states it: walk up the sorted p-values while p_(k) <= alpha / (m - k).
    const order = p.map((_, i) => i).sort((i, j) => p[i] - p[j]);
    const rejected = new Set<number>();
    for (let k = 0; k < m && p[order[k]] <= alpha / (m - k); k++) rejected.add(order[k]);
    const adj = holmAdjust(p);
    p.forEach((_, i) => assert.equal(adj[i] <= alpha, rejected.has(i), `trial ${trial}: p ${p} alpha ${alpha}`));
    adj.forEach((v, i) => assert.ok(v >= p[i] && v <= 1));
  }
});

test("minimumDetectableDifference: (z(1 - alpha/2) + z(power)) x se, from tabulated quantiles", () => {
  assert.ok(Math.abs(normalQuantile(0.975) - 1.959964) < 1e-6);
  assert.ok(Math.abs(normalQuantile(0.8) - 0.841621) < 1e-6);
  assert.ok(Math.abs(normalQuantile(0.9875) - 2.241403) < 1e-6);
  assert.ok(Math.abs(minimumDetectableDifference(0.01) - 0.02801585) < 1e-7);
  assert.ok(Math.abs(minimumDetectableDifference(0.02, 0.025, 0.9) - 0.02 * (2.241403 + 1.281552)) < 1e-6);
  assert.equal(minimumDetectableDifference(0), 0);
  assert.throws(() => minimumDetectableDifference(-1), /standard error -1/);
  assert.throws(() => minimumDetectableDifference(0.1, 0), /alpha 0/);
});
