// Smooth L1 (Huber with beta), as torch.nn.functional.smooth_l1_loss with reduction "mean":
//   l(x) = 0.5 x^2 / beta   if |x| < beta,   |x| - 0.5 beta   otherwise;   beta = 0 is plain L1.
import { tf } from "../engine/tf";

export function smoothL1Loss(pred: tf.Tensor, target: tf.Tensor, beta = 1): tf.Scalar {
  return tf.tidy(() => {
    const a = tf.abs(tf.sub(pred, target));
    if (beta === 0) return tf.mean(a) as tf.Scalar;
    // With m = min(|x|, beta): 0.5 m^2 / beta + (|x| - m) is both branches at once, and
    // differentiable everywhere tfjs needs it (tf.where's condition has no gradient).
    const m = tf.minimum(a, beta);
    return tf.mean(tf.add(tf.div(tf.mul(tf.square(m), 0.5), beta), tf.sub(a, m))) as tf.Scalar;
  });
}
