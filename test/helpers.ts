// Shared test helpers: numeric closeness with a message that says where and by how much, and a
// temporary tree for tests that run pipeline steps.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { paths } from "../src/util/paths";
import { tf } from "../src/engine/tf";
import { rngFrom } from "../src/data/rng";
import { loadNative } from "../src/engine/native";
import type { Model } from "../src/models/model";

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

/** ||a - b|| / ||b|| over all elements (0 when they are equal). */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, "lengths differ");
  let num = 0,
    den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return num === 0 ? 0 : Math.sqrt(num / Math.max(den, 1e-30));
}

/** |a - b| <= atol + rtol * |b| everywhere. */
export function assertClose(
  a: ArrayLike<number> | tf.Tensor,
  b: ArrayLike<number> | tf.Tensor,
  atol: number,
  rtol = 0,
  what = "values",
): void {
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

/** Run `f` with the library's runs and datasets (and reports, with `reports`) in a fresh
 * temporary folder and console.log captured into `logs`; all put back and removed afterwards. */
export async function inTempTree<T>(
  prefix: string,
  f: (t: { root: string; logs: string[] }) => Promise<T>,
  opts: { reports?: boolean } = {},
): Promise<T> {
  const saved = { runs: paths.runs, datasets: paths.datasets, reports: paths.reports };
  const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  Object.assign(paths, {
    runs: path.join(root, "runs"),
    datasets: path.join(root, "datasets"),
    ...(opts.reports ? { reports: path.join(root, "reports") } : {}),
  });
  const logs: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void logs.push(a.join(" "));
  try {
    return await f({ root, logs });
  } finally {
    console.log = log;
    Object.assign(paths, saved);
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** Batch norms away from their initial 1 / 0, so that a swapped or wrongly folded statistic shows
 * in an export. */
export function perturbBatchNorms(m: Model, seed: number): void {
  let k = seed;
  for (const [name, v] of m.params) {
    if (!/(bn\d|downsample\.1)\.(weight|bias|running_mean|running_var)$/.test(name)) continue;
    const r = randomArray(v.size, k++);
    const vals = name.endsWith("running_var") || name.endsWith(".weight") ? r.map((x) => 0.75 + 0.5 * Math.abs(x)) : r.map((x) => 0.2 * x);
    v.assign(tf.tensor(vals, v.shape));
  }
}
