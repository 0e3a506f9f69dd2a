// The tfjs kernels of the `torch` backend: each turns tfjs's attributes into the numbers the
// addon's op of the same name reads (native/retail_torch.cpp), so a kernel here is the place
// where tfjs's conventions (NHWC, 'same' padding, normalised axes) are resolved.
// `TORCH_KERNELS` is the list registered; a kernel missing from it fails the parity test's
// registration check, not a run.
import { tf } from "./tf";
import { dtypeCode, runTorch, TORCH_BACKEND } from "./torch-backend";
import {
  BN_GRAD_SUMS,
  CHANNEL_AFFINE,
  CHANNEL_MOMENTS,
  CONV_EPILOGUE,
  GROUPED_CONV,
  GROUPED_FILTER_GRAD,
  GROUPED_INPUT_GRAD,
  SCALED_ADD,
} from "./native-kernels";

type Info = tf.TensorInfo;
type Args = Parameters<tf.KernelConfig["kernelFunc"]>[0];
type Attrs = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const one = (args: Args, op: string, inputs: (Info | undefined)[], attrs: number[] = [], dtype?: tf.DataType): Info =>
  runTorch(args.backend, op, inputs, attrs, dtype)[0];

/** The same data under another shape (tensors are immutable, so sharing is safe). */
function share(args: Args, x: Info, shape = x.shape): Info {
  (args.backend as tf.KernelBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape, dtype: x.dtype };
}

const UNARY = [
  "Neg", "Abs", "Exp", "Log", "Log1p", "Expm1", "Sqrt", "Rsqrt", "Square", "Relu", "Sigmoid", "Tanh", "Floor", "Ceil", "Round",
  "Sign", "Reciprocal", "Erf", "Sin", "Cos", "LogicalNot", "IsNan", "ZerosLike", "OnesLike", "Softplus",
]; // prettier-ignore
const BINARY = [
  "Add", "Sub", "Multiply", "RealDiv", "Pow", "Maximum", "Minimum", "Equal", "NotEqual", "Greater", "GreaterEqual", "Less",
  "LessEqual", "LogicalAnd", "LogicalOr", "Mod", "Atan2", "FloorDiv", "SquaredDifference",
]; // prettier-ignore
const REDUCE = ["Sum", "Mean", "Max", "Min", "Prod", "Any", "All"];
const BN_TRAIN = "RetailBatchNormTrain";
const BN_TRAIN_GRAD = "RetailBatchNormTrainGrad";

/** Convolution geometry as the addon reads it: sh, sw, top, bottom, left, right, dh, dw, groups. */
function convGeometry(xShape: number[], filterShape: number[], a: Attrs, groups = 1): number[] {
  if (a.dataFormat && a.dataFormat !== "NHWC") throw new Error(`the torch backend's convolutions take NHWC input, not ${a.dataFormat}`);
  const [KH, KW, cg, Co] = filterShape;
  const c = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    [KH, KW, cg * groups, Co],
    a.strides,
    a.dilations ?? 1,
    a.pad,
    a.dimRoundingMode,
    false,
    "channelsLast",
  );
  const p = c.padInfo;
  return [c.strideHeight, c.strideWidth, p.top, p.bottom, p.left, p.right, c.dilationHeight, c.dilationWidth, groups];
}

function poolGeometry(xShape: number[], a: Attrs): number[] {
  const c = tf.backend_util.computePool2DInfo(
    xShape as [number, number, number, number],
    a.filterSize,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
  );
  const p = c.padInfo;
  return [c.filterHeight, c.filterWidth, c.strideHeight, c.strideWidth, p.top, p.bottom, p.left, p.right];
}

function activation(a: Attrs, inputs: Record<string, Info | undefined>): number {
  if (inputs.preluActivationWeights || (a.activation && a.activation !== "linear" && a.activation !== "relu"))
    throw new Error(`the torch backend fuses linear and relu activations only, not ${a.activation}`);
  return a.activation === "relu" ? 1 : 0;
}

const axes = (axis: number | number[], shape: number[]) => tf.util.parseAxisParam(axis, shape);

/** kernel name -> function; every name is registered for the torch backend. */
const KERNELS: Record<string, (args: Args, inputs: Record<string, Info | undefined>, a: Attrs) => Info | Info[]> = {
  Identity: (args, { x }) => share(args, x!),
  Reshape: (args, { x }, a) => share(args, x!, tf.util.inferFromImplicitShape(a.shape, tf.util.sizeFromShape(x!.shape))),
  Cast: (args, { x }, a) => (a.dtype === x!.dtype ? share(args, x!) : one(args, "Cast", [x], [dtypeCode(a.dtype)], a.dtype)),
  Step: (args, { x }, a) => one(args, "Step", [x], [a.alpha ?? 0]),
  LeakyRelu: (args, { x }, a) => one(args, "LeakyRelu", [x], [a.alpha]),
  ClipByValue: (args, { x }, a) => one(args, "ClipByValue", [x], [a.clipValueMin, a.clipValueMax]),
  ArgMax: (args, { x }, a) => one(args, "ArgMax", [x], axes(a.axis, x!.shape).slice(0, 1), "int32"),
  ArgMin: (args, { x }, a) => one(args, "ArgMin", [x], axes(a.axis, x!.shape).slice(0, 1), "int32"),
  Softmax: (args, { logits }, a) => one(args, "Softmax", [logits], axes(a.dim, logits!.shape)),
  Transpose: (args, { x }, a) => one(args, "Transpose", [x], a.perm),
  Slice: (args, { x }, a) => {
    const [begin, size] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, a.begin, a.size);
    return one(args, "Slice", [x], [...begin, ...size]);
  },
  StridedSlice: (args, { x }, a) => {
    const s = tf.slice_util.sliceInfo(
      x!.shape,
      a.begin,
      a.end,
      a.strides,
      a.beginMask,
      a.endMask,
      a.ellipsisMask,
      a.newAxisMask,
      a.shrinkAxisMask,
    );
    if (s.isIdentity) return share(args, x!, s.finalShape);
    const y = one(args, "StridedSlice", [x], [x!.shape.length, ...s.begin, ...s.strides, ...s.finalShapeSparse]);
    return { ...y, shape: s.finalShape };
  },
  Concat: (args, inputs, a) => {
    const ts = Object.values(inputs) as Info[];
    return one(args, "Concat", ts, axes(a.axis, ts[0].shape));
  },
  AddN: (args, inputs) => one(args, "AddN", Object.values(inputs) as Info[]),
  Pack: (args, inputs, a) => {
    const ts = Object.values(inputs) as Info[];
    return one(args, "Pack", ts, [a.axis < 0 ? a.axis + ts[0].shape.length + 1 : a.axis]);
  },
  Unpack: (args, { value }, a) => runTorch(args.backend, "Unpack", [value], axes(a.axis, value!.shape)),
  SplitV: (args, { x }, a) => {
    const axis = axes(a.axis, x!.shape)[0];
    return runTorch(
      args.backend,
      "SplitV",
      [x],
      [axis, ...tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, a.numOrSizeSplits, axis)],
    );
  },
  Tile: (args, { x }, a) => one(args, "Tile", [x], a.reps),
  PadV2: (args, { x }, a) => one(args, "PadV2", [x], [a.constantValue, ...(a.paddings as number[][]).flat()]),
  GatherV2: (args, { x, indices }, a) => one(args, "GatherV2", [x, indices], [axes(a.axis, x!.shape)[0], a.batchDims ?? 0]),
  OneHot: (args, { indices }, a) => one(args, "OneHot", [indices], [a.depth, a.onValue, a.offValue, dtypeCode(a.dtype)]),
  Select: (args, { condition, t, e }) => one(args, "Select", [condition, t, e]),
  Fill: (args, _, a) => one(args, "Fill", [], [a.value, dtypeCode(a.dtype ?? "float32"), ...a.shape]),
  Range: (args, _, a) => one(args, "Range", [], [a.start, a.step, Math.max(0, Math.ceil((a.stop - a.start) / a.step)), dtypeCode(a.dtype)]),
  TopK: (args, { x }, a) => runTorch(args.backend, "TopK", [x], [a.k, a.sorted ? 1 : 0]),
  BatchMatMul: (args, { a: x, b: y }, a) => one(args, "BatchMatMul", [x, y], [a.transposeA ? 1 : 0, a.transposeB ? 1 : 0]),
  _FusedMatMul: (args, inputs, a) =>
    one(args, "BatchMatMul", [inputs.a, inputs.b, inputs.bias], [a.transposeA ? 1 : 0, a.transposeB ? 1 : 0, activation(a, inputs)]),
  Conv2D: (args, { x, filter }, a) => one(args, "Conv2D", [x, filter], [...convGeometry(x!.shape, filter!.shape, a), 0]),
  FusedConv2D: (args, inputs, a) =>
    one(
      args,
      "Conv2D",
      [inputs.x, inputs.filter, inputs.bias],
      [...convGeometry(inputs.x!.shape, inputs.filter!.shape, a), activation(a, inputs)],
    ),
  Conv2DBackpropInput: (args, { dy, filter }, a) =>
    one(args, "Conv2DBackpropInput", [dy, filter], [...a.inputShape, ...convGeometry(a.inputShape, filter!.shape, a)]),
  Conv2DBackpropFilter: (args, { x, dy }, a) =>
    one(args, "Conv2DBackpropFilter", [x, dy], [...a.filterShape, ...convGeometry(x!.shape, a.filterShape, a)]),
  [GROUPED_CONV]: (args, { x, filter }, a) => one(args, "Conv2D", [x, filter], [...convGeometry(x!.shape, filter!.shape, a, a.groups), 0]),
  [GROUPED_INPUT_GRAD]: (args, { dy, filter }, a) =>
    one(args, "Conv2DBackpropInput", [dy, filter], [...a.inputShape, ...convGeometry(a.inputShape, filter!.shape, a, a.groups)]),
  [GROUPED_FILTER_GRAD]: (args, { x, dy }, a) =>
    one(args, "Conv2DBackpropFilter", [x, dy], [...a.filterShape, ...convGeometry(x!.shape, a.filterShape, a, a.groups)]),
  [CONV_EPILOGUE]: (args, i, a) =>
    one(
      args,
      "Conv2D",
      [i.x, i.filter, i.bias, i.scale, i.residual],
      [...convGeometry(i.x!.shape, i.filter!.shape, a, a.groups), activation(a, i)],
    ),
  MaxPool: (args, { x }, a) => one(args, "MaxPool", [x], poolGeometry(x!.shape, a)),
  MaxPoolGrad: (args, { dy, input }, a) => one(args, "MaxPoolGrad", [dy, input], poolGeometry(input!.shape, a)),
  AvgPool: (args, { x }, a) => one(args, "AvgPool", [x], poolGeometry(x!.shape, a)),
  AvgPoolGrad: (args, { dy, input }, a) => one(args, "AvgPoolGrad", [dy, input], poolGeometry(input!.shape, a)),
  [CHANNEL_MOMENTS]: (args, { x }) => one(args, "RetailChannelMoments", [x]),
  [CHANNEL_AFFINE]: (args, i, a) => one(args, "RetailChannelAffine", [i.a, i.sa, i.b, i.sb, i.c, i.mask], [a.relu ? 1 : 0]),
  [BN_GRAD_SUMS]: (args, i) => one(args, "RetailBatchNormGradSums", [i.dy, i.x, i.mean, i.mask]),
  [SCALED_ADD]: (args, { a: x, b: y }, a) => one(args, "RetailScaledAdd", [x, y], [a.s]),
  [BN_TRAIN]: (args, i, a) => runTorch(args.backend, BN_TRAIN, [i.x, i.gamma, i.beta, i.residual], [a.eps, a.relu ? 1 : 0]),
  [BN_TRAIN_GRAD]: (args, i, a) =>
    runTorch(args.backend, BN_TRAIN_GRAD, [i.dy, i.x, i.gamma, i.mean, i.invstd, i.y], [a.eps, a.residual ? 1 : 0]),
};
for (const name of UNARY) KERNELS[name] = (args, { x }) => one(args, name, [x]);
for (const name of BINARY) KERNELS[name] = (args, { a: x, b: y }) => one(args, name, [x, y]);
for (const name of REDUCE)
  KERNELS[name] = (args, { x }, a) => one(args, name, [x], [a.keepDims ? 1 : 0, ...axes(a.axis ?? a.reductionIndices, x!.shape)]);

export const TORCH_KERNELS = Object.keys(KERNELS).sort();

/** Batch norm in training on libtorch's own kernel, y = act(bn(x) + residual) with batch
 * statistics; returns y and the mean and 1/sqrt(var + eps) it used. torch backend only. */
export function batchNormTrain(
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  eps: number,
  relu: boolean,
  residual?: tf.Tensor4D,
): [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D] {
  const inputs: tf.NamedTensorMap = residual ? { x, gamma, beta, residual } : { x, gamma, beta };
  return tf.engine().runKernel(BN_TRAIN, inputs, { eps, relu }) as unknown as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D];
}

/** Its gradient: dx, dgamma, dbeta, and with `residual` the shortcut's (dy where y > 0); `y`
 * (the forward's output) is given when a ReLU followed. */
export function batchNormTrainGrad(
  dy: tf.Tensor4D,
  saved: { x: tf.Tensor4D; gamma: tf.Tensor1D; mean: tf.Tensor1D; invstd: tf.Tensor1D; y?: tf.Tensor4D },
  eps: number,
  residual: boolean,
): tf.Tensor[] {
  const { y, ...rest } = saved;
  const inputs: tf.NamedTensorMap = y ? { dy, ...rest, y } : { dy, ...rest };
  return tf.engine().runKernel(BN_TRAIN_GRAD, inputs, { eps, residual }) as unknown as tf.Tensor[];
}

let registered = false;

/** Register every kernel for the torch backend (once). */
export function registerTorchKernels(): void {
  if (registered) return;
  registered = true;
  for (const [kernelName, f] of Object.entries(KERNELS))
    tf.registerKernel({
      kernelName,
      backendName: TORCH_BACKEND,
      kernelFunc: (args) => f(args, args.inputs as Record<string, Info | undefined>, args.attrs as Attrs) as Info,
    });
}
