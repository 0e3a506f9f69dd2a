// The bootstrap interval against a direct computation: resampling n test images with
// replacement, the number of correct ones is Binomial(n, k/n), so as the resamples grow the
// percentile interval tends to that binomial's 2.5 % and 97.5 % quantiles (divided by n).
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { accuracyWithInterval, bootstrapInterval, formatAccuracy } from "../src/probe/bootstrap";

/** Exact quantile of Binomial(n, p)/n: the smallest j/n with P(X <= j) >= q. */
function binomialQuantile(n: number, p: number, q: number): number {
  let cdf = 0;
  let logC = 0; // log C(n, j)
  for (let j = 0; j <= n; j++) {
    if (j > 0) logC += Math.log(n - j + 1) - Math.log(j);
    cdf += Math.exp(logC + j * Math.log(p) + (n - j) * Math.log(1 - p));
    if (cdf >= q - 1e-12) return j / n;
  }
  return 1;
}

for (const [n, k] of [
  [60, 42],
  [200, 31],
  [480, 400],
] as const) {
  test(`bootstrap interval of ${k}/${n} correct equals the binomial quantiles (within one image)`, () => {
    const correct = Uint8Array.from({ length: n }, (_, i) => (i < k ? 1 : 0));
    const [lo, hi] = bootstrapInterval(correct, { resamples: 20000, seed: 3 });
    const p = k / n;
    const exactLo = binomialQuantile(n, p, 0.025),
      exactHi = binomialQuantile(n, p, 0.975);
    assert.ok(Math.abs(lo - exactLo) <= 1 / n + 1e-9, `lo ${lo} vs exact ${exactLo}`);
    assert.ok(Math.abs(hi - exactHi) <= 1 / n + 1e-9, `hi ${hi} vs exact ${exactHi}`);
    assert.ok(lo <= p && p <= hi);
  });
}

test("bootstrap: seeded (same interval twice), degenerate at 0 % and 100 %, order of images irrelevant in law", () => {
  const c = Uint8Array.from({ length: 100 }, (_, i) => (i % 3 === 0 ? 1 : 0));
  assert.deepEqual(bootstrapInterval(c, { seed: 1 }), bootstrapInterval(c, { seed: 1 }));
  assert.deepEqual(bootstrapInterval(new Uint8Array(50).fill(1)), [1, 1]);
  assert.deepEqual(bootstrapInterval(new Uint8Array(50)), [0, 0]);
  assert.throws(() => bootstrapInterval(new Uint8Array(0)), /no test images/);
});

test("accuracyWithInterval counts matches; formatAccuracy prints percent with the interval", () => {
  const r = accuracyWithInterval([0, 1, 2, 2], [0, 1, 2, 3], { seed: 2 });
  assert.equal(r.accuracy, 0.75);
  assert.ok(r.interval[0] <= 0.75 && r.interval[1] >= 0.75);
  assert.throws(() => accuracyWithInterval([0], [0, 1]), /1 predictions for 2 labels/);
  assert.equal(formatAccuracy(0.8167, [0.781, 0.85]), "81.7 (78.1–85.0)");
});

test("bootstrap over products: with every photo of a product alike, the binomial over products (not photos); copies change nothing", () => {
  // 50 products, 6 photos each, 35 products right on every photo.
  const K = 50,
    per = 6;
  const clusters = Int32Array.from({ length: K * per }, (_, i) => Math.floor(i / per));
  const correct = Uint8Array.from(clusters, (c) => (c < 35 ? 1 : 0));
  const [lo, hi] = bootstrapInterval(correct, { clusters, resamples: 20000, seed: 3 });
  assert.ok(Math.abs(lo - binomialQuantile(K, 0.7, 0.025)) <= 1 / K + 1e-9, `lo ${lo}`);
  assert.ok(Math.abs(hi - binomialQuantile(K, 0.7, 0.975)) <= 1 / K + 1e-9, `hi ${hi}`);
  // Photos as units would give the much narrower binomial over 300.
  const [plo] = bootstrapInterval(correct, { resamples: 20000, seed: 3 });
  assert.ok(plo > lo + 0.04, `${plo} vs ${lo}`);
  // Twice the photos, each a copy: the same interval.
  const twice = Uint8Array.from({ length: 2 * K * per }, (_, i) => correct[i >> 1]);
  const twiceClusters = Int32Array.from({ length: 2 * K * per }, (_, i) => clusters[i >> 1]);
  assert.deepEqual(bootstrapInterval(twice, { clusters: twiceClusters, seed: 5 }), bootstrapInterval(correct, { clusters, seed: 5 }));
  assert.throws(() => bootstrapInterval(correct, { clusters: clusters.subarray(2) }), /298 product ids for 300 test images/);
});
