// Is row A better than row B? Both were scored on the same test images, so compare them image by
// image: the difference of their accuracies, with a 95 % interval from a paired bootstrap over
// the test images. With several training seeds (the same test images each time) the bootstrap is
// hierarchical: each resample draws the seeds with replacement and, once, the test images with
// replacement, and averages the per-seed differences over both. McNemar's exact test is the
// classical test of the same question on one seed, kept beside the interval.
import { z } from "zod";
import { mixSeed, rngFrom } from "../data/rng";
import type { Interval } from "./bootstrap";

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
  seeds: number;
  images: number;
  /** McNemar's exact two-sided p on the first seed's discordant images. */
  mcnemarP: number;
}

/** accuracy(a) - accuracy(b) with its hierarchical paired bootstrap interval; a[s] and b[s] are
 * seed s's outcomes on the same images (the same images for every seed). */
export function pairedDifference(
  a: Outcomes[],
  b: Outcomes[],
  opts: { resamples?: number; level?: number; seed?: number } = {},
): PairedDifference {
  const S = a.length;
  if (S === 0 || S !== b.length) throw new Error(`pairedDifference: ${a.length} and ${b.length} seeds; need the same number, at least one`);
  const n = a[0].length;
  // d[s][i] in {-1, 0, 1}: image i's outcome difference under seed s.
  const d = a.map((as, s) => {
    if (as.length !== n || b[s].length !== n)
      throw new Error(`pairedDifference: seed ${s} has ${as.length} and ${b[s].length} outcomes, expected ${n} (the same test images)`);
    const x = parseOutcomes(as),
      y = parseOutcomes(b[s]);
    return Int8Array.from(x, (v, i) => v - y[i]);
  });
  const mean = (xs: Int8Array) => xs.reduce((t, v) => t + v, 0) / n;
  const difference = d.reduce((t, xs) => t + mean(xs), 0) / S;
  const B = opts.resamples ?? 2000;
  const level = opts.level ?? 0.95;
  const r = rngFrom(mixSeed(opts.seed ?? 0, "paired", S * 1_000_003 + n));
  const stats = new Float64Array(B);
  const pick = new Int32Array(n);
  for (let k = 0; k < B; k++) {
    for (let i = 0; i < n; i++) pick[i] = Math.floor(r() * n);
    let total = 0;
    for (let j = 0; j < S; j++) {
      const xs = d[S === 1 ? 0 : Math.floor(r() * S)];
      let t = 0;
      for (let i = 0; i < n; i++) t += xs[pick[i]];
      total += t / n;
    }
    stats[k] = total / S;
  }
  stats.sort();
  const q = (p: number) => stats[Math.min(B - 1, Math.max(0, Math.round(p * (B - 1))))];
  const first = d[0];
  const better = first.filter((v) => v > 0).length,
    worse = first.filter((v) => v < 0).length;
  return {
    difference,
    differenceCI: [q((1 - level) / 2), q(1 - (1 - level) / 2)],
    seeds: S,
    images: n,
    mcnemarP: mcnemarExact(better, worse),
  };
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
