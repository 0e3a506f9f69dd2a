// The paired bootstrap against exact computations: McNemar's exact test worked by hand, the
// bootstrap's spread against the exact variance of a resampled mean, the two agreeing where the
// answer is clear, and the seeds level of the hierarchical bootstrap.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { mcnemarExact, outcomesOf, pairedDifference, parseOutcomes } from "../src/probe/paired";
import { mixSeed, rngFrom } from "../src/data/rng";

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

/** Each product's photos repeated `copies` times (outcomes and product ids), products kept in order. */
function withCopies(outcomes: string, products: Int32Array, copies: number): { outcomes: string; products: Int32Array } {
  let o = "";
  const p: number[] = [];
  for (let i = 0; i < outcomes.length; i++)
    for (let c = 0; c < copies; c++) {
      o += outcomes[i];
      p.push(products[i]);
    }
  return { outcomes: o, products: Int32Array.from(p) };
}

test("pairedDifference over products: copies of a product's photos leave the interval as it was; over photos they narrow it", () => {
  const r = rngFrom(mixSeed(9, "copies"));
  // 60 products with 4 photos each; A right a little more often than B.
  const products = Int32Array.from({ length: 240 }, (_, i) => Math.floor(i / 4));
  const draw = (p: number) => Array.from({ length: 240 }, () => (r() < p ? "1" : "0")).join("");
  const a = [draw(0.6), draw(0.62)],
    b = [draw(0.5), draw(0.55)];
  const base = pairedDifference(a, b, { clusters: products, seed: 1 });
  const copy = (o: string[]) => o.map((x) => withCopies(x, products, 3).outcomes);
  const copiedProducts = withCopies(a[0], products, 3).products;
  const copied = pairedDifference(copy(a), copy(b), { clusters: copiedProducts, seed: 1 });
  assert.equal(copied.products, 60);
  assert.equal(copied.images, 720);
  assert.ok(Math.abs(copied.difference - base.difference) < 1e-12);
  assert.ok(
    Math.abs(copied.differenceCI[0] - base.differenceCI[0]) < 1e-12 && Math.abs(copied.differenceCI[1] - base.differenceCI[1]) < 1e-12,
  );
  assert.ok(Math.abs(copied.se - base.se) < 1e-12);
  // Photos as independent units: three copies shrink the interval by about sqrt(3).
  const photos = pairedDifference(a, b, { seed: 1 }),
    photoCopies = pairedDifference(copy(a), copy(b), { seed: 1 });
  const w = (p: { differenceCI: [number, number] }) => p.differenceCI[1] - p.differenceCI[0];
  assert.ok(w(photoCopies) < 0.7 * w(photos), `${w(photoCopies)} vs ${w(photos)}`);
  assert.throws(() => pairedDifference(a, b, { clusters: products.subarray(1) }), /239 product ids for 240 test images/);
});

test("pairedDifference: without products every image is one (the image-level bootstrap); p is two-sided and never 0", () => {
  const a = "1".repeat(300) + "0".repeat(100),
    b = "1".repeat(200) + "0".repeat(200);
  const each = Int32Array.from({ length: 400 }, (_, i) => i);
  const images = pairedDifference([a], [b], { seed: 2 }),
    own = pairedDifference([a], [b], { seed: 2, clusters: each });
  assert.equal(images.products, 400);
  // The same law, another stream: intervals within a couple of resolution steps.
  assert.ok(Math.abs(images.differenceCI[0] - own.differenceCI[0]) < 0.02);
  assert.ok(images.p > 0 && images.p <= 2 / 2001 + 1e-12);
  const same = pairedDifference([a], [a], { seed: 2 });
  assert.equal(same.p, 1);
  assert.equal(same.se, 0);
});

test("pairedDifference over repeats with their own test draws: each repeat's products resampled from its own draw", () => {
  const r = rngFrom(mixSeed(10, "draws"));
  const draw = (n: number, p: number) => Array.from({ length: n }, () => (r() < p ? "1" : "0")).join("");
  const productsOf = (n: number, per: number) => Int32Array.from({ length: n }, (_, i) => Math.floor(i / per));
  // Repeat 0: 200 photos of 50 products; repeat 1: 150 photos of 30 other products.
  const a = [draw(200, 0.7), draw(150, 0.5)],
    b = [draw(200, 0.6), draw(150, 0.55)];
  const p = pairedDifference(a, b, { seedClusters: [productsOf(200, 4), productsOf(150, 5)], seed: 3 });
  const mean = (o: string) => [...o].filter((c) => c === "1").length / o.length;
  assert.ok(Math.abs(p.difference - (mean(a[0]) - mean(b[0]) + mean(a[1]) - mean(b[1])) / 2) < 1e-12);
  assert.ok(p.differenceCI[0] <= p.difference && p.difference <= p.differenceCI[1]);
  // Repeats that disagree, +20 points on one draw and -20 on the other: the interval spans both,
  // far wider than either repeat's own.
  const up = ["1".repeat(120) + "0".repeat(80), "1".repeat(80) + "0".repeat(70)],
    down = ["1".repeat(80) + "0".repeat(120), "1".repeat(110) + "0".repeat(40)];
  const draws = [productsOf(200, 4), productsOf(150, 5)];
  const split = pairedDifference(up, down, { seedClusters: draws, seed: 3 });
  assert.ok(Math.abs(split.difference) < 1e-12);
  const one = pairedDifference([up[0]], [down[0]], { seedClusters: [draws[0]], seed: 3 });
  assert.ok(split.differenceCI[0] < -0.15 && split.differenceCI[1] > 0.15, `${split.differenceCI}`);
  assert.ok(split.differenceCI[1] - split.differenceCI[0] > 1.5 * (one.differenceCI[1] - one.differenceCI[0]));
  // The same draw for every repeat is the shared resampling, number for number.
  const same = [a[0], a[0]],
    other = [b[0], b[0]];
  assert.deepEqual(
    pairedDifference(same, other, { seedClusters: [productsOf(200, 4), productsOf(200, 4)], seed: 3 }),
    pairedDifference(same, other, { clusters: productsOf(200, 4), seed: 3 }),
  );
  assert.throws(() => pairedDifference(a, b, { seedClusters: [productsOf(200, 4)] }), /1 seeds' products for 2 seeds/);
});
