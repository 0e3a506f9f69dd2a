// Step 1 of the method: the teacher. Batches of N product pairs, supervised contrastive loss
// where each pair is a class and the other pairs are the negatives, with hard negative mining.
import { tf } from "../engine/tf";
import { Profile, trainSeed } from "../config/profiles";
import { TRAIN_AUGMENT } from "../data/images";
import { batchAt, loadBatch, Rows } from "../data/loader";
import { Pair } from "../data/sets";
import { hardNegativeMask } from "../losses/mining";
import { pairLabels, supConMean, supConPerAnchor } from "../losses/supcon";
import { TrainTask } from "./loop";

export interface PairBatch {
  x: tf.Tensor4D; // [2N, S, S, 3]: first views of N pairs, then their second views (or a rank's rows of them)
  files: string[];
}

/** Pair batches in a seeded order; batch `step` is the same on every run. */
export function pairBatches(pairs: Pair[], n: number, size: number, seed: number): (step: number, rows?: Rows) => Promise<PairBatch> {
  return async (step, rows) => {
    const indices = batchAt(pairs.length, n, seed, step);
    const files = [...indices.map((i) => pairs[i].a), ...indices.map((i) => pairs[i].b)];
    return { x: await loadBatch(files, { size, augment: TRAIN_AUGMENT, seed }, step, rows), files };
  };
}

/** In-batch false negatives: pairs of one product in a batch, each the other's negative (the
 * loss labels by pair), averaged over the first `steps` batches the teacher trains on. */
export function falseNegativesPerBatch(pairs: Pair[], n: number, seed: number, steps: number): number {
  let total = 0;
  for (let step = 0; step < steps; step++) {
    const count = new Map<number, number>();
    for (const i of batchAt(pairs.length, n, seed, step)) count.set(pairs[i].product, (count.get(pairs[i].product) ?? 0) + 1);
    for (const c of count.values()) total += (c * (c - 1)) / 2;
  }
  return total / Math.max(1, steps);
}

/** The teacher's objective taken apart, on the embeddings z [2n, D] of n pairs (first views,
 * then second views): each pair is a class, every other image a negative; the miner's mask of
 * the negatives it keeps (none with hardRatio 1) and SupCon's terms per anchor. The caller
 * disposes them. */
export function pairContrast(
  z: tf.Tensor2D,
  n: number,
  t: Profile["train"]["teacher"],
): { mask?: tf.Tensor2D; perAnchor: tf.Tensor1D; hasPos: tf.Tensor1D } {
  const labels = pairLabels(n);
  const mask = t.hardRatio < 1 ? tf.tidy(() => hardNegativeMask(z, labels, t.hardRatio)) : undefined;
  return { mask, ...supConPerAnchor(z, labels, { temperature: t.temperature, baseTemperature: t.baseTemperature, negativeMask: mask }) };
}

/** SupCon with hard negative mining on the pairs' embeddings: the teacher's loss. */
export function pairLossFromEmbeddings(z: tf.Tensor2D, n: number, t: Profile["train"]["teacher"]): tf.Scalar {
  return tf.tidy(() => supConMean(pairContrast(z, n, t)));
}

export function teacherTask(pairs: Pair[], profile: Profile): TrainTask<PairBatch> {
  const t = profile.train.teacher;
  const n = Math.min(t.pairsPerBatch, pairs.length);
  return {
    imagesPerStep: 2 * n,
    batch: pairBatches(pairs, n, profile.imageSize, trainSeed(profile)),
    // The caller owns the returned tensor; clone shares the data.
    images: (b) => tf.clone(b.x),
    objective: (z) => ({ loss: pairLossFromEmbeddings(z, n, t) }),
    describe: (b) => `${b.files.slice(0, 4).join(", ")}${b.files.length > 4 ? ` ... (${b.files.length} images)` : ""}`,
    dispose: (b) => b.x.dispose(),
  };
}
