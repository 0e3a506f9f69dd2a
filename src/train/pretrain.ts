// Step 0: the pretrained start, a stand-in for ResNeXt-WSL. The paper's backbone was trained
// weakly supervised on Instagram photos and their hashtags before anything else; here the
// backbone (GAP + a linear layer over the tag vocabulary) learns from the pretraining corpus's
// noisy hashtags. Only the backbone is kept: the teacher, the student and the fine-tune
// baselines put their own heads on it.
import { tf } from "../engine/tf";
import { Profile, trainSeed } from "../config/profiles";
import { TRAIN_AUGMENT } from "../data/images";
import { batchAt, loadBatch } from "../data/loader";
import { hashtagLoss } from "../losses/classification";
import { TrainTask } from "./loop";

export interface TaggedImages {
  files: string[];
  tags: number[][];
  vocabulary: string[];
}

export interface TagBatch {
  x: tf.Tensor4D;
  tags: number[][];
  files: string[];
}

export function pretrainTask(data: TaggedImages, profile: Profile): TrainTask<TagBatch> {
  const p = profile.train.pretrain;
  const n = Math.min(p.batch, data.files.length);
  const seed = trainSeed(profile) + 11;
  return {
    imagesPerStep: n,
    async batch(step, rows) {
      const idx = batchAt(data.files.length, n, seed, step);
      const files = idx.map((i) => data.files[i]);
      return {
        x: await loadBatch(files, { size: profile.imageSize, augment: TRAIN_AUGMENT, seed }, step, rows),
        tags: idx.map((i) => data.tags[i]),
        files,
      };
    },
    output: "logits",
    images: (b) => tf.clone(b.x),
    objective: (logits, b) => ({ loss: hashtagLoss(logits, b.tags) }),
    describe: (b) => b.files.slice(0, 4).join(", "),
    dispose: (b) => b.x.dispose(),
  };
}
