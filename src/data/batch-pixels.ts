// A batch's pixels as a model reads them: rows [begin, end) of its files decoded (sharp, on
// libuv's thread pool), each augmented from (seed, batch, row) and normalised into one float32
// array. The main thread and the loader's worker threads (loader-pool.ts) run this same function,
// so where a row is decoded never changes a pixel.
import { Augment, decodeRgb, normalizeInto } from "./images";
import type { InputConfig } from "./input-config";
import { mixSeed, rngFrom } from "./rng";

export interface BatchOptions {
  size: number;
  augment?: Augment;
  seed: number;
  /** A model's input config (resize rule, mean, std); unset: both sides to `size`, ImageNet's. */
  input?: InputConfig;
}

/** Rows [begin, end) of a batch's images: a data-parallel rank or a loader thread takes only its own. */
export type Rows = readonly [number, number];

/** Rows [begin, end) of a batch of n that `rank` of `size` takes (a data-parallel rank, a loader thread): contiguous slices, the
 * first n % size ranks one row more. */
export function rankRows(n: number, rank: number, size: number): [number, number] {
  const base = Math.floor(n / size);
  const extra = n % size;
  const begin = rank * base + Math.min(rank, extra);
  return [begin, begin + base + (rank < extra ? 1 : 0)];
}

/** Rows `rows` of the batch `files` (the whole batch's list: a row's randomness comes from its
 * place in it), [end - begin, size, size, 3] in row-major order. */
export async function batchPixels(files: readonly string[], opts: BatchOptions, batchIndex: number, rows: Rows): Promise<Float32Array> {
  const { size } = opts;
  const [begin, end] = rows;
  const per = size * size * 3;
  const data = new Float32Array((end - begin) * per);
  await Promise.all(
    files.slice(begin, end).map(async (f, k) => {
      const r = opts.augment ? rngFrom(mixSeed(opts.seed, batchIndex, begin + k)) : undefined;
      normalizeInto(await decodeRgb(f, size, opts.augment, r, opts.input), data, k * per, opts.input?.mean, opts.input?.std);
    }),
  );
  return data;
}
