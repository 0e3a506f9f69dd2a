// Hard negative mining, separate from the loss (as in pytorch-metric-learning): for each
// anchor keep only the k hardest negatives — those most similar to it — in SupCon's
// denominator, k = ceil(ratio * number of negatives). ratio = 1 keeps every negative, so the
// loss equals plain SupCon exactly. Returns a 0/1 mask over [anchors, batch].
import { tf } from "../engine/tf";

/** z: [B, D] L2-normalised embeddings, labels: [B]; returns the [B, B] mask of kept negatives. */
export function hardNegativeMask(z: tf.Tensor2D, labels: Int32Array, ratio: number): tf.Tensor2D {
  if (!(ratio > 0 && ratio <= 1)) throw new Error(`hard negative ratio must be in (0, 1], got ${ratio}`);
  const B = labels.length;
  const sim = tf.tidy(() => tf.matMul(z, z, false, true)).dataSync();
  const mask = new Float32Array(B * B);
  const idx: number[] = [];
  for (let i = 0; i < B; i++) {
    idx.length = 0;
    for (let j = 0; j < B; j++) if (j !== i && labels[j] !== labels[i]) idx.push(j);
    const k = Math.ceil(ratio * idx.length);
    // Hardest first; ties broken by index so the mask is deterministic.
    idx.sort((a, b) => sim[i * B + b] - sim[i * B + a] || a - b);
    for (let r = 0; r < k; r++) mask[i * B + idx[r]] = 1;
  }
  return tf.tensor2d(mask, [B, B]);
}
