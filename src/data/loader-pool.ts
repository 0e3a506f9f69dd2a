// The loader's worker threads. Sharp decodes on libuv's thread pool, but the rest of an image's
// way in is JavaScript: RandAugment's operations (the noisy student's input noise) and the
// normalisation into float32. In the main thread that work queues behind the training step (the
// engine's calls block it) and delays the next step's dispatch; where a GPU trains, the main thread
// should do nothing else. A batch is cut into contiguous blocks of rows, one per thread, and each
// block comes back as a transferred buffer.
import * as os from "os";
import * as path from "path";
import { Worker } from "worker_threads";
import { BadImageError } from "./images";
import { rankRows } from "./batch-pixels";
import type { BatchOptions, Rows } from "./batch-pixels";

export interface PixelRequest {
  id: number;
  files: readonly string[];
  opts: BatchOptions;
  batchIndex: number;
  rows: Rows;
}
export type PixelReply =
  | { id: number; data: Float32Array; error?: undefined }
  | { id: number; data?: undefined; error: { file: string; problem: string } | { message: string } };

export const LOADER_THREADS_ENV = "RETAIL_REPR_LOADER_THREADS";

/** Threads when the user does not say: DEFAULT_RULE below. */
export function defaultLoaderThreads(cores: number): number {
  return cores <= 2 ? 0 : Math.min(8, cores - 2);
}
export const DEFAULT_RULE =
  "none on 2 cores or fewer (measured: no faster there), else cores - 2 (a core each for the main thread and libuv's decoding), at most 8";

/** How many worker threads decode (0: the main thread does): $RETAIL_REPR_LOADER_THREADS, else the default for this machine's cores. */
export function loaderThreads(env: NodeJS.ProcessEnv = process.env, cores = os.availableParallelism()): number {
  const set = env[LOADER_THREADS_ENV]?.trim();
  if (!set) return defaultLoaderThreads(cores);
  if (!/^\d+$/.test(set))
    throw new Error(`${LOADER_THREADS_ENV}=${set}: expected a whole number of loader threads (0: decode in the main thread)`);
  return Number(set);
}

/** `retail-repr info`'s line: where images decode and why, or what is wrong with the setting. */
export function describeLoader(env: NodeJS.ProcessEnv = process.env, cores = os.availableParallelism()): string {
  let n: number;
  try {
    n = loaderThreads(env, cores);
  } catch (e) {
    return (e as Error).message;
  }
  const why = env[LOADER_THREADS_ENV]?.trim() ? LOADER_THREADS_ENV : `the default for ${cores} cores: ${DEFAULT_RULE}`;
  return `${n === 0 ? "the main thread (sharp on libuv's pool)" : `${n} worker thread${n === 1 ? "" : "s"}`}, from ${why}`;
}

interface Thread {
  worker: Worker;
  pending: number;
}
interface Waiting {
  resolve: (data: Float32Array) => void;
  reject: (e: Error) => void;
  thread: Thread;
}

export class LoaderPool {
  private readonly threads: Thread[];
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 0;
  private broken?: Error;

  constructor(readonly size: number) {
    this.threads = [...Array(size)].map(() => this.start());
  }

  private start(): Thread {
    const worker = new Worker(path.join(__dirname, "loader-worker.js"));
    const thread: Thread = { worker, pending: 0 };
    // An idle thread does not keep the process alive; one with work in flight does.
    worker.unref();
    worker.on("message", (reply: PixelReply) => {
      const w = this.waiting.get(reply.id);
      if (!w) return;
      this.waiting.delete(reply.id);
      this.settled(thread);
      if (reply.data) w.resolve(reply.data);
      else if ("file" in reply.error) w.reject(new BadImageError(reply.error.file, reply.error.problem));
      else w.reject(new Error(reply.error.message));
    });
    const fail = (why: string) => {
      this.broken ??= new Error(`a loader thread stopped (${why}); rerun, or set ${LOADER_THREADS_ENV}=0 to decode in the main thread`);
      for (const [id, w] of this.waiting)
        if (w.thread === thread) {
          this.waiting.delete(id);
          w.reject(this.broken);
        }
    };
    worker.on("error", (e) => fail(e.message));
    worker.on("exit", (code) => code !== 0 && fail(`exit code ${code}`));
    return thread;
  }

  get isBroken(): boolean {
    return this.broken !== undefined;
  }

  private settled(thread: Thread) {
    if (--thread.pending === 0) thread.worker.unref();
  }

  private send(thread: Thread, files: readonly string[], opts: BatchOptions, batchIndex: number, rows: Rows): Promise<Float32Array> {
    const id = this.nextId++;
    if (thread.pending++ === 0) thread.worker.ref();
    return new Promise<Float32Array>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, thread });
      thread.worker.postMessage({ id, files, opts, batchIndex, rows } satisfies PixelRequest);
    });
  }

  /** `batchPixels(files, opts, batchIndex, rows)`, its rows shared out among the threads. */
  async pixels(files: readonly string[], opts: BatchOptions, batchIndex: number, rows: Rows): Promise<Float32Array> {
    if (this.broken) throw this.broken;
    const [begin, end] = rows;
    const per = opts.size * opts.size * 3;
    const out = new Float32Array((end - begin) * per);
    const blocks = Math.min(this.size, end - begin);
    await Promise.all(
      [...Array(blocks).keys()].map(async (j) => {
        const [from, to] = rankRows(end - begin, j, blocks).map((r) => begin + r);
        out.set(await this.send(this.threads[j], files, opts, batchIndex, [from, to]), (from - begin) * per);
      }),
    );
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}

let pool: LoaderPool | undefined;

/** The process's pool at `loaderThreads()` threads (made on first use, remade when the number
 * changes or a thread failed), or undefined when the main thread decodes. */
export function loaderPool(threads = loaderThreads()): LoaderPool | undefined {
  if (pool && (pool.size !== threads || pool.isBroken)) {
    void pool.close();
    pool = undefined;
  }
  if (threads === 0) return undefined;
  return (pool ??= new LoaderPool(threads));
}
