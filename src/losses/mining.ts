// Hard negative mining, separate from the loss (as in pytorch-metric-learning): for each
// anchor keep only the k hardest negatives — those most similar to it — in SupCon's
// denominator, k = ceil(ratio * number of negatives). ratio = 1 keeps every negative, so the
// loss equals plain SupCon exactly. Returns a 0/1 mask over [anchors, contrast].
import { tf } from "../engine/tf";

export function hardNegativeMask(
  z: tf.Tensor2D,
  labels: Int32Array,
  ratio: number,
  memory?: { z: tf.Tensor2D; labels: Int32Array },
): tf.Tensor2D {
  if (!(ratio > 0 && ratio <= 1)) throw new Error(`hard negative ratio must be in (0, 1], got ${ratio}`);
  const contrastLabels = memory ? Int32Array.from([...labels, ...memory.labels]) : labels;
  const B = labels.length;
  const C = contrastLabels.length;
  const sim = tf.tidy(() => tf.matMul(z, memory ? tf.concat([z, memory.z], 0) : z, false, true)).dataSync();
  const mask = new Float32Array(B * C);
  const idx: number[] = [];
  for (let i = 0; i < B; i++) {
    idx.length = 0;
    for (let j = 0; j < C; j++) if (j !== i && contrastLabels[j] !== labels[i]) idx.push(j);
    const k = Math.ceil(ratio * idx.length);
    // Hardest first; ties broken by index so the mask is deterministic.
    idx.sort((a, b) => sim[i * C + b] - sim[i * C + a] || a - b);
    for (let r = 0; r < k; r++) mask[i * C + idx[r]] = 1;
  }
  return tf.tensor2d(mask, [B, C]);
}

/** A FIFO of recent (detached) embeddings and labels: more negatives than one batch holds. */
export class CrossBatchMemory {
  private z: tf.Tensor2D | undefined;
  private labels = new Int32Array(0);
  constructor(readonly size: number) {}

  get(): { z: tf.Tensor2D; labels: Int32Array } | undefined {
    return this.z ? { z: this.z, labels: this.labels } : undefined;
  }

  /** Add a batch; labels must not collide with other batches' (offset them by a step id). */
  push(z: tf.Tensor2D, labels: Int32Array): void {
    const next = tf.tidy(() => {
      const all = this.z ? tf.concat([z, this.z], 0) : tf.clone(z);
      return all.shape[0] > this.size ? tf.slice(all, [0, 0], [this.size, -1]) : all;
    }) as tf.Tensor2D;
    this.z?.dispose();
    this.z = tf.keep(next);
    this.labels = Int32Array.from([...labels, ...this.labels].slice(0, this.size));
  }

  dispose(): void {
    this.z?.dispose();
    this.z = undefined;
    this.labels = new Int32Array(0);
  }
}
