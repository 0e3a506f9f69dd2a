// Which slice of a job this process does: `--shard K/N` (K counts from 0), or, where Kubernetes
// runs the command as an Indexed Job, JOB_COMPLETION_INDEX with the count in RETAIL_REPR_SHARDS,
// so that one command line serves every pod.
export interface Shard {
  index: number;
  count: number;
}

export const SHARD_COUNT_ENV = "RETAIL_REPR_SHARDS";

export function parseShard(text: string, what = "--shard"): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (!m) throw new Error(`${what}: '${text}' is not K/N (e.g. 0/4: the first of four shards; K counts from 0)`);
  const shard = { index: Number(m[1]), count: Number(m[2]) };
  if (shard.count < 1 || shard.index >= shard.count) throw new Error(`${what}: '${text}' needs 0 <= K < N`);
  return shard;
}

/** `--shard` if given, else the Indexed Job's environment, else undefined (the whole job). */
export function shardFrom(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): Shard | undefined {
  if (flag !== undefined) return parseShard(flag);
  const k = env.JOB_COMPLETION_INDEX;
  if (k === undefined) return undefined;
  const n = env[SHARD_COUNT_ENV];
  if (n === undefined)
    throw new Error(
      `JOB_COMPLETION_INDEX is ${k} but ${SHARD_COUNT_ENV} is not set: set it to the Job's completions (the number of shards), or pass --shard K/N`,
    );
  return parseShard(`${k}/${n}`, `JOB_COMPLETION_INDEX/${SHARD_COUNT_ENV}`);
}

export const shardName = (s: Shard) => `${s.index}/${s.count}`;

/** The parts of 0..parts-1 that shard s does: every N-th, from K (balanced, and resumable by part). */
export function partsOfShard(parts: number, s: Shard | undefined): number[] {
  const all = Array.from({ length: parts }, (_, p) => p);
  return s ? all.filter((p) => p % s.count === s.index) : all;
}

/** A contiguous slice [begin, end) of n items for shard s, so that slices in shard order are the
 * whole. Boundaries fall on multiples of `align` (the batch size), so every shard runs the very
 * batches one unsharded run would, and the numbers come out bit for bit the same. */
export function sliceOfShard(n: number, s: Shard | undefined, align = 1): [number, number] {
  if (!s) return [0, n];
  const blocks = Math.ceil(n / align);
  const edge = (k: number) => Math.min(n, Math.floor((k * blocks) / s.count) * align);
  return [edge(s.index), edge(s.index + 1)];
}
