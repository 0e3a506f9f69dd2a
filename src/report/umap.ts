// 2-D maps of embeddings: PCA to at most 50 dimensions first (umap-js is single-threaded and
// its neighbour search scales with the dimension), then seeded UMAP.
import { UMAP } from "umap-js";
import { rngFrom } from "../data/rng";
import { tf } from "../engine/tf";

/** PCA scores [n, k]: top eigenvectors q of the Gram matrix G = Xc Xc^T (orthogonal iteration;
 * n <= a few thousand here), whose principal-component scores are sqrt(eigenvalue) * q. */
export function pcaProject(x: Float32Array, n: number, d: number, k: number): number[][] {
  const kk = Math.min(k, n, d);
  return tf.tidy(() => {
    const X = tf.tensor2d(x, [n, d]);
    const Xc = tf.sub(X, tf.mean(X, 0));
    const G = tf.matMul(Xc, Xc, false, true); // [n, n]
    let Q = tf.linalg.gramSchmidt(tf.randomNormal([kk, n], 0, 1, "float32", 17) as tf.Tensor2D) as tf.Tensor2D; // rows
    for (let it = 0; it < 30; it++) Q = tf.linalg.gramSchmidt(tf.matMul(Q, G) as tf.Tensor2D) as tf.Tensor2D;
    const ev = tf.sum(tf.mul(Q, tf.matMul(Q, G)), 1, true); // [kk, 1] Rayleigh quotients
    return tf.transpose(tf.mul(Q, tf.sqrt(tf.relu(ev)))).arraySync() as number[][];
  });
}

export async function umap2d(
  x: Float32Array,
  d: number,
  opts: { seed?: number; neighbours?: number; pca?: number; onEpoch?: (e: number, total: number) => void } = {},
): Promise<number[][]> {
  const n = x.length / d;
  const data =
    d > (opts.pca ?? 50)
      ? pcaProject(x, n, d, opts.pca ?? 50)
      : Array.from({ length: n }, (_, i) => Array.from(x.subarray(i * d, (i + 1) * d)));
  const umap = new UMAP({ nComponents: 2, nNeighbors: Math.min(opts.neighbours ?? 15, n - 1), random: rngFrom(opts.seed ?? 1) });
  const epochs = umap.initializeFit(data);
  for (let e = 0; e < epochs; e++) {
    umap.step();
    if (e % 50 === 0) opts.onEpoch?.(e, epochs);
  }
  return umap.getEmbedding();
}
