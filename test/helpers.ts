// Shared test helpers: numeric closeness with a message that says where and by how much.
import * as assert from "node:assert/strict";
import { tf } from "../src/engine/tf";
import { rngFrom } from "../src/data/rng";
import { loadNative } from "../src/engine/native";

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

/** Deterministic pseudo-random floats in [-1, 1), from the library's seeded generator. */
export function randomArray(n: number, seed: number): Float32Array {
  const r = rngFrom(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
}

/** node:test's `skip` for a test of the native engine: false where the library loads, else why. */
export function skipUnlessNative(engine: "native" | "xnnpack" = "native"): false | string {
  if (engine !== "native") return false;
  const n = loadNative();
  return n.ok ? false : `native library unavailable: ${n.why}`;
}

/** Options for a child process a test waits on: a hung child is killed after ten minutes and
 * the test fails (a blocking spawnSync keeps node's own --test-timeout from firing). */
export const CHILD = { timeout: 600_000, killSignal: "SIGKILL" as const };
