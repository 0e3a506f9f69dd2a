// Every loss against an independent float64 computation written here with plain loops.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { tf } from "../src/engine/tf";
import { pairLabels, supConLoss } from "../src/losses/supcon";
import { hardNegativeMask } from "../src/losses/mining";
import { smoothL1Loss } from "../src/losses/regression";
import { crossEntropyLoss, entropy, maxEntLoss } from "../src/losses/classification";
import { randomArray } from "./helpers";

function normalizedRows(b: number, d: number, seed: number): number[][] {
  const a = randomArray(b * d, seed);
  return Array.from({ length: b }, (_, i) => {
    const row = Array.from(a.subarray(i * d, (i + 1) * d));
    const n = Math.hypot(...row);
    return row.map((v) => v / n);
  });
}

const dot = (a: number[], b: number[]) => a.reduce((s, v, k) => s + v * b[k], 0);

/** L_out by the formula, with contrast = batch + memory and an optional kept-negatives test. */
function bruteSupCon(z: number[][], labels: number[], t: number, tb: number, keep?: (i: number, j: number) => boolean): number {
  const C = z;
  const CL = labels;
  let total = 0,
    anchors = 0;
  for (let i = 0; i < z.length; i++) {
    const P = [],
      A = [];
    for (let j = 0; j < C.length; j++) {
      if (j === i) continue;
      if (CL[j] === labels[i]) {
        P.push(j);
        A.push(j);
      } else if (!keep || keep(i, j)) A.push(j);
    }
    if (P.length === 0) continue;
    const denom = A.reduce((s, a) => s + Math.exp(dot(z[i], C[a]) / t), 0);
    let li = 0;
    for (const p of P) li += Math.log(Math.exp(dot(z[i], C[p]) / t) / denom);
    total += (-(t / tb) * li) / P.length;
    anchors++;
  }
  return total / anchors;
}

const relClose = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

test("SupCon equals the formula for pairs and for several views per label, at t = 0.1 and 0.05", () => {
  for (const [t, tb] of [
    [0.1, 0.07],
    [0.05, 0.05],
    [0.5, 0.07],
  ]) {
    const z = normalizedRows(8, 5, 3);
    relClose(
      supConLoss(tf.tensor2d(z), pairLabels(4), { temperature: t, baseTemperature: tb }).dataSync()[0],
      bruteSupCon(z, [...pairLabels(4)], t, tb),
      1e-5,
      `pairs t=${t}`,
    );
    const labels = [0, 0, 0, 1, 1, 2, 2, 2, 3]; // 3 views, 2 views, one unpaired image (no positives)
    const z2 = normalizedRows(9, 4, 4);
    relClose(
      supConLoss(tf.tensor2d(z2), Int32Array.from(labels), { temperature: t, baseTemperature: tb }).dataSync()[0],
      bruteSupCon(z2, labels, t, tb),
      1e-5,
      `views t=${t}`,
    );
  }
});

test("SupCon gradient equals central finite differences of the formula", () => {
  const z = normalizedRows(6, 3, 5);
  const labels = pairLabels(3);
  const g = tf
    .grad((x) => supConLoss(x as tf.Tensor2D, labels, { temperature: 0.2, baseTemperature: 0.07 }))(tf.tensor2d(z))
    .arraySync() as number[][];
  const h = 1e-5;
  for (let i = 0; i < 6; i++)
    for (let k = 0; k < 3; k++) {
      const up = z.map((r) => [...r]),
        dn = z.map((r) => [...r]);
      up[i][k] += h;
      dn[i][k] -= h;
      const fd = (bruteSupCon(up, [...labels], 0.2, 0.07) - bruteSupCon(dn, [...labels], 0.2, 0.07)) / (2 * h);
      assert.ok(Math.abs(g[i][k] - fd) < 2e-3 * Math.max(1, Math.abs(fd)), `dL/dz[${i}][${k}] ${g[i][k]} vs ${fd}`);
    }
});

test("SupCon stays finite at the extremes: identical embeddings (hand-worked value), t = 0.05 on 512 embeddings", () => {
  const same = tf.tensor2d(Array.from({ length: 8 }, () => [0.6, 0.8]));
  // All logits equal: every log-probability is -log|A(i)| = -log 7, so loss = (t / t_base) log 7.
  relClose(
    supConLoss(same, pairLabels(4), { temperature: 0.1, baseTemperature: 0.07 }).dataSync()[0],
    (0.1 / 0.07) * Math.log(7),
    1e-5,
    "identical",
  );
  const g = tf
    .grad((x) => supConLoss(x as tf.Tensor2D, pairLabels(4)))(same)
    .dataSync();
  assert.ok(g.every(Number.isFinite), "gradient finite for identical embeddings");
  const big = tf.tensor2d(normalizedRows(512, 16, 6));
  const v = supConLoss(big, pairLabels(256), { temperature: 0.05, baseTemperature: 0.07 }).dataSync()[0];
  assert.ok(Number.isFinite(v) && v > 0, `large batch loss ${v}`);
  const gb = tf
    .grad((x) => supConLoss(x as tf.Tensor2D, pairLabels(256), { temperature: 0.05 }))(big)
    .dataSync();
  assert.ok(gb.every(Number.isFinite));
});

test("hard negative mining: ratio 1 is plain SupCon exactly; ratio 0.25 keeps the hardest ceil(k) negatives", () => {
  const z = normalizedRows(10, 4, 7);
  const labels = pairLabels(5);
  const zt = tf.tensor2d(z);
  const plain = supConLoss(zt, labels).dataSync()[0];
  const all = supConLoss(zt, labels, { negativeMask: hardNegativeMask(zt, labels, 1) }).dataSync()[0];
  assert.equal(all, plain);

  const mask = hardNegativeMask(zt, labels, 0.25).arraySync() as number[][];
  for (let i = 0; i < 10; i++) {
    const negs = [...Array(10).keys()].filter((j) => j !== i && labels[j] !== labels[i]);
    const hardest = [...negs].sort((a, b) => dot(z[i], z[b]) - dot(z[i], z[a])).slice(0, Math.ceil(0.25 * negs.length));
    assert.deepEqual(
      mask[i].flatMap((v, j) => (v ? [j] : [])),
      [...hardest].sort((a, b) => a - b),
      `anchor ${i}`,
    );
  }
  const mined = supConLoss(zt, labels, { negativeMask: tf.tensor2d(mask) }).dataSync()[0];
  relClose(
    mined,
    bruteSupCon(z, [...labels], 0.1, 0.07, (i, j) => mask[i][j] === 1),
    1e-5,
    "mined",
  );
  assert.ok(mined < plain, "fewer negatives in the denominator lower the loss");
  assert.throws(() => hardNegativeMask(zt, labels, 0), /ratio must be in \(0, 1\]/);
});

test("Smooth L1 equals torch's definition on both sides of beta, beta = 0 is L1, and its gradient", () => {
  const p = [0.1, -0.3, 2.0, -1.5, 0.45, 0.5];
  const q = [0.0, 0.2, 0.5, -1.4, 0.0, -0.5];
  for (const beta of [1, 0.5, 0.1, 0]) {
    const brute =
      p.reduce((s, v, i) => {
        const a = Math.abs(v - q[i]);
        return s + (beta > 0 && a < beta ? (0.5 * a * a) / beta : a - 0.5 * beta);
      }, 0) / p.length;
    relClose(smoothL1Loss(tf.tensor(p), tf.tensor(q), beta).dataSync()[0], brute, 1e-6, `beta ${beta}`);
  }
  const g = tf
    .grad((x) => smoothL1Loss(x, tf.tensor(q), 0.5))(tf.tensor(p))
    .dataSync();
  const expected = p.map((v, i) => {
    const d = v - q[i];
    return (Math.abs(d) < 0.5 ? d / 0.5 : Math.sign(d)) / p.length;
  });
  expected.forEach((e, i) => relClose(g[i], e, 1e-5, `grad ${i}`));
});

test("cross-entropy, entropy and MaxEnt by hand", () => {
  const logits = tf.tensor2d([
    [2, 0, 0],
    [0, 1, 3],
  ]);
  const labels = Int32Array.from([0, 1]);
  const sm = (r: number[]) => r.map((v) => Math.exp(v) / r.reduce((s, u) => s + Math.exp(u), 0));
  const p0 = sm([2, 0, 0]),
    p1 = sm([0, 1, 3]);
  const ce = -(Math.log(p0[0]) + Math.log(p1[1])) / 2;
  const H = (p: number[]) => -p.reduce((s, v) => s + v * Math.log(v), 0);
  relClose(crossEntropyLoss(logits, labels).dataSync()[0], ce, 1e-6, "CE");
  relClose(entropy(logits).dataSync()[1], H(p1), 1e-6, "H");
  relClose(maxEntLoss(logits, labels, 0.3).dataSync()[0], ce - (0.3 * (H(p0) + H(p1))) / 2, 1e-6, "MaxEnt");
  const extreme = tf.tensor2d([[1000, -1000, 0]]);
  assert.ok(Number.isFinite(maxEntLoss(extreme, Int32Array.from([1]), 0.5).dataSync()[0]));
});
