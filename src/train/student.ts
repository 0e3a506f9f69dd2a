// Step 3: the student, multi-task. Each batch is half product pairs (SupCon with mining, as
// the teacher) and half unlabeled images with the teacher's embeddings as targets:
//   loss = alpha * SupCon(pairs) + (1 - alpha) * SmoothL1(student(x), teacher(x))
// Both embeddings are unit vectors; they are compared scaled by sqrt(D) so that per-element
// differences are O(1) and Smooth L1's beta keeps its usual meaning.
// The student is the noised one, as in Noisy Student (Xie et al. 2020): the teacher labelled
// clean images; the student sees them through RandAugment on top of the teacher's augmentation
// (data/randaugment.ts) and with noise inside its network, stochastic depth in every block and
// dropout before its last 1x1 conv (models/noise.ts). Every mask and operation is drawn from the
// run's seed and the step, so a resumed or chunked step draws the same ones.
import { tf } from "../engine/tf";
import { Profile, trainSeed } from "../config/profiles";
import { studentNoiseAugment } from "../data/images";
import { mixSeed } from "../data/rng";
import type { Model } from "../models/model";
import type { ModelNoise } from "../models/noise";
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
  /** The step's noise inside the network; absent when the profile sets none. */
  noise?: ModelNoise;
  files: string[];
}

/** Step `step`'s noise inside the network, from the run's `seed`. */
export function studentNoise(s: Profile["train"]["student"], seed: number, step: number): ModelNoise | undefined {
  return s.dropPath > 0 || s.dropout > 0 ? { dropPath: s.dropPath, dropout: s.dropout, seed: mixSeed(seed, "noise", step) } : undefined;
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
  const augment = studentNoiseAugment(s.randAugment);
  return {
    imagesPerStep: 2 * n + m,
    async batch(step, rows) {
      const pi = batchAt(pairs.length, n, seed, step);
      const ui = batchAt(pseudoFiles.length, m, seed + 7, step);
      const pairFiles = [...pi.map((i) => pairs[i].a), ...pi.map((i) => pairs[i].b)];
      const uFiles = ui.map((i) => pseudoFiles[i]);
      const [px, ux] = await Promise.all([
        loadBatch(pairFiles, { size, augment, seed }, step, rowsWithin(rows, 0, 2 * n)),
        loadBatch(uFiles, { size, augment, seed: seed + 7 }, step, rowsWithin(rows, 2 * n, m)),
      ]);
      const t = new Float32Array(m * targets.dim);
      ui.forEach((i, k) => t.set(targets.data.subarray(i * targets.dim, (i + 1) * targets.dim), k * targets.dim));
      return {
        pairs: px,
        pseudo: ux,
        targets: tf.tensor2d(t, [m, targets.dim]),
        noise: studentNoise(s, seed, step),
        files: [...pairFiles, ...uFiles],
      };
    },
    // Pairs and unlabeled images go through the network together (one batch for batch norm).
    images: (b) => tf.concat([b.pairs, b.pseudo], 0) as tf.Tensor4D,
    noise: (b) => b.noise,
    objective: (z, b) => {
      const [zp, zu] = tf.split(z, [2 * n, m], 0) as [tf.Tensor2D, tf.Tensor2D];
      return combine(pairLossFromEmbeddings(zp, n, { ...profile.train.teacher }), zu, b.targets);
    },
    describe: (b) => `${b.files.slice(0, 3).join(", ")} ... (${b.files.length} images)`,
    dispose: (b) => tf.dispose([b.pairs, b.pseudo, b.targets]),
  };
}

/** The two terms' gradient norms with respect to the embeddings, unweighted, on one batch: how
 * far apart they are says what alpha does (logged by the dev sweep). */
export function termGradientNorms(model: Model, task: TrainTask<StudentBatch>, b: StudentBatch): { supcon: number; smoothl1: number } {
  return tf.tidy(() => {
    const z = forwardOf("embedding")(model, task.images(b), true, task.noise?.(b));
    const norm = (part: string) => {
      const g = tf.grad((zz: tf.Tensor) => task.objective(zz as tf.Tensor2D, b).parts![part])(z);
      return tf.norm(g).dataSync()[0];
    };
    return { supcon: norm("supcon"), smoothl1: norm("smoothl1") };
  });
}
