// The one training loop every method uses (pretraining, teacher, student, fine-tune baselines): a
// task supplies batches and one objective; the loop picks the step runner once, and does the
// learning-rate schedule, progress, loss history, NaN guard, checkpoints and exact resume.
import * as fs from "fs";
import { z } from "zod";
import * as path from "path";
import { tf } from "../engine/tf";
import { engineLabel, projectKernelsOn } from "../engine/native-kernels";
import { loadCheckpoint, readCheckpointMeta, recoverCheckpoint, saveCheckpoint } from "../models/checkpoint";
import type { Model } from "../models/model";
import type { ModelNoise } from "../models/noise";
import { ensureDir, writeJsonAtomic } from "../util/paths";
import { Progress } from "../util/progress";
import { Optimizer, OptimizerConfig } from "./optimizer";
import { Replica } from "./replica";
import type { Output } from "./forward";
import { stepRunner } from "./step-runners";
import { broadcastWeights, dataParallelStep, rankRows, sameStartOnEveryRank } from "./data-parallel";
import type { Rows } from "../data/loader";
import type { ProcessGroup } from "../engine/process-group";
import { InterruptedError, listenForInterrupt } from "./interrupt";
import { inNotebook } from "../util/host";
import { checkStepFits, largestBatch } from "../models/memory";
import { freshness, Freshness, Inputs } from "../util/fingerprint";

/** A training stage as the loop sees it: batches, the images of a batch, and one objective on
 * what the network computes from them. The loop picks how a step computes it (step-runners.ts):
 * in this thread, in gradient-cache chunks, or split between data-parallel replicas. */
export interface TrainTask<B> {
  /** Images per step, for img/s. */
  imagesPerStep: number;
  /** Build batch `step` (deterministic in `step`: that is what makes resume exact). With `rows`,
   * only those rows of `images` are decoded (a data-parallel rank's share); everything else the
   * objective reads (labels, targets, masks) is still the whole batch's. */
  batch(step: number, rows?: Rows): Promise<B>;
  /** What the network computes from the images: L2-normalised embeddings (the default), class
   * logits, or pooled features. */
  output?: Output;
  /** A batch's images (its `rows`, when built with them), in the row order `objective` expects;
   * the caller disposes it. */
  images(batch: B): tf.Tensor4D;
  /** The loss from the network's outputs z for `images(batch)` (training mode); extra named
   * scalars go into the history. */
  objective(z: tf.Tensor2D, batch: B): { loss: tf.Scalar; parts?: Record<string, tf.Scalar> };
  /** Noise inside the network for this batch's forward pass (models/noise.ts: the noisy
   * student's stochastic depth and dropout); none when absent. */
  noise?(batch: B): ModelNoise | undefined;
  /** A short description of a batch for error messages (e.g. its image files). */
  describe(batch: B): string;
  dispose(batch: B): void;
}

export interface LoopConfig {
  name: string;
  steps: number;
  optimizer: OptimizerConfig;
  /** Linear warm-up steps, then cosine decay to 0. */
  warmup: number;
  /** The cosine's length when it is not `steps`: a run that stops inside a longer schedule (a
   * fine-tune trains to the step its dev run kept, on that run's schedule). */
  schedule?: number;
  checkpointEvery: number;
  runDir: string;
  /** 2 = data-parallel on two cores (a worker replica) for tasks that support it. */
  workers?: number;
  /** Data-parallel over this process group's ranks (train/data-parallel.ts): each rank computes
   * its slice of every batch; rank 0 alone writes the checkpoints and the history. */
  group?: ProcessGroup;
  /** What this run is made from (util/fingerprint.ts): a checkpoint made from other inputs
   * is not resumed; the run starts again from step 0 and says what changed. */
  inputs?: Inputs;
  /** The images' side, for the wasm heap check (models/memory.ts). */
  imageSize?: number;
  /** Gradient-cache chunk size (train/chunked.ts); unset: only when the batch does not fit. */
  chunk?: number;
  /** Called after each step with its history row (a live chart, a check every few steps);
   * awaited, so what it measures is the model after that step. */
  onStep?: (row: HistoryRow, model: Model) => void | Promise<void>;
  /** Keep the checkpoint that scores best: `score` (on a dev set) every `every` steps and at
   * the last; when the run ends, the best one's weights (the earliest on a tie) become the
   * run's, and `LoopResult.selection` says which it was. */
  select?: { every: number; score: (model: Model) => Promise<number> };
  /** Stop (as if killed) after this many steps in this call: for resume tests. */
  stopAfter?: number;
  quiet?: boolean;
}

export interface HistoryRow {
  step: number;
  loss: number;
  lr: number;
  imgPerSec: number;
  [part: string]: number;
}

export interface LoopResult {
  steps: number;
  resumedFrom: number;
  history: HistoryRow[];
  imgPerSec: number;
  seconds: number;
  /** The loader's own rate: images decoded per second of its time (it works while a step
   * computes), and the seconds the steps waited for it. A loader slower than the trainer's
   * img/s is what starves a fast device. */
  loader: { imgPerSec: number; waitSeconds: number };
  /** With `select`: every scored checkpoint and the one kept. */
  selection?: CheckpointSelection;
}

/** Every scored checkpoint of a run and the one kept. */
export const checkpointSelectionSchema = z.looseObject({
  scores: z.array(z.looseObject({ step: z.number(), score: z.number() })),
  chosenStep: z.number(),
});
export interface CheckpointSelection extends z.infer<typeof checkpointSelectionSchema> {}

/** The best score's step, the earliest on a tie. */
export const bestScored = (scores: { step: number; score: number }[]) => scores.reduce((a, b) => (b.score > a.score ? b : a));

export function learningRate(cfg: LoopConfig, step: number): number {
  const base = cfg.optimizer.lr;
  if (step < cfg.warmup) return (base * (step + 1)) / cfg.warmup;
  const t = (step - cfg.warmup) / Math.max(1, (cfg.schedule ?? cfg.steps) - cfg.warmup);
  return 0.5 * base * (1 + Math.cos(Math.PI * Math.min(1, t)));
}

export class NonFiniteLossError extends Error {}

/** Batches decoding ahead of the step that trains. Measured on the smoke teacher (2 cores, 3 runs
 * each): the steps waited 0.7-0.8 s for the loader with two against 2.4-2.6 s with one, at the
 * same overall img/s, since decoding and training share the cores here; where a device trains,
 * the wait is the time it idles. */
export const PREFETCH = 2;

/** Whether the checkpoint in `ckpt` was made from `inputs` (undefined: there is none). */
export function checkpointFreshness(ckpt: string, inputs: Inputs): Freshness | undefined {
  return recoverCheckpoint(ckpt) ? freshness((readCheckpointMeta(ckpt).extra.inputs as Inputs | undefined) ?? {}, inputs) : undefined;
}

/** The chunk size a run trains with: the configured one, or on the wasm engine the largest
 * that fits when the whole batch does not; 0 = the whole batch at once. */
export function chunkFor(model: Model, task: TrainTask<unknown>, cfg: Pick<LoopConfig, "name" | "imageSize" | "chunk">): number {
  const wasm = tf.getBackend() === "wasm" && cfg.imageSize !== undefined;
  const chunk = cfg.chunk && cfg.chunk < task.imagesPerStep ? cfg.chunk : 0;
  if (!wasm) return chunk;
  const largest = largestBatch(model.config, cfg.imageSize!, "train");
  if (chunk) {
    checkStepFits(model.config, cfg.imageSize!, chunk, "train", "lower the chunk size");
    return chunk;
  }
  if (task.imagesPerStep <= largest) return 0;
  if (largest === 0)
    checkStepFits(model.config, cfg.imageSize!, task.imagesPerStep, "train", `${cfg.name} cannot be computed in chunks; lower its batch`);
  return largest;
}

export async function trainLoop<B>(model: Model, task: TrainTask<B>, cfg: LoopConfig): Promise<LoopResult> {
  const group = cfg.group;
  if (group && cfg.chunk)
    throw new Error(
      `${cfg.name}: gradient-cache chunks (--chunk, train.chunk = ${cfg.chunk}) and data-parallel ranks do not combine yet: each rank already computes only its rows of the batch; drop the chunk size`,
    );
  const writes = !group || group.rank === 0;
  if (!writes) cfg = { ...cfg, quiet: true };
  const chunk = group ? 0 : chunkFor(model, task as TrainTask<unknown>, cfg);
  if (chunk && !cfg.quiet)
    console.log(
      `${cfg.name}: batch ${task.imagesPerStep} in chunks of ${chunk} (gradient cache${cfg.chunk ? "" : ": the whole batch does not fit the wasm heap"})`,
    );
  const ckpt = path.join(cfg.runDir, "checkpoint");
  const historyFile = path.join(cfg.runDir, "history.json");
  ensureDir(cfg.runDir);
  const opt = new Optimizer(cfg.optimizer);
  let start = 0;
  let history: HistoryRow[] = [];
  // A checkpoint made from other inputs (another dataset, init, config) is never resumed.
  const kept = cfg.inputs ? checkpointFreshness(ckpt, cfg.inputs) : undefined;
  const bestDir = path.join(cfg.runDir, "best");
  if (kept && !kept.fresh && writes) {
    console.log(`${cfg.name}: ${kept.why}; training from scratch`);
    fs.rmSync(ckpt, { recursive: true, force: true });
    fs.rmSync(bestDir, { recursive: true, force: true });
  }
  let scores: CheckpointSelection["scores"] = [];
  let selection: CheckpointSelection | undefined;
  if ((!kept || kept.fresh) && recoverCheckpoint(ckpt)) {
    const meta = readCheckpointMeta(ckpt);
    loadCheckpoint(ckpt, model, opt);
    start = meta.step;
    history = (meta.extra.history as HistoryRow[]) ?? [];
    scores = ((meta.extra.devScores as CheckpointSelection["scores"]) ?? []).filter((s) => s.step <= start);
    selection = meta.extra.selection as CheckpointSelection | undefined;
    if (!cfg.quiet) console.log(`${cfg.name}: resuming from step ${start} (${ckpt})`);
  }
  if (group) sameStartOnEveryRank(group, cfg.name, start, ckpt);
  let step = start;
  // The next PREFETCH batches decode (sharp, thread pool) while the current one trains; a rank
  // decodes only its rows of them. The loader's time is the wall time with a batch in flight.
  const rows = group ? rankRows(task.imagesPerStep, group.rank, group.size) : undefined;
  const loader = { images: 0, seconds: 0, waitSeconds: 0, inFlight: 0, busySince: 0 };
  const rowsPerStep = rows ? rows[1] - rows[0] : task.imagesPerStep;
  // Wall time with a batch in flight, the interval still open included.
  const loaderSeconds = () => loader.seconds + (loader.inFlight ? (Date.now() - loader.busySince) / 1000 : 0);
  const load = (s: number): Promise<B> => {
    if (loader.inFlight++ === 0) loader.busySince = Date.now();
    return task.batch(s, rows).finally(() => {
      loader.images += rowsPerStep;
      if (--loader.inFlight === 0) loader.seconds += (Date.now() - loader.busySince) / 1000;
    });
  };
  const queue: Promise<B>[] = [];
  let nextLoad = start;
  const prefetch = () => {
    while (queue.length < PREFETCH && nextLoad < cfg.steps) queue.push(load(nextLoad++));
  };
  prefetch();
  const save = () =>
    writes &&
    saveCheckpoint(ckpt, model, {
      step,
      optimizer: opt,
      extra: {
        history,
        name: cfg.name,
        engine: engineLabel(),
        inputs: cfg.inputs,
        ...(chunk ? { chunk } : {}),
        ...(replica ? { replicas: workers } : {}),
        ...(group ? { ranks: group.size } : {}),
        ...(cfg.select ? { devScores: scores } : {}),
        ...(selection ? { selection } : {}),
      },
    });
  // Score this step's model; a new best is kept aside (weights only) until the run ends.
  const scoreStep = async () => {
    const score = await cfg.select!.score(model);
    const best = scores.length ? bestScored(scores).score : -Infinity;
    scores.push({ step, score });
    if (score > best && writes) saveCheckpoint(bestDir, model, { step, extra: { score, inputs: cfg.inputs } });
  };
  // The native kernels already compute on every core (OpenBLAS threads) and measured faster in
  // one process than as two single-thread replicas; replicas are for the XNNPACK engine.
  const workers = projectKernelsOn() || group ? 1 : (cfg.workers ?? 1);
  const replica = workers > 1 && !chunk && start < cfg.steps && cfg.stopAfter !== 0 ? new Replica() : undefined;
  if (replica) await replica.init(model, opt, task.output ?? "embedding");
  const runStep = group
    ? dataParallelStep(model, opt, group, task.imagesPerStep, task.output)
    : stepRunner(model, opt, { chunk, replica, output: task.output });
  const bar = cfg.quiet ? undefined : new Progress({ label: cfg.name, total: cfg.steps - start, unit: "step" });
  const t0 = Date.now();
  let images = 0;
  const interrupt = listenForInterrupt();
  try {
    while (step < cfg.steps) {
      if (cfg.stopAfter !== undefined && step - start >= cfg.stopAfter) break;
      const tw = Date.now();
      const batch = await queue.shift()!;
      loader.waitSeconds += (Date.now() - tw) / 1000;
      prefetch();
      const ts = Date.now();
      const lr = learningRate(cfg, step);
      let lossValue = NaN;
      const parts: Record<string, number> = {};
      const guard = (loss: number) => {
        if (!Number.isFinite(loss))
          throw new NonFiniteLossError(
            `${cfg.name}: loss is ${loss} at step ${step}; batch: ${task.describe(batch)}. Lower the learning rate (now ${lr.toExponential(2)}) or check these images; the last checkpoint is in ${ckpt}.`,
          );
      };
      const x = task.images(batch);
      try {
        lossValue = await runStep(x, (z) => task.objective(z, batch), lr, guard, parts, task.noise?.(batch));
      } finally {
        x.dispose();
        task.dispose(batch);
      }
      step++;
      images += task.imagesPerStep;
      const rate = task.imagesPerStep / Math.max(1e-3, (Date.now() - ts) / 1000);
      history.push({ step, loss: lossValue, lr, imgPerSec: rate, ...parts });
      const loaderRate = loader.images / Math.max(1e-3, loaderSeconds());
      bar?.tick(1, `loss ${lossValue.toFixed(4)} ${rate.toFixed(1)} img/s (loader ${loaderRate.toFixed(0)})`);
      await cfg.onStep?.(history[history.length - 1], model);
      if (cfg.select && (step % cfg.select.every === 0 || step === cfg.steps)) await scoreStep();
      if (step % cfg.checkpointEvery === 0 || step === cfg.steps) save();
      // One turn of the event loop per step, so that a Ctrl-C (a libuv signal) is seen: loading
      // kept images resolves in microtasks alone, which never give the loop a turn.
      await new Promise((resolve) => setImmediate(resolve));
      // A data-parallel run stops on every rank at the same step (Ctrl-C reaches each process).
      const stop = group ? group.any(interrupt.requested()) : interrupt.requested();
      if (stop && step < cfg.steps) {
        if (step % cfg.checkpointEvery !== 0) save();
        if (writes) writeJsonAtomic(historyFile, history, 0);
        throw new InterruptedError(
          `${cfg.name}: interrupted at step ${step} of ${cfg.steps}; checkpoint saved (${ckpt}): ${inNotebook() ? "run the cell again" : "run again"} to resume`,
        );
      }
    }
  } finally {
    interrupt.stop();
    for (const p of queue) task.dispose(await p);
    opt.dispose();
    await replica?.terminate();
  }
  if (cfg.select && step === cfg.steps && !selection && scores.length && writes) {
    // The run's weights become the best-scored checkpoint's, recorded in the final checkpoint.
    const chosen = bestScored(scores);
    if (chosen.step !== step) loadCheckpoint(bestDir, model);
    selection = { scores, chosenStep: chosen.step };
    save();
    if (!cfg.quiet)
      console.log(
        `${cfg.name}: kept step ${chosen.step} of ${step}, the best on ${scores.length} scored checkpoints (${chosen.score.toFixed(4)})`,
      );
  }
  if (writes) writeJsonAtomic(historyFile, history, 0);
  if (group && step === cfg.steps) {
    // Every rank leaves with rank 0's model (the kept checkpoint's, when one was chosen) and
    // only once rank 0's files are written: a later step may read them on any rank.
    broadcastWeights(group, model);
    if (!writes) selection = readCheckpointMeta(ckpt).extra.selection as CheckpointSelection | undefined;
  }
  const seconds = (Date.now() - t0) / 1000;
  return {
    steps: step,
    resumedFrom: start,
    history,
    imgPerSec: images / Math.max(1e-3, seconds),
    seconds,
    loader: {
      imgPerSec: Math.round((10 * loader.images) / Math.max(1e-3, loaderSeconds())) / 10,
      waitSeconds: Math.round(10 * loader.waitSeconds) / 10,
    },
    ...(selection ? { selection } : {}),
  };
}
