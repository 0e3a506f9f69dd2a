// A model = backbone preset + pooling + (embedding projection | classifier), with its
// parameters by name. Plain config object in, plain functions out.
import { tf } from "../engine/tf";
import { backboneForward, backboneSpecs, outputChannels, resolveArch, ResNeXtConfig } from "./resnext";
import { classifierSpecs, classify, embed, pool, Pooling, projectionSpecs } from "./heads";
import { countParams, createParams, disposeParams, ParamSpec, Params } from "./params";
import type { InputConfig } from "../data/input-config";
import type { ModelNoise } from "./noise";

export interface ModelConfig {
  /** A preset name (resnext.ts PRESETS) or a full backbone config. */
  arch: string | ResNeXtConfig;
  pooling: Pooling;
  /** Embedding projection size; 0 = the pooled 2048-d vector itself (the paper). */
  projDim: number;
  /** Classifier classes; 0 = no classifier (embedding model). */
  classes: number;
}

export const DEFAULT_MODEL: ModelConfig = { arch: "resnext14_8x8d", pooling: "lca", projDim: 0, classes: 0 };

export interface Model {
  config: ModelConfig;
  /** How images become its input, when it came from a checkpoint that says (timm's pretrained
   * config): embedding reads it; training uses the profile's loaders. */
  input?: InputConfig;
  backbone: ResNeXtConfig;
  specs: ParamSpec[];
  params: Params;
}

export function modelSpecs(config: ModelConfig): ParamSpec[] {
  const backbone = resolveArch(config.arch);
  const c = outputChannels(backbone);
  return [
    ...backboneSpecs(backbone),
    ...projectionSpecs(c, config.projDim),
    ...(config.classes ? classifierSpecs(config.projDim || c, config.classes) : []),
  ];
}

export function createModel(config: Partial<ModelConfig>, seed: number): Model {
  const full = { ...DEFAULT_MODEL, ...config };
  const specs = modelSpecs(full);
  return { config: full, backbone: resolveArch(full.arch), specs, params: createParams(specs, seed) };
}

export function disposeModel(m: Model): void {
  disposeParams(m.params);
}

export function embeddingDim(config: ModelConfig): number {
  return config.projDim || outputChannels(resolveArch(config.arch));
}

export function paramCounts(config: ModelConfig): { backbone: number; head: number; total: number } {
  const backbone = countParams(backboneSpecs(resolveArch(config.arch)));
  const total = countParams(modelSpecs(config));
  return { backbone, head: total - backbone, total };
}

/** Images [N, H, W, 3] (normalised) -> pooled features [N, C]; `noise` (training only): noise.ts. */
export function features(m: Model, x: tf.Tensor4D, training: boolean, noise?: ModelNoise): tf.Tensor2D {
  return pool(m.config.pooling, backboneForward(m.params, m.backbone, x, training, noise));
}

/** Images -> L2-normalised embeddings [N, D]. */
export function embedForward(m: Model, x: tf.Tensor4D, training: boolean, noise?: ModelNoise): tf.Tensor2D {
  return embed(m.params, features(m, x, training, noise), m.config.projDim);
}

/** Images -> class logits [N, classes]. */
export function logitsForward(m: Model, x: tf.Tensor4D, training: boolean, noise?: ModelNoise): tf.Tensor2D {
  if (!m.config.classes) throw new Error("this model has no classifier (classes = 0)");
  const f = features(m, x, training, noise);
  return classify(m.params, m.config.projDim ? embed(m.params, f, m.config.projDim) : f);
}
