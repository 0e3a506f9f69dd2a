// Step 3: the student, multi-task. Each batch is half product pairs (SupCon with mining, as
// the teacher) and half unlabeled images with the teacher's embeddings as targets:
//   loss = alpha * SupCon(pairs) + (1 - alpha) * SmoothL1(student(x), teacher(x))
// Both embeddings are unit vectors; they are compared scaled by sqrt(D) so that per-element
// differences are O(1) and Smooth L1's beta keeps its usual meaning.
// The student is the noised one, as in Noisy Student (Xie et al. 2020): the teacher labelled
// clean images, the student sees them with stronger augmentation (STUDENT_NOISE_AUGMENT) and
// with dropout on its embeddings (each element kept with probability 1 - dropout, scaled, then
// the embedding renormalised). The masks are drawn per step from the run's seed, so a resumed
// or chunked step draws the same ones.
import { tf } from "../engine/tf";
import { Profile, trainSeed } from "../config/profiles";
import { STUDENT_NOISE_AUGMENT } from "../data/images";
import { mixSeed, rngFrom } from "../data/rng";
import type { Model } from "../models/model";
import { forwardOf } from "./forward";
import { batchAt, loadBatch, rowsWithin } from "../data/loader";
import { Pair } from "../data/sets";
import { smoothL1Loss } from "../losses/regression";
import { TrainTask } from "./loop";
import { pairLossFromEmbeddings } from "./teacher";

export interface StudentBatch {
  pairs: tf.Tensor4D;
  pseudo: tf.Tensor4D;
  targets: tf.Tensor2D;
  /** [2N + M, D] dropout mask on the embeddings (0 or 1 / (1 - rate)); absent at rate 0. */
  dropMask?: tf.Tensor2D;
  files: string[];
}

/** Embedding dropout: z * mask, renormalised to unit length. */
export function dropEmbeddings(z: tf.Tensor2D, mask?: tf.Tensor2D): tf.Tensor2D {
  if (!mask) return z;
  return tf.tidy(() => {
    const d = tf.mul(z, mask);
    return tf.div(d, tf.maximum(tf.norm(d, 2, 1, true), 1e-12)) as tf.Tensor2D;
  });
}

function combineWith(s: Profile["train"]["student"], dim: number) {
  const scale = Math.sqrt(dim);
  return (contrastive: tf.Scalar, zs: tf.Tensor2D, targets: tf.Tensor2D) => {
    const regression = smoothL1Loss(tf.mul(zs, scale), tf.mul(targets, scale), s.beta);
    const loss = tf.add(tf.mul(contrastive, s.alpha), tf.mul(regression, 1 - s.alpha)) as tf.Scalar;
    return { loss, parts: { supcon: contrastive, smoothl1: regression } };
  };
}

export function studentTask(
  pairs: Pair[],
  pseudoFiles: string[],
  targets: { dim: number; data: Float32Array },
  profile: Profile,
): TrainTask<StudentBatch> {
  const s = profile.train.student;
  const n = Math.min(s.pairsPerBatch, pairs.length);
  const m = Math.min(s.pseudoPerBatch, pseudoFiles.length);
  const size = profile.imageSize;
  const seed = trainSeed(profile) + 1;
  const combine = combineWith(s, targets.dim);
  return {
    imagesPerStep: 2 * n + m,
    async batch(step, rows) {
      const pi = batchAt(pairs.length, n, seed, step);
      const ui = batchAt(pseudoFiles.length, m, seed + 7, step);
      const pairFiles = [...pi.map((i) => pairs[i].a), ...pi.map((i) => pairs[i].b)];
      const uFiles = ui.map((i) => pseudoFiles[i]);
      const [px, ux] = await Promise.all([
        loadBatch(pairFiles, { size, augment: STUDENT_NOISE_AUGMENT, seed }, step, rowsWithin(rows, 0, 2 * n)),
        loadBatch(uFiles, { size, augment: STUDENT_NOISE_AUGMENT, seed: seed + 7 }, step, rowsWithin(rows, 2 * n, m)),
      ]);
      const t = new Float32Array(m * targets.dim);
      ui.forEach((i, k) => t.set(targets.data.subarray(i * targets.dim, (i + 1) * targets.dim), k * targets.dim));
      return {
        pairs: px,
        pseudo: ux,
        targets: tf.tensor2d(t, [m, targets.dim]),
        dropMask: dropoutMask(2 * n + m, targets.dim, s.dropout, mixSeed(seed, "dropout", step)),
        files: [...pairFiles, ...uFiles],
      };
    },
    // Pairs and unlabeled images go through the network together (one batch for batch norm).
    images: (b) => tf.concat([b.pairs, b.pseudo], 0) as tf.Tensor4D,
    objective: (z, b) => {
      const [zp, zu] = tf.split(dropEmbeddings(z, b.dropMask), [2 * n, m], 0) as [tf.Tensor2D, tf.Tensor2D];
      return combine(pairLossFromEmbeddings(zp, n, { ...profile.train.teacher }), zu, b.targets);
    },
    describe: (b) => `${b.files.slice(0, 3).join(", ")} ... (${b.files.length} images)`,
    dispose: (b) => tf.dispose([b.pairs, b.pseudo, b.targets, ...(b.dropMask ? [b.dropMask] : [])]),
  };
}

/** A [rows, dim] inverted-dropout mask: 0 with probability `rate`, else 1 / (1 - rate). */
export function dropoutMask(rows: number, dim: number, rate: number, seed: number): tf.Tensor2D | undefined {
  if (rate <= 0) return undefined;
  const r = rngFrom(seed);
  const keep = 1 / (1 - rate);
  return tf.tensor2d(
    Float32Array.from({ length: rows * dim }, () => (r() < rate ? 0 : keep)),
    [rows, dim],
  );
}

/** The two terms' gradient norms with respect to the embeddings, unweighted, on one batch: how
 * far apart they are says what alpha does (logged by the dev sweep). */
export function termGradientNorms(model: Model, task: TrainTask<StudentBatch>, b: StudentBatch): { supcon: number; smoothl1: number } {
  return tf.tidy(() => {
    const z = forwardOf("embedding")(model, task.images(b), true);
    const norm = (part: string) => {
      const g = tf.grad((zz: tf.Tensor) => task.objective(zz as tf.Tensor2D, b).parts![part])(z);
      return tf.norm(g).dataSync()[0];
    };
    return { supcon: norm("supcon"), smoothl1: norm("smoothl1") };
  });
}
