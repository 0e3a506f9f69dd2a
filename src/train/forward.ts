// Which output of the model a step trains through (the embedding, the classifier's logits, or the
// pooled features) and the forward pass that gives it: the step runners share the choice.
import { embedForward, features, logitsForward, Model } from "../models/model";
import type { tf } from "../engine/tf";
import type { ModelNoise } from "../models/noise";

export type Output = "embedding" | "logits" | "features";

export type Forward = (m: Model, x: tf.Tensor4D, training: boolean, noise?: ModelNoise) => tf.Tensor2D;

export function forwardOf(output: Output): Forward {
  return output === "logits" ? logitsForward : output === "features" ? features : embedForward;
}
