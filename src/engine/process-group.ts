// The process group of a data-parallel run: PyTorch's c10d (a TCPStore for the rendezvous, Gloo
// over TCP) through the addon native/retail_dist.cpp, built against the same libtorch as the torch
// backend. A process joins with torchrun's environment contract: RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT (`--nproc N` sets them for N local processes;
// Kubernetes or torchrun-style tooling sets them across machines; an Indexed Job's
// JOB_COMPLETION_INDEX stands for RANK). Collectives work on Float32Arrays, so any tfjs backend
// trains data-parallel: its tensors are read out, reduced and written back.
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { buildTorchAddon, findLibTorch, LibTorch, loadTorch } from "./torch-lib";
import { setNativeThreads } from "./native-kernels";
import { tf } from "./tf";

interface DistLib {
  init(host: string, port: number, rank: number, world: number, timeoutMs: number, iface: string): string;
  allreduce(a: Float32Array): Float32Array;
  allgather(a: Float32Array): Float32Array;
  broadcast(a: Float32Array, root: number): Float32Array;
  storeSet(key: string, value: string): number;
  storeWait(key: string, timeoutMs: number): string;
  shutdown(): number;
}

/** Where this process stands in a run, from torchrun's variables. */
export interface World {
  rank: number;
  size: number;
  localRank: number;
  /** Processes on this machine: they share its cores. */
  localSize: number;
  addr: string;
  port: number;
}

/** Seconds a collective waits for the other ranks before failing (a rank that dies closes its
 * sockets and fails the others at once; this bounds a rank that hangs). */
export const COLLECTIVE_TIMEOUT_ENV = "RETAIL_REPR_COLLECTIVE_TIMEOUT";
const DEFAULT_TIMEOUT_S = 600;

/** The run's world from the environment; undefined for a single process (no WORLD_SIZE, or 1).
 * A malformed variable is an error naming it. */
export function worldFromEnv(env: NodeJS.ProcessEnv = process.env): World | undefined {
  const int = (name: string, fallback?: number): number => {
    const v = env[name];
    if (v === undefined || v === "") {
      if (fallback !== undefined) return fallback;
      throw new Error(`${name} is not set: a data-parallel process needs RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT`);
    }
    if (!/^\d+$/.test(v)) throw new Error(`${name}=${v} is not a non-negative integer`);
    return Number(v);
  };
  if (!env.WORLD_SIZE || env.WORLD_SIZE === "1") return undefined;
  const size = int("WORLD_SIZE");
  // An Indexed Job's pod knows its index, not a rank: the index is the rank (deploy/train-job.yaml).
  const rank = env.RANK === undefined && env.JOB_COMPLETION_INDEX !== undefined ? int("JOB_COMPLETION_INDEX") : int("RANK");
  if (rank >= size) throw new Error(`RANK=${rank} is not below WORLD_SIZE=${size}`);
  const addr = env.MASTER_ADDR;
  if (!addr) throw new Error("MASTER_ADDR is not set: the address of rank 0, which hosts the rendezvous store");
  const port = int("MASTER_PORT");
  if (port < 1 || port > 65535) throw new Error(`MASTER_PORT=${port} is not a TCP port`);
  const localSize = int("LOCAL_WORLD_SIZE", 1);
  return { rank, size, localRank: int("LOCAL_RANK", 0), localSize, addr, port };
}

/** Gloo's headers: beside libtorch's (a pip wheel may carry them), else Debian's libgloo-dev. */
const hasGlooHeaders = (libtorch: LibTorch): boolean =>
  [...libtorch.includes, "/usr/include"].some((d) => fs.existsSync(path.join(d, "gloo", "algorithm.h")));

/** The libtorch the c10d addon builds against, or why it cannot be built here. */
function distLibTorch(): LibTorch | { why: string } {
  const libtorch = findLibTorch();
  if (!("libDir" in libtorch)) return { why: `no libtorch: ${libtorch.why}` };
  if (!hasGlooHeaders(libtorch)) return { why: "Gloo's headers were not found (apt-get install libgloo-dev)" };
  return libtorch;
}

/** Whether data-parallel training can run here, without building the addon: what it would be
 * built against, or why it cannot be. */
export function dataParallelAvailability(): string {
  const libtorch = distLibTorch();
  if (!("libDir" in libtorch)) return `unavailable: ${libtorch.why}`;
  return `c10d over Gloo, built on first use against ${libtorch.source} libtorch ${libtorch.version} (--nproc N, or RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT)`;
}

let lib: DistLib | { why: string } | undefined;

/** The c10d addon, built on first use; or why it cannot be. */
export function loadDist(): DistLib | { why: string } {
  if (lib) return lib;
  const libtorch = distLibTorch();
  if (!("libDir" in libtorch)) return (lib = libtorch);
  const built = buildTorchAddon(libtorch, "retail_dist", { flags: ["-DUSE_C10D_GLOO"] });
  if ("why" in built) return (lib = built);
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return (lib = require(built.target) as DistLib);
  } catch (err) {
    return (lib = { why: `could not load ${built.target}: ${(err as Error).message.split("\n")[0]}` });
  }
}

/** One rank's handle on the group: blocking collectives over every rank. */
export class ProcessGroup {
  private calls = 0;
  constructor(
    private readonly lib: DistLib,
    readonly world: World,
    readonly description: string,
  ) {}
  get rank(): number {
    return this.world.rank;
  }
  get size(): number {
    return this.world.size;
  }
  /** Summed over ranks, in place. */
  allreduce(a: Float32Array): Float32Array {
    return this.lib.allreduce(a);
  }
  /** Every rank's `a` (all the same length), rank 0's first. */
  allgather(a: Float32Array): Float32Array {
    return this.lib.allgather(a);
  }
  /** `root`'s values on every rank, in place. */
  broadcast(a: Float32Array, root = 0): Float32Array {
    return this.lib.broadcast(a, root);
  }
  /** Whether `flag` is true on any rank (every rank gets the same answer). */
  any(flag: boolean): boolean {
    return this.lib.allreduce(new Float32Array([flag ? 1 : 0]))[0] > 0;
  }
  /** Rank 0 runs `fn` (e.g. makes the inputs a run reads) while the others wait for it, as long
   * as it takes; if it throws, the others are told and throw too. */
  async rankZeroFirst<T>(key: string, fn: () => Promise<T>): Promise<T | undefined> {
    // Every rank makes the same calls in the same order: the count keeps a key used twice apart.
    const k = `retail-repr/first/${this.calls++}/${key}`;
    if (this.rank === 0) {
      try {
        const out = await onEveryCore(this.world, fn);
        this.lib.storeSet(k, "ok");
        return out;
      } catch (err) {
        this.lib.storeSet(k, `rank 0 failed: ${(err as Error).message.split("\n")[0]}`);
        throw err;
      }
    }
    const said = this.lib.storeWait(k, 7 * 24 * 3600 * 1000);
    if (said !== "ok") throw new Error(`rank ${this.rank}: ${said}`);
    return undefined;
  }
  shutdown(): void {
    this.lib.shutdown();
  }
}

let current: ProcessGroup | undefined;

/** Join the world (rendezvous at MASTER_ADDR:MASTER_PORT, waiting for every rank); once per
 * process. Each rank then computes on its share of this machine's cores. */
export function joinProcessGroup(world: World, timeoutS = Number(process.env[COLLECTIVE_TIMEOUT_ENV]) || DEFAULT_TIMEOUT_S): ProcessGroup {
  if (current) return current;
  const l = loadDist();
  if ("why" in l) throw new Error(`data-parallel training needs the c10d addon: ${l.why}`);
  const description = l.init(world.addr, world.port, world.rank, world.size, timeoutS * 1000, process.env.GLOO_SOCKET_IFNAME ?? "");
  current = new ProcessGroup(l, world, description);
  return current;
}

/** `fn` with this machine's every core while its other ranks wait (e.g. rank 0 pseudolabelling
 * alone): the native engine's and libtorch's threads widened, then put back. */
async function onEveryCore<T>(world: World, fn: () => Promise<T>): Promise<T> {
  if (world.localSize <= 1) return fn();
  const all = os.cpus().length;
  const torch = tf.getBackend() === "torch" ? loadTorch() : undefined;
  const priorNative = setNativeThreads(all);
  const priorTorch = torch?.ok ? torch.lib.setThreads(all) : undefined;
  try {
    return await fn();
  } finally {
    setNativeThreads(priorNative);
    if (torch?.ok && priorTorch !== undefined) torch.lib.setThreads(priorTorch);
  }
}

/** Cores for each of `localSize` ranks on this machine. */
export const coresPerRank = (localSize: number): number => Math.max(1, Math.floor(os.cpus().length / localSize));

/** The environment of rank `rank` of `size` started on this machine, torchrun's variables. */
export const localRankEnv = (rank: number, size: number, port: number): NodeJS.ProcessEnv => ({
  RANK: String(rank),
  LOCAL_RANK: String(rank),
  WORLD_SIZE: String(size),
  LOCAL_WORLD_SIZE: String(size),
  MASTER_ADDR: "127.0.0.1",
  MASTER_PORT: String(port),
});

/** The environment that gives a process `threads` compute threads (the native engine's and
 * libtorch's). */
export const threadEnv = (threads: number): NodeJS.ProcessEnv => ({
  OPENBLAS_NUM_THREADS: String(threads),
  RETAIL_REPR_TORCH_THREADS: String(threads),
});

/** A free TCP port on this machine, for the store of ranks started here (taken by the OS; another
 * process may take it before rank 0 binds it, as with torchrun's). */
export function freeLocalPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}
