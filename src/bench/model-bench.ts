// Training and inference throughput of a ResNeXt on the current backend, measured exactly as
// the PyTorch reference script (torchReferenceScript) measures PyTorch: one SGD step on mean(GAP features^2) in
// train mode, and a forward pass in eval mode, fp32, median of `repeats` after a warm-up.
import { tf } from "../engine/tf";
import { medianSeconds } from "../engine/microbench";
import { nativeConvolutionsOn, setNativeConvolutions } from "../engine/native-kernels";
import { getGroupedConvMode, GroupedConvMode, setGroupedConvMode } from "../models/layers";
import { createModel, disposeModel, features, Model } from "../models/model";
import { paramGrads } from "../models/params";
import { Optimizer } from "../train/optimizer";
import { parallelStep, Replica } from "../train/replica";

export interface ModelBenchConfig {
  arch: string;
  size: number;
  batch: number;
  repeats?: number;
  grouped?: GroupedConvMode;
  /** 2 = the training step runs data-parallel with a worker replica (train/replica.ts). */
  workers?: number;
  /** wasm only: convolutions on XNNPACK, or on the native OpenBLAS kernels. */
  conv?: "xnnpack" | "native";
}

export interface ModelBenchResult extends ModelBenchConfig {
  backend: string;
  workers: number;
  train_img_s: number;
  infer_img_s: number;
  /** numTensors before and after the timed training steps: equal when nothing leaks. */
  tensors: [number, number];
}

/** The step every engine benchmark times (torch_reference.py's): one SGD step on
 * mean(GAP features^2) in train mode, waited for. */
export function benchTrainStep(model: Model, x: tf.Tensor4D, opt: Optimizer): void {
  const { value, grads } = paramGrads(model.params, () => tf.mean(tf.square(features(model, x, true))) as tf.Scalar);
  opt.apply(model.params, grads);
  value.dataSync();
  tf.dispose([value, ...Object.values(grads)]);
}

/** The inference every engine benchmark times: a forward pass in eval mode, waited for. */
export function benchInferStep(model: Model, x: tf.Tensor4D): void {
  const f = tf.tidy(() => features(model, x, false));
  f.dataSync();
  f.dispose();
}

export async function benchModel(cfg: ModelBenchConfig): Promise<ModelBenchResult> {
  const prior = getGroupedConvMode();
  const priorNative = nativeConvolutionsOn();
  if (cfg.grouped) setGroupedConvMode(cfg.grouped);
  if (cfg.conv) setNativeConvolutions(cfg.conv === "native");
  const repeats = cfg.repeats ?? 3;
  const model = createModel({ arch: cfg.arch, pooling: "gap" }, 1);
  const x = tf.randomNormal([cfg.batch, cfg.size, cfg.size, 3], 0, 1, "float32", 2) as tf.Tensor4D;
  const opt = new Optimizer({ kind: "sgd", lr: 0.01 });
  const replica = (cfg.workers ?? 1) > 1 ? new Replica() : undefined;
  if (replica) await replica.init(model, opt, "features");
  const trainStep = async () => {
    if (replica) {
      await parallelStep(model, opt, replica, x, (f) => ({ loss: tf.mean(tf.square(f)) as tf.Scalar }), 0.01, undefined, "features");
      return;
    }
    benchTrainStep(model, x, opt);
  };
  const inferStep = () => benchInferStep(model, x);
  try {
    await trainStep(); // creates the optimiser's slots before counting tensors
    const before = tf.memory().numTensors;
    const train = await medianSeconds(trainStep, repeats, 1);
    const after = tf.memory().numTensors;
    const infer = await medianSeconds(inferStep, repeats, 1);
    return {
      ...cfg,
      grouped: getGroupedConvMode(),
      conv: tf.getBackend() === "wasm" ? (nativeConvolutionsOn() ? "native" : "xnnpack") : undefined,
      repeats,
      backend: tf.getBackend(),
      workers: cfg.workers ?? 1,
      train_img_s: round(cfg.batch / train),
      infer_img_s: round(cfg.batch / infer),
      tensors: [before, after],
    };
  } finally {
    await replica?.terminate();
    opt.dispose();
    x.dispose();
    disposeModel(model);
    setGroupedConvMode(prior);
    if (tf.getBackend() === "wasm") setNativeConvolutions(priorNative);
  }
}

export function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
