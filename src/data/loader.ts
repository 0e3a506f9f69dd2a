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

/** Rows [begin, end) of a batch's images: a data-parallel rank decodes only its own. */
export type Rows = readonly [number, number];

/** The part of `rows` that falls in a block of `count` rows starting at row `offset`, counted
 * from the block's start (a batch made of blocks loaded apart, e.g. pairs then unlabeled images). */
export function rowsWithin(rows: Rows | undefined, offset: number, count: number): Rows | undefined {
  if (!rows) return undefined;
  const begin = Math.min(count, Math.max(0, rows[0] - offset));
  return [begin, Math.max(begin, Math.min(count, rows[1] - offset))];
}

/** Decode `files` (only `rows` of them, when given) into one [N, size, size, 3] tensor. Each
 * image's augmentation comes from the seed, the batch and its place in `files`, so a rank's rows
 * are the pixels the whole batch has there. */
export async function loadBatch(files: string[], opts: BatchOptions, batchIndex = 0, rows?: Rows): Promise<tf.Tensor4D> {
  const { size } = opts;
  const [begin, end] = rows ?? [0, files.length];
  const data = new Float32Array((end - begin) * size * size * 3);
  await Promise.all(
    files.slice(begin, end).map(async (f, k) => {
      const i = begin + k;
      const r = opts.augment ? rngFrom(mixSeed(opts.seed, batchIndex, i)) : undefined;
      normalizeInto(await decodeRgb(f, size, opts.augment, r, opts.input), data, k * size * size * 3, opts.input?.mean, opts.input?.std);
    }),
  );
  return tf.tensor4d(data, [end - begin, size, size, 3]);
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
