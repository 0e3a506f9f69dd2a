// One training batch taken apart, for someone learning the method step by step (02-teacher,
// 03-pseudolabels-student, 04-finetune-baselines): the images, the embeddings (or feature map and
// logits), the similarity matrix, the positives, the negatives the miner keeps, each anchor's
// loss, and what one optimiser step does to the loss on that batch. Everything is computed the way
// the training step computes it (the stage's task and the loop's local step runner), so a notebook
// can write the loss out from the raw embeddings and compare it with the step's own value.
import { tf } from "../engine/tf";
import { Profile } from "../config/profiles";
import { datasetDirOf } from "../data/generate";
import { filesOf, oneShotOf, pairsOf } from "../data/sets";
import { contrastMasks, pairLabels } from "../losses/supcon";
import { embedForward, Model } from "../models/model";
import type { ModelNoise } from "../models/noise";
import { backboneForward } from "../models/resnext";
import { pool } from "../models/heads";
import { withoutRunningStatUpdates } from "../models/layers";
import type { TrainTask } from "./loop";
import { forwardOf } from "./forward";
import { stepRunner } from "./step-runners";
import { Optimizer, OptimizerConfig } from "./optimizer";
import { pairContrast, teacherTask } from "./teacher";
import { studentTask } from "./student";
import { FINETUNE_VARIANTS, FinetuneVariant, finetuneTask } from "./finetune";

export interface BatchAnatomy {
  /** [2N]: the first views of N pairs, then their second views. */
  files: string[];
  /** [2N] pair ids: i and i + N are a positive pair. */
  labels: Int32Array;
  /** [2N, D] row-major: the L2-normalised embeddings the loss sees (training mode). */
  embeddings: Float32Array;
  dim: number;
  /** [2N][2N] z_i . z_j, the cosine similarity (z is L2-normalised). */
  similarity: number[][];
  /** [2N][2N] 1 where j is a positive of anchor i. */
  positives: number[][];
  /** [2N][2N] 1 where negative j stays in anchor i's denominator after mining. */
  keptNegatives: number[][];
  /** [2N] each anchor's (t / t_base) * l_i. */
  perAnchor: number[];
  /** The batch's loss, the mean of perAnchor: what the training step minimises. */
  loss: number;
  /** The same batch's loss after one optimiser step at learning rate `lr`. */
  lossAfterStep: number;
  lr: number;
}

/** A [n x n] row-major matrix as rows. */
const rows = (flat: ArrayLike<number>, n: number): number[][] =>
  Array.from({ length: flat.length / n }, (_, i) => Array.from({ length: n }, (_, j) => flat[i * n + j]));

interface Measured {
  loss: number;
  parts: Record<string, number>;
}

/** One step of the training loop's own local kind (step-runners.ts) on the task's batch, with a
 * fresh optimiser at its base learning rate and no warm-up: the loss and its parts before the
 * step, and recomputed after it on the same images. */
async function oneStep<B>(
  model: Model,
  optimizer: OptimizerConfig,
  task: TrainTask<B>,
  batch: B,
): Promise<{ before: Measured; after: Measured }> {
  const opt = new Optimizer(optimizer);
  const x = task.images(batch);
  try {
    const parts: Record<string, number> = {};
    const loss = await stepRunner(model, opt, { chunk: 0, output: task.output })(
      x,
      (z) => task.objective(z, batch),
      optimizer.lr,
      () => undefined,
      parts,
      task.noise?.(batch),
    );
    // After the step: the same images under the same noise.
    const after = tf.tidy(() => {
      const out = task.objective(forwardOf(task.output ?? "embedding")(model, x, true, task.noise?.(batch)), batch);
      return {
        loss: out.loss.dataSync()[0],
        parts: Object.fromEntries(Object.entries(out.parts ?? {}).map(([k, v]) => [k, v.dataSync()[0]])),
      };
    });
    return { before: { loss, parts }, after };
  } finally {
    x.dispose();
    opt.dispose();
  }
}

/** Batch `step` of the teacher's training (the loop's own batch: teacherTask), taken apart on
 * `model`, which then takes one optimiser step on it: pass a model you can spend. */
export async function teacherBatchAnatomy(profile: Profile, model: Model, optimizer: OptimizerConfig, step = 0): Promise<BatchAnatomy> {
  const t = profile.train.teacher;
  const task = teacherTask(pairsOf(datasetDirOf(profile, "teacher-pairs")), profile);
  const batch = await task.batch(step);
  const B = batch.x.shape[0];
  const labels = pairLabels(B / 2);
  const masks = contrastMasks(labels);
  try {
    // Training mode, as in the step: batch norm uses this batch's statistics.
    const parts = tf.tidy(() => {
      const z = embedForward(model, batch.x, true);
      const { mask, perAnchor } = pairContrast(z, B / 2, t);
      const allNegatives = tf.tensor2d(masks.negatives, [B, B]);
      return { z, sim: tf.matMul(z, z, false, true), kept: mask ? tf.mul(mask, allNegatives) : allNegatives, perAnchor };
    });
    const [sim, kept, perAnchor] = [parts.sim.dataSync(), parts.kept.dataSync(), Array.from(parts.perAnchor.dataSync())];
    const [embeddings, dim] = [parts.z.dataSync() as Float32Array, parts.z.shape[1]];
    tf.dispose(parts);

    const step1 = await oneStep(model, optimizer, task, batch);
    const [loss, lossAfterStep] = [step1.before.loss, step1.after.loss];

    return {
      files: batch.files,
      labels,
      embeddings,
      dim,
      similarity: rows(sim, B),
      positives: rows(masks.positives, B),
      keptNegatives: rows(kept, B),
      perAnchor,
      loss,
      lossAfterStep,
      lr: optimizer.lr,
    };
  } finally {
    task.dispose(batch);
  }
}

export interface LossParts {
  /** alpha * supcon + (1 - alpha) * smoothl1: what the student's step minimises. */
  loss: number;
  supcon: number;
  smoothl1: number;
}

export interface StudentBatchAnatomy {
  /** [2N]: first views of N pairs, then their second views. */
  pairFiles: string[];
  /** [M]: unlabeled images whose targets are the teacher's embeddings (the pseudolabels). */
  pseudoFiles: string[];
  alpha: number;
  /** [2N + M, D] row-major: the student's embeddings of the batch as its step computes them
   * (training mode, under `noise`), pairs first: what the objective sees. */
  embeddings: Float32Array;
  /** [2N + M, D] the same images' embeddings without the noise inside the network. */
  cleanEmbeddings: Float32Array;
  dim: number;
  /** The step's noise inside the network (models/noise.ts); absent when the profile sets none. */
  noise?: ModelNoise;
  /** [M, D] the pseudolabels of the unlabeled images: the teacher's clean embeddings. */
  targets: Float32Array;
  /** [M] cos(student embedding, teacher pseudolabel) per unlabeled image: 1 is a perfect copy. */
  targetCosine: number[];
  before: LossParts;
  /** The same batch after one optimiser step at learning rate `lr`. */
  after: LossParts;
  lr: number;
}

/** Batch `step` of the student's training (pairs half, pseudo-labelled images half) taken apart
 * on `model`, which then takes one optimiser step on it: pass a model you can spend. */
export async function studentBatchAnatomy(
  profile: Profile,
  model: Model,
  targets: { dim: number; data: Float32Array },
  optimizer: OptimizerConfig,
  step = 0,
): Promise<StudentBatchAnatomy> {
  const pairs = pairsOf(datasetDirOf(profile, "teacher-pairs"));
  const { files } = filesOf(datasetDirOf(profile, "student-pseudo"));
  const task = studentTask(pairs, files, targets, profile);
  const b = await task.batch(step);
  const n = b.pairs.shape[0] / 2;
  try {
    // The student's embeddings as its step computes them: pairs and unlabeled images in one pass.
    // Batch norm takes this batch's statistics, as in the step, but its running estimates wait for the step.
    const seen = withoutRunningStatUpdates(() =>
      tf.tidy(() => {
        const x = task.images(b);
        const z = embedForward(model, x, true, task.noise?.(b));
        return { z, clean: embedForward(model, x, true), cos: tf.sum(tf.mul(tf.slice(z, [2 * n, 0], [-1, -1]), b.targets), 1) };
      }),
    );
    const targetCosine = Array.from(seen.cos.dataSync());
    const [embeddings, cleanEmbeddings, dim] = [seen.z.dataSync() as Float32Array, seen.clean.dataSync() as Float32Array, seen.z.shape[1]];
    tf.dispose(seen);
    const step1 = await oneStep(model, optimizer, task, b);
    const parts = (p: Measured): LossParts => ({ loss: p.loss, supcon: p.parts.supcon, smoothl1: p.parts.smoothl1 });
    const [before, after] = [parts(step1.before), parts(step1.after)];
    return {
      pairFiles: b.files.slice(0, 2 * n),
      pseudoFiles: b.files.slice(2 * n),
      alpha: profile.train.student.alpha,
      embeddings,
      cleanEmbeddings,
      dim,
      noise: task.noise?.(b),
      targets: b.targets.dataSync() as Float32Array,
      targetCosine,
      before,
      after,
      lr: optimizer.lr,
    };
  } finally {
    task.dispose(b);
  }
}

export interface FinetuneBatchAnatomy {
  files: string[];
  /** [N] class ids. */
  labels: Int32Array;
  /** The backbone's final feature map of the batch, [N, H, W, C] row-major (training mode). */
  featureMap: Float32Array;
  mapShape: [number, number, number, number];
  /** [N, C] the model's own pooling of that map: LCA or GAP, by the variant. */
  pooled: Float32Array;
  /** [N, K] class logits. */
  logits: Float32Array;
  classes: number;
  /** MaxEnt's weight on the entropy, and whether this variant uses it. */
  gamma: number;
  maxEnt: boolean;
  /** The objective the fine-tune's step minimises on this batch (cross-entropy, or MaxEnt's). */
  loss: number;
}

/** Batch `step` of a fine-tune's training on `set` (the variant's own task) through `model`, a
 * classifier of that set's classes, taken apart: no step is taken, `model` is left as it was. */
export async function finetuneBatchAnatomy(
  profile: Profile,
  model: Model,
  set: string,
  variant: FinetuneVariant,
  step = 0,
  gamma = profile.train.finetune.gamma,
): Promise<FinetuneBatchAnatomy> {
  const data = oneShotOf(datasetDirOf(profile, set));
  if (model.config.classes !== data.classes)
    throw new Error(`finetuneBatchAnatomy: the model classifies ${model.config.classes} classes, ${set} has ${data.classes}`);
  const task = finetuneTask(data, variant, profile, gamma);
  const b = await task.batch(step);
  try {
    // Batch norm uses this batch's statistics, as in the step, but its running estimates stay.
    const out = withoutRunningStatUpdates(() =>
      tf.tidy(() => {
        const F = backboneForward(model.params, model.backbone, b.x, true);
        // The logits through the step's own forward, not rebuilt from F: what training computes.
        const logits = forwardOf("logits")(model, b.x, true);
        return { F, pooled: pool(model.config.pooling, F), logits, loss: task.objective(logits, b).loss };
      }),
    );
    const [N, H, W, C] = out.F.shape as [number, number, number, number];
    const result: FinetuneBatchAnatomy = {
      files: b.files,
      labels: b.labels,
      featureMap: out.F.dataSync() as Float32Array,
      mapShape: [N, H, W, C],
      pooled: out.pooled.dataSync() as Float32Array,
      logits: out.logits.dataSync() as Float32Array,
      classes: model.config.classes,
      gamma,
      maxEnt: FINETUNE_VARIANTS[variant].maxEnt,
      loss: out.loss.dataSync()[0],
    };
    tf.dispose(out);
    return result;
  } finally {
    task.dispose(b);
  }
}
