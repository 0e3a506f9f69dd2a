// Classification losses for the fine-tune baselines.
//   cross-entropy:  CE = mean_i -log softmax(logits_i)[y_i]
//   MaxEnt:         CE - gamma * mean_i H(softmax(logits_i)),  H(p) = -sum_c p_c log p_c
// (maximum-entropy regularisation: penalises over-confident predictions on one-shot data).
import { tf } from "../engine/tf";

export function crossEntropyLoss(logits: tf.Tensor2D, labels: Int32Array): tf.Scalar {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits);
    const onehot = tf.oneHot(tf.tensor1d(labels, "int32"), logits.shape[1]);
    return tf.neg(tf.mean(tf.sum(tf.mul(onehot, logp), 1))) as tf.Scalar;
  });
}

export function entropy(logits: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits);
    return tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), 1)) as tf.Tensor1D;
  });
}

export function maxEntLoss(logits: tf.Tensor2D, labels: Int32Array, gamma: number): tf.Scalar {
  return tf.tidy(() => tf.sub(crossEntropyLoss(logits, labels), tf.mul(tf.mean(entropy(logits)), gamma)) as tf.Scalar);
}
