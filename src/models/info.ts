// What `retail-repr info --arch` reports: parameters, embedding size, FLOPs at an input size.
import { embeddingDim, ModelConfig, paramCounts } from "./model";
import { heapTerms, largestBatch } from "./memory";
import { nativeConvolutionsOn } from "../engine/native-kernels";
import { archName, backboneFlops, featureMapSize, resolveArch } from "./resnext";

export interface ModelInfo {
  arch: string;
  layers: number[];
  groups: number;
  widthPerGroup: number;
  pooling: string;
  params: { backbone: number; head: number; total: number };
  embeddingDim: number;
  inputSize: number;
  featureMap: number;
  gflopsPerImage: number;
  /** On the wasm engine (4 GiB heap): the largest batch a training step and an inference batch
   * fit, and the estimated bytes of one image in each (models/memory.ts). */
  wasmHeap: {
    engine: string;
    largestTrainBatch: number;
    largestInferBatch: number;
    trainBytesPerImage: number;
    inferBytesPerImage: number;
  };
}

export function modelInfo(config: ModelConfig, size: number): ModelInfo {
  const b = resolveArch(config.arch);
  return {
    arch: archName(config.arch),
    layers: b.layers,
    groups: b.groups,
    widthPerGroup: b.widthPerGroup,
    pooling: config.pooling,
    params: paramCounts(config),
    embeddingDim: embeddingDim(config),
    inputSize: size,
    featureMap: featureMapSize(size, b),
    gflopsPerImage: Math.round((backboneFlops(b, size) / 1e9) * 1000) / 1000,
    wasmHeap: {
      engine: nativeConvolutionsOn() ? "wasm/native" : "wasm/xnnpack",
      largestTrainBatch: largestBatch(config, size, "train"),
      largestInferBatch: largestBatch(config, size, "infer"),
      trainBytesPerImage: Math.round(heapTerms(config, size, "train").perImage),
      inferBytesPerImage: Math.round(heapTerms(config, size, "infer").perImage),
    },
  };
}

const mb = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;

export function formatModelInfo(i: ModelInfo): string {
  const n = (v: number) => v.toLocaleString("en-US");
  return [
    `${i.arch}: layers [${i.layers}], ${i.groups} groups x ${i.widthPerGroup}d, pooling ${i.pooling}`,
    `  parameters: backbone ${n(i.params.backbone)}, head ${n(i.params.head)}, total ${n(i.params.total)}`,
    `  embedding: ${i.embeddingDim}-d; at ${i.inputSize}x${i.inputSize}: ${i.featureMap}x${i.featureMap} feature map, ${i.gflopsPerImage} GFLOP/image (2 x MACs)`,
    `  ${i.wasmHeap.engine} engine (4 GiB heap) at ${i.inputSize}px: largest batch ${i.wasmHeap.largestTrainBatch} to train (~${mb(i.wasmHeap.trainBytesPerImage)} per image), ${i.wasmHeap.largestInferBatch} to embed (~${mb(i.wasmHeap.inferBytesPerImage)} per image); larger training batches run in chunks (gradient cache)`,
  ].join("\n");
}
