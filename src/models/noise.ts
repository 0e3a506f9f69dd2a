// Noise inside the network, for the noisy student (Xie et al. 2020) in training forward passes:
//
//   stochastic depth  (Huang et al. 2016, per image as in Noisy Student and timm's drop_path)
//                     block l of L (1-based) drops its residual branch with probability
//                     dropPath * l / L, the linear decay rule, so the last block is dropped most;
//                     a kept branch is scaled by 1 / survival, so the expected output is the clean
//                     one and evaluation needs no rescaling. The shortcut always stays, the
//                     projection shortcut of a block's first layer included (timm does the same):
//                     the cpu profile's blocks all have one.
//   dropout           on the input of the network's last linear map, layer4's final 1x1 conv.
//                     The embedding has no head of its own (projDim 0: the pooled map, normalised),
//                     and dropout on the pooled vector is dropout on the regressed output itself
//                     (normalising makes the two the same), which Noisy Student does not do; it
//                     puts dropout before its last linear layer, as this does.
//
// Every mask value is a function of (seed, the image's row in the step's whole batch, its place
// in the mask) alone (a counter-based hash, no generator state), so a step split into pieces (the
// gradient cache's chunks, the replica's halves, data-parallel ranks) draws for each image what the
// whole step would, and a forward pass recomputed for its gradients draws what its first pass did.
import { tf } from "../engine/tf";

export interface ModelNoise {
  /** The last block's probability of dropping its residual branch. */
  dropPath: number;
  /** Dropout rate on the input of layer4's last 1x1 conv. */
  dropout: number;
  /** Draws every mask of one step. */
  seed: number;
  /** The rows of the step's batch this forward pass computes, in its order; absent: all of them. */
  rows?: number[];
}

/** Block `index` (0-based) of `blocks`: the probability its branch survives. */
export function survival(dropPath: number, index: number, blocks: number): number {
  return 1 - (dropPath * (index + 1)) / blocks;
}

/** The noise of a forward pass over rows `rows` of the step's batch. */
export function noiseRows(noise: ModelNoise | undefined, rows: number[]): ModelNoise | undefined {
  return noise && { ...noise, rows: noise.rows ? rows.map((r) => noise.rows![r]) : rows };
}

/** Rows begin..end-1. */
export const rowRange = (begin: number, end: number) => Array.from({ length: end - begin }, (_, i) => begin + i);

/** MurmurHash3's finaliser: every input bit moves every output bit. */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Uniform in [0, 1) from (seed, row, element). */
export function uniformAt(seed: number, row: number, element: number): number {
  return fmix32((fmix32((seed ^ fmix32(row + 0x632be5ab)) >>> 0) + Math.imul(element, 0x9e3779b1)) >>> 0) / 4294967296;
}

/** An inverted-dropout mask of `shape` ([images, ...]): 0 with probability 1 - keep, else 1 / keep,
 * image k's values drawn as row `rows[k]` of the step's batch (k itself without `rows`). A mask
 * with size-1 axes broadcasts: [N, 1, 1, 1] drops whole images' branches. */
export function keepMask(shape: number[], keep: number, seed: number, rows?: number[]): tf.Tensor {
  const per = shape.slice(1).reduce((a, b) => a * b, 1);
  const values = new Float32Array(shape[0] * per);
  for (let k = 0; k < shape[0]; k++) {
    const row = rows ? rows[k] : k;
    for (let j = 0; j < per; j++) values[k * per + j] = uniformAt(seed, row, j) < keep ? 1 / keep : 0;
  }
  return tf.tensor(values, shape);
}

/** The seed of one mask of a step: `what` is a block's index, or the block count for dropout. */
export function maskSeed(noise: ModelNoise, what: number): number {
  return fmix32((noise.seed ^ Math.imul(what + 1, 0x85ebca6b)) >>> 0);
}
