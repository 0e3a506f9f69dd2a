// Batches for training and embedding: reproducible order from a seed, decoding on libuv's
// thread pool (sharp), and the next batch prefetched while the current one trains.
import { tf } from "../engine/tf";
import { Augment, decodeRgb, normalizeInto } from "./images";
import { mixSeed, rngFrom, shuffled } from "./rng";
import type { InputConfig } from "./input-config";

export interface BatchOptions {
  size: number;
  augment?: Augment;
  seed: number;
  /** A model's input config (resize rule, mean, std); unset: both sides to `size`, ImageNet's. */
  input?: InputConfig;
}

/** Decode `files` into one [N, size, size, 3] tensor. */
export async function loadBatch(files: string[], opts: BatchOptions, batchIndex = 0): Promise<tf.Tensor4D> {
  const { size } = opts;
  const data = new Float32Array(files.length * size * size * 3);
  await Promise.all(
    files.map(async (f, i) => {
      const r = opts.augment ? rngFrom(mixSeed(opts.seed, batchIndex, i)) : undefined;
      normalizeInto(await decodeRgb(f, size, opts.augment, r, opts.input), data, i * size * size * 3, opts.input?.mean, opts.input?.std);
    }),
  );
  return tf.tensor4d(data, [files.length, size, size, 3]);
}

/** The order of `n` examples in epoch `epoch`: a seeded shuffle, the same on every run. */
export function epochOrder(n: number, seed: number, epoch: number): number[] {
  return shuffled([...Array(n).keys()], rngFrom(mixSeed(seed, "epoch", epoch)));
}

let orderCache: { key: string; order: number[] } | undefined;

/**
 * The example indices of batch `step`: epoch-wise seeded shuffles, cut in full batches. A
 * checkpoint stores only the step, and a resumed run sees exactly the batches it would have.
 */
export function batchAt(n: number, batch: number, seed: number, step: number): number[] {
  const perEpoch = Math.floor(n / batch);
  if (perEpoch === 0) throw new Error(`dataset of ${n} examples is smaller than one batch of ${batch}`);
  const epoch = Math.floor(step / perEpoch);
  const key = `${n}/${seed}/${epoch}`;
  if (orderCache?.key !== key) orderCache = { key, order: epochOrder(n, seed, epoch) };
  const k = step % perEpoch;
  return orderCache.order.slice(k * batch, (k + 1) * batch);
}
