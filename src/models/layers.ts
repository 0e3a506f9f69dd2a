// The few layers a ResNeXt needs, as functions of (params, input). NHWC activations, HWIO
// filters. Grouped convolution is not in the tfjs API: it is expressed here so that gradients
// come from ops every backend can differentiate.
import { tf } from "../engine/tf";
import { getParam, Params } from "./params";

export type GroupedConvMode = "split" | "blockdiag";
let groupedMode: GroupedConvMode = "split";
/** Pick how grouped convolutions run (the engine picks the faster per backend). */
export function setGroupedConvMode(mode: GroupedConvMode): void {
  groupedMode = mode;
}
export function getGroupedConvMode(): GroupedConvMode {
  return groupedMode;
}

/** Conv with torchvision's padding (k // 2), stride and groups; filter w: [kh, kw, cin/groups, cout]. */
export function conv2d(x: tf.Tensor4D, w: tf.Tensor4D, stride: number, groups = 1): tf.Tensor4D {
  const k = w.shape[0];
  const pad = Math.floor(k / 2);
  const padding: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [pad, pad], [pad, pad], [0, 0]];
  const p = pad === 0 ? "valid" : padding;
  if (groups === 1) return tf.conv2d(x, w, stride, p);
  if (groupedMode === "blockdiag") return tf.conv2d(x, blockDiagonal(w, groups), stride, p);
  const xs = tf.split(x, groups, 3);
  const ws = tf.split(w, groups, 3);
  return tf.concat(xs.map((xg, g) => tf.conv2d(xg as tf.Tensor4D, ws[g] as tf.Tensor4D, stride, p)), 3) as tf.Tensor4D;
}

/** [kh, kw, cin/g, cout] -> [kh, kw, cin, cout] with zeros off the group blocks. Same params,
 * g times the FLOPs, one big conv instead of g small ones. */
export function blockDiagonal(w: tf.Tensor4D, groups: number): tf.Tensor4D {
  const [kh, kw, cg, cout] = w.shape;
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

export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;

/** BatchNorm2d as in PyTorch: batch statistics in training (biased variance to normalise,
 * unbiased into the running estimate), running statistics in eval. Written with broadcasting
 * ops rather than tf.batchNorm, whose gradient tiles to the activation size. */
export function batchNorm(params: Params, name: string, x: tf.Tensor4D, training: boolean): tf.Tensor4D {
  const gamma = getParam(params, `${name}.weight`);
  const beta = getParam(params, `${name}.bias`);
  const rm = getParam(params, `${name}.running_mean`);
  const rv = getParam(params, `${name}.running_var`);
  if (!training) {
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(rv, BN_EPS)));
    return tf.add(tf.mul(tf.sub(x, rm), scale), beta) as tf.Tensor4D;
  }
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  const n = x.shape[0] * x.shape[1] * x.shape[2];
  tf.tidy(() => {
    const unbiased = tf.mul(variance, n / Math.max(1, n - 1));
    rm.assign(tf.add(tf.mul(rm, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)));
    rv.assign(tf.add(tf.mul(rv, 1 - BN_MOMENTUM), tf.mul(unbiased, BN_MOMENTUM)));
  });
  const xhat = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, BN_EPS)));
  return tf.add(tf.mul(xhat, gamma), beta) as tf.Tensor4D;
}

export function maxPool3x3s2(x: tf.Tensor4D): tf.Tensor4D {
  // torchvision: MaxPool2d(kernel_size=3, stride=2, padding=1); pad with -inf-like values.
  const padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], -3.4e38);
  return tf.maxPool(padded, 3, 2, "valid");
}
