// The few layers a ResNeXt needs, as functions of (params, input). NHWC activations, HWIO
// filters. Grouped convolution is not in the tfjs API: it is expressed here so that gradients
// come from ops every backend can differentiate.
import { tf } from "../engine/tf";
import { getParam, Params } from "./params";
import {
  batchNormGradSums,
  channelAffine,
  channelMoments,
  convScaleBiasAdd,
  groupedConv2d,
  projectKernelsOn,
} from "../engine/native-kernels";
import { batchNormTrain, batchNormTrainGrad } from "../engine/torch-kernels";

export type GroupedConvMode = "split" | "blockdiag";
let groupedMode: GroupedConvMode = "split";
/** Pick how grouped convolutions run (the engine picks the faster per backend). */
export function setGroupedConvMode(mode: GroupedConvMode): void {
  groupedMode = mode;
}
export function getGroupedConvMode(): GroupedConvMode {
  return groupedMode;
}

type Padding = "valid" | [[number, number], [number, number], [number, number], [number, number]];

/** torchvision's convolution padding, k // 2 on each side, for a filter [k, k, cin, cout]. */
function torchPadding(w: tf.Tensor4D): Padding {
  const pad = Math.floor(w.shape[0] / 2);
  return pad === 0
    ? "valid"
    : [
        [0, 0],
        [pad, pad],
        [pad, pad],
        [0, 0],
      ];
}

/** Conv with torchvision's padding (k // 2), stride and groups; filter w: [kh, kw, cin/groups, cout]. */
export function conv2d(x: tf.Tensor4D, w: tf.Tensor4D, stride: number, groups = 1): tf.Tensor4D {
  const p = torchPadding(w);
  if (groups === 1) return tf.conv2d(x, w, stride, p);
  if (projectKernelsOn()) return groupedConv2d(x, w, stride, p, groups);
  if (groupedMode === "blockdiag") return tf.conv2d(x, blockDiagonal(w, groups), stride, p);
  const xs = tf.split(x, groups, 3);
  const ws = tf.split(w, groups, 3);
  return tf.concat(
    xs.map((xg, g) => tf.conv2d(xg as tf.Tensor4D, ws[g] as tf.Tensor4D, stride, p)),
    3,
  ) as tf.Tensor4D;
}

/** [kh, kw, cin/g, cout] -> [kh, kw, cin, cout] with zeros off the group blocks. Same params,
 * g times the FLOPs, one big conv instead of g small ones. */
export function blockDiagonal(w: tf.Tensor4D, groups: number): tf.Tensor4D {
  const [, , cg, cout] = w.shape;
  const og = cout / groups;
  const mask = tf.tidy(() => {
    const m = new Float32Array(cg * groups * cout);
    for (let ci = 0; ci < cg * groups; ci++) {
      const g = Math.floor(ci / cg);
      for (let co = g * og; co < (g + 1) * og; co++) m[ci * cout + co] = 1;
    }
    return tf.tensor4d(m, [1, 1, cg * groups, cout]);
  });
  const full = tf.mul(tf.tile(w, [1, 1, groups, 1]), mask) as tf.Tensor4D;
  mask.dispose();
  return full;
}

let updateRunningStats = true;
/** Run `fn` without touching batch-norm running statistics: for a forward pass recomputed only
 * to take its gradient (data-parallel training), which must not count the batch twice. */
export function withoutRunningStatUpdates<T>(fn: () => T): T {
  const prior = updateRunningStats;
  updateRunningStats = false;
  try {
    return fn();
  } finally {
    updateRunningStats = prior;
  }
}

/** Sums a Float32Array over every data-parallel rank, in place (a process group's all-reduce). */
export type CrossRankSum = (v: Float32Array) => Float32Array;
let crossRankSum: CrossRankSum | undefined;
/** Run `fn` with batch norm's training statistics taken over every rank's rows (synchronised
 * batch norm): N ranks then normalise as one process does over the global batch. */
export function withGlobalBatchStats<T>(sum: CrossRankSum, fn: () => T): T {
  const prior = crossRankSum;
  crossRankSum = sum;
  try {
    return fn();
  } finally {
    crossRankSum = prior;
  }
}

export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;

/** Per-channel mean of an [N, H, W, C] tensor as one average pool over all N*H*W cells:
 * measured ~10x faster on wasm than Sum/Mean over leading axes (which transpose first) or a
 * ones-row matMul (which repacks its right operand on every call). */
function channelMean(x: tf.Tensor4D): tf.Tensor1D {
  const [N, H, W, C] = x.shape;
  return tf.reshape(tf.avgPool(tf.reshape(x, [1, N * H, W, C]) as tf.Tensor4D, [N * H, W], 1, "valid"), [C]) as tf.Tensor1D;
}

/** BatchNorm2d as in PyTorch: batch statistics in training (biased variance to normalise,
 * unbiased into the running estimate, momentum 0.1), running statistics in eval.
 * Training uses a hand-written gradient (the textbook BN backward) instead of autodiff through
 * moments, which costs a dozen broadcast reductions per layer. With xc = x - mean over M cells:
 *   dbeta = sum(dy), dgamma = rstd * sum(dy * xc),
 *   dx = gamma * rstd * (dy - mean(dy) - xc * rstd^2 * mean(dy * xc)). */
/** Batch norm; `residual` (shaped like x) is added to its output and `relu` then applies
 * max(., 0): a residual block's end (both fused into it when training on the native engine). */
export function batchNorm(
  params: Params,
  name: string,
  x: tf.Tensor4D,
  training: boolean,
  relu = false,
  residual?: tf.Tensor4D,
): tf.Tensor4D {
  if ((relu || residual) && !(training && projectKernelsOn())) {
    const y = batchNorm(params, name, x, training);
    const sum = residual ? (tf.add(y, residual) as tf.Tensor4D) : y;
    return relu ? tf.relu(sum) : sum;
  }
  const gamma = getParam(params, `${name}.weight`);
  const beta = getParam(params, `${name}.bias`);
  const rm = getParam(params, `${name}.running_mean`);
  const rv = getParam(params, `${name}.running_var`);
  if (!training) {
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(rv, BN_EPS)));
    return tf.add(tf.mul(tf.sub(x, rm), scale), beta) as tf.Tensor4D;
  }
  const M = x.shape[0] * x.shape[1] * x.shape[2];
  const acrossRanks = crossRankSum ? overRanks(crossRankSum) : undefined;
  // On torch, ATen's own kernels; synchronised batch norm needs the moments between its two
  // passes, which only the per-channel kernels hand out.
  if (tf.getBackend() === "torch" && !acrossRanks) return batchNormTorch(x, gamma, beta, rm, rv, M, relu, residual);
  if (projectKernelsOn()) return batchNormNative(x, gamma, beta, rm, rv, M, relu, residual, acrossRanks);
  if (acrossRanks) return batchNormPooled(x, gamma, beta, rm, rv, acrossRanks);
  return batchNormPooled(x, gamma, beta, rm, rv, thisBatch);
}

/** Per-channel means of one forward pass's cells, pooled over what batch norm normalises by:
 * `means` over all M cells of the batch (this pass's, or every rank's). */
type PoolMeans = (local: tf.Tensor1D[], cells: number) => { means: tf.Tensor1D[]; M: number };
const thisBatch: PoolMeans = (local, cells) => ({ means: local, M: cells });
/** Synchronised batch norm: each rank's means, weighted by its cells, summed over the ranks. */
const overRanks =
  (sum: CrossRankSum): PoolMeans =>
  (local, cells) => {
    const C = local[0].size;
    const v = new Float32Array(local.length * C + 1);
    local.forEach((m, k) =>
      v.set(
        Float32Array.from(m.dataSync(), (a) => a * cells),
        k * C,
      ),
    );
    v[local.length * C] = cells;
    sum(v);
    const M = v[local.length * C];
    return { means: local.map((_, k) => tf.div(tf.tensor1d(v.subarray(k * C, (k + 1) * C)), M) as tf.Tensor1D), M };
  };

/** The formula above as a custom gradient, its means pooled by `pool`: over this pass's cells,
 * or over every rank's (then dx takes the pooled means of dy and dy * xc, while dgamma and dbeta
 * stay this pass's share: the step sums every parameter's gradient over the ranks). */
function batchNormPooled(x: tf.Tensor4D, gamma: tf.Variable, beta: tf.Variable, rm: tf.Variable, rv: tf.Variable, pool: PoolMeans) {
  const cells = x.shape[0] * x.shape[1] * x.shape[2];
  // customGrad's typing cannot express a (tensors..., save) signature; the cast is only that.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const bn = tf.customGrad(((xIn: tf.Tensor4D, g: tf.Tensor1D, b: tf.Tensor1D, save: tf.GradSaveFunc) => {
    // customGrad does not scope its forward: without this tidy every temporary here would
    // live until the whole backward pass ends (measured: 3.7 GB for ResNeXt-50 @224, b8).
    const [y, xc, rstd] = tf.tidy(() => {
      const {
        means: [mean],
        M,
      } = pool([channelMean(xIn)], cells);
      const xcT = tf.sub(xIn, mean) as tf.Tensor4D;
      const [variance] = pool([channelMean(tf.square(xcT) as tf.Tensor4D)], cells).means;
      const rstdT = tf.rsqrt(tf.add(variance, BN_EPS));
      updateRunning(rm, rv, mean, variance, M);
      return [tf.add(tf.mul(xcT, tf.mul(g, rstdT)), b), xcT, rstdT];
    });
    save([xc, rstd, g]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [sxc, srstd, sg] = saved as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D];
          const dyLocal = channelMean(dy); // dbeta / cells
          const dyxcLocal = channelMean(tf.mul(dy, sxc) as tf.Tensor4D); // sum(dy * xc) / cells
          const [dyMean, dyxcMean] = pool([dyLocal, dyxcLocal], cells).means;
          const k = tf.mul(sg, srstd);
          // dx = k * (dy - mean(dy) - xc * rstd^2 * mean(dy * xc))
          const dx = tf.mul(tf.sub(tf.sub(dy, dyMean), tf.mul(sxc, tf.mul(tf.square(srstd), dyxcMean))), k);
          return [dx, tf.mul(tf.mul(srstd, dyxcLocal), cells), tf.mul(dyLocal, cells)];
        }),
    };
  }) as any) as unknown as (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor;
  return bn(x, gamma, beta) as tf.Tensor4D;
}

function updateRunning(rm: tf.Variable, rv: tf.Variable, mean: tf.Tensor1D, variance: tf.Tensor1D, M: number): void {
  if (!updateRunningStats) return;
  rm.assign(tf.add(tf.mul(rm, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)));
  rv.assign(tf.add(tf.mul(rv, 1 - BN_MOMENTUM), tf.mul(variance, (BN_MOMENTUM * M) / Math.max(1, M - 1))));
}

/** A batch norm's forward (returning its value and gradient function) as a tfjs op of x, gamma,
 * beta and, when there is one, the shortcut `residual`: tf.customGrad over those inputs. */
type BatchNormForward = (
  x: tf.Tensor4D,
  g: tf.Tensor1D,
  b: tf.Tensor1D,
  r: tf.Tensor4D | undefined,
  save: tf.GradSaveFunc,
) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => tf.Tensor[] };

function withBatchNormGrad(
  forward: BatchNormForward,
  x: tf.Tensor4D,
  gamma: tf.Variable,
  beta: tf.Variable,
  residual?: tf.Tensor4D,
): tf.Tensor4D {
  // customGrad's typing cannot express a (tensors..., save) signature; the casts are only that.
  /* eslint-disable @typescript-eslint/no-explicit-any */
  if (residual) {
    const bnAdd = tf.customGrad(((xIn: tf.Tensor4D, g: tf.Tensor1D, b: tf.Tensor1D, r: tf.Tensor4D, save: tf.GradSaveFunc) =>
      forward(xIn, g, b, r, save)) as any) as unknown as (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, r: tf.Tensor) => tf.Tensor;
    return bnAdd(x, gamma, beta, residual) as tf.Tensor4D;
  }
  const bn = tf.customGrad(((xIn: tf.Tensor4D, g: tf.Tensor1D, b: tf.Tensor1D, save: tf.GradSaveFunc) =>
    forward(xIn, g, b, undefined, save)) as any) as unknown as (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor;
  /* eslint-enable @typescript-eslint/no-explicit-any */
  return bn(x, gamma, beta) as tf.Tensor4D;
}

/** The same batch norm on the native per-channel kernels: two passes forward (moments, then
 * y = x * scale + shift), two backward (the sums, then dx = k*dy + B*x + C per channel, which
 * is the formula above regrouped), and x itself saved instead of a centred copy. With `relu`
 * the ReLU that follows is part of it: y = max(x * scale + shift, 0) in the same pass, and the
 * backward passes read dy only where y > 0 (the ReLU's gradient), which saves the ReLU's
 * three passes (max forward; step, cast and multiply backward) and one activation. A
 * `residual` r joins the same pass, y = max(x * scale + shift + r, 0), and its gradient is dy
 * where y > 0 (one pass, instead of the sum's forward pass and the ReLU's around it). With
 * `acrossRanks` (synchronised batch norm) the moments are every rank's, combined from each rank's
 * mean and E[x^2] in one all-reduce, and dx takes every rank's sums of dy and dy * xc. */
function batchNormNative(
  x: tf.Tensor4D,
  gamma: tf.Variable,
  beta: tf.Variable,
  rm: tf.Variable,
  rv: tf.Variable,
  M: number,
  relu: boolean,
  residual?: tf.Tensor4D,
  acrossRanks?: PoolMeans,
): tf.Tensor4D {
  const cells = M;
  const forward = (xIn: tf.Tensor4D, g: tf.Tensor1D, b: tf.Tensor1D, r: tf.Tensor4D | undefined, save: tf.GradSaveFunc) => {
    const [y, mean, rstd] = tf.tidy(() => {
      let [meanT, variance] = tf.unstack(channelMoments(xIn)) as [tf.Tensor1D, tf.Tensor1D];
      if (acrossRanks) {
        const pooled = acrossRanks([meanT, tf.add(variance, tf.square(meanT)) as tf.Tensor1D], cells);
        M = pooled.M;
        meanT = pooled.means[0];
        variance = tf.relu(tf.sub(pooled.means[1], tf.square(meanT))) as tf.Tensor1D; // E[x^2] - mean^2, never below 0
      }
      updateRunning(rm, rv, meanT, variance, M);
      const rstdT = tf.rsqrt(tf.add(variance, BN_EPS)) as tf.Tensor1D;
      const scale = tf.mul(g, rstdT) as tf.Tensor1D;
      const shift = tf.sub(b, tf.mul(meanT, scale)) as tf.Tensor1D;
      const yT = r
        ? channelAffine(xIn, scale, shift, r, tf.onesLike(scale), { relu })
        : channelAffine(xIn, scale, shift, undefined, undefined, { relu });
      return [yT, meanT, rstdT];
    });
    save(relu ? [xIn, mean, rstd, g, y] : [xIn, mean, rstd, g]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [sx, smean, srstd, sg, sy] = saved as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Tensor4D | undefined];
          const [sumDy, sumDyXc] = tf.unstack(batchNormGradSums(dy, sx, smean, sy)) as [tf.Tensor1D, tf.Tensor1D];
          // dx's mean(dy) and mean(dy * xc): over this pass, or over every rank's rows.
          const [meanDy, meanDyXc] = acrossRanks
            ? acrossRanks([tf.div(sumDy, cells) as tf.Tensor1D, tf.div(sumDyXc, cells) as tf.Tensor1D], cells).means
            : [tf.div(sumDy, M), tf.div(sumDyXc, M)];
          const k = tf.mul(sg, srstd) as tf.Tensor1D;
          const B = tf.neg(tf.mul(k, tf.mul(tf.square(srstd), meanDyXc))) as tf.Tensor1D;
          const C = tf.sub(tf.neg(tf.mul(k, meanDy)), tf.mul(B, smean)) as tf.Tensor1D;
          const grads = [channelAffine(dy, k, C, sx, B, { mask: sy }), tf.mul(srstd, sumDyXc), sumDy];
          if (!r) return grads;
          // d(x*scale + shift + r)/dr = 1: r's gradient is the sum's, dy where y > 0.
          const dr = sy ? channelAffine(dy, tf.onesLike(k), tf.zerosLike(k), undefined, undefined, { mask: sy }) : tf.clone(dy);
          return [...grads, dr];
        }),
    };
  };
  return withBatchNormGrad(forward, x, gamma, beta, residual);
}

/** The same batch norm on libtorch's own training kernels (the torch backend): forward and
 * backward one ATen call each, the shortcut and ReLU around them. The running variance takes
 * the biased variance back from the kernel's 1/sqrt(var + eps). */
function batchNormTorch(
  x: tf.Tensor4D,
  gamma: tf.Variable,
  beta: tf.Variable,
  rm: tf.Variable,
  rv: tf.Variable,
  M: number,
  relu: boolean,
  residual?: tf.Tensor4D,
): tf.Tensor4D {
  const forward = (xIn: tf.Tensor4D, g: tf.Tensor1D, b: tf.Tensor1D, r: tf.Tensor4D | undefined, save: tf.GradSaveFunc) => {
    const [y, mean, invstd] = batchNormTrain(xIn, g, b, BN_EPS, relu, r);
    tf.tidy(() => updateRunning(rm, rv, mean, tf.sub(tf.reciprocal(tf.square(invstd)), BN_EPS) as tf.Tensor1D, M));
    save(relu ? [xIn, g, mean, invstd, y] : [xIn, g, mean, invstd]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
        const [sx, sg, smean, sinvstd, sy] = saved as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Tensor4D | undefined];
        return batchNormTrainGrad(dy, { x: sx, gamma: sg, mean: smean, invstd: sinvstd, y: sy }, BN_EPS, !!r);
      },
    };
  };
  return withBatchNormGrad(forward, x, gamma, beta, residual);
}

export function maxPool3x3s2(x: tf.Tensor4D): tf.Tensor4D {
  // torchvision: MaxPool2d(kernel_size=3, stride=2, padding=1). tfjs skips padded cells,
  // which is what PyTorch's -inf padding amounts to.
  return tf.maxPool(x, 3, 2, 1);
}

/** conv -> batch norm (+ residual) (-> relu). In eval mode the batch norm is an affine map per
 * output channel, bn(conv(x, w)) = conv(x, w) * scale + bias with scale = gamma / sqrt(var + eps)
 * and bias = beta - mean * scale. On the native engine scale, bias, residual and relu are the
 * convolution's epilogue (one kernel, one pass over the output); elsewhere the scale is folded
 * into the filter (w' = w * scale) for tfjs's fused conv (one kernel instead of four passes),
 * and a residual is added after it. */
export function convBn(
  params: Params,
  conv: string,
  bn: string,
  x: tf.Tensor4D,
  stride: number,
  groups: number,
  training: boolean,
  relu: boolean,
  residual?: tf.Tensor4D,
): tf.Tensor4D {
  const w = getParam(params, conv) as tf.Tensor4D;
  if (training) return batchNorm(params, bn, conv2d(x, w, stride, groups), true, relu, residual);
  const scale = tf.mul(getParam(params, `${bn}.weight`), tf.rsqrt(tf.add(getParam(params, `${bn}.running_var`), BN_EPS))) as tf.Tensor1D;
  const bias = tf.sub(getParam(params, `${bn}.bias`), tf.mul(getParam(params, `${bn}.running_mean`), scale)) as tf.Tensor1D;
  const p = torchPadding(w);
  if (projectKernelsOn()) return convScaleBiasAdd(x, w, stride, p, groups, { scale, bias, residual, relu });
  const y = foldedConv(x, tf.mul(w, scale) as tf.Tensor4D, bias, stride, p, groups, relu && !residual);
  if (!residual) return y;
  const sum = tf.add(y, residual) as tf.Tensor4D;
  return relu ? tf.relu(sum) : sum;
}

/** act(conv(x, wf) + bias) on tfjs's fused conv, groups split or block-diagonal. */
function foldedConv(
  x: tf.Tensor4D,
  wf: tf.Tensor4D,
  bias: tf.Tensor1D,
  stride: number,
  p: Padding,
  groups: number,
  relu: boolean,
): tf.Tensor4D {
  const activation = relu ? "relu" : "linear";
  if (groups === 1 || groupedMode === "blockdiag") {
    const filter = groups === 1 ? wf : blockDiagonal(wf, groups);
    return tf.fused.conv2d({ x, filter, strides: stride, pad: p, bias, activation });
  }
  const xs = tf.split(x, groups, 3);
  const ws = tf.split(wf, groups, 3);
  const bs = tf.split(bias, groups, 0);
  return tf.concat(
    xs.map((xg, g) =>
      tf.fused.conv2d({ x: xg as tf.Tensor4D, filter: ws[g] as tf.Tensor4D, strides: stride, pad: p, bias: bs[g], activation }),
    ),
    3,
  ) as tf.Tensor4D;
}
