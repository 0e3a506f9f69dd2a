// Speed beside PyTorch measured in pairs: one step here, then one step of PyTorch's reference in
// a server process (torch_reference.py --serve), in turn, the order swapped every pair. Both
// steps of a pair meet the same spell of this shared machine's speed, which moves by up to 2x
// for seconds at a time; the ratio is the median over pairs of PyTorch's time / ours.
import { spawn } from "child_process";
import * as readline from "readline";
import { tf } from "../engine/tf";
import { nativeConvolutionsOn, setNativeConvolutions } from "../engine/native-kernels";
import { createModel, disposeModel } from "../models/model";
import { Optimizer } from "../train/optimizer";
import { benchInferStep, benchTrainStep, round } from "./model-bench";
import { presetReferenceArgs, torchReferenceArgv } from "./torch-reference";

export interface PairedCase {
  arch: string;
  size: number;
  batch: number;
  /** wasm only: the native convolutions (or XNNPACK). */
  conv?: "native" | "xnnpack";
}

export interface PairedSide {
  /** Seconds per step, in the order measured. */
  ours_s: number[];
  torch_s: number[];
  /** Median over pairs of torch_s / ours_s: > 1 is faster than PyTorch. */
  ratio: number;
  /** The ratio's spread over pairs: the 25th and 75th percentiles. */
  ratio_iqr: [number, number];
}

export interface PairedResult extends PairedCase {
  engine: string;
  torch: string;
  pairs: number;
  train: PairedSide;
  infer: PairedSide;
}

export const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (i - lo);
};

/** Summarise paired times: the median ratio and its quartiles. */
export function pairedSide(ours: number[], torch: number[]): PairedSide {
  if (ours.length !== torch.length || !ours.length) throw new Error("pairedSide: one time per side per pair");
  const r = ours.map((o, i) => torch[i] / o);
  return {
    ours_s: ours.map((v) => round(v, 4)),
    torch_s: torch.map((v) => round(v, 4)),
    ratio: round(quantile(r, 0.5), 3),
    ratio_iqr: [round(quantile(r, 0.25), 3), round(quantile(r, 0.75), 3)],
  };
}

/** PyTorch's reference as a server: `step(mode)` times one step there. */
class TorchServer {
  private lines: string[] = [];
  private waiting?: (line: string | undefined) => void;
  private stderr = "";
  private exited = false;
  readonly child;

  constructor(python: string, argv: string[]) {
    this.child = spawn(python, [...argv, "--serve"], { stdio: ["pipe", "pipe", "pipe"] });
    this.child.stderr.on("data", (d) => (this.stderr = (this.stderr + d).slice(-4000)));
    readline.createInterface({ input: this.child.stdout }).on("line", (l) => this.deliver(l));
    this.child.on("exit", () => {
      this.exited = true;
      this.deliver(undefined);
    });
  }

  private deliver(line: string | undefined): void {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w(line);
    } else if (line !== undefined) this.lines.push(line);
  }

  async next(): Promise<string> {
    const line = this.lines.length
      ? this.lines.shift()
      : this.exited
        ? undefined
        : await new Promise<string | undefined>((r) => (this.waiting = r));
    if (line === undefined) throw new Error(`torch reference server stopped: ${this.stderr.trim().split("\n").pop() ?? "no message"}`);
    return line;
  }

  async step(mode: "train" | "infer"): Promise<number> {
    this.child.stdin.write(`${mode}\n`);
    return Number(await this.next());
  }

  close(): void {
    this.child.stdin.end();
    this.child.kill();
  }
}

/** A pause before every timed step: a process's threads keep working a while after its step
 * (OpenMP's and OpenBLAS's spin-waits, V8's concurrent garbage collection), and on a small machine
 * they would slow the other side's step (measured here: PyTorch's small-model training step took
 * 2x as long right after one of ours). */
const SETTLE_MS = 250;
const WARMUP_PAIRS = 5;
const settle = () => new Promise((r) => setTimeout(r, SETTLE_MS));

/** Time `pairs` paired steps of each mode on the current backend against PyTorch (2 threads). */
export async function pairedAgainstTorch(c: PairedCase, python: string, pairs: number, engine: string): Promise<PairedResult> {
  const argv = torchReferenceArgv(presetReferenceArgs(c));
  const server = new TorchServer(python, argv);
  const priorNative = nativeConvolutionsOn();
  if (c.conv) setNativeConvolutions(c.conv === "native");
  const model = createModel({ arch: c.arch, pooling: "gap" }, 1);
  const x = tf.randomNormal([c.batch, c.size, c.size, 3], 0, 1, "float32", 2) as tf.Tensor4D;
  const opt = new Optimizer({ kind: "sgd", lr: 0.01 });
  const ours = { train: () => benchTrainStep(model, x, opt), infer: () => benchInferStep(model, x) };
  const seconds = (f: () => void) => {
    const t = process.hrtime.bigint();
    f();
    return Number(process.hrtime.bigint() - t) / 1e9;
  };
  try {
    const ready = JSON.parse(await server.next()) as { engine: string };
    const sides = {} as Record<"train" | "infer", PairedSide>;
    for (const mode of ["train", "infer"] as const) {
      const o: number[] = [];
      const t: number[] = [];
      const ourStep = async () => {
        await settle();
        o.push(seconds(ours[mode]));
      };
      const theirStep = async () => {
        await settle();
        t.push(await server.step(mode));
      };
      // Unrecorded pairs first: our steps get faster over the first five or so (measured on
      // the small model: 0.57-0.85 s, then 0.22-0.32 s; V8 optimising tfjs's bookkeeping).
      for (let i = -WARMUP_PAIRS; i < pairs; i++) {
        if (i === 0) o.length = t.length = 0;
        if (i % 2) await theirStep().then(ourStep);
        else await ourStep().then(theirStep);
      }
      sides[mode] = pairedSide(o, t);
    }
    return { ...c, engine, torch: ready.engine, pairs, ...sides };
  } finally {
    server.close();
    opt.dispose();
    x.dispose();
    disposeModel(model);
    if (tf.getBackend() === "wasm") setNativeConvolutions(priorNative);
  }
}
