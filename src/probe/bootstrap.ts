// How sure is an accuracy? A 95 % percentile bootstrap over the test images: resample the n
// test images with replacement B times, take the accuracy of each resample, and report the
// 2.5th and 97.5th percentiles. Seeded, so the same predictions always give the same interval.
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
}

/** Percentile bootstrap interval of the mean of 0/1 outcomes. */
export function bootstrapInterval(correct: ArrayLike<number>, opts: BootstrapOptions = {}): Interval {
  const n = correct.length;
  if (n === 0) throw new Error("bootstrapInterval: no test images");
  const B = opts.resamples ?? 2000;
  const level = opts.level ?? 0.95;
  const r = rngFrom(mixSeed(opts.seed ?? 0, "bootstrap", n));
  const means = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    let k = 0;
    for (let i = 0; i < n; i++) k += correct[Math.floor(r() * n)];
    means[b] = k / n;
  }
  means.sort();
  const q = (p: number) => means[Math.min(B - 1, Math.max(0, Math.round(p * (B - 1))))];
  return [q((1 - level) / 2), q(1 - (1 - level) / 2)];
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
