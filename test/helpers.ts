// Shared test helpers: numeric closeness with a message that says where and by how much.
import * as assert from "node:assert/strict";
import { tf } from "../src/engine/tf";

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): { diff: number; at: number } {
  assert.equal(a.length, b.length, `lengths differ: ${a.length} vs ${b.length}`);
  let diff = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= diff)) {
      diff = d;
      at = i;
    }
  }
  return { diff, at };
}

/** |a - b| <= atol + rtol * |b| everywhere. */
export function assertClose(a: ArrayLike<number> | tf.Tensor, b: ArrayLike<number> | tf.Tensor, atol: number, rtol = 0, what = "values"): void {
  const av = a instanceof tf.Tensor ? a.dataSync() : a;
  const bv = b instanceof tf.Tensor ? b.dataSync() : b;
  assert.equal(av.length, bv.length, `${what}: lengths differ`);
  for (let i = 0; i < av.length; i++) {
    const tol = atol + rtol * Math.abs(bv[i]);
    if (!(Math.abs(av[i] - bv[i]) <= tol)) {
      const { diff, at } = maxAbsDiff(av, bv);
      assert.fail(`${what}: element ${i} is ${av[i]}, expected ${bv[i]} (max |diff| ${diff} at ${at}, tol ${tol})`);
    }
  }
}

/** Deterministic pseudo-random floats in [-1, 1) (mulberry32). */
export function randomArray(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}
