// Step 1 of the method: the teacher. Batches of N product pairs, supervised contrastive loss
// where each pair is a class and the other pairs are the negatives, with hard negative mining.
import { tf } from "../engine/tf";
import { Profile, trainSeed } from "../config/profiles";
import { NOISY_STUDENT_AUGMENT } from "../data/images";
import { batchAt, loadBatch } from "../data/loader";
import { Pair } from "../data/sets";
import { hardNegativeMask } from "../losses/mining";
import { pairLabels, supConLoss } from "../losses/supcon";
import { embedForward, Model } from "../models/model";
import { TrainTask } from "./loop";

export interface PairBatch {
  x: tf.Tensor4D; // [2N, S, S, 3]: first views of N pairs, then their second views
  files: string[];
}

/** Pair batches in a seeded order; batch `step` is the same on every run. */
export function pairBatches(pairs: Pair[], n: number, size: number, seed: number): (step: number) => Promise<PairBatch> {
  return async (step) => {
    const indices = batchAt(pairs.length, n, seed, step);
    const files = [...indices.map((i) => pairs[i].a), ...indices.map((i) => pairs[i].b)];
    return { x: await loadBatch(files, { size, augment: NOISY_STUDENT_AUGMENT, seed }, step), files };
  };
}

/** SupCon with mining on one batch of pairs. */
export function pairLoss(model: Model, x: tf.Tensor4D, n: number, t: Profile["train"]["teacher"]): tf.Scalar {
  return pairLossFromEmbeddings(embedForward(model, x, true), n, t);
}

/** The same from embeddings z [2n, D] (first views, then second views). */
export function pairLossFromEmbeddings(z: tf.Tensor2D, n: number, t: Profile["train"]["teacher"]): tf.Scalar {
  const labels = pairLabels(n);
  const mask = t.hardRatio < 1 ? tf.tidy(() => hardNegativeMask(z, labels, t.hardRatio)) : undefined;
  const loss = supConLoss(z, labels, { temperature: t.temperature, baseTemperature: t.baseTemperature, negativeMask: mask });
  mask?.dispose();
  return loss;
}

export function teacherTask(pairs: Pair[], profile: Profile): TrainTask<PairBatch> {
  const t = profile.train.teacher;
  const n = Math.min(t.pairsPerBatch, pairs.length);
  return {
    imagesPerStep: 2 * n,
    batch: pairBatches(pairs, n, profile.imageSize, trainSeed(profile)),
    loss: (model, b) => ({ loss: pairLoss(model, b.x, n, t) }),
    // Data-parallel form (the caller owns the returned tensor; clone shares the data).
    embedding: { images: (b) => tf.clone(b.x), loss: (z) => ({ loss: pairLossFromEmbeddings(z, n, t) }) },
    describe: (b) => `${b.files.slice(0, 4).join(", ")}${b.files.length > 4 ? ` ... (${b.files.length} images)` : ""}`,
    dispose: (b) => b.x.dispose(),
  };
}
