// Frozen-model embeddings of image files, batch by batch (eval mode, no augmentation), on this
// workbench's engine or on ONNX Runtime.
import { tf } from "../engine/tf";
import { loadBatch } from "../data/loader";
import { embedForward, embeddingDim, logitsForward, Model } from "../models/model";
import { Progress } from "../util/progress";
import { checkStepFits, largestBatch } from "../models/memory";
import { ModelConfig } from "../models/model";
import { defaultInputConfig, InputConfig } from "../data/input-config";
import { onnxSession } from "./onnx-engine";

/** Who computes a frozen model's forward pass: the tfjs backend in use (with the native kernels
 * where they load), or ONNX Runtime on an export of the same weights (within 1e-4 of it). */
export type InferenceEngine = "native" | "onnx";
export const INFERENCE_ENGINES: InferenceEngine[] = ["native", "onnx"];
/** `embed`'s default: the faster in `npm run bench -- --only onnx` (ONNX Runtime, about 2x the
 * native engine here), where onnxruntime-node loads. */
export const EMBED_ENGINE: InferenceEngine = "onnx";
/** The pipeline's (the pseudolabel step, probes, fine-tune scores): its artifacts must not depend
 * on which command made them, and its recorded results were made on this one. */
export const PIPELINE_ENGINE: InferenceEngine = "native";

/** The batch to embed with: the one asked for, capped on the wasm engine at the largest that
 * fits its heap (embeddings do not depend on the batch in eval mode), so any set streams through. */
export function embedBatchFor(config: ModelConfig, size: number, batch: number): number {
  if (tf.getBackend() !== "wasm") return batch;
  checkStepFits(config, size, 1, "infer");
  return Math.max(1, Math.min(batch, largestBatch(config, size, "infer")));
}

/** A frozen model's forward pass on a batch of loaded images, on one engine. */
export interface Embedder {
  run(x: tf.Tensor4D): Promise<Float32Array>;
  close(): Promise<void>;
}

export interface EmbedOptions {
  size: number;
  batch: number;
  label?: string;
  quiet?: boolean;
  /** Class logits instead of embeddings (native engine only). */
  logits?: boolean;
  engine?: InferenceEngine;
  /** An embedder made once by the caller (createEmbedder), reused across calls. */
  embedder?: Embedder;
  /** How images become the input; unset: the model's own (from its checkpoint) when it is at
   * `size`, else both sides resized to `size`. */
  input?: InputConfig;
}

/** The input config an embedding uses (see EmbedOptions.input). */
export function inputFor(model: Model, opts: Pick<EmbedOptions, "size" | "input">): InputConfig {
  return opts.input ?? (model.input && model.input.size === opts.size ? model.input : defaultInputConfig(opts.size));
}

/** An embedder of `model` on `engine` at image side `size`. */
export async function createEmbedder(model: Model, opts: Pick<EmbedOptions, "size" | "logits" | "engine" | "input">): Promise<Embedder> {
  if ((opts.engine ?? "native") === "onnx") {
    if (opts.logits) throw new Error("--engine onnx computes embeddings only; class logits run on the native engine");
    return onnxSession(model, inputFor(model, opts));
  }
  return {
    run: async (x) => {
      const z = tf.tidy(() => (opts.logits ? logitsForward(model, x, false) : embedForward(model, x, false)));
      const data = z.dataSync() as Float32Array;
      z.dispose();
      return data;
    },
    close: async () => undefined,
  };
}

/** [n, D] L2-normalised embeddings (or logits with `logits: true`) as one Float32Array. */
export async function embedFiles(model: Model, files: string[], opts: EmbedOptions): Promise<Float32Array> {
  const D = opts.logits ? model.config.classes : embeddingDim(model.config);
  opts = { ...opts, batch: embedBatchFor(model.config, opts.size, opts.batch) };
  const embedder = opts.embedder ?? (await createEmbedder(model, opts));
  const out = new Float32Array(files.length * D);
  const bar = opts.quiet ? undefined : new Progress({ label: opts.label ?? "embed", total: files.length, unit: "img" });
  const load = { size: opts.size, seed: 0, input: inputFor(model, opts) };
  let next = files.length ? loadBatch(files.slice(0, opts.batch), load) : undefined;
  try {
    for (let i = 0; i < files.length; i += opts.batch) {
      const x = await next!;
      next = i + opts.batch < files.length ? loadBatch(files.slice(i + opts.batch, i + 2 * opts.batch), load) : undefined;
      try {
        out.set(await embedder.run(x), i * D);
      } finally {
        x.dispose();
      }
      bar?.tick(x.shape[0]);
    }
  } finally {
    if (next) (await next).dispose();
    if (!opts.embedder) await embedder.close();
  }
  return out;
}
