// The one part of a step that needs the whole batch at once: the loss on every embedding z and
// its gradient dL/dz. The gradient-cache step (chunked.ts) and data-parallel replicas
// (replica.ts) both split the network around it: z is gathered from chunks or replicas, and each
// piece then backpropagates its rows of dL/dz through its own forward pass.
import { tf } from "../engine/tf";

export type LossFromEmbeddings = (z: tf.Tensor2D) => { loss: tf.Scalar; parts?: Record<string, tf.Scalar> };

/** The loss on z [B, D] and dL/dz [B, D] (the caller disposes both), with the loss's named parts
 * read as numbers. Call inside tf.tidy: the loss function's intermediates are freed there. */
export function lossAndEmbeddingGrad(
  z: tf.Tensor2D,
  lossFromZ: LossFromEmbeddings,
): { loss: tf.Scalar; dz: tf.Tensor2D; parts: Record<string, number> } {
  const parts: Record<string, number> = {};
  const { value, grads } = tf.valueAndGrads((zz: tf.Tensor) => {
    const out = lossFromZ(zz as tf.Tensor2D);
    for (const [k, v] of Object.entries(out.parts ?? {})) parts[k] = v.dataSync()[0];
    return out.loss;
  })([z]);
  return { loss: value, dz: grads[0] as tf.Tensor2D, parts };
}
