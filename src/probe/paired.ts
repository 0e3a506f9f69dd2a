// Is row A better than row B? Both were scored on the same test images, so compare them image by
// image: the difference of their accuracies, with a 95 % interval from a paired bootstrap over
// the test products (a drawn product brings all its photos: their errors go together). With
// several repeats the bootstrap is hierarchical: each resample draws the repeats with
// replacement and products with replacement (once for all when the repeats scored the same test
// images, from each drawn repeat's own test draw when they did not), and averages the per-repeat
// differences over both. McNemar's exact test is the
// classical test of the same question on one seed, kept beside the interval.
import { z } from "zod";
import { mixSeed, rngFrom } from "../data/rng";
import { clusterSums, drawClusters, Interval, meanOfPicked, percentileInterval } from "./bootstrap";

/** Per-image 0/1 outcomes (1 = correct) as a compact string, "0110...", one char per image. */
export const outcomesSchema = z
  .string()
  .regex(/^[01]*$/)
  .describe("per test image in the set's order: 1 right, 0 wrong");
export type Outcomes = z.infer<typeof outcomesSchema>;

export function outcomesOf(pred: ArrayLike<number>, labels: ArrayLike<number>): Outcomes {
  if (pred.length !== labels.length) throw new Error(`outcomesOf: ${pred.length} predictions for ${labels.length} labels`);
  let s = "";
  for (let i = 0; i < labels.length; i++) s += pred[i] === labels[i] ? "1" : "0";
  return s;
}

export function parseOutcomes(o: Outcomes): Uint8Array {
  const out = new Uint8Array(o.length);
  for (let i = 0; i < o.length; i++) {
    const c = o.charCodeAt(i) - 48;
    if (c !== 0 && c !== 1) throw new Error(`outcomes: character ${i} is '${o[i]}', expected 0 or 1`);
    out[i] = c;
  }
  return out;
}

export interface PairedDifference {
  /** Mean over seeds of accuracy(A) - accuracy(B). */
  difference: number;
  differenceCI: Interval;
  /** The standard deviation of the bootstrap's differences: the difference's standard error. */
  se: number;
  /** Two-sided bootstrap p-value of "no difference": twice the smaller share of resampled
   * differences on one side of zero, counted (k + 1) / (B + 1) so that it is never 0. */
  p: number;
  seeds: number;
  images: number;
  /** Products resampled (images when no products were given). */
  products: number;
  /** McNemar's exact two-sided p on the first seed's discordant images. */
  mcnemarP: number;
}

/** accuracy(a) - accuracy(b) with its hierarchical paired bootstrap interval; a[s] and b[s] are
 * seed s's outcomes on that seed's test images. With `clusters` (each image's product), every seed
 * scored the same images and a resample draws products with all their photos, once for every seed
 * drawn. With `seedClusters` (one array per seed), each seed scored its own draw of products: a
 * resample draws the seeds, then, for each seed drawn, products of its own draw. */
export function pairedDifference(
  a: Outcomes[],
  b: Outcomes[],
  opts: { resamples?: number; level?: number; seed?: number; clusters?: ArrayLike<number>; seedClusters?: ArrayLike<number>[] } = {},
): PairedDifference {
  const S = a.length;
  if (S === 0 || S !== b.length) throw new Error(`pairedDifference: ${a.length} and ${b.length} seeds; need the same number, at least one`);
  if (opts.seedClusters && opts.seedClusters.length !== S)
    throw new Error(`pairedDifference: ${opts.seedClusters.length} seeds' products for ${S} seeds`);
  // One draw of test images for every seed: the products are resampled once per resample.
  const shared = !opts.seedClusters || opts.seedClusters.every((c) => sameIds(c, opts.seedClusters![0]));
  const clusters = opts.clusters ?? opts.seedClusters?.[0];
  const n = a[0].length;
  // d[s][i] in {-1, 0, 1}: image i's outcome difference under seed s.
  const d = a.map((as, s) => {
    const ns = shared ? n : as.length;
    if (as.length !== ns || b[s].length !== ns)
      throw new Error(
        `pairedDifference: seed ${s} has ${as.length} and ${b[s].length} outcomes, expected ${ns}${shared ? " (the same test images)" : ""}`,
      );
    const x = parseOutcomes(as),
      y = parseOutcomes(b[s]);
    return Int8Array.from(x, (v, i) => v - y[i]);
  });
  // Per seed, each product's summed difference and its number of photos.
  const perSeed = d.map((xs, s) => clusterSums(xs, shared ? clusters : opts.seedClusters![s]));
  const K = perSeed[0].counts.length;
  const difference = d.reduce((t, xs) => t + xs.reduce((u, v) => u + v, 0) / xs.length, 0) / S;
  const B = opts.resamples ?? 2000;
  const r = rngFrom(
    !shared
      ? mixSeed(opts.seed ?? 0, "paired-draws", S * 1_000_003 + n)
      : clusters
        ? mixSeed(opts.seed ?? 0, "paired-products", S * 1_000_003 + K)
        : mixSeed(opts.seed ?? 0, "paired", S * 1_000_003 + n),
  );
  const stats = new Float64Array(B);
  const pick = new Int32Array(Math.max(...perSeed.map((p) => p.counts.length)));
  for (let k = 0; k < B; k++) {
    // Shared: one draw of products for every seed drawn; else each seed drawn draws its own.
    if (shared) drawClusters(r, pick, K);
    let total = 0;
    for (let j = 0; j < S; j++) {
      const p = perSeed[S === 1 ? 0 : Math.floor(r() * S)];
      if (!shared) drawClusters(r, pick, p.counts.length);
      total += meanOfPicked(p, pick, p.counts.length);
    }
    stats[k] = total / S;
  }
  const mean = stats.reduce((t, v) => t + v, 0) / B;
  const se = Math.sqrt(stats.reduce((t, v) => t + (v - mean) ** 2, 0) / Math.max(1, B - 1));
  const below = stats.filter((v) => v <= 0).length,
    above = stats.filter((v) => v >= 0).length;
  stats.sort();
  const first = d[0];
  const better = first.filter((v) => v > 0).length,
    worse = first.filter((v) => v < 0).length;
  return {
    difference,
    differenceCI: percentileInterval(stats, opts.level),
    se,
    p: Math.min(1, (2 * (Math.min(below, above) + 1)) / (B + 1)),
    seeds: S,
    images: n,
    products: K,
    mcnemarP: mcnemarExact(better, worse),
  };
}

function sameIds(x: ArrayLike<number>, y: ArrayLike<number>): boolean {
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** McNemar's exact test: with `b` images only A got right and `c` only B got right, the
 * two-sided p-value of b ~ Binomial(b + c, 1/2) (twice the smaller tail, at most 1). */
export function mcnemarExact(b: number, c: number): number {
  const m = b + c;
  if (m === 0) return 1;
  const k = Math.min(b, c);
  // log C(m, i) by lgamma-free running sums, exact enough for m in the thousands.
  let logC = 0;
  let tail = 0;
  for (let i = 0; i <= k; i++) {
    if (i > 0) logC += Math.log((m - i + 1) / i);
    tail += Math.exp(logC - m * Math.LN2);
  }
  return Math.min(1, 2 * tail);
}
