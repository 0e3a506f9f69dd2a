// wasm kernels backed by the native library (./native.ts), registered through tfjs's public
// registry: Conv2D, FusedConv2D (bias + relu), both convolution gradients and MaxPoolGrad
// replace wasm's; a grouped convolution with its own gradient (tfjs has no such op) and three
// per-channel kernels for batch norm (moments, affine map, gradient sums) are new. Each kernel
// hands anything it does not cover (dilation, other activations, non-float input) to the
// kernel registered before it, and `setNativeConvolutions(false)` hands everything back, so a
// benchmark can compare both engines in one process.
import { tf } from "./tf";
import { loadNative, NativeLib } from "./native";
import type { TorchBackend } from "./torch-backend";

type Info = tf.TensorInfo;
type KernelFunc = tf.KernelConfig["kernelFunc"];

/** The wasm backend's own bookkeeping: its heap and where each tensor lives in it. */
interface WasmBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(id: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): Info;
}

// The project's own kernels (the torch backend registers them too: ./torch-kernels.ts).
export const GROUPED_CONV = "RetailGroupedConv2D";
export const CONV_EPILOGUE = "RetailConv2DScaleBiasAdd";
export const GROUPED_FILTER_GRAD = "RetailGroupedConv2DBackpropFilter";
export const GROUPED_INPUT_GRAD = "RetailGroupedConv2DBackpropInput";

let lib: NativeLib | undefined;
let enabled = false;

/** Whether convolutions on wasm currently run natively. */
export function nativeConvolutionsOn(): boolean {
  return enabled && lib !== undefined && tf.getBackend() === "wasm";
}

/** Whether the project's own kernels (grouped convolution, the batch-norm passes, the fused
 * update) serve the current backend: wasm with the native library, or torch. */
export function projectKernelsOn(): boolean {
  return nativeConvolutionsOn() || tf.getBackend() === "torch";
}

/** What computes right now: "wasm/native", "wasm/xnnpack", "torch/cpu", "torch/cuda:0", or the
 * backend's name. Runs record it, since two engines' arithmetic (summation order) sends
 * training down different paths. */
export function engineLabel(): string {
  const b = tf.getBackend();
  if (b === "torch") return `torch/${(tf.backend() as TorchBackend).device}`;
  return b === "wasm" ? (nativeConvolutionsOn() ? "wasm/native" : "wasm/xnnpack") : b;
}

/** Switch the native kernels on or off (they stay registered; off defers to the previous ones). */
export function setNativeConvolutions(on: boolean): void {
  enabled = on && lib !== undefined;
}

/** OpenBLAS threads for the native kernels (process-wide); returns the previous count. */
export function setNativeThreads(n: number): number {
  return lib ? lib.setThreads(n) : 1;
}

interface ConvAttrs {
  strides: number | [number, number];
  pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  dataFormat?: string;
  dilations?: number | [number, number];
  dimRoundingMode?: "floor" | "round" | "ceil";
  activation?: string;
  groups?: number;
}

function isOne(d: number | [number, number] | undefined): boolean {
  return d === undefined || d === 1 || (Array.isArray(d) && d[0] === 1 && d[1] === 1);
}

/** The shape part of the native parameter vector: N,H,W,Ci,KH,KW,Co,G,sh,sw,top,left,Ho,Wo. */
function shapeParams(xShape: number[], filterShape: number[], a: ConvAttrs): number[] | undefined {
  if ((a.dataFormat && a.dataFormat !== "NHWC") || !isOne(a.dilations)) return undefined;
  const G = a.groups ?? 1;
  const [KH, KW, cg, Co] = filterShape;
  const c = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    [KH, KW, cg * G, Co],
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
    false,
    "channelsLast",
  );
  if (c.padInfo.top < 0 || c.padInfo.left < 0) return undefined;
  const [N, H, W, Ci] = xShape;
  return [N, H, W, Ci, KH, KW, Co, G, c.strideHeight, c.strideWidth, c.padInfo.top, c.padInfo.left, c.outHeight, c.outWidth];
}

/** A float32 output on the wasm heap. */
function output(backend: unknown, shape: number[]): Info {
  return (backend as WasmBackend).makeOutput(shape, "float32");
}

/** Call a native entry point with the heap offsets of `tensors` (-1 for an absent one), then
 * `numbers`. The heap is read after the outputs exist: a malloc may grow (replace) its buffer. */
function callNative(
  backend: unknown,
  fn: (heap: ArrayBuffer, params: Float64Array) => void,
  tensors: (Info | undefined)[],
  numbers: number[],
): void {
  const b = backend as WasmBackend;
  const offsets = tensors.map((t) => (t ? b.dataIdMap.get(t.dataId).memoryOffset : -1));
  fn(b.wasm.HEAPU8.buffer as ArrayBuffer, new Float64Array([...offsets, ...numbers]));
}

function registerWasm(kernelName: string, kernelFunc: KernelFunc): void {
  tf.registerKernel({ kernelName, backendName: "wasm", kernelFunc });
}
const allFloat = (...ts: (Info | undefined)[]) => ts.every((t) => !t || t.dtype === "float32");

/** Register `kernelName` on wasm with `native`, keeping the kernel it replaces as the fallback. */
function override(kernelName: string, native: (args: Parameters<KernelFunc>[0]) => Info | undefined): void {
  // getKernel is typed as always finding one; it returns undefined when none is registered.
  const prior = tf.getKernel(kernelName, "wasm")?.kernelFunc as KernelFunc | undefined;
  if (prior) tf.unregisterKernel(kernelName, "wasm");
  registerWasm(kernelName, (args) => {
    const out = enabled ? native(args) : undefined;
    if (out) return out;
    if (!prior) throw new Error(`${kernelName}: no native path for these arguments and no other wasm kernel`);
    return prior(args);
  });
}

/** What follows the convolution's sums, per output channel: y = act(y * scale + bias + residual). */
interface Epilogue {
  scale?: Info;
  bias?: Info;
  residual?: Info;
  relu: boolean;
}

function conv(args: Parameters<KernelFunc>[0], e: Epilogue): Info | undefined {
  const { x, filter } = args.inputs as { x: Info; filter: Info };
  const a = args.attrs as unknown as ConvAttrs;
  const s = shapeParams(x.shape, filter.shape, a);
  const Co = filter.shape[3];
  const perChannel = (t?: Info) => !t || t.shape.reduce((p, q) => p * q, 1) === Co;
  if (!s || !allFloat(x, filter, e.scale, e.bias, e.residual) || !perChannel(e.scale) || !perChannel(e.bias)) return undefined;
  const yShape = [s[0], s[12], s[13], Co];
  if (e.residual && e.residual.shape.join() !== yShape.join()) return undefined;
  const y = output(args.backend, yShape);
  callNative(args.backend, lib!.conv2d, [x, filter, e.bias, y, e.scale, e.residual], [e.relu ? 1 : 0, ...s]);
  return y;
}

function filterGrad(args: Parameters<KernelFunc>[0], filterShape: number[]): Info | undefined {
  const { x, dy } = args.inputs as { x: Info; dy: Info };
  const s = shapeParams(x.shape, filterShape, args.attrs as unknown as ConvAttrs);
  if (!s || !allFloat(x, dy)) return undefined;
  const dw = output(args.backend, filterShape);
  callNative(args.backend, lib!.conv2dFilterGrad, [x, dy, dw], s);
  return dw;
}

function inputGrad(args: Parameters<KernelFunc>[0], inputShape: number[]): Info | undefined {
  const { dy, filter } = args.inputs as { dy: Info; filter: Info };
  const s = shapeParams(inputShape, filter.shape, args.attrs as unknown as ConvAttrs);
  if (!s || !allFloat(dy, filter)) return undefined;
  const dx = output(args.backend, inputShape);
  callNative(args.backend, lib!.conv2dInputGrad, [dy, filter, dx], s);
  return dx;
}

function maxPoolGrad(args: Parameters<KernelFunc>[0]): Info | undefined {
  const { dy, input } = args.inputs as { dy: Info; input: Info };
  const a = args.attrs as unknown as {
    filterSize: number | [number, number];
    strides: number | [number, number];
    pad: "valid" | "same" | number;
    dimRoundingMode?: "floor" | "round" | "ceil";
  };
  if (!allFloat(dy, input)) return undefined;
  const c = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    a.filterSize,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
  );
  const dx = output(args.backend, input.shape);
  callNative(
    args.backend,
    lib!.maxPoolGrad,
    [dy, input, dx],
    [...input.shape, c.filterHeight, c.filterWidth, c.strideHeight, c.strideWidth, c.padInfo.top, c.padInfo.left, c.outHeight, c.outWidth],
  );
  return dx;
}

export const CHANNEL_MOMENTS = "RetailChannelMoments";
export const CHANNEL_AFFINE = "RetailChannelAffine";
export const BN_GRAD_SUMS = "RetailBatchNormGradSums";
export const SCALED_ADD = "RetailScaledAdd";

/** Per-channel kernels on an NHWC tensor viewed as [P, C]. */
function registerChannelKernels(): void {
  const rows = (t: Info) => t.shape.slice(0, -1).reduce((p, q) => p * q, 1);
  const channels = (t: Info) => t.shape[t.shape.length - 1];
  registerWasm(CHANNEL_MOMENTS, ({ inputs, backend }) => {
    const { x } = inputs as { x: Info };
    const out = output(backend, [2, channels(x)]);
    callNative(backend, lib!.channelMoments, [x, out], [rows(x), channels(x)]);
    return out;
  });
  registerWasm(CHANNEL_AFFINE, ({ inputs, backend, attrs }) => {
    const { a, sa, b, sb, c, mask } = inputs as { a: Info; sa: Info; b?: Info; sb?: Info; c: Info; mask?: Info };
    const y = output(backend, a.shape);
    callNative(backend, lib!.channelAffine, [y, a, sa, b, sb, c, mask], [rows(a), channels(a), (attrs as { relu?: boolean }).relu ? 1 : 0]);
    return y;
  });
  registerWasm(SCALED_ADD, ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as { a: Info; b: Info };
    const y = output(backend, a.shape);
    callNative(backend, lib!.scaledAdd, [y, a, b], [(attrs as { s: number }).s, a.shape.reduce((p, q) => p * q, 1)]);
    return y;
  });
  registerWasm(BN_GRAD_SUMS, ({ inputs, backend }) => {
    const { dy, x, mean, mask } = inputs as { dy: Info; x: Info; mean: Info; mask?: Info };
    const out = output(backend, [2, channels(x)]);
    callNative(backend, lib!.bnGradSums, [dy, x, mean, out, mask], [rows(x), channels(x)]);
    return out;
  });
}

/** [2, C]: per-channel mean and biased variance over every other axis. */
export function channelMoments(x: tf.Tensor): tf.Tensor2D {
  return tf.engine().runKernel(CHANNEL_MOMENTS, { x }) as tf.Tensor2D;
}
/** a' * sa + b * sb + c, with sa, sb, c per channel (the last axis); b and sb optional;
 * a' = a where `mask` > 0 and 0 elsewhere (no mask: a' = a); `relu`: max(., 0) of the result. */
export function channelAffine(
  a: tf.Tensor,
  sa: tf.Tensor1D,
  c: tf.Tensor1D,
  b?: tf.Tensor,
  sb?: tf.Tensor1D,
  opts: { mask?: tf.Tensor; relu?: boolean } = {},
): tf.Tensor {
  const inputs: Record<string, tf.Tensor> = b && sb ? { a, sa, b, sb, c } : { a, sa, c };
  if (opts.mask) inputs.mask = opts.mask;
  return tf.engine().runKernel(CHANNEL_AFFINE, inputs, { relu: opts.relu ?? false }) as tf.Tensor;
}
/** a + s * b (same shapes) in one native pass: an optimiser's update. */
export function scaledAdd(a: tf.Tensor, b: tf.Tensor, s: number): tf.Tensor {
  if (a.shape.join() !== b.shape.join() || a.dtype !== "float32" || b.dtype !== "float32")
    throw new Error(`scaledAdd: shapes [${a.shape}] and [${b.shape}] (float32) must match`);
  return tf.engine().runKernel(SCALED_ADD, { a, b }, { s }) as tf.Tensor;
}
/** [2, C]: per-channel sum(dy') and sum(dy' * (x - mean)), dy' = dy where `mask` > 0 (all of dy without one). */
export function batchNormGradSums(dy: tf.Tensor, x: tf.Tensor, mean: tf.Tensor1D, mask?: tf.Tensor): tf.Tensor2D {
  return tf.engine().runKernel(BN_GRAD_SUMS, mask ? { dy, x, mean, mask } : { dy, x, mean }) as tf.Tensor2D;
}

let registered = false;

/** Load the native library and register its kernels on wasm (once). Returns why not, if not. */
export function registerNativeKernels(): { ok: true; detail: string } | { ok: false; why: string } {
  const status = loadNative();
  if (!status.ok) return status;
  lib = status.lib;
  enabled = true;
  if (registered) return { ok: true, detail: status.detail };
  registered = true;
  override("Conv2D", (args) => conv(args, { relu: false }));
  override("FusedConv2D", (args) => {
    const a = args.attrs as unknown as ConvAttrs;
    const { bias, preluActivationWeights } = args.inputs as { bias?: Info; preluActivationWeights?: Info };
    if (preluActivationWeights || (a.activation !== "linear" && a.activation !== "relu")) return undefined;
    return conv(args, { bias, relu: a.activation === "relu" });
  });
  override("Conv2DBackpropFilter", (args) => filterGrad(args, (args.attrs as unknown as { filterShape: number[] }).filterShape));
  override("Conv2DBackpropInput", (args) => inputGrad(args, (args.attrs as unknown as { inputShape: number[] }).inputShape));
  override("MaxPoolGrad", maxPoolGrad);
  registerGroupedConv();
  registerChannelKernels();
  return { ok: true, detail: status.detail };
}

/** Grouped convolution as one differentiable kernel (filter [kh, kw, cin/groups, cout]), and the
 * convolution with an epilogue (any groups; inference, not differentiable). */
function registerGroupedConv(): void {
  const unavailable = (name: string): never => {
    throw new Error(`${name} needs the native convolution library on the wasm backend`);
  };
  registerWasm(GROUPED_CONV, (args) => (enabled && conv(args, { relu: false })) || unavailable(GROUPED_CONV));
  registerWasm(CONV_EPILOGUE, (args) => {
    const { scale, bias, residual } = args.inputs as { scale?: Info; bias?: Info; residual?: Info };
    const relu = (args.attrs as unknown as ConvAttrs).activation === "relu";
    return (enabled && conv(args, { scale, bias, residual, relu })) || unavailable(CONV_EPILOGUE);
  });
  registerWasm(
    GROUPED_FILTER_GRAD,
    (args) =>
      (enabled && filterGrad(args, (args.attrs as unknown as { filterShape: number[] }).filterShape)) || unavailable(GROUPED_FILTER_GRAD),
  );
  registerWasm(
    GROUPED_INPUT_GRAD,
    (args) =>
      (enabled && inputGrad(args, (args.attrs as unknown as { inputShape: number[] }).inputShape)) || unavailable(GROUPED_INPUT_GRAD),
  );
  registerGroupedConvGradient();
}

let gradientRegistered = false;
/** The grouped convolution's gradient: two kernels of the backend that runs it (once). */
export function registerGroupedConvGradient(): void {
  if (gradientRegistered) return;
  gradientRegistered = true;
  tf.registerGradient({
    kernelName: GROUPED_CONV,
    inputsToSave: ["x", "filter"],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter] = saved;
      const a = attrs as unknown as tf.NamedAttrMap;
      return {
        x: () => tf.engine().runKernel(GROUPED_INPUT_GRAD, { dy: dy as tf.Tensor, filter }, { ...a, inputShape: x.shape }) as tf.Tensor,
        filter: () =>
          tf.engine().runKernel(GROUPED_FILTER_GRAD, { x, dy: dy as tf.Tensor }, { ...a, filterShape: filter.shape }) as tf.Tensor,
      };
    },
  });
}

/** act(conv(x, w) * scale + bias + residual) in one kernel, scale and bias per output channel
 * (batch norm folded, for inference), `residual` shaped like the output (a residual block's
 * shortcut), each optional; `groups` groups; wasm + native only, not differentiable. */
export function convScaleBiasAdd(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  stride: number | [number, number],
  pad: "valid" | tf.backend_util.ExplicitPadding,
  groups: number,
  e: { scale?: tf.Tensor1D; bias?: tf.Tensor1D; residual?: tf.Tensor4D; relu: boolean },
): tf.Tensor4D {
  const inputs: tf.NamedTensorMap = { x, filter: w };
  if (e.scale) inputs.scale = e.scale;
  if (e.bias) inputs.bias = e.bias;
  if (e.residual) inputs.residual = e.residual;
  const attrs = { strides: stride, pad, groups, activation: e.relu ? "relu" : "linear", dataFormat: "NHWC" };
  return tf.engine().runKernel(CONV_EPILOGUE, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/** y = conv(x, w) with `groups` groups, torchvision-style explicit padding; wasm + native only. */
export function groupedConv2d(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  stride: number | [number, number],
  pad: "valid" | tf.backend_util.ExplicitPadding,
  groups: number,
): tf.Tensor4D {
  const attrs = { strides: stride, pad, groups, dataFormat: "NHWC" };
  return tf.engine().runKernel(GROUPED_CONV, { x, filter: w }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}
