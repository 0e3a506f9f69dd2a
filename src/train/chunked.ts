// Contrastive batches larger than memory: the gradient-cache step (Gao et al. 2021, "Scaling
// Deep Contrastive Learning Batch Size under Memory Limited Setup").
//
//   1. embed the batch chunk by chunk, keeping only z [B, D] (each chunk's activations freed);
//   2. the loss and dL/dz over the whole batch: SupCon needs every embedding at once;
//   3. per chunk c: run its forward again and backpropagate its rows g_c = dL/dz_c, i.e. the
//      gradient of sum(z_c * g_c); summed over chunks this is dL/dθ (the chain rule, exactly).
//
// Memory: one chunk's activations plus z, whatever B is; cost: one extra forward per step.
// Batch norm in training mode normalises each chunk with its own statistics (as each replica of
// a data-parallel run does), so the result is the gradient of the loss of that per-chunk
// forward; in eval mode it equals the unchunked step's. Running statistics move once per step,
// with the first chunk's statistics, as a data-parallel run keeps one replica's.
import { tf } from "../engine/tf";
import { withoutRunningStatUpdates } from "../models/layers";
import { Model } from "../models/model";
import { ModelNoise, noiseRows, rowRange } from "../models/noise";
import { paramGrads } from "../models/params";
import { LossFromEmbeddings, lossAndEmbeddingGrad } from "./embedding-grad";
import { forwardOf, Output } from "./forward";

export type { LossFromEmbeddings };

export interface ChunkedGrads {
  loss: number;
  parts: Record<string, number>;
  /** Summed over chunks, keyed by parameter name; the caller disposes them. */
  grads: Record<string, tf.Tensor>;
}

/** Row ranges [begin, end) of at most `chunk` rows covering 0..n-1. */
export function chunkRanges(n: number, chunk: number): [number, number][] {
  if (!(chunk >= 1)) throw new Error(`chunk size must be at least 1 (got ${chunk})`);
  const out: [number, number][] = [];
  for (let b = 0; b < n; b += chunk) out.push([b, Math.min(n, b + chunk)]);
  return out;
}

export function chunkedGrads(
  model: Model,
  x: tf.Tensor4D,
  lossFromZ: LossFromEmbeddings,
  opts: { chunk: number; training?: boolean; output?: Output; noise?: ModelNoise },
): ChunkedGrads {
  const forward = forwardOf(opts.output ?? "embedding");
  const training = opts.training ?? true;
  const ranges = chunkRanges(x.shape[0], opts.chunk);
  const slice = (b: number, e: number) => tf.slice(x, [b, 0, 0, 0], [e - b, -1, -1, -1]) as tf.Tensor4D;

  // 1. z for every chunk; only the first chunk's batch statistics update the running averages.
  const zs = ranges.map(([b, e], k) => {
    const run = () => tf.tidy(() => forward(model, slice(b, e), training, noiseRows(opts.noise, rowRange(b, e))));
    return k === 0 ? run() : withoutRunningStatUpdates(run);
  });
  // 2. The loss over the whole batch and its gradient with respect to every embedding.
  let parts: Record<string, number> = {};
  const { value, dz } = tf.tidy(() => {
    const r = lossAndEmbeddingGrad(tf.concat(zs, 0) as tf.Tensor2D, lossFromZ);
    parts = r.parts;
    return { value: r.loss, dz: r.dz };
  });
  tf.dispose(zs);
  const loss = value.dataSync()[0];
  value.dispose();
  // 3. Each chunk again, backpropagating its rows of dL/dz; gradients summed.
  const summed: Record<string, tf.Tensor> = {};
  try {
    for (const [b, e] of ranges) {
      const g = tf.slice(dz, [b, 0], [e - b, -1]);
      const { value: v, grads } = paramGrads(model.params, () =>
        withoutRunningStatUpdates(
          () => tf.sum(tf.mul(forward(model, slice(b, e), training, noiseRows(opts.noise, rowRange(b, e))), g)) as tf.Scalar,
        ),
      );
      for (const [name, gr] of Object.entries(grads)) {
        if (summed[name]) {
          const next = tf.add(summed[name], gr);
          tf.dispose([summed[name], gr]);
          summed[name] = next;
        } else summed[name] = gr;
      }
      tf.dispose([v, g]);
    }
  } finally {
    tf.dispose(dz);
  }
  return { loss, parts, grads: summed };
}
