// What sits on the backbone's feature map: a pooling (LCA or GAP), then either an L2-normalised
// embedding (contrastive training, probes) or a linear classifier (fine-tune baselines).
import { tf } from "../engine/tf";
import { gapPool, lcaPool } from "./lca";
import { getParam, ParamSpec, Params } from "./params";

export const POOLINGS = ["lca", "gap"] as const;
export type Pooling = (typeof POOLINGS)[number];

/** The pooled vector [N, C]; neither pooling has parameters (LCA is a fixed weighting of the
 * map's cells, lca.ts). */
export function pool(pooling: Pooling, F: tf.Tensor4D): tf.Tensor2D {
  return pooling === "lca" ? lcaPool(F) : gapPool(F);
}

/** Optional linear projection of the pooled vector (dim 0 = none). */
export function projectionSpecs(inDim: number, projDim: number): ParamSpec[] {
  if (!projDim) return [];
  return [
    { name: "proj.weight", shape: [inDim, projDim], trainable: true, init: "linear" },
    { name: "proj.bias", shape: [projDim], trainable: true, init: "zeros" },
  ];
}

export function l2Normalize(x: tf.Tensor2D, eps = 1e-12): tf.Tensor2D {
  // x / max(||x||, eps), as torch.nn.functional.normalize.
  return tf.div(x, tf.maximum(tf.norm(x, 2, 1, true), eps)) as tf.Tensor2D;
}

export function embed(params: Params, pooled: tf.Tensor2D, projDim: number): tf.Tensor2D {
  const h = projDim
    ? (tf.add(tf.matMul(pooled, getParam(params, "proj.weight") as tf.Tensor2D), getParam(params, "proj.bias")) as tf.Tensor2D)
    : pooled;
  return l2Normalize(h);
}

export function classifierSpecs(inDim: number, classes: number): ParamSpec[] {
  return [
    { name: "fc.weight", shape: [inDim, classes], trainable: true, init: "linear" },
    { name: "fc.bias", shape: [classes], trainable: true, init: "zeros" },
  ];
}

export function classify(params: Params, pooled: tf.Tensor2D): tf.Tensor2D {
  return tf.add(tf.matMul(pooled, getParam(params, "fc.weight") as tf.Tensor2D), getParam(params, "fc.bias")) as tf.Tensor2D;
}
