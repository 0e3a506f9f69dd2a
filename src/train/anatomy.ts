// One training batch taken apart, for someone learning the method step by step (02-teacher,
// 03-pseudolabels-student): the images, the similarity matrix, the positives, the negatives the
// miner keeps, each anchor's loss, and what one optimiser step does to the loss on that batch.
// Everything is computed the way the training step computes it (train/teacher.ts, student.ts).
import { tf } from "../engine/tf";
import { Profile, trainSeed } from "../config/profiles";
import { datasetDir } from "../data/generate";
import { filesOf, pairsOf } from "../data/sets";
import { hardNegativeMask } from "../losses/mining";
import { contrastMasks, pairLabels, supConPerAnchor } from "../losses/supcon";
import { embedForward, Model } from "../models/model";
import { paramGrads } from "../models/params";
import { Optimizer, OptimizerConfig } from "./optimizer";
import { pairBatches, pairLoss } from "./teacher";
import { studentTask } from "./student";

export interface BatchAnatomy {
  /** [2N]: the first views of N pairs, then their second views. */
  files: string[];
  /** [2N] pair ids: i and i + N are a positive pair. */
  labels: Int32Array;
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

const rows = (flat: ArrayLike<number>, n: number): number[][] => Array.from({ length: flat.length / n }, (_, i) => Array.from(flat).slice(i * n, (i + 1) * n));

/** Batch `step` of the teacher's training (the same images the loop sees at that step), taken
 * apart on `model`, which then takes one optimiser step on it: pass a model you can spend. */
export async function teacherBatchAnatomy(profile: Profile, model: Model, optimizer: OptimizerConfig, step = 0): Promise<BatchAnatomy> {
  const t = profile.train.teacher;
  const pairs = pairsOf(datasetDir("teacher-pairs", profile.name));
  const n = Math.min(t.pairsPerBatch, pairs.length);
  const batch = await pairBatches(pairs, n, profile.imageSize, trainSeed(profile))(step);
  const labels = pairLabels(n);
  try {
    // Training mode, as in the step: batch norm uses this batch's statistics.
    const parts = tf.tidy(() => {
      const z = embedForward(model, batch.x, true);
      const mask = t.hardRatio < 1 ? hardNegativeMask(z, labels, t.hardRatio) : undefined;
      const { perAnchor } = supConPerAnchor(z, labels, { temperature: t.temperature, baseTemperature: t.baseTemperature, negativeMask: mask });
      const allNegatives = tf.tensor2d(contrastMasks(labels, labels).negatives, [2 * n, 2 * n]);
      return { sim: tf.matMul(z, z, false, true), kept: mask ? tf.mul(mask, allNegatives) : allNegatives, perAnchor };
    });
    const [sim, kept, perAnchor] = [parts.sim.dataSync(), parts.kept.dataSync(), Array.from(parts.perAnchor.dataSync())];
    tf.dispose(parts);

    const opt = new Optimizer(optimizer);
    const { value, grads } = paramGrads(model.params, () => pairLoss(model, batch.x, n, t));
    const loss = value.dataSync()[0];
    opt.apply(model.params, grads, optimizer.lr);
    tf.dispose([value, ...Object.values(grads)]);
    opt.dispose();
    const lossAfterStep = tf.tidy(() => pairLoss(model, batch.x, n, t).dataSync()[0]);

    return {
      files: batch.files,
      labels,
      similarity: rows(sim, 2 * n),
      positives: rows(contrastMasks(labels, labels).positives, 2 * n),
      keptNegatives: rows(kept, 2 * n),
      perAnchor,
      loss,
      lossAfterStep,
      lr: optimizer.lr,
    };
  } finally {
    batch.x.dispose();
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
  /** [M] cos(student embedding, teacher pseudolabel) per unlabeled image: 1 is a perfect copy. */
  targetCosine: number[];
  before: LossParts;
  /** The same batch after one optimiser step at learning rate `lr`. */
  after: LossParts;
  lr: number;
}

/** Batch `step` of the student's training (pairs half, pseudo-labelled images half) taken apart
 * on `model`, which then takes one optimiser step on it: pass a model you can spend. */
export async function studentBatchAnatomy(profile: Profile, model: Model, targets: { dim: number; data: Float32Array }, optimizer: OptimizerConfig, step = 0): Promise<StudentBatchAnatomy> {
  const pairs = pairsOf(datasetDir("teacher-pairs", profile.name));
  const { files } = filesOf(datasetDir("student-pseudo", profile.name));
  const task = studentTask(pairs, files, targets, profile);
  const b = await task.batch(step);
  const n = b.pairs.shape[0] / 2;
  const measure = (): LossParts => {
    const [loss, supcon, smoothl1] = tf.tidy(() => {
      const { loss, parts } = task.loss(model, b);
      return [loss.dataSync()[0], parts!.supcon.dataSync()[0], parts!.smoothl1.dataSync()[0]];
    });
    return { loss, supcon, smoothl1 };
  };
  try {
    const cos = tf.tidy(() => tf.sum(tf.mul(embedForward(model, b.pseudo, true), b.targets), 1));
    const targetCosine = Array.from(cos.dataSync());
    cos.dispose();
    const before = measure();
    const opt = new Optimizer(optimizer);
    const { value, grads } = paramGrads(model.params, () => task.loss(model, b).loss);
    opt.apply(model.params, grads, optimizer.lr);
    tf.dispose([value, ...Object.values(grads)]);
    opt.dispose();
    return { pairFiles: b.files.slice(0, 2 * n), pseudoFiles: b.files.slice(2 * n), alpha: profile.train.student.alpha, targetCosine, before, after: measure(), lr: optimizer.lr };
  } finally {
    task.dispose(b);
  }
}
