// Classification losses for the fine-tune baselines and weakly supervised pretraining.
//   cross-entropy:  CE = mean_i -log softmax(logits_i)[y_i]
//   MaxEnt:         CE - gamma * mean_i H(softmax(logits_i)),  H(p) = -sum_c p_c log p_c
// (maximum-entropy regularisation: penalises over-confident predictions on one-shot data).
//   hashtags:       mean_i -sum_c q_ic log softmax(logits_i)_c,  q_i = 1/k_i on image i's k_i tags
// (WSL's multi-label loss: Mahajan et al. 2018 found softmax against the normalised tag vector
// better than per-tag sigmoids).
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

/** logits [N, V]; tags[i] = the vocabulary indices of image i's tags (at least one). */
export function hashtagLoss(logits: tf.Tensor2D, tags: number[][]): tf.Scalar {
  const [n, v] = logits.shape;
  const q = new Float32Array(n * v);
  tags.forEach((t, i) => {
    if (t.length === 0) throw new Error(`hashtagLoss: image ${i} has no tags`);
    for (const c of t) q[i * v + c] += 1 / t.length;
  });
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(tf.tensor2d(q, [n, v]), tf.logSoftmax(logits)), 1))) as tf.Scalar);
}
