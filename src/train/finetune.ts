// The paper's baselines: the whole network fine-tuned as a classifier on the one-shot training
// images (one packshot per class, augmented), with a GAP head, an LCA head, or LCA + MaxEnt.
import { tf } from "../engine/tf";
import { Profile, trainSeed } from "../config/profiles";
import { TRAIN_AUGMENT } from "../data/images";
import { loadBatch } from "../data/loader";
import { OneShot } from "../data/sets";
import { mixSeed, rngFrom } from "../data/rng";
import { crossEntropyLoss, maxEntLoss } from "../losses/classification";
import { TrainTask } from "./loop";

/** The fine-tune baselines: their pooling and loss, their row in the paper's tables (`label`)
 * and their name in the findings (`short`). */
export const FINETUNE_VARIANTS = {
  gap: { pooling: "gap" as const, maxEnt: false, label: "ResNeXt fine-tuned", short: "fine-tuned GAP" },
  lca: { pooling: "lca" as const, maxEnt: false, label: "+ LCA layer", short: "+ LCA" },
  "lca-maxent": { pooling: "lca" as const, maxEnt: true, label: "+ LCA + MaxEnt loss", short: "+ LCA + MaxEnt" },
};
export type FinetuneVariant = keyof typeof FINETUNE_VARIANTS;

export interface ClassBatch {
  x: tf.Tensor4D;
  labels: Int32Array;
  files: string[];
}

/** `gamma`: MaxEnt's weight (the profile's unless a sweep chose another). */
export function finetuneTask(
  data: OneShot,
  variant: FinetuneVariant,
  profile: Profile,
  gamma = profile.train.finetune.gamma,
): TrainTask<ClassBatch> {
  const f = profile.train.finetune;
  const v = FINETUNE_VARIANTS[variant];
  const n = data.train.files.length;
  const lossFromLogits = (logits: tf.Tensor2D, labels: Int32Array) => ({
    loss: v.maxEnt ? maxEntLoss(logits, labels, gamma) : crossEntropyLoss(logits, labels),
  });
  return {
    imagesPerStep: f.batch,
    async batch(step, rows) {
      // Sampled with replacement: there is one image per class, and many augmentations of it.
      const r = rngFrom(mixSeed(trainSeed(profile), "finetune", step));
      const idx = Array.from({ length: f.batch }, () => Math.floor(r() * n));
      const files = idx.map((i) => data.train.files[i]);
      return {
        x: await loadBatch(files, { size: profile.imageSize, augment: TRAIN_AUGMENT, seed: trainSeed(profile) }, step, rows),
        labels: Int32Array.from(idx.map((i) => data.train.labels[i])),
        files,
      };
    },
    output: "logits",
    images: (b) => tf.clone(b.x),
    objective: (logits, b) => lossFromLogits(logits, b.labels),
    describe: (b) => b.files.slice(0, 4).join(", "),
    dispose: (b) => b.x.dispose(),
  };
}
