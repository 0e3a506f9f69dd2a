// The paired bootstrap against exact computations: McNemar's exact test worked by hand, the
// bootstrap's spread against the exact variance of a resampled mean, the two agreeing where the
// answer is clear, and the seeds level of the hierarchical bootstrap.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { mcnemarExact, outcomesOf, pairedDifference, parseOutcomes } from "../src/probe/paired";

/** Outcomes over n images: `both` right for both rows, `onlyA` right for A only, `onlyB` for B only. */
function pairOf(n: number, both: number, onlyA: number, onlyB: number): [string, string] {
  let a = "",
    b = "";
  for (let i = 0; i < n; i++) {
    const k = (i * 7919) % n; // spread the kinds over the images
    const kind = k < both ? "both" : k < both + onlyA ? "a" : k < both + onlyA + onlyB ? "b" : "none";
    a += kind === "both" || kind === "a" ? "1" : "0";
    b += kind === "both" || kind === "b" ? "1" : "0";
  }
  return [a, b];
}

test("mcnemarExact: hand-worked binomial tails", () => {
  assert.equal(mcnemarExact(0, 0), 1);
  assert.ok(Math.abs(mcnemarExact(5, 0) - 2 / 32) < 1e-12); // 2 * (1/2)^5
  assert.ok(Math.abs(mcnemarExact(2, 10) - (2 * (1 + 12 + 66)) / 4096) < 1e-12); // 2 * P(X <= 2 | 12)
  assert.equal(mcnemarExact(1, 1), 1); // 2 * 3/4, capped
  assert.equal(mcnemarExact(3, 7), mcnemarExact(7, 3));
});

test("outcomes: encoded per image, parsed back, bad characters named", () => {
  assert.equal(outcomesOf([1, 2, 3], [1, 0, 3]), "101");
  assert.deepEqual([...parseOutcomes("101")], [1, 0, 1]);
  assert.throws(() => parseOutcomes("10x"), /character 2 is 'x'/);
  assert.throws(() => pairedDifference(["101"], ["10"]), /the same test images/);
});

test("pairedDifference, one seed: the difference is exact and the interval matches the exact variance of a resampled mean", () => {
  const n = 400,
    onlyA = 40,
    onlyB = 15;
  const [a, b] = pairOf(n, 200, onlyA, onlyB);
  const p = pairedDifference([a], [b], { resamples: 4000, seed: 3 });
  const mu = (onlyA - onlyB) / n;
  assert.ok(Math.abs(p.difference - mu) < 1e-12);
  // Var of the mean of n draws of d in {-1, 0, 1}: (E[d^2] - E[d]^2) / n.
  const sd = Math.sqrt(((onlyA + onlyB) / n - mu * mu) / n);
  assert.ok(Math.abs(p.differenceCI[0] - (mu - 1.96 * sd)) < 0.3 * sd, `lower ${p.differenceCI[0]} vs ${mu - 1.96 * sd}`);
  assert.ok(Math.abs(p.differenceCI[1] - (mu + 1.96 * sd)) < 0.3 * sd, `upper ${p.differenceCI[1]} vs ${mu + 1.96 * sd}`);
  assert.ok(Math.abs(p.mcnemarP - mcnemarExact(onlyA, onlyB)) < 1e-15);
  assert.equal(p.seeds, 1);
  assert.equal(p.images, n);
});

test("pairedDifference agrees with McNemar's exact test where the answer is clear", () => {
  for (const [onlyA, onlyB] of [
    [40, 10],
    [10, 40],
    [30, 28],
    [12, 15],
    [60, 30],
    [0, 0],
  ]) {
    const [a, b] = pairOf(480, 150, onlyA, onlyB);
    const p = pairedDifference([a], [b], { seed: 1 });
    const excludesZero = p.differenceCI[0] > 0 || p.differenceCI[1] < 0;
    const mc = mcnemarExact(onlyA, onlyB);
    if (mc < 0.01) assert.ok(excludesZero, `${onlyA}/${onlyB}: McNemar p ${mc}, interval ${p.differenceCI}`);
    if (mc > 0.3) assert.ok(!excludesZero, `${onlyA}/${onlyB}: McNemar p ${mc}, interval ${p.differenceCI}`);
  }
});

test("pairedDifference over seeds: the mean of the seeds' differences; seeds that disagree widen the interval", () => {
  const n = 400;
  const up = pairOf(n, 150, 60, 10); // +12.5 points
  const down = pairOf(n, 150, 10, 60); // -12.5 points
  const same = pairedDifference([up[0], up[0], up[0]], [up[1], up[1], up[1]], { seed: 2 });
  const one = pairedDifference([up[0]], [up[1]], { seed: 2 });
  assert.ok(Math.abs(same.difference - one.difference) < 1e-12);
  assert.ok(same.differenceCI[0] > 0 && one.differenceCI[0] > 0);
  const mixed = pairedDifference([up[0], down[0], up[0]], [up[1], down[1], up[1]], { seed: 2 });
  assert.ok(Math.abs(mixed.difference - (0.125 - 0.125 + 0.125) / 3) < 1e-12);
  // Each seed alone is decisive, but the seeds disagree: the interval contains zero.
  assert.ok(mixed.differenceCI[0] < 0 && mixed.differenceCI[1] > 0, `${mixed.differenceCI}`);
  assert.equal(mixed.seeds, 3);
});
