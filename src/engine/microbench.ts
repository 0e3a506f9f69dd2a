// Tiny timing helpers for notebooks and the benchmark: median of repeated runs, after warm-up.
import { tf } from "./tf";

/** Median seconds of `fn` over `repeats` runs after `warmup` runs. `fn` must wait for its result. */
export async function medianSeconds(fn: () => Promise<void> | void, repeats = 5, warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t) / 1e9);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** GFLOP/s of an n x n by n x n matMul on the current backend (synchronous read-back). */
export function matMulGflops(n: number, repeats = 5): number {
  const a = tf.randomNormal([n, n], 0, 1, "float32", 1);
  const b = tf.randomNormal([n, n], 0, 1, "float32", 2);
  const run = () => tf.tidy(() => tf.matMul(a, b)).dataSync();
  run();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t = process.hrtime.bigint();
    run();
    times.push(Number(process.hrtime.bigint() - t) / 1e9);
  }
  a.dispose();
  b.dispose();
  times.sort((x, y) => x - y);
  return (2 * n ** 3) / times[Math.floor(repeats / 2)] / 1e9;
}
