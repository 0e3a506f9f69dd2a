// Supervised contrastive loss, L_out of Khosla et al. 2020 (SupContrast's losses.py):
//
//   l_i = -1/|P(i)| * sum_{p in P(i)} log( exp(z_i . z_p / t) / sum_{a in A(i)} exp(z_i . z_a / t) )
//   loss = (t / t_base) * mean_i l_i
//
// z: [B, D] L2-normalised embeddings (B = 2N for N pairs), labels: [B] (pair ids).
// P(i): same label, j != i.  A(i): every j != i, or, with a miner, the positives plus the
// negatives it keeps (`negativeMask`).
import { tf } from "../engine/tf";

export interface SupConOptions {
  temperature?: number;
  baseTemperature?: number;
  /** [B, B] 0/1: which negatives enter the denominator (from a miner); default all. */
  negativeMask?: tf.Tensor2D;
}

/** Reference defaults: SupContrast trains with t = 0.1 and t_base = 0.07 in its README. */
export const SUPCON_DEFAULTS = { temperature: 0.1, baseTemperature: 0.07 };

/** Label masks over the batch, [B, B] row-major: positives[i][j] (same label) and
 * negatives[i][j] (another label), j != i. */
export function contrastMasks(labels: Int32Array): { positives: Float32Array; negatives: Float32Array } {
  const B = labels.length;
  const positives = new Float32Array(B * B);
  const negatives = new Float32Array(B * B);
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) {
      if (j === i) continue; // the anchor itself
      if (labels[i] === labels[j]) positives[i * B + j] = 1;
      else negatives[i * B + j] = 1;
    }
  }
  return { positives, negatives };
}

export function supConLoss(z: tf.Tensor2D, labels: Int32Array, opts: SupConOptions = {}): tf.Scalar {
  return tf.tidy(() => supConMean(supConPerAnchor(z, labels, opts)));
}

/** The loss from its terms: the mean of the per-anchor terms over the anchors with a positive. */
export function supConMean(terms: { perAnchor: tf.Tensor1D; hasPos: tf.Tensor1D }): tf.Scalar {
  return tf.tidy(() => tf.div(tf.sum(terms.perAnchor), tf.maximum(tf.sum(terms.hasPos), 1)) as tf.Scalar);
}

/** The loss's terms: (t / t_base) * l_i per anchor ([B]; 0 where an anchor has no positive)
 * and which anchors count ([B], 0/1). The loss is their mean over the anchors that count. */
export function supConPerAnchor(
  z: tf.Tensor2D,
  labels: Int32Array,
  opts: SupConOptions = {},
): { perAnchor: tf.Tensor1D; hasPos: tf.Tensor1D } {
  const t = opts.temperature ?? SUPCON_DEFAULTS.temperature;
  const tBase = opts.baseTemperature ?? SUPCON_DEFAULTS.baseTemperature;
  return tf.tidy(() => {
    const B = z.shape[0];
    const { positives, negatives } = contrastMasks(labels);
    const pos = tf.tensor2d(positives, [B, B]);
    const neg = opts.negativeMask ? tf.mul(tf.tensor2d(negatives, [B, B]), opts.negativeMask) : tf.tensor2d(negatives, [B, B]);
    const inDenominator = tf.add(pos, neg); // A(i)

    const logits = tf.div(tf.matMul(z, z, false, true), t); // [B, B]
    // Subtracting the row max changes nothing mathematically and keeps exp() finite.
    const shifted = tf.sub(logits, tf.max(logits, 1, true));
    // log sum_{a in A(i)} exp(.): masked cells get -1e9 (exp underflows to exactly 0).
    const masked = tf.where(tf.greater(inDenominator, 0), shifted, tf.fill([B, B], -1e9));
    const logDenominator = tf.logSumExp(masked, 1, true); // [B, 1]
    const logProb = tf.sub(shifted, logDenominator); // [B, B]
    const nPos = tf.sum(pos, 1); // |P(i)|
    // Anchors without a positive (an unpaired image) do not contribute.
    const hasPos = tf.cast(tf.greater(nPos, 0), "float32");
    const meanLogProbPos = tf.div(tf.sum(tf.mul(pos, logProb), 1), tf.maximum(nPos, 1)); // [B]
    const perAnchor = tf.mul(tf.mul(meanLogProbPos, -(t / tBase)), hasPos) as tf.Tensor1D;
    return { perAnchor, hasPos: hasPos as tf.Tensor1D };
  });
}

/** Labels for a batch of N pairs laid out as [view1 of pairs 0..N-1, view2 of pairs 0..N-1]. */
export function pairLabels(n: number): Int32Array {
  const l = new Int32Array(2 * n);
  for (let i = 0; i < n; i++) l[i] = l[n + i] = i;
  return l;
}
