// What `retail-repr info --arch` reports: parameters, embedding size, FLOPs at an input size.
import { embeddingDim, ModelConfig, paramCounts } from "./model";
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
  };
}

export function formatModelInfo(i: ModelInfo): string {
  const n = (v: number) => v.toLocaleString("en-US");
  return [
    `${i.arch}: layers [${i.layers}], ${i.groups} groups x ${i.widthPerGroup}d, pooling ${i.pooling}`,
    `  parameters: backbone ${n(i.params.backbone)}, head ${n(i.params.head)}, total ${n(i.params.total)}`,
    `  embedding: ${i.embeddingDim}-d; at ${i.inputSize}x${i.inputSize}: ${i.featureMap}x${i.featureMap} feature map, ${i.gflopsPerImage} GFLOP/image (2 x MACs)`,
  ].join("\n");
}
