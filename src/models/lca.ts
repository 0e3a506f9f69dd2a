// Local Concepts Accumulation (Srivastava 2020), read literally from the paper: average-pool
// the final feature map F (H x W x C) with every window size h x w (1 <= h <= H, 1 <= w <= W,
// except 1 x 1) at stride 1, average each pooled map over its positions, and average those
// concept vectors over the window sizes.
//
// Every step is linear, so LCA(F) = sum_ij K[i, j] F[i, j, :] for a fixed K that depends only
// on (H, W). For one window size the weight factorises, K_hw[i, j] = a_h[i] * b_w[j], with
//   a_h[i] = (number of height-h windows covering row i) / (h * (H - h + 1)),
// and the 1 x 1 window's term is the uniform 1 / (H W), so
//   K = ((sum_h a_h) outer (sum_w b_w) - 1 / (H W)) / (H W - 1).
// A 1 x 1 map has no window but 1 x 1; LCA is then the feature itself.
import { tf } from "../engine/tf";

/** a[i] summed over window heights h = 1..n: the per-axis factor of K. */
function axisWeights(n: number): Float64Array {
  const a = new Float64Array(n);
  for (let h = 1; h <= n; h++) {
    const positions = n - h + 1;
    for (let i = 0; i < n; i++) {
      const covering = Math.min(i, n - h) - Math.max(0, i - h + 1) + 1;
      a[i] += covering / (h * positions);
    }
  }
  return a;
}

/** The LCA kernel K: [H, W], summing to 1. */
export function lcaKernel(H: number, W: number): Float32Array {
  const K = new Float32Array(H * W);
  if (H * W === 1) {
    K[0] = 1;
    return K;
  }
  const a = axisWeights(H);
  const b = axisWeights(W);
  for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) K[i * W + j] = (a[i] * b[j] - 1 / (H * W)) / (H * W - 1);
  return K;
}

const kernels = new Map<string, tf.Tensor4D>();
function kernelTensor(H: number, W: number): tf.Tensor4D {
  const key = `${H}x${W}`;
  let k = kernels.get(key);
  if (!k) {
    k = tf.keep(tf.tensor4d(lcaKernel(H, W), [1, H, W, 1]));
    kernels.set(key, k);
  }
  return k;
}

/** F: [N, H, W, C] -> [N, C], O(HWC). */
export function lcaPool(F: tf.Tensor4D): tf.Tensor2D {
  const [, H, W] = F.shape;
  return tf.sum(tf.mul(F, kernelTensor(H, W)), [1, 2]) as tf.Tensor2D;
}

/** Global average pooling: torchvision's head, the ablation's alternative to LCA. */
export function gapPool(F: tf.Tensor4D): tf.Tensor2D {
  return tf.mean(F, [1, 2]) as tf.Tensor2D;
}

/** The definition, window by window, with tfjs's own avgPool: the reference for tests. */
export function lcaBruteForce(F: tf.Tensor4D): tf.Tensor2D {
  return tf.tidy(() => {
    const [, H, W] = F.shape;
    if (H * W === 1) return tf.reshape(F, [F.shape[0], F.shape[3]]) as tf.Tensor2D;
    const concepts: tf.Tensor2D[] = [];
    for (let h = 1; h <= H; h++) {
      for (let w = 1; w <= W; w++) {
        if (h === 1 && w === 1) continue;
        concepts.push(tf.mean(tf.avgPool(F, [h, w], 1, "valid"), [1, 2]) as tf.Tensor2D);
      }
    }
    return tf.mean(tf.stack(concepts), 0) as tf.Tensor2D;
  });
}
