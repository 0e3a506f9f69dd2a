// Batches for training and embedding: reproducible order from a seed, decoding on libuv's
// thread pool (sharp) and the loader's worker threads, the next batch prefetched while the current
// one trains.
import { tf } from "../engine/tf";
import { batchPixels, BatchOptions, Rows } from "./batch-pixels";
import { loaderPool } from "./loader-pool";
import { mixSeed, rngFrom, shuffled } from "./rng";

export type { BatchOptions, Rows };

/** The part of `rows` that falls in a block of `count` rows starting at row `offset`, counted
 * from the block's start (a batch made of blocks loaded apart, e.g. pairs then unlabeled images). */
export function rowsWithin(rows: Rows | undefined, offset: number, count: number): Rows | undefined {
  if (!rows) return undefined;
  const begin = Math.min(count, Math.max(0, rows[0] - offset));
  return [begin, Math.max(begin, Math.min(count, rows[1] - offset))];
}

/** Decode `files` (only `rows` of them, when given) into one [N, size, size, 3] tensor, in the
 * loader's threads where there are any (loader-pool.ts). Each image's augmentation comes from the
 * seed, the batch and its place in `files`, so a rank's rows are the pixels the whole batch has
 * there, whichever thread decoded them. */
export async function loadBatch(files: string[], opts: BatchOptions, batchIndex = 0, rows?: Rows): Promise<tf.Tensor4D> {
  const { size } = opts;
  const r: Rows = rows ?? [0, files.length];
  const pool = loaderPool();
  const data = pool ? await pool.pixels(files, opts, batchIndex, r) : await batchPixels(files, opts, batchIndex, r);
  return tf.tensor4d(data, [r[1] - r[0], size, size, 3]);
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
