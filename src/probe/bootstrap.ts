// How sure is an accuracy? A 95 % percentile bootstrap: resample the test set with replacement B
// times, take the accuracy of each resample, and report the 2.5th and 97.5th percentiles. The unit
// resampled is the product (every photo of a drawn product comes along): a product's 4-7 photos
// share its look, so their errors go together, and resampling photos as if independent would
// make the interval too narrow. Seeded, so the same predictions always give the same interval.
import { z } from "zod";
import { mixSeed, rngFrom } from "../data/rng";

export type Interval = [number, number];
// Annotated, not inferred: a notebook kernel compiles without strict mode, where zod's inferred
// tuple types lose their length.
export const intervalSchema: z.ZodType<Interval> = z.tuple([z.number(), z.number()]).describe("95 % interval [low, high], as fractions");

export interface BootstrapOptions {
  resamples?: number;
  level?: number;
  seed?: number;
  /** Each test image's product (its cluster): resample products, not images. Without it every
   * image is its own product. */
  clusters?: ArrayLike<number>;
}

/** Per-cluster totals of per-image values. */
export interface ClusterSums {
  sums: Float64Array;
  counts: Float64Array;
}

/** Per-image values summed per cluster: `sums[c]` and `counts[c]` over the images of cluster c
 * (clusters numbered in order of first appearance). */
export function clusterSums(values: ArrayLike<number>, clusters?: ArrayLike<number>): ClusterSums {
  const n = values.length;
  if (clusters && clusters.length !== n) throw new Error(`bootstrap: ${clusters.length} product ids for ${n} test images`);
  const index = new Map<number, number>();
  const id = Int32Array.from({ length: n }, (_, i) => {
    const c = clusters ? clusters[i] : i;
    if (!index.has(c)) index.set(c, index.size);
    return index.get(c)!;
  });
  const sums = new Float64Array(index.size),
    counts = new Float64Array(index.size);
  for (let i = 0; i < n; i++) {
    sums[id[i]] += values[i];
    counts[id[i]] += 1;
  }
  return { sums, counts };
}

/** One resample's clusters: `pick[0..k)` drawn from [0, k) with replacement. */
export function drawClusters(r: () => number, pick: Int32Array, k: number): void {
  for (let i = 0; i < k; i++) pick[i] = Math.floor(r() * k);
}

/** The mean over the images of the clusters `pick[0..k)` (their sums over their images). */
export function meanOfPicked(c: ClusterSums, pick: Int32Array, k: number): number {
  let t = 0,
    m = 0;
  for (let i = 0; i < k; i++) {
    t += c.sums[pick[i]];
    m += c.counts[pick[i]];
  }
  return t / m;
}

/** The `level` percentile interval of sorted bootstrap statistics. */
export function percentileInterval(sorted: Float64Array, level = 0.95): Interval {
  const B = sorted.length;
  const q = (p: number) => sorted[Math.min(B - 1, Math.max(0, Math.round(p * (B - 1))))];
  return [q((1 - level) / 2), q(1 - (1 - level) / 2)];
}

/** Percentile bootstrap interval of the mean of 0/1 outcomes, resampling products (`clusters`)
 * with all their images: each resample's accuracy is its drawn products' correct images over
 * their images. */
export function bootstrapInterval(correct: ArrayLike<number>, opts: BootstrapOptions = {}): Interval {
  const n = correct.length;
  if (n === 0) throw new Error("bootstrapInterval: no test images");
  const c = clusterSums(correct, opts.clusters);
  const K = c.sums.length;
  const B = opts.resamples ?? 2000;
  // Seeded by the number of products alone, so copies of a product's photos draw the same
  // products (the interval cannot shrink with them); by the images' without products, as before.
  const r = rngFrom(opts.clusters ? mixSeed(opts.seed ?? 0, "bootstrap-products", K) : mixSeed(opts.seed ?? 0, "bootstrap", n));
  const means = new Float64Array(B);
  const pick = new Int32Array(K);
  for (let b = 0; b < B; b++) {
    drawClusters(r, pick, K);
    means[b] = meanOfPicked(c, pick, K);
  }
  means.sort();
  return percentileInterval(means, opts.level);
}

export interface AccuracyWithInterval {
  accuracy: number;
  interval: Interval;
}

/** Accuracy of predictions against labels, with its bootstrap interval. */
export function accuracyWithInterval(
  pred: ArrayLike<number>,
  labels: ArrayLike<number>,
  opts: BootstrapOptions = {},
): AccuracyWithInterval {
  if (pred.length !== labels.length) throw new Error(`accuracyWithInterval: ${pred.length} predictions for ${labels.length} labels`);
  const correct = Uint8Array.from({ length: labels.length }, (_, i) => (pred[i] === labels[i] ? 1 : 0));
  return { accuracy: correct.reduce((a, b) => a + b, 0) / correct.length, interval: bootstrapInterval(correct, opts) };
}

/** "81.7 % (78.1–85.0)" */
export function formatAccuracy(a: number, ci?: Interval): string {
  const p = (v: number) => (100 * v).toFixed(1);
  return ci ? `${p(a)} (${p(ci[0])}–${p(ci[1])})` : p(a);
}
